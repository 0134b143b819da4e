-- Every time column holds Unix milliseconds (BIGINT); the two that held RFC 3339 text move over.
ALTER TABLE head ADD COLUMN updated_ms BIGINT NOT NULL DEFAULT 0;
UPDATE head SET updated_ms = CAST(ROUND((julianday(updated_at) - 2440587.5) * 86400000.0) AS INTEGER);
ALTER TABLE head DROP COLUMN updated_at;
ALTER TABLE devices ADD COLUMN last_seen_ms BIGINT NOT NULL DEFAULT 0;
UPDATE devices SET last_seen_ms = CAST(ROUND((julianday(last_seen) - 2440587.5) * 86400000.0) AS INTEGER);
ALTER TABLE devices DROP COLUMN last_seen;
