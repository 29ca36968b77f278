-- name: add_post(user_id, title)<!
insert into posts (user_id, title) values (:user_id, :title) returning id;

-- name: posts_with_authors()
-- Outer join: the author's columns can be NULL even though users.email is NOT NULL.
select p.id, p.title, u.email
  from posts p
  left join users u on u.id = p.user_id
 order by p.id;
