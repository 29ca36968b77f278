-- name: table_counts()
-- Row counts of every table of the domain, for the health report.
select 'users' as "table_name!", count(*) as "rows!" from users
union all select 'subscriptions', count(*) from subscriptions
union all select 'catalysts', count(*) from catalysts
union all select 'catalyst_history', count(*) from catalyst_history
union all select 'analytics_events', count(*) from analytics_events
union all select 'email_log', count(*) from email_log
union all select 'workflow_runs', count(*) from workflow_runs;
