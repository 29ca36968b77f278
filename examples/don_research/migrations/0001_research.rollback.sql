drop table usage_metrics;
drop table audit_logs;
drop table job_status;
drop table qac_models;
