-- name: by_trace(trace_id)
-- The audit entries of one trace id, oldest first (the index audit_logs_trace_id_idx).
select id, institution, method, path, status_code, duration_ms, request_body,
       host(ip_address) as ip_address, user_agent, created_at
  from audit_logs
 where trace_id = :trace_id
 order by created_at, id;
