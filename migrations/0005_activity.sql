-- What users and workflows do: analytics events, emails sent, n8n workflow runs.
-- depends: 0002_users
create table analytics_events (
    id bigint generated always as identity primary key,
    user_id uuid references users (id) on delete cascade,
    event_type text not null,
    event_category text,
    event_metadata jsonb not null default '{}' check (jsonb_typeof(event_metadata) = 'object'),
    created_at timestamptz not null default now()
);
-- activity.recent_events reads a user's latest events; also serves the cascade.
create index analytics_events_user_id_created_at_idx on analytics_events (user_id, created_at desc);

create table email_log (
    id bigint generated always as identity primary key,
    user_id uuid references users (id) on delete cascade,
    email_type text not null,
    campaign text,
    subject text,
    sent_at timestamptz not null default now(),
    opened_at timestamptz,
    check (opened_at is null or opened_at >= sent_at)
);
-- The cascade from users, and a user's emails.
create index email_log_user_id_idx on email_log (user_id);

create table workflow_runs (
    id uuid primary key default gen_random_uuid(),
    workflow_id text not null,
    workflow_name text,
    execution_id text,
    status text not null default 'running' check (status in ('running', 'success', 'error')),
    started_at timestamptz not null default now(),
    completed_at timestamptz,
    records_processed integer check (records_processed >= 0),
    error_message text,
    check ((status = 'running') = (completed_at is null))
);
-- activity.last_workflow_run: the latest run of a workflow.
create index workflow_runs_workflow_id_started_at_idx on workflow_runs (workflow_id, started_at desc);

comment on table analytics_events is 'User behaviour events with free-form JSON metadata';
comment on table email_log is 'Emails sent, and when they were first opened';
comment on table workflow_runs is 'n8n workflow executions: start, end, outcome';
