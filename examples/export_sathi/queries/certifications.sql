-- name: update_certification(report_id, certification_id, status, documents_completed, notes)<!
-- Record progress on a report's certification.
-- The status; the documents done so far (a JSON array) and notes, None keeping
-- them. started_at is stamped when work first starts, and kept; completed_at is
-- stamped on completion, and cleared if the certification is reopened.
-- None if the report has no such certification.
update certification_progress
   set status = :status,
       documents_completed = coalesce(:documents_completed::jsonb, documents_completed),
       notes = coalesce(:notes, notes),
       started_at = case when :status = 'not_started' then started_at
                         else coalesce(started_at, now()) end,
       completed_at = case when :status = 'completed' then coalesce(completed_at, now()) end
 where report_id = :report_id and certification_id = :certification_id
returning *;

-- name: user_certifications(user_id, status)
-- A user's certifications in one status (e.g. in progress), across reports.
select * from certification_progress
 where user_id = :user_id and status = :status
 order by updated_at desc, id;
