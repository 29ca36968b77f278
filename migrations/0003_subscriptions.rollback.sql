drop table subscriptions;
