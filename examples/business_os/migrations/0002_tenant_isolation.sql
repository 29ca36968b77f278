-- depends: 0001_initial
-- Row-level security: a user (the tenant, set by db.tenant(user_id) or
-- db.transaction(tenant=user_id)) sees and writes only their own businesses, and the
-- conversations and messages under them. With no tenant set, nothing is visible.
-- `users` stays open: sign-in looks a user up by email before anyone is known.
-- FORCE applies the policies to the tables' owner too; superusers still bypass them,
-- so the service runs as a restricted role (persistence grant ROLE).

ALTER TABLE businesses ENABLE ROW LEVEL SECURITY;
ALTER TABLE businesses FORCE ROW LEVEL SECURITY;
CREATE POLICY businesses_tenant ON businesses
  USING (user_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (user_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- A conversation belongs to the tenant whose business it is under: the subquery reads
-- businesses through its own policy, so it finds only the tenant's businesses.
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY conversations_tenant ON conversations
  USING (EXISTS (SELECT 1 FROM businesses b WHERE b.id = business_id))
  WITH CHECK (EXISTS (SELECT 1 FROM businesses b WHERE b.id = business_id));

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY messages_tenant ON messages
  USING (EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id))
  WITH CHECK (EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id));
