-- name: merge_context(id, patch)<!
-- Merge `patch` into the business's JSONB context (top-level keys replaced).
update businesses set context = coalesce(context, '{}') || :patch::jsonb
 where id = :id
returning context;
