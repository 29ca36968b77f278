drop function set_updated_at();
