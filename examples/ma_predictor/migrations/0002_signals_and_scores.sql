-- depends: 0001_companies
-- Event signals, the time series of M&A scores, and acquirer matches.
create table signals (
    id bigint generated always as identity primary key,
    company_id uuid not null references companies (id) on delete cascade,
    signal_type text not null,
    severity smallint not null check (severity between 1 and 5),
    event_date date not null,
    signal_data jsonb not null default '{}',
    created_at timestamptz not null default now()
);
-- signals.signals_for filters by company, type and dates; counts group by type.
create index signals_company_id_type_date_idx on signals (company_id, signal_type, event_date);
create index signals_signal_data_idx on signals using gin (signal_data);

create table ma_scores (
    id bigint generated always as identity primary key,
    company_id uuid not null references companies (id) on delete cascade,
    score_date date not null,
    total_score numeric(5, 2) not null check (total_score between 0 and 100),
    components jsonb not null default '{}',
    unique (company_id, score_date)  -- one score a day; latest/history read it
);

create table acquirer_matches (
    id bigint generated always as identity primary key,
    target_company_id uuid not null references companies (id) on delete cascade,
    acquirer_ticker text not null,
    strategic_fit_score numeric(5, 2) not null check (strategic_fit_score between 0 and 100),
    valuation_low_usd numeric(18, 2),
    valuation_high_usd numeric(18, 2),
    is_top_match boolean not null default false,
    check (valuation_low_usd is null or valuation_high_usd is null
           or valuation_low_usd <= valuation_high_usd)
);
create index acquirer_matches_target_idx on acquirer_matches (target_company_id);
