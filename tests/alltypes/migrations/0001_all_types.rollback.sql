drop table all_types;
drop type floatrange;
drop type point2;
drop domain email;
drop domain mood_domain;
drop domain positive;
drop type mood;
