-- depends: 0004_companies_updated_at
-- transactional: false
-- Indexes for the operations added after the tables: built concurrently, as these
-- tables already hold rows where the predictor runs.

-- signals.recent_signals: newest signals across every company.
create index concurrently if not exists signals_event_date_idx on signals (event_date desc, id desc);
-- matches.matches_for_acquirer: every target an acquirer is paired with.
create index concurrently if not exists acquirer_matches_acquirer_ticker_idx
    on acquirer_matches (acquirer_ticker);
