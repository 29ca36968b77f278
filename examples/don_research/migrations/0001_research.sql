-- QAC models, async job status, the audit trail of every request, usage per institution.
create table qac_models (
    id uuid primary key default gen_random_uuid(),
    name text not null,
    version integer not null default 1 check (version > 0),
    parameters jsonb not null default '{}',
    created_at timestamptz not null default now(),
    unique (name, version)
);

create table job_status (
    id uuid primary key default gen_random_uuid(),
    institution text not null,
    job_type text not null,
    status text not null default 'queued'
        check (status in ('queued', 'running', 'completed', 'failed')),
    progress smallint not null default 0 check (progress between 0 and 100),
    result jsonb,
    error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    completed_at timestamptz,
    check ((status in ('completed', 'failed')) = (completed_at is not null))
);
-- retention.purge_jobs deletes finished jobs by completion time.
create index job_status_completed_at_idx on job_status (completed_at) where completed_at is not null;

create table audit_logs (
    id bigint generated always as identity primary key,
    trace_id text not null,
    institution text not null,
    method text not null,
    path text not null,
    status_code smallint not null check (status_code between 100 and 599),
    duration_ms numeric(10, 2) not null check (duration_ms >= 0),
    created_at timestamptz not null default now()
);
-- retention.purge_audit_logs deletes by age.
create index audit_logs_created_at_idx on audit_logs (created_at);

create table usage_metrics (
    institution text not null,
    window_start timestamptz not null,
    request_count integer not null default 0 check (request_count >= 0),
    -- usage.admit upserts on it; retention.purge_usage scans by window.
    primary key (institution, window_start)
);
create index usage_metrics_window_start_idx on usage_metrics (window_start);
