-- depends: 0001_users_and_reports
-- Q&A chat sessions with cited sources, finance and logistics analyses, user metrics.
create table chat_sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    report_id uuid references reports (id) on delete cascade,
    context_data jsonb not null default '{}',
    created_at timestamptz not null default now(),
    last_message_at timestamptz
);
create index chat_sessions_user_id_idx on chat_sessions (user_id);
create index chat_sessions_report_id_idx on chat_sessions (report_id);

create table chat_messages (
    id uuid primary key default gen_random_uuid(),
    session_id uuid not null references chat_sessions (id) on delete cascade,
    role text not null check (role in ('user', 'assistant', 'system')),
    content text not null,
    sources jsonb not null default '[]' check (jsonb_typeof(sources) = 'array'),
    created_at timestamptz not null default now()
);
-- chat.session_messages reads a session's messages in order.
create index chat_messages_session_id_created_at_idx on chat_messages (session_id, created_at);

create table finance_analysis (
    id uuid primary key default gen_random_uuid(),
    report_id uuid not null unique references reports (id) on delete cascade,
    working_capital_data jsonb not null default '{}',
    rodtep_benefit_data jsonb not null default '{}',
    gst_refund_data jsonb not null default '{}',
    total_working_capital numeric(14, 2) check (total_working_capital >= 0),
    created_at timestamptz not null default now()
);

create table logistics_analysis (
    id uuid primary key default gen_random_uuid(),
    report_id uuid not null unique references reports (id) on delete cascade,
    lcl_fcl_comparison jsonb not null default '{}',
    rms_probability numeric(5, 2) check (rms_probability between 0 and 100),
    freight_estimate numeric(14, 2) check (freight_estimate >= 0),
    created_at timestamptz not null default now()
);

create table user_metrics (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null unique references users (id) on delete cascade,
    reports_generated integer not null default 0 check (reports_generated >= 0),
    certifications_completed integer not null default 0 check (certifications_completed >= 0),
    tasks_completed integer not null default 0 check (tasks_completed >= 0),
    average_risk_score numeric(5, 2),
    estimated_cost_savings numeric(14, 2) not null default 0,
    computed_at timestamptz not null default now()
);
