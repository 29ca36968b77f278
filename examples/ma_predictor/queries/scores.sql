-- name: record_score(company_id, score_date, total_score, components)<!
insert into ma_scores (company_id, score_date, total_score, components)
values (:company_id, :score_date, :total_score, :components)
on conflict (company_id, score_date) do update
   set total_score = excluded.total_score, components = excluded.components
returning *;

-- name: latest_score(company_id)^
select * from ma_scores where company_id = :company_id order by score_date desc limit 1;

-- name: score_history(company_id, since)
select score_date, total_score from ma_scores
 where company_id = :company_id and score_date >= :since
 order by score_date;

-- name: top_scores(limit)
-- Each live company's latest score, best first, with its percentile among them.
with latest as (
    select distinct on (s.company_id) s.company_id, s.score_date, s.total_score
      from ma_scores s
      join companies c on c.id = s.company_id and c.deleted_at is null
     order by s.company_id, s.score_date desc
)
select c.ticker, l.score_date as "score_date!", l.total_score as "total_score!",
       round((percent_rank() over (order by l.total_score) * 100)::numeric, 1) as "percentile!"
  from latest l
  join companies c on c.id = l.company_id
 order by l.total_score desc, c.ticker
 limit :limit;

-- name: percentile_rank(company_id)$
-- Where the company's latest score stands among every live company's latest (0-100).
with latest as (
    select distinct on (s.company_id) s.company_id, s.total_score
      from ma_scores s
      join companies c on c.id = s.company_id and c.deleted_at is null
     order by s.company_id, s.score_date desc
), ranked as (
    select company_id, percent_rank() over (order by total_score) * 100 as pct from latest
)
select round(pct::numeric, 1) as "percentile!" from ranked where company_id = :company_id;

-- name: scores_in_range(min_score, max_score, limit)
-- Live companies whose latest score lies in [min_score, max_score], best first.
with latest as (
    select distinct on (s.company_id) s.company_id, s.score_date, s.total_score
      from ma_scores s
      join companies c on c.id = s.company_id and c.deleted_at is null
     order by s.company_id, s.score_date desc
)
select c.ticker, l.score_date as "score_date!", l.total_score as "total_score!"
  from latest l
  join companies c on c.id = l.company_id
 where l.total_score between :min_score and :max_score
 order by l.total_score desc, c.ticker
 limit :limit;
