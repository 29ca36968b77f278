-- The seed keeps updated_at current on every table that has it: 0001 did users, reports,
-- certification_progress and action_plan_progress; these four gained the column in 0003.
-- depends: 0003_seed_columns

-- The function is shared: each migration made with --updated-at (re)creates it.
create or replace function persistence_set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end
$$;

create trigger generated_documents_set_updated_at before update on generated_documents
    for each row execute function persistence_set_updated_at();

create trigger finance_analysis_set_updated_at before update on finance_analysis
    for each row execute function persistence_set_updated_at();

create trigger logistics_analysis_set_updated_at before update on logistics_analysis
    for each row execute function persistence_set_updated_at();

create trigger user_metrics_set_updated_at before update on user_metrics
    for each row execute function persistence_set_updated_at();
