-- name: advance_job(id, status, progress, result, error)<!
-- Move a job to `status` if the transition is allowed (queued -> running -> completed or
-- failed; queued -> failed); None otherwise.
update job_status
   set status = :status,
       progress = coalesce(:progress, progress),
       result = coalesce(:result::jsonb, result),
       error = :error,
       updated_at = now(),
       completed_at = case when :status in ('completed', 'failed') then now() end
 where id = :id
   and (status, :status::text) in (values ('queued', 'running'), ('running', 'running'),
                                           ('running', 'completed'), ('running', 'failed'),
                                           ('queued', 'failed'))
returning *;
