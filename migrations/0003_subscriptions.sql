-- Stripe subscriptions, written by the webhook handler.
-- depends: 0002_users
create table subscriptions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    stripe_subscription_id text not null unique,
    stripe_price_id text,
    plan_id text not null,
    status text not null check (status in (
        'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'incomplete',
        'incomplete_expired', 'paused')),
    current_period_start timestamptz,
    current_period_end timestamptz,
    cancel_at_period_end boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (current_period_end is null or current_period_start is null
           or current_period_end >= current_period_start)
);

-- subscriptions.get_user_subscription and has_active_subscription look up by user;
-- it also keeps the ON DELETE CASCADE from users from scanning the table.
create index subscriptions_user_id_created_at_idx on subscriptions (user_id, created_at desc);

create trigger subscriptions_set_updated_at before update on subscriptions
    for each row execute function set_updated_at();

comment on table subscriptions is 'Stripe subscriptions; one row per Stripe subscription id';
