-- transactional: false
drop index concurrently if exists audit_logs_trace_id_idx;
