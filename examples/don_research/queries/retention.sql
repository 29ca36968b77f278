-- Each purge deletes at most `batch_size` of the oldest expired rows per call, so one
-- call holds its locks briefly and a large backlog never becomes one huge transaction;
-- Research.retention() calls each until a batch comes back short.

-- name: purge_vector_stores(batch_size)!
-- Input vectors are temporary: 24 hours.
delete from vector_stores
 where id = any(array(select id from vector_stores
                       where created_at < now() - interval '24 hours'
                       order by created_at limit :batch_size));

-- name: purge_jobs(batch_size)!
-- Finished jobs: 7 days after completion.
delete from job_status
 where id = any(array(select id from job_status
                       where completed_at < now() - interval '7 days'
                       order by completed_at limit :batch_size));

-- name: purge_audit_logs(batch_size)!
-- The audit trail: 90 days (compliance).
delete from audit_logs
 where id = any(array(select id from audit_logs
                       where created_at < now() - interval '90 days'
                       order by created_at limit :batch_size));

-- name: purge_usage(batch_size)!
-- Usage metrics: 90 days.
delete from usage_metrics
 where ctid = any(array(select ctid from usage_metrics
                         where window_start < now() - interval '90 days'
                         order by window_start limit :batch_size));

-- name: purge_endpoint_metrics(batch_size)!
-- Usage per endpoint: 90 days.
delete from endpoint_metrics
 where ctid = any(array(select ctid from endpoint_metrics
                         where window_start < now() - interval '90 days'
                         order by window_start limit :batch_size));
