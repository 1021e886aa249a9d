-- DPoP (RFC 9449, issue #18): the JWK SHA-256 thumbprint (RFC 7638,
-- base64url) of the key a record is bound to, '' for none. A refresh token
-- of a Public client is bound to the key of the proof it was issued with
-- (its rotation successors keep it); an authorization code to the
-- dpop_jkt of its authorization request (RFC 9449 §10).
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
