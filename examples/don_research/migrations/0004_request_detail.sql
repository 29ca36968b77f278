-- depends: 0003_job_status_updated_at
-- What the seed's audit middleware records of each request (the body, up to 10,000
-- characters, the client's address and user agent), and usage per endpoint and minute.

alter table audit_logs
    add column request_body text,
    add column ip_address inet,
    add column user_agent text;

-- usage.record_request adds each request to its endpoint's row for the minute; the
-- rate limit keeps its own counter (usage_metrics), which every request of an
-- institution locks, so the analytics rows never share that key.
create table endpoint_metrics (
    institution text not null,
    endpoint text not null,
    window_start timestamptz not null,
    request_count integer not null default 0 check (request_count >= 0),
    error_count integer not null default 0 check (error_count between 0 and request_count),
    latency_ms_total numeric(14, 2) not null default 0 check (latency_ms_total >= 0),
    latency_ms_max numeric(10, 2) not null default 0 check (latency_ms_max >= 0),
    -- usage.record_request upserts on it; usage.per_endpoint reads an institution's rows.
    primary key (institution, window_start, endpoint)
);
-- retention.purge_endpoint_metrics scans by window.
create index endpoint_metrics_window_start_idx on endpoint_metrics (window_start);
