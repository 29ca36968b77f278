-- depends: 0004_updated_at_triggers
-- transactional: false
-- The seed's indexes on hs_code, destination_country and the status columns, each shaped
-- for the named query that reads it (tests/test_export_sathi.py finds each in its
-- query's plan). CONCURRENTLY: the tables stay writable while an index is built. A build
-- that fails midway leaves an INVALID index that `if not exists` would keep on a rerun:
-- drop it first (select indexrelid::regclass from pg_index where not indisvalid).

-- reports.reports_for_hs_code: reports for one HS code, newest first.
create index concurrently if not exists reports_hs_code_created_at_idx
    on reports (hs_code, created_at desc);

-- reports.reports_to_destination: a country's reports in a status, newest first.
create index concurrently if not exists reports_destination_country_status_idx
    on reports (destination_country, status, created_at desc);

-- reports.processing_reports: the few reports still being made, oldest first.
create index concurrently if not exists reports_processing_created_at_idx
    on reports (created_at) where status = 'processing';

-- certifications.user_certifications: a user's certifications in one status. It also
-- serves the cascade from users, which certification_progress_user_id_idx did.
create index concurrently if not exists certification_progress_user_id_status_idx
    on certification_progress (user_id, status);
drop index concurrently if exists certification_progress_user_id_idx;

-- reports.open_tasks: a user's tasks not done yet, by day.
create index concurrently if not exists action_plan_progress_open_idx
    on action_plan_progress (user_id, day_number) where not completed;

-- chat.purge_expired_sessions: sessions past their expiry.
create index concurrently if not exists chat_sessions_expires_at_idx
    on chat_sessions (expires_at) where expires_at is not null;
