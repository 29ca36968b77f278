-- name: top_matches(target_company_id, limit)
-- The acquirers that fit a target best, best first.
select acquirer_ticker, strategic_fit_score, valuation_low_usd, valuation_high_usd, is_top_match
  from acquirer_matches
 where target_company_id = :target_company_id
 order by strategic_fit_score desc, acquirer_ticker
 limit :limit;

-- name: matches_for_acquirer(acquirer_ticker)
-- Every live target an acquirer is paired with, best fit first.
select c.ticker as target_ticker, m.strategic_fit_score, m.is_top_match
  from acquirer_matches m
  join companies c on c.id = m.target_company_id and c.deleted_at is null
 where m.acquirer_ticker = :acquirer_ticker
 order by m.strategic_fit_score desc, c.ticker;

-- name: mark_top_matches(target_company_id, top)!
-- Flag the target's `top` best-fitting matches as top matches, and only those.
update acquirer_matches m
   set is_top_match = r.rank <= :top
  from (select id, row_number() over (order by strategic_fit_score desc, acquirer_ticker) as rank
          from acquirer_matches
         where target_company_id = :target_company_id) r
 where m.id = r.id
   and m.is_top_match is distinct from (r.rank <= :top);
