-- name: purge_vector_stores()!
-- Input vectors are temporary: 24 hours.
delete from vector_stores where created_at < now() - interval '24 hours';

-- name: purge_jobs()!
-- Finished jobs: 7 days after completion.
delete from job_status where completed_at < now() - interval '7 days';

-- name: purge_audit_logs()!
-- The audit trail: 90 days (compliance).
delete from audit_logs where created_at < now() - interval '90 days';

-- name: purge_usage()!
-- Usage metrics: 90 days.
delete from usage_metrics where window_start < now() - interval '90 days';
