drop table notes;
drop table memberships;
drop table items;
drop function touch_updated_at();
