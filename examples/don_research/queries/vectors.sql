-- requires: vector
-- name: nearest(institution, embedding, limit)
-- The institution's stored vectors closest to `embedding` ('[x,y,z]'); needs pgvector.
select id, label, (embedding <-> :embedding::vector)::float8 as "distance!"
  from vector_stores
 where institution = :institution and embedding is not null
 order by embedding <-> :embedding::vector
 limit :limit;
