-- depends: 0004_request_detail
-- transactional: false
-- audit.by_trace: the entries of one trace id (the X-Trace-ID a response carries).
-- Built concurrently: audit_logs is written on every request.
create index concurrently if not exists audit_logs_trace_id_idx on audit_logs (trace_id);
