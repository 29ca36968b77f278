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
