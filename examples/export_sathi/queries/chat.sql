-- name: add_message(session_id, role, content, sources)<!
-- A chat message with the sources it cites (a JSON array).
insert into chat_messages (session_id, role, content, sources)
values (:session_id, :role, :content, coalesce(:sources::jsonb, '[]'))
returning *;

-- name: touch_session(session_id)!
update chat_sessions set last_activity = now() where id = :session_id;

-- name: session_messages(session_id)
select * from chat_messages where session_id = :session_id order by created_at, id;

-- name: purge_expired_sessions()!
-- Delete the sessions past their expiry, and their messages (ON DELETE CASCADE).
delete from chat_sessions where expires_at < now();
