-- One column of every type a service meets, to prove each generated annotation true
-- (tests/test_type_truth.py). Every column allows NULL: the test reads a row of NULLs too.
create type mood as enum ('sad', 'ok', 'happy');
comment on type mood is 'How a user feels.';
create domain positive as integer check (value > 0);
create domain mood_domain as mood;
create domain email as text check (value like '%@%');
create type point2 as (x integer, y text);
create type floatrange as range (subtype = float8);

create table all_types (
    id integer primary key generated always as identity,
    c_int2 smallint,
    c_int4 integer,
    c_int8 bigint,
    c_numeric numeric(12, 3),
    c_money money,
    c_float4 real,
    c_float8 double precision,
    c_text text,
    c_varchar varchar(20),
    c_char char(3),
    c_bool boolean,
    c_bytea bytea,
    c_uuid uuid,
    c_date date,
    c_time time,
    c_timetz timetz,
    c_timestamp timestamp,
    c_timestamptz timestamptz,
    c_interval interval,
    c_json json,
    c_jsonb jsonb,
    c_inet inet,
    c_cidr cidr,
    c_macaddr macaddr,
    c_bit bit(4),
    c_varbit varbit,
    c_tsvector tsvector,
    c_xml xml,
    c_oid oid,
    c_int4_array integer[],
    c_int4_2d integer[][],
    c_text_array text[],
    c_text_2d text[][],
    c_numeric_array numeric[],
    c_bool_array boolean[],
    c_uuid_array uuid[],
    c_date_array date[],
    c_timestamptz_array timestamptz[],
    c_jsonb_array jsonb[],
    c_inet_array inet[],
    c_bytea_array bytea[],
    c_money_array money[],
    c_mood mood,
    c_mood_array mood[],
    c_mood_2d mood[][],
    c_mood_domain mood_domain,
    c_mood_domain_array mood_domain[],
    c_positive positive,
    c_positive_array positive[],
    c_email email,
    c_int4range int4range,
    c_int8range int8range,
    c_numrange numrange,
    c_daterange daterange,
    c_tsrange tsrange,
    c_tstzrange tstzrange,
    c_floatrange floatrange,
    c_int4multirange int4multirange,
    c_datemultirange datemultirange,
    c_point2 point2,
    c_point2_array point2[]
);
comment on table all_types is 'One column of every type the generator maps.';
comment on column all_types.c_mood is 'The mood, an enum.';
