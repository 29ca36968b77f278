-- name: get_catalysts(phase, max_market_cap, min_ticker_confidence, limit)
-- Catalysts matching the filters that are given (None: no filter), upcoming completion
-- dates first, then past ones, at most `limit` (default 50).
select *
  from catalysts
 where (:phase::text is null or phase = :phase)
   and (:max_market_cap::numeric is null or market_cap <= :max_market_cap)
   and (:min_ticker_confidence::int is null or ticker_confidence >= :min_ticker_confidence)
 order by completion_date < current_date, completion_date, nct_id
 limit case when :limit::int is null then 50 else :limit end;

-- name: upsert_catalyst(nct_id, ticker, company, drug_name, indication, phase, completion_date, market_cap, ticker_confidence)<!
-- Insert a scraped catalyst, or update the one with the same NCT id.
insert into catalysts (nct_id, ticker, company, drug_name, indication, phase, completion_date,
                       market_cap, ticker_confidence)
values (:nct_id, :ticker, :company, :drug_name, :indication, :phase, :completion_date,
        :market_cap, :ticker_confidence)
on conflict (nct_id) do update
   set ticker = excluded.ticker,
       company = excluded.company,
       drug_name = excluded.drug_name,
       indication = excluded.indication,
       phase = excluded.phase,
       completion_date = excluded.completion_date,
       market_cap = excluded.market_cap,
       ticker_confidence = excluded.ticker_confidence
returning *;

-- name: upsert_snapshot(catalyst_id, snapshot_date, current_price, market_cap, volume)<!
-- Today's (or any day's) market snapshot: a second one for the same day replaces it.
insert into catalyst_history (catalyst_id, snapshot_date, current_price, market_cap, volume)
values (:catalyst_id, :snapshot_date, :current_price, :market_cap, :volume)
on conflict (catalyst_id, snapshot_date) do update
   set current_price = excluded.current_price,
       market_cap = excluded.market_cap,
       volume = excluded.volume
returning *;

-- name: catalyst_history(catalyst_id)
select snapshot_date, current_price, market_cap, volume
  from catalyst_history
 where catalyst_id = :catalyst_id
 order by snapshot_date;
