drop table vector_stores;
drop extension if exists vector;
