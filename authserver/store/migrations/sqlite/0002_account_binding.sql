-- Sessions and refresh tokens remember the account binding they were
-- issued under (issue #15): the server refuses them once the account's
-- binding changes (password changed, disabled and re-enabled, deleted and
-- recreated). Rows from before this migration have '' (see store.Session).
ALTER TABLE sessions ADD COLUMN binding TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN binding TEXT NOT NULL DEFAULT '';
