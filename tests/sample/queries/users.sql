-- name: get_user(id)^
-- One user by id, or None.
select * from users where id = :id;

-- name: get_user_by_email(email)^
select * from users where email = :email;

-- name: list_users(plan)
-- Every user, or those on one plan when `plan` is given.
select id, email, name, plan
  from users
 where (:plan::plan is null or plan = :plan)
 order by email;

-- name: count_users()$
select count(*) as "n!" from users;

-- name: create_user(email, name, plan)<!
insert into users (email, name, plan) values (:email, :name, :plan)
returning *;

-- name: rename_user(id, name)!
update users set name = :name where id = :id;

-- name: insert_users*!
insert into users (email, name, plan) values (:email, :name, :plan);

-- name: search_names(prefix)
-- A literal % and a :colon inside a string are not placeholders.
select name, ':not_a_param' as "label!"
  from users
 where name like :prefix || '%'
 order by name;

-- name: emails_by_domain()
select split_part(email, '@', 2) as "domain!", count(*) as "users!", min(created_at) as first_seen
  from users
 group by 1
 order by 1;

-- name: email_of(id)$
select email from users where id = :id;
