-- rollback of 0004_companies_updated_at: undo everything 0004_companies_updated_at.sql does, in reverse

drop trigger companies_set_updated_at on companies;
-- The function goes with the last trigger that uses it.
do $$
begin
    if not exists (select from pg_trigger t join pg_proc p on p.oid = t.tgfoid
                   where p.proname = 'persistence_set_updated_at') then
        drop function persistence_set_updated_at();
    end if;
end
$$;
