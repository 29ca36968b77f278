-- name: wipe#
-- Remove every post and user (tests only).
delete from posts; delete from users;
