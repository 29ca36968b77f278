-- users with every kind of column the type generator must map
create type plan as enum ('free', 'pro');

create table users (
    id uuid primary key default gen_random_uuid(),
    email text not null unique,
    name text,
    plan plan not null default 'free',
    tags text[] not null default '{}',
    score numeric(10, 2),
    last_ip inet,
    meta jsonb not null default '{}',
    created_at timestamptz not null default now()
);
