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

-- name: recent_signals(since, min_severity, limit)
-- The newest signals across every live company (the dashboard feed), newest first.
select c.ticker, s.id, s.signal_type, s.severity, s.event_date, s.signal_data
  from signals s
  join companies c on c.id = s.company_id and c.deleted_at is null
 where s.event_date >= :since
   and (:min_severity::int is null or s.severity >= :min_severity)
 order by s.event_date desc, s.id desc
 limit :limit;

-- name: companies_with_signal_data(data)
-- Live companies with signals whose JSONB data contains `data` (e.g. {"filing_type":
-- "8-K"}): how many and the latest, most recent first. Containment is what the GIN
-- index signals_signal_data_idx serves.
select c.ticker, count(*) as "signals!", max(s.event_date) as "latest!"
  from signals s
  join companies c on c.id = s.company_id and c.deleted_at is null
 where s.signal_data @> :data::jsonb
 group by c.ticker
 order by 3 desc, 1;
