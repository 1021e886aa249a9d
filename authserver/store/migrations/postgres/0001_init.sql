-- authops state store, initial schema (PostgreSQL dialect).
-- Times are Unix microseconds (UTC); 0 means "not set".
-- Secrets (codes, tokens, session IDs) are SHA-256 hashes.

CREATE TABLE auth_codes (
    hash                    BYTEA   NOT NULL PRIMARY KEY,
    client_id               TEXT    NOT NULL,
    redirect_uri            TEXT    NOT NULL,
    code_challenge          TEXT    NOT NULL DEFAULT '',
    code_challenge_method   TEXT    NOT NULL DEFAULT '',
    scopes                  TEXT    NOT NULL DEFAULT '',
    account_id              TEXT    NOT NULL,
    nonce                   TEXT    NOT NULL DEFAULT '',
    auth_time               BIGINT  NOT NULL DEFAULT 0,
    extra                   BYTEA,
    created_at              BIGINT  NOT NULL,
    expires_at              BIGINT  NOT NULL,
    used_at                 BIGINT  NOT NULL DEFAULT 0,
    family_id               TEXT    NOT NULL DEFAULT '',
    access_token_id         TEXT    NOT NULL DEFAULT '',
    access_token_expires_at BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE refresh_families (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL DEFAULT '',
    account_id TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT  NOT NULL DEFAULT 0,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    hash       BYTEA   NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '',
    auth_time  BIGINT  NOT NULL DEFAULT 0,
    extra      BYTEA,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    rotated_at BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE device_auths (
    device_hash      BYTEA   NOT NULL PRIMARY KEY,
    user_code        TEXT    NOT NULL UNIQUE,
    client_id        TEXT    NOT NULL,
    scopes           TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL DEFAULT 'pending',
    account_id       TEXT    NOT NULL DEFAULT '',
    auth_time        BIGINT  NOT NULL DEFAULT 0,
    interval_seconds BIGINT  NOT NULL,
    last_poll_at     BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    decided_at       BIGINT  NOT NULL DEFAULT 0,
    consumed_at      BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX device_auths_expires_at ON device_auths (expires_at);

CREATE TABLE sessions (
    id_hash    BYTEA   NOT NULL PRIMARY KEY,
    account_id TEXT    NOT NULL,
    auth_time  BIGINT  NOT NULL DEFAULT 0,
    extra      BYTEA,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX sessions_account_id ON sessions (account_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    account_id TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (account_id, client_id)
);
CREATE INDEX consents_expires_at ON consents (expires_at);

CREATE TABLE login_failures (
    account_id   TEXT    NOT NULL PRIMARY KEY,
    failures     BIGINT  NOT NULL,
    window_start BIGINT  NOT NULL,
    locked_until BIGINT  NOT NULL DEFAULT 0,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX login_failures_expires_at ON login_failures (expires_at);
