-- Accounts, their free trial and their Stripe customer.
-- depends: 0001_updated_at_trigger
create table users (
    id uuid primary key default gen_random_uuid(),
    -- Stored lowercase, so that the unique constraint is case-insensitive.
    email text not null unique check (email = lower(email) and email like '%_@_%'),
    password_hash text,
    signup_source text not null default 'organic'
        check (signup_source in ('organic', 'referral', 'ads', 'partner', 'seed')),
    trial_end_date timestamptz,
    stripe_customer_id text unique,
    last_login_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();

comment on table users is 'User accounts with trial end date and Stripe customer id';
