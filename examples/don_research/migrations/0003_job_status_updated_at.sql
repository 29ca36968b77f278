-- job status updated at
-- depends: 0002_vector_stores

-- The function is shared: each migration made with --updated-at (re)creates it.
create or replace function persistence_set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end
$$;

create trigger job_status_set_updated_at before update on job_status
    for each row execute function persistence_set_updated_at();
