drop table user_metrics;
drop table logistics_analysis;
drop table finance_analysis;
drop table chat_messages;
drop table chat_sessions;
