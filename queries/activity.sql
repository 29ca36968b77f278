-- name: log_analytics_event(user_id, event_type, event_category, event_metadata)<!
-- Record what a user (or None: anonymous) did; returns the event id.
insert into analytics_events (user_id, event_type, event_category, event_metadata)
values (:user_id, :event_type, :event_category, coalesce(:event_metadata::jsonb, '{}'))
returning id;

-- name: recent_events(user_id, limit)
select id, event_type, event_category, event_metadata, created_at
  from analytics_events
 where user_id = :user_id
 order by created_at desc, id desc
 limit :limit;

-- name: log_email_sent(user_id, email_type, campaign, subject)<!
insert into email_log (user_id, email_type, campaign, subject)
values (:user_id, :email_type, :campaign, :subject)
returning id;

-- name: mark_email_opened(id)!
-- Keeps the first opening: later ones change nothing.
update email_log set opened_at = now() where id = :id and opened_at is null;

-- name: log_workflow_start(workflow_id, workflow_name, execution_id)<!
insert into workflow_runs (workflow_id, workflow_name, execution_id)
values (:workflow_id, :workflow_name, :execution_id)
returning id;

-- name: log_workflow_complete(id, status, records_processed, error_message)<!
-- Close a running run; None if it is unknown or already closed.
update workflow_runs
   set status = :status,
       completed_at = now(),
       records_processed = :records_processed,
       error_message = :error_message
 where id = :id and status = 'running'
returning *;

-- name: last_workflow_run(workflow_id)^
select * from workflow_runs where workflow_id = :workflow_id order by started_at desc limit 1;
