drop table clients;
drop table webhooks;
drop table alerts;
drop table reports;
