-- Users, their export-readiness reports, and what hangs off a report.
create function set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end $$;

create table users (
    id uuid primary key default gen_random_uuid(),
    email text not null unique,
    full_name text,
    company_name text,
    business_type text not null check (business_type in ('manufacturer', 'merchant', 'service_provider')),
    company_size text not null check (company_size in ('micro', 'small', 'medium', 'large')),
    phone text,
    state text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table reports (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    product_name text not null,
    hs_code text check (hs_code ~ '^[0-9]{4,10}$'),
    destination_country text not null,
    status text not null default 'draft' check (status in ('draft', 'completed', 'archived')),
    risk_score smallint check (risk_score between 0 and 100),
    estimated_cost numeric(14, 2) check (estimated_cost >= 0),
    timeline_days integer check (timeline_days > 0),
    report_data jsonb not null default '{}',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index reports_user_id_created_at_idx on reports (user_id, created_at desc);

create table certification_progress (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    report_id uuid not null references reports (id) on delete cascade,
    certification_id text not null,
    certification_name text not null,
    status text not null default 'not_started'
        check (status in ('not_started', 'in_progress', 'completed', 'rejected')),
    documents_completed jsonb not null default '[]',
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (report_id, certification_id),
    check (completed_at is null or status = 'completed')
);
create index certification_progress_user_id_idx on certification_progress (user_id);

create table generated_documents (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    report_id uuid not null references reports (id) on delete cascade,
    document_type text not null,
    content jsonb not null,
    validation_results jsonb not null default '{}',
    created_at timestamptz not null default now()
);
create index generated_documents_report_id_idx on generated_documents (report_id);
create index generated_documents_user_id_idx on generated_documents (user_id);

create table action_plan_progress (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    report_id uuid not null references reports (id) on delete cascade,
    day_number smallint not null check (day_number between 1 and 7),
    task_id text not null,
    task_title text not null,
    completed boolean not null default false,
    completed_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (report_id, task_id),
    check (completed = (completed_at is not null))
);
create index action_plan_progress_user_id_idx on action_plan_progress (user_id);

create trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();
create trigger reports_set_updated_at before update on reports
    for each row execute function set_updated_at();
create trigger certification_progress_set_updated_at before update on certification_progress
    for each row execute function set_updated_at();
create trigger action_plan_progress_set_updated_at before update on action_plan_progress
    for each row execute function set_updated_at();
