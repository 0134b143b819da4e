-- A device's check-ins over time (issue 17: the dashboard's device page shows "a device's
-- history (check-ins, offers, reports)"). A row per check-in would add a write to the hottest
-- path and grow without end (a million devices checking in hourly: 24 million rows a day), so
-- a device's check-ins are kept as runs of the same answer: product, version, security version,
-- the server's decision and the version it offered. The devices row holds the current run
-- (its start and how many check-ins it counted; the check-in's upsert keeps them, a steady
-- device writes nothing more than before); when a check-in changes the answer, the trigger
-- below keeps the run that ended in check_in_runs, the newest 100 per device.
-- Rows from before this version: the run starts at the last check-in (run_since_ms NULL),
-- one check-in counted, nothing offered known.
ALTER TABLE devices ADD COLUMN last_offered TEXT;
ALTER TABLE devices ADD COLUMN run_since_ms BIGINT;
ALTER TABLE devices ADD COLUMN run_check_ins BIGINT NOT NULL DEFAULT 1;
CREATE TABLE check_in_runs (
    device_id TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    until_ms BIGINT NOT NULL,
    check_ins BIGINT NOT NULL,
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    security_version BIGINT NOT NULL,
    decision TEXT NOT NULL,
    offered TEXT,
    PRIMARY KEY (device_id, since_ms)
);
CREATE TRIGGER devices_check_in_run_ended
AFTER UPDATE OF product, version, security_version, last_decision, last_offered ON devices
WHEN OLD.product IS NOT NEW.product OR OLD.version IS NOT NEW.version
    OR OLD.security_version IS NOT NEW.security_version
    OR OLD.last_decision IS NOT NEW.last_decision OR OLD.last_offered IS NOT NEW.last_offered
BEGIN
    INSERT INTO check_in_runs (device_id, since_ms, until_ms, check_ins, product, version,
                               security_version, decision, offered)
    VALUES (OLD.id, COALESCE(OLD.run_since_ms, OLD.last_seen_ms), OLD.last_seen_ms,
            OLD.run_check_ins, OLD.product, OLD.version, OLD.security_version,
            OLD.last_decision, OLD.last_offered)
    ON CONFLICT (device_id, since_ms) DO NOTHING;
    DELETE FROM check_in_runs WHERE device_id = OLD.id AND since_ms <= (
        SELECT since_ms FROM check_in_runs WHERE device_id = OLD.id
        ORDER BY since_ms DESC LIMIT 1 OFFSET 100);
END;
-- The newest check-in of each product (the dashboard overview's "last check-in"): a MAX over
-- the devices table walked every device of the product (30 ms at 100,000 devices, and more
-- with a cold cache), and an index on last_seen_ms would add an index write to every check-in.
-- The check-in writer moves it forward once per batch, to the second.
CREATE TABLE product_check_ins (
    product TEXT PRIMARY KEY,
    last_ms BIGINT NOT NULL
);
INSERT INTO product_check_ins (product, last_ms)
SELECT product, MAX(last_seen_ms) FROM devices GROUP BY product;
-- `/tuf/` access (`--tuf-access enrolled`) by a credential this replica does not know yet (the
-- device enrolled at another replica a moment ago): its row found by the credential's digest.
CREATE INDEX device_credentials_by_digest ON device_credentials (credential_sha256);
