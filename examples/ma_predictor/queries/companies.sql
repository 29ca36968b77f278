-- name: search_companies(name, areas, min_cap, max_cap, cash_constrained, limit, offset)
-- Live companies matching the filters given (None: no filter): name substring,
-- therapeutic areas (all of them, JSONB containment), market cap range, cash status.
select id, ticker, name, therapeutic_areas, market_cap_usd, is_cash_constrained
  from companies
 where deleted_at is null
   and (:name::text is null or name ilike '%' || :name || '%')
   and (:areas::jsonb is null or therapeutic_areas @> :areas)
   and (:min_cap::numeric is null or market_cap_usd >= :min_cap)
   and (:max_cap::numeric is null or market_cap_usd <= :max_cap)
   and (:cash_constrained::boolean is null or is_cash_constrained = :cash_constrained)
 order by market_cap_usd desc nulls last, ticker
 limit :limit offset :offset;

-- name: company_with_pipeline(ticker)^
-- A company and its live pipeline in one round trip (no query per candidate).
select c.id, c.ticker, c.name, c.market_cap_usd, c.is_cash_constrained,
       coalesce(jsonb_agg(jsonb_build_object('name', d.name, 'phase', d.phase,
                                             'area', d.therapeutic_area)
                          order by d.phase desc, d.name)
                filter (where d.id is not null), '[]') as "pipeline!"
  from companies c
  left join drug_candidates d on d.company_id = c.id and d.deleted_at is null
 where c.ticker = :ticker and c.deleted_at is null
 group by c.id;

-- name: company_statistics()^
select count(*) as "companies!",
       count(*) filter (where is_cash_constrained) as "cash_constrained!",
       avg(market_cap_usd) as average_market_cap,
       percentile_cont(0.5) within group (order by market_cap_usd) as median_market_cap
  from companies
 where deleted_at is null;
