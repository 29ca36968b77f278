-- name: get_user_subscription(user_id)^
-- The user's most recent subscription, or None.
select *
  from subscriptions
 where user_id = :user_id
 order by created_at desc
 limit 1;

-- name: has_active_subscription(user_id)$
-- Whether the user pays (or is in a Stripe trial) for the current period.
select exists (
    select 1
      from subscriptions
     where user_id = :user_id
       and status in ('active', 'trialing')
       and (current_period_end is null or current_period_end > now())
) as "active!";

-- name: create_subscription(user_id, stripe_subscription_id, stripe_price_id, plan_id, status, current_period_start, current_period_end)<!
-- From a Stripe "customer.subscription.created" webhook. Stripe retries webhooks, so a
-- second delivery of the same subscription updates the row instead of failing.
insert into subscriptions (user_id, stripe_subscription_id, stripe_price_id, plan_id, status,
                           current_period_start, current_period_end)
values (:user_id, :stripe_subscription_id, :stripe_price_id, :plan_id, :status,
        :current_period_start, :current_period_end)
on conflict (stripe_subscription_id) do update
   set status = excluded.status,
       stripe_price_id = excluded.stripe_price_id,
       plan_id = excluded.plan_id,
       current_period_start = excluded.current_period_start,
       current_period_end = excluded.current_period_end
returning *;

-- name: update_subscription_status(stripe_subscription_id, status, current_period_end, cancel_at_period_end)<!
-- From "customer.subscription.updated/deleted" webhooks: idempotent, None if unknown.
update subscriptions
   set status = :status,
       current_period_end = coalesce(:current_period_end, current_period_end),
       cancel_at_period_end = coalesce(:cancel_at_period_end, cancel_at_period_end)
 where stripe_subscription_id = :stripe_subscription_id
returning *;
