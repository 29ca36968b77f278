-- name: messages_page(conversation_id, after_created_at, after_id, limit)
-- A conversation's messages in order, a page at a time: pass the last row's
-- (created_at, id) to get the next page (keyset: stable while messages arrive).
select id, role, content, metadata, created_at
  from messages
 where conversation_id = :conversation_id
   and (:after_created_at::timestamptz is null or :after_id::uuid is null
        or (created_at, id) > (:after_created_at, :after_id))
 order by created_at, id
 limit :limit;

-- name: add_message(conversation_id, role, content, metadata)<!
insert into messages (conversation_id, role, content, metadata)
values (:conversation_id, :role, :content, coalesce(:metadata::jsonb, '{}'))
returning *;

-- name: bump_message_count(conversation_id)<!
update conversations set message_count = message_count + 1
 where id = :conversation_id
returning message_count;
