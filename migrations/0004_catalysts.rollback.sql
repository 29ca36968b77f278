drop table catalyst_history;
drop table catalysts;
