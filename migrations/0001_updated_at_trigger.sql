-- The trigger function that keeps updated_at current on users, subscriptions, catalysts.
create function set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end $$;

comment on function set_updated_at() is 'BEFORE UPDATE trigger: stamps updated_at';
