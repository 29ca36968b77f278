DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE businesses;
DROP TABLE users;
DROP FUNCTION update_updated_at();
