-- name: get_user_by_email(email)^
-- The user with this email (any case), or None.
select * from users where email = lower(:email);

-- name: get_user_by_id(id)^
select * from users where id = :id;

-- name: create_user(email, password_hash, trial_days, signup_source)<!
-- A new user whose free trial ends `trial_days` from now.
insert into users (email, password_hash, signup_source, trial_end_date)
values (lower(:email), :password_hash, :signup_source,
        now() + make_interval(days => :trial_days))
returning *;

-- name: is_trial_active(id)$
-- Whether the user's trial has not ended yet (NotFound for an unknown user).
select coalesce(trial_end_date > now(), false) as "active!" from users where id = :id;

-- name: record_login(id)!
update users set last_login_at = now() where id = :id;

-- name: get_user_by_stripe_customer(stripe_customer_id)^
-- The user a Stripe customer belongs to (webhooks name the customer), or None.
select * from users where stripe_customer_id = :stripe_customer_id;
