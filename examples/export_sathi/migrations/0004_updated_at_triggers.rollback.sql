-- rollback of 0004_updated_at_triggers: undo everything 0004_updated_at_triggers.sql does, in reverse

drop trigger generated_documents_set_updated_at on generated_documents;
drop trigger finance_analysis_set_updated_at on finance_analysis;
drop trigger logistics_analysis_set_updated_at on logistics_analysis;
drop trigger user_metrics_set_updated_at on user_metrics;
-- The function goes with the last trigger that uses it.
do $$
begin
    if not exists (select from pg_trigger t join pg_proc p on p.oid = t.tgfoid
                   where p.proname = 'persistence_set_updated_at') then
        drop function persistence_set_updated_at();
    end if;
end
$$;
