-- name: compute_user_metrics(user_id)<!
-- Recompute a user's metrics from their reports, certifications, tasks, documents.
-- exports_completed, timeline_reduction_days and last_export_date come from
-- outside this database (the application records them): recomputing keeps them.
insert into user_metrics (user_id, reports_generated, certifications_completed,
                          tasks_completed, documents_generated, average_risk_score,
                          cost_savings, computed_at)
select u.id,
       (select count(*) from reports r where r.user_id = u.id),
       (select count(*) from certification_progress c
         where c.user_id = u.id and c.status = 'completed'),
       (select count(*) from action_plan_progress a where a.user_id = u.id and a.completed),
       (select count(*) from generated_documents d where d.user_id = u.id),
       (select round(avg(r.risk_score), 2) from reports r where r.user_id = u.id),
       (select coalesce(sum(r.estimated_cost) * 0.1, 0) from reports r
         where r.user_id = u.id and r.status = 'completed'),
       now()
  from users u
 where u.id = :user_id
on conflict (user_id) do update
   set reports_generated = excluded.reports_generated,
       certifications_completed = excluded.certifications_completed,
       tasks_completed = excluded.tasks_completed,
       documents_generated = excluded.documents_generated,
       average_risk_score = excluded.average_risk_score,
       cost_savings = excluded.cost_savings,
       computed_at = excluded.computed_at
returning *;
