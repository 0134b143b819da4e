-- The schema of the releases before versioned migrations. IF NOT EXISTS lets a database those
-- releases made adopt this version with its tables and data as they are. Binary columns are
-- written as the placeholder blob in braces: BLOB on SQLite, BYTEA on PostgreSQL.
CREATE TABLE IF NOT EXISTS metadata (
    name TEXT PRIMARY KEY,
    content {blob} NOT NULL,
    generation BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    timestamp_json {blob} NOT NULL,
    index_json TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    security_version BIGINT NOT NULL,
    last_decision TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    policy TEXT
);
CREATE TABLE IF NOT EXISTS reports (
    device_id TEXT NOT NULL,
    product TEXT,
    status TEXT NOT NULL,
    version TEXT NOT NULL,
    code TEXT,
    at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_version ON reports (product, version, status, at_ms);
CREATE TABLE IF NOT EXISTS rollouts (
    id TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    target TEXT NOT NULL,
    version TEXT NOT NULL,
    waves_json TEXT NOT NULL,
    health_json TEXT,
    state TEXT NOT NULL,
    reason TEXT,
    started_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS enrolment_tokens (
    token_sha256 TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    device_id TEXT,
    created_ms BIGINT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS admin_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS device_credentials (
    device_id TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    credential_sha256 TEXT NOT NULL,
    enrolled_ms BIGINT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
