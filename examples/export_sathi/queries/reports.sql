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
