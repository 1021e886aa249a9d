-- Authorization codes, refresh tokens, device authorizations and consents
-- remember the UID of the client they were issued to (issue #14): a client
-- deleted and recreated under the same client ID does not inherit them.
-- Rows from before this migration have '' and are accepted (see
-- store.AuthCode.ClientUID).
ALTER TABLE auth_codes ADD COLUMN client_uid TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN client_uid TEXT NOT NULL DEFAULT '';
ALTER TABLE device_auths ADD COLUMN client_uid TEXT NOT NULL DEFAULT '';
ALTER TABLE consents ADD COLUMN client_uid TEXT NOT NULL DEFAULT '';
-- The resources (RFC 8707 audiences, space-separated like scopes) asked for
-- at the authorization or device authorization endpoint, kept by the
-- refresh-token family (issue #14).
ALTER TABLE auth_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE device_auths ADD COLUMN resources TEXT NOT NULL DEFAULT '';
-- Authorization codes and device authorizations remember the account
-- binding they were approved under, like refresh tokens (0002): a code or
-- device grant approved by an account that is then deleted and recreated
-- (or disabled) is refused. Rows from before this migration have ''.
ALTER TABLE auth_codes ADD COLUMN binding TEXT NOT NULL DEFAULT '';
ALTER TABLE device_auths ADD COLUMN binding TEXT NOT NULL DEFAULT '';
