-- depends: 0001_research
-- Temporary input vectors (kept 24 h). The embedding column and its index need the
-- pgvector extension: created where the server has it (the embedded server does),
-- left out where it does not, and the service says so when asked for a search.
create table vector_stores (
    id uuid primary key default gen_random_uuid(),
    institution text not null,
    label text not null,
    created_at timestamptz not null default now()
);
-- retention.purge_vector_stores deletes by age.
create index vector_stores_created_at_idx on vector_stores (created_at);

do $$
begin
    if exists (select 1 from pg_available_extensions where name = 'vector') then
        create extension if not exists vector;
        alter table vector_stores add column embedding vector(3);
        -- vectors.nearest orders by distance.
        create index vector_stores_embedding_idx on vector_stores
            using hnsw (embedding vector_l2_ops);
    end if;
end $$;
