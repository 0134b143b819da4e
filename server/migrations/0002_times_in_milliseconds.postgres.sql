-- Every time column holds Unix milliseconds (BIGINT); the two that held RFC 3339 text move over.
ALTER TABLE head ADD COLUMN updated_ms BIGINT NOT NULL DEFAULT 0;
UPDATE head SET updated_ms = CAST(ROUND(EXTRACT(EPOCH FROM CAST(updated_at AS TIMESTAMPTZ)) * 1000) AS BIGINT);
ALTER TABLE head DROP COLUMN updated_at;
ALTER TABLE devices ADD COLUMN last_seen_ms BIGINT NOT NULL DEFAULT 0;
UPDATE devices SET last_seen_ms = CAST(ROUND(EXTRACT(EPOCH FROM CAST(last_seen AS TIMESTAMPTZ)) * 1000) AS BIGINT);
ALTER TABLE devices DROP COLUMN last_seen;
