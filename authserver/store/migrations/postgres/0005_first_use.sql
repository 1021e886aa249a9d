-- Single-use keys (issue #18): the jti of every client assertion (and,
-- later, of DPoP proofs) seen before its expiry, so that a replay is
-- refused on every replica. key_hash is the SHA-256 of the key; scope
-- separates the users of the table.
CREATE TABLE first_uses (
    scope      TEXT    NOT NULL,
    key_hash   BYTEA   NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX first_uses_expires_at ON first_uses (expires_at);
