-- kazashi-server schema, version 1. Portable SQL: SQLite and PostgreSQL run this same file.
-- Times are seconds since the Unix epoch (BIGINT); binary values are hex or base64url text.

CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    jwks TEXT NOT NULL,
    allowed_aids TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE provider_keys (
    kid TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    jwk TEXT NOT NULL
);

CREATE INDEX provider_keys_provider ON provider_keys (provider_id);

CREATE TABLE chips (
    id TEXT PRIMARY KEY,
    kdd TEXT NOT NULL,
    kvn BIGINT NOT NULL,
    isd_aid TEXT NOT NULL,
    key_length BIGINT NOT NULL,
    s16 BIGINT NOT NULL,
    random_challenge BIGINT NOT NULL,
    sequence_counter BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    command_jti TEXT NOT NULL,
    chip_id TEXT REFERENCES chips (id),
    claims TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    reason TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX transactions_state ON transactions (state);

CREATE TABLE launch_tokens (
    token_hash TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL REFERENCES transactions (id),
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE seen_commands (
    provider_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    keep_until BIGINT NOT NULL,
    PRIMARY KEY (provider_id, jti)
);

CREATE INDEX seen_commands_keep_until ON seen_commands (keep_until);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
