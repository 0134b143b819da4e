-- Sessions of the operator dashboard at /ui (issue 17), in the state store so that every
-- replica behind a load balancer knows them. Only the session id's SHA-256 is kept: a copy of
-- this table signs nobody in. A session acts as the admin token it was opened with (by that
-- token's digest, so revoking the token ends its sessions); `actor` is its name for the audit
-- log.
CREATE TABLE IF NOT EXISTS ui_sessions (
    id_sha256 TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ui_sessions_by_expiry ON ui_sessions (expires_ms);
-- The dashboard's device search finds devices by the start of their id or by version.
CREATE INDEX IF NOT EXISTS devices_by_version ON devices (product, version);
CREATE INDEX IF NOT EXISTS reports_by_device ON reports (device_id, at_ms);
