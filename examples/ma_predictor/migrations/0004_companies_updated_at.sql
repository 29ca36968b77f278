-- companies updated at
-- depends: 0002_signals_and_scores 0003_delivery

-- The function is shared: each migration made with --updated-at (re)creates it.
create or replace function persistence_set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end
$$;

create trigger companies_set_updated_at before update on companies
    for each row execute function persistence_set_updated_at();
