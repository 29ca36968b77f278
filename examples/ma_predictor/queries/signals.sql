-- name: signals_for(company_id, signal_type, since, until, min_severity, limit)
-- A company's signals, newest first, filtered by the arguments given.
select id, signal_type, severity, event_date, signal_data
  from signals
 where company_id = :company_id
   and (:signal_type::text is null or signal_type = :signal_type)
   and (:since::date is null or event_date >= :since)
   and (:until::date is null or event_date <= :until)
   and (:min_severity::int is null or severity >= :min_severity)
 order by event_date desc, id desc
 limit :limit;

-- name: signal_counts(company_id)
select signal_type as "signal_type!", count(*) as "signals!", max(event_date) as "latest!"
  from signals
 where company_id = :company_id
 group by signal_type
 order by 2 desc, 1;
