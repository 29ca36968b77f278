drop table workflow_runs;
drop table email_log;
drop table analytics_events;
