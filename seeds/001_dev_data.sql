-- Development data: a few users and a handful of catalysts with a week of history.
-- Safe to run twice (ON CONFLICT DO NOTHING); `persistence seed` refuses production.
insert into users (email, password_hash, signup_source, trial_end_date, stripe_customer_id)
values ('trial@example.com', 'not-a-real-hash', 'seed', now() + interval '5 days', null),
       ('expired@example.com', 'not-a-real-hash', 'seed', now() - interval '2 days', null),
       ('paying@example.com', 'not-a-real-hash', 'seed', now() - interval '30 days', 'cus_seed_paying')
on conflict (email) do nothing;

insert into subscriptions (user_id, stripe_subscription_id, stripe_price_id, plan_id, status,
                           current_period_start, current_period_end)
select id, 'sub_seed_paying', 'price_seed_pro', 'pro_monthly', 'active',
       now() - interval '10 days', now() + interval '20 days'
  from users where email = 'paying@example.com'
on conflict (stripe_subscription_id) do nothing;

insert into catalysts (nct_id, ticker, company, drug_name, indication, phase, completion_date,
                       market_cap, ticker_confidence)
values ('NCT00000001', 'ACMT', 'Acme Therapeutics', 'AC-101', 'NSCLC', 'Phase 3',
        current_date + 30, 1200000000, 95),
       ('NCT00000002', 'BIOX', 'Biox', 'BX-7', 'Alzheimer''s disease', 'Phase 2',
        current_date + 90, 450000000, 80),
       ('NCT00000003', 'GENE', 'GeneWorks', 'GW-3', 'DMD', 'Phase 2/3',
        current_date + 10, 3800000000, 88),
       ('NCT00000004', null, 'Private Bio', 'PB-1', 'Psoriasis', 'Phase 1',
        current_date + 200, null, null),
       ('NCT00000005', 'ONCX', 'Oncox', 'OX-22', 'AML', 'Phase 3',
        current_date - 20, 9100000000, 99)
on conflict (nct_id) do nothing;

insert into catalyst_history (catalyst_id, snapshot_date, current_price, market_cap, volume)
select c.id, current_date - d, 10 + d * 0.5, c.market_cap, 100000 + d * 1000
  from catalysts c, generate_series(0, 6) as d
 where c.ticker is not null
on conflict (catalyst_id, snapshot_date) do nothing;
