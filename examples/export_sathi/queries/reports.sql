-- name: complete_task(report_id, task_id)!
update action_plan_progress set completed = true, completed_at = now()
 where report_id = :report_id and task_id = :task_id and not completed;

-- name: report_summary(report_id)^
-- A report with how far its certifications and action plan have got.
select r.id, r.product_name, r.status, r.risk_score,
       count(distinct c.id) as "certifications!",
       count(distinct c.id) filter (where c.status = 'completed') as "certifications_done!",
       count(distinct a.id) as "tasks!",
       count(distinct a.id) filter (where a.completed) as "tasks_done!"
  from reports r
  left join certification_progress c on c.report_id = r.id
  left join action_plan_progress a on a.report_id = r.id
 where r.id = :report_id
 group by r.id;

-- name: reports_for_hs_code(hs_code, limit)
-- Reports for one HS code, newest first (what other exporters of it were told).
select * from reports where hs_code = :hs_code order by created_at desc limit :limit;

-- name: reports_to_destination(destination_country, status, limit)
-- A destination's reports in one status, newest first.
select * from reports
 where destination_country = :destination_country and status = :status
 order by created_at desc
 limit :limit;

-- name: processing_reports(limit)
-- Reports still being made, oldest first (for the worker that finishes them).
select * from reports where status = 'processing' order by created_at limit :limit;

-- name: open_tasks(user_id)
-- A user's action-plan tasks not done yet, across reports, by day.
select * from action_plan_progress
 where user_id = :user_id and not completed
 order by day_number, report_id, task_id;
