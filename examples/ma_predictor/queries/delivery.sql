-- name: reports_between(report_type, since, until, limit)
-- Live reports of a type (None: any) dated in [since, until], newest first.
select id, report_type, report_date, s3_key, delivered_at
  from reports
 where deleted_at is null
   and (:report_type::text is null or report_type = :report_type)
   and report_date between :since and :until
 order by report_date desc, id
 limit :limit;

-- name: mark_report_delivered(id)<!
-- Record a report's delivery (the first one: a second call changes nothing, returns None).
update reports set delivered_at = now()
 where id = :id and deleted_at is null and delivered_at is null
returning id, delivered_at as "delivered_at!";

-- name: active_alerts(alert_type)
-- The live, active alerts of a type (None: every type).
select id, alert_type, conditions, channels, last_triggered_at
  from alerts
 where is_active and deleted_at is null
   and (:alert_type::text is null or alert_type = :alert_type)
 order by alert_type, id;

-- name: alert_triggered(id)<!
-- Record that an active alert fired now; None if it is inactive or deleted.
update alerts set last_triggered_at = now()
 where id = :id and is_active and deleted_at is null
returning id, last_triggered_at as "last_triggered_at!";

-- name: webhooks_for_event(event)
-- The live, active webhooks subscribed to an event.
select id, url, failure_count
  from webhooks
 where is_active and deleted_at is null
   and events ? :event
 order by id;

-- name: record_webhook_delivery(id, succeeded, max_failures)<!
-- A delivery attempt: success resets the failure count, a failure adds one, and the
-- webhook is switched off at `max_failures` consecutive failures.
update webhooks
   set last_delivery_at = case when :succeeded then now() else last_delivery_at end,
       failure_count = case when :succeeded then 0 else failure_count + 1 end,
       is_active = case when :succeeded then is_active else failure_count + 1 < :max_failures end
 where id = :id and deleted_at is null
returning id, is_active, failure_count;

-- name: client_by_api_key(api_key)^
-- The live, active client holding an API key (the unique index finds it); None otherwise.
select id, name, rate_limit_per_minute, preferences
  from clients
 where api_key = :api_key and is_active and deleted_at is null;
