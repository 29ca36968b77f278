-- transactional: false
drop index concurrently if exists chat_sessions_expires_at_idx;
drop index concurrently if exists action_plan_progress_open_idx;
create index concurrently if not exists certification_progress_user_id_idx
    on certification_progress (user_id);
drop index concurrently if exists certification_progress_user_id_status_idx;
drop index concurrently if exists reports_processing_created_at_idx;
drop index concurrently if exists reports_destination_country_status_idx;
drop index concurrently if exists reports_hs_code_created_at_idx;
