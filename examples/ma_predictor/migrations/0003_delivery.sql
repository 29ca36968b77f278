-- depends: 0001_companies
-- Reports, alerts, webhooks and API clients (soft delete where the seed has it).
create table reports (
    id uuid primary key default gen_random_uuid(),
    report_type text not null check (report_type in ('daily', 'weekly', 'company', 'custom')),
    report_date date not null,
    s3_key text not null,
    delivered_at timestamptz,
    deleted_at timestamptz
);

create table alerts (
    id uuid primary key default gen_random_uuid(),
    alert_type text not null,
    conditions jsonb not null default '{}',
    channels jsonb not null default '["email"]',
    is_active boolean not null default true,
    last_triggered_at timestamptz,
    deleted_at timestamptz
);

create table webhooks (
    id uuid primary key default gen_random_uuid(),
    url text not null check (url like 'https://%'),
    events jsonb not null default '[]',
    is_active boolean not null default true,
    last_delivery_at timestamptz,
    failure_count integer not null default 0,
    deleted_at timestamptz
);

create table clients (
    id uuid primary key default gen_random_uuid(),
    name text not null,
    api_key text not null unique,
    rate_limit_per_minute integer not null default 60 check (rate_limit_per_minute > 0),
    preferences jsonb not null default '{}',
    is_active boolean not null default true,
    deleted_at timestamptz
);
