-- depends: 0001_users
create table posts (
    id bigint generated always as identity primary key,
    user_id uuid references users (id) on delete cascade,
    title text not null,
    published_on date
);
create index posts_user_id_idx on posts (user_id);
