drop table users;
drop type plan;
