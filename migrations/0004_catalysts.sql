-- Clinical-trial catalysts and their daily market snapshots.
-- depends: 0001_updated_at_trigger
create table catalysts (
    id uuid primary key default gen_random_uuid(),
    nct_id text not null unique check (nct_id ~ '^NCT[0-9]{8}$'),
    ticker text check (ticker ~ '^[A-Z.]{1,8}$'),
    company text not null,
    drug_name text,
    indication text,
    phase text not null check (phase in (
        'Phase 1', 'Phase 1/2', 'Phase 2', 'Phase 2/3', 'Phase 3', 'Phase 4')),
    completion_date date,
    market_cap numeric(18, 2) check (market_cap >= 0),
    ticker_confidence smallint check (ticker_confidence between 0 and 100),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- catalysts.get_catalysts filters by phase and orders by completion date.
create index catalysts_phase_completion_date_idx on catalysts (phase, completion_date);

create trigger catalysts_set_updated_at before update on catalysts
    for each row execute function set_updated_at();

create table catalyst_history (
    id bigint generated always as identity primary key,
    catalyst_id uuid not null references catalysts (id) on delete cascade,
    snapshot_date date not null,
    current_price numeric(12, 4) check (current_price >= 0),
    market_cap numeric(18, 2) check (market_cap >= 0),
    volume bigint check (volume >= 0),
    created_at timestamptz not null default now(),
    -- The daily snapshot upsert conflicts on it; it also serves the cascade from catalysts.
    unique (catalyst_id, snapshot_date)
);

comment on table catalysts is 'Clinical trial catalysts, one per ClinicalTrials.gov NCT id';
comment on table catalyst_history is 'Daily market snapshots of each catalyst';
