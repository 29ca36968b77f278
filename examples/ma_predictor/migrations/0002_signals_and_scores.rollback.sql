drop table acquirer_matches;
drop table ma_scores;
drop table signals;
