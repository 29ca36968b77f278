-- Companies (soft delete, JSONB therapeutic areas) and their drug pipelines.
create table companies (
    id uuid primary key default gen_random_uuid(),
    ticker text not null unique,
    name text not null,
    therapeutic_areas jsonb not null default '[]' check (jsonb_typeof(therapeutic_areas) = 'array'),
    market_cap_usd numeric(18, 2) check (market_cap_usd >= 0),
    cash_usd numeric(18, 2),
    quarterly_burn_usd numeric(18, 2),
    -- Fewer than four quarters of cash at the current burn.
    is_cash_constrained boolean generated always as (
        cash_usd is not null and quarterly_burn_usd > 0 and cash_usd < 4 * quarterly_burn_usd
    ) stored,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz
);
-- companies.search_companies: containment on therapeutic areas, market cap ranges.
create index companies_therapeutic_areas_idx on companies using gin (therapeutic_areas);
create index companies_market_cap_idx on companies (market_cap_usd) where deleted_at is null;

create table drug_candidates (
    id uuid primary key default gen_random_uuid(),
    company_id uuid not null references companies (id) on delete cascade,
    name text not null,
    phase text not null check (phase in ('preclinical', 'phase1', 'phase2', 'phase3', 'filed', 'approved')),
    therapeutic_area text,
    designations jsonb not null default '[]',
    created_at timestamptz not null default now(),
    deleted_at timestamptz
);
-- companies.company_with_pipeline: a company's candidates by phase.
create index drug_candidates_company_id_phase_idx on drug_candidates (company_id, phase);
