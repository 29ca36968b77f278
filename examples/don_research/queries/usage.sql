-- name: admit(institution, limit)<!
-- Count a request in the institution's current one-minute window, unless the window is
-- full: returns the new count, or None (refused). One statement, and the row lock
-- serializes concurrent requests, so a limit is never exceeded.
insert into usage_metrics as u (institution, window_start, request_count)
values (:institution, date_trunc('minute', now()), 1)
on conflict (institution, window_start) do update
   set request_count = u.request_count + 1
 where u.request_count < :limit
returning request_count;

-- name: record_request(institution, endpoint, latency_ms, is_error)!
-- Add one request to its endpoint's row for the current minute: count, errors, latency.
insert into endpoint_metrics as m
       (institution, endpoint, window_start, request_count, error_count,
        latency_ms_total, latency_ms_max)
values (:institution, :endpoint, date_trunc('minute', now()), 1,
        case when :is_error then 1 else 0 end, :latency_ms, :latency_ms)
on conflict (institution, window_start, endpoint) do update
   set request_count = m.request_count + 1,
       error_count = m.error_count + excluded.error_count,
       latency_ms_total = m.latency_ms_total + excluded.latency_ms_total,
       latency_ms_max = greatest(m.latency_ms_max, excluded.latency_ms_max);

-- name: per_endpoint(institution, since)
-- An institution's usage per endpoint per minute since `since`, newest minute first.
select window_start, endpoint, request_count, error_count,
       round(latency_ms_total / request_count, 2) as "latency_ms_avg!",
       latency_ms_max
  from endpoint_metrics
 where institution = :institution and window_start >= :since and request_count > 0
 order by window_start desc, endpoint;
