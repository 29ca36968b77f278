drop table endpoint_metrics;
alter table audit_logs
    drop column user_agent,
    drop column ip_address,
    drop column request_body;
