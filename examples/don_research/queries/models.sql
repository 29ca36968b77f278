-- name: save_model(name, parameters)<!
-- Store a trained QAC model as the next version of its name (1 for a new name).
-- Research.save_model runs it after taking a transaction lock on the name, so
-- concurrent saves of one name never compute the same version.
insert into qac_models (name, version, parameters)
select :name, coalesce(max(version), 0) + 1, :parameters::jsonb
  from qac_models
 where name = :name
returning *;

-- name: latest_model(name)^
-- The newest version of a model; None if there is none.
select * from qac_models where name = :name order by version desc limit 1;

-- name: model_version(name, version)^
select * from qac_models where name = :name and version = :version;

-- name: model_versions(name)
-- Every stored version of a model, newest first (trained models are never deleted).
select id, version, created_at from qac_models where name = :name order by version desc;
