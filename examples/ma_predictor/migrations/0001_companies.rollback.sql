drop table drug_candidates;
drop table companies;
