-- Pushed authorization requests (RFC 9126, issue #18). hash is the SHA-256
-- of the request_uri; params the authorization request's parameters,
-- form-encoded. The first use of the request_uri sets used_at and
-- resume_hash (the SHA-256 of the handle the login and consent pages carry
-- on) and moves expires_at to the end of the interaction; the code's issue
-- deletes the row. client_uid binds the request to the client's object,
-- like the codes (0004).
CREATE TABLE pushed_requests (
    hash        BYTEA   NOT NULL PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    client_uid  TEXT    NOT NULL DEFAULT '',
    params      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT  NOT NULL DEFAULT 0,
    resume_hash BYTEA
);
CREATE UNIQUE INDEX pushed_requests_resume_hash ON pushed_requests (resume_hash);
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
