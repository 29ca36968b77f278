-- name: all_rows()
-- Every row, in insertion order: one of values, one of NULLs.
select * from all_types order by id;

-- name: computed()
-- The same columns through expressions: the generator follows the type, not the table.
select c_mood_array || c_mood_array as c_moods, c_int4_2d as c_int4_2d_computed,
       c_point2, c_floatrange, row(c_int4, c_text) as c_record, c_xml::text as c_xml_text
  from all_types
 order by id;

-- name: fill()!
-- One row with a value in every column (but xml: see set_xml), then one of NULLs.
insert into all_types (
    c_int2, c_int4, c_int8, c_numeric, c_money, c_float4, c_float8, c_text, c_varchar, c_char,
    c_bool, c_bytea, c_uuid, c_date, c_time, c_timetz, c_timestamp, c_timestamptz, c_interval,
    c_json, c_jsonb, c_inet, c_cidr, c_macaddr, c_bit, c_varbit, c_tsvector, c_oid,
    c_int4_array, c_int4_2d, c_text_array, c_text_2d, c_numeric_array, c_bool_array,
    c_uuid_array, c_date_array, c_timestamptz_array, c_jsonb_array, c_inet_array,
    c_bytea_array, c_money_array, c_mood, c_mood_array, c_mood_2d, c_mood_domain,
    c_mood_domain_array, c_positive, c_positive_array, c_email, c_int4range, c_int8range,
    c_numrange, c_daterange, c_tsrange, c_tstzrange, c_floatrange, c_int4multirange,
    c_datemultirange, c_point2, c_point2_array
) values (
    1, 2, 3, 4.5, 6.78, 1.5, 2.5, 'text', 'varchar', 'abc',
    true, '\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-02', '03:04:05',
    '03:04:05+02', '2024-01-02 03:04:05', '2024-01-02 03:04:05+00', '1 day 2 hours',
    '{"a": 1}', '[1, "two"]', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'1010',
    B'101', 'a fat cat', 42,
    '{1,2}', '{{1,2},{3,4}}', '{a,"b c"}', '{{a,b},{c,d}}', '{1.5,2}', '{t,f}',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{2024-01-02}', '{2024-01-02 03:04:05+00}',
    array['{"a": 1}'::jsonb], '{::1,10.0.0.1}', '{"\\x01"}', '{1.50}', 'happy', '{sad,ok}',
    '{{sad,ok},{ok,happy}}', 'ok', '{happy}', 7, '{1,2}', 'a@b.c', '[1,5)', '[1,5)',
    '[1.5,2.5]', '[2024-01-01,2024-02-01)', '[2024-01-01,2024-02-01)',
    '[2024-01-01 00:00+00,2024-02-01 00:00+00)', '[1.5,2.5]', '{[1,3),[5,7)}',
    '{[2024-01-01,2024-01-03)}', '(1,abc)', array['(2,x)'::point2]
),
(default, default, default, default, default, default, default, default, default, default,
 default, default, default, default, default, default, default, default, default, default,
 default, default, default, default, default, default, default, default, default, default,
 default, default, default, default, default, default, default, default, default, default,
 default, default, default, default, default, default, default, default, default, default,
 default, default, default, default, default, default, default, default, default, default);

-- name: set_xml(xml)!
-- Apart: a server built without libxml (the embedded one) refuses any xml value.
update all_types set c_xml = :xml where c_int4 is not null;

-- name: set_moods(moods, id)!
-- An enum array as a parameter: a list of labels goes in as it comes out.
update all_types set c_mood_array = :moods where id = :id;
