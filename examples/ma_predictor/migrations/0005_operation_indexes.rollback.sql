-- transactional: false
drop index concurrently if exists acquirer_matches_acquirer_ticker_idx;
drop index concurrently if exists signals_event_date_idx;
