drop table action_plan_progress;
drop table generated_documents;
drop table certification_progress;
drop table reports;
drop table users;
drop function set_updated_at();
