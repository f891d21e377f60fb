-- 0400: the HTTP API's own state: machine clients' API keys (hashed) and the outcomes of idempotent requests.

-- An intake system's key: only the SHA-256 of its secret is stored; scoped to channels and one jurisdiction.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id        text PRIMARY KEY,
    name          text NOT NULL,
    secret_sha256 text NOT NULL,
    channels      text[] NOT NULL CHECK (cardinality(channels) >= 1),
    jurisdiction  text NOT NULL,
    unit_id       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- One row per (caller, Idempotency-Key): the request's fingerprint and, once known, its outcome. A retry
-- with the same key answers the stored outcome; a row without an outcome is a request still in flight.
CREATE TABLE IF NOT EXISTS api_idempotency (
    principal    text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    body         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS api_idempotency_created_idx ON api_idempotency (created_at);

-- Case numbers registered through the API: the first registration of a number answers 201, later ones 200.
CREATE TABLE IF NOT EXISTS api_registrations (
    case_no       text PRIMARY KEY,
    principal     text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
