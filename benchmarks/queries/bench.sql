-- name: get_item(id)^
select id, name, qty, price, created_at from items where id = :id;

-- name: list_items(after)
select id, name, qty, price, created_at from items where id > :after order by id limit 100;
