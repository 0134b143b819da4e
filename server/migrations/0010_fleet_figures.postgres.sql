-- Fleet figures and rollout health kept up to date as devices write (issue 15, docs/benchmarks.md
-- "Fleet queries at 1,000,000 devices"): recounting a million devices and every report on each
-- request took over a second. Triggers keep three derived tables in the same transaction as the
-- write that changes them, whoever writes (the server, a bulk load, migrate-storage), so the
-- figures are exactly those the recount gave (server/src/storage/fleet_queries.rs tests compare
-- both over random fleets). Nothing but these triggers and the fold in fleet_queries.rs writes
-- them; migrate-storage rebuilds them on the target instead of copying them.
--
-- Devices by (product, version, security version) of their last check-in, as changes: +1 for a
-- device that arrives on a version, -1 for one that leaves it. Only inserted, never updated, so
-- concurrent writers (replicas on PostgreSQL) never wait on a shared counter row; readers sum
-- them, and fold a product's rows into one per version when there are many.
CREATE TABLE fleet_count_changes (
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    security_version BIGINT NOT NULL,
    devices BIGINT NOT NULL
);
CREATE INDEX fleet_count_changes_by_product
    ON fleet_count_changes (product, version, security_version, devices);
-- Each device's vote on a release for a rollout's health rule: its latest installed or failed
-- report of the release (offered to it), and whether a report at that instant failed (one that
-- reported both at one instant votes failed). A vote since a rollout's start is one whose
-- latest report is at or after it.
CREATE TABLE device_votes (
    device_id TEXT NOT NULL,
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    last_ms BIGINT NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (device_id, product, version)
);
CREATE INDEX device_votes_by_release ON device_votes (product, version, last_ms, failed);
-- Each device's first installed report of each version (offered to it): time to install.
CREATE TABLE first_installs (
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    device_id TEXT NOT NULL,
    first_ms BIGINT NOT NULL,
    PRIMARY KEY (product, version, device_id)
);

CREATE FUNCTION airlock_count_devices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO fleet_count_changes (product, version, security_version, devices)
        VALUES (OLD.product, OLD.version, OLD.security_version, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO fleet_count_changes (product, version, security_version, devices)
        VALUES (NEW.product, NEW.version, NEW.security_version, 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER devices_counted AFTER INSERT OR DELETE ON devices
FOR EACH ROW EXECUTE FUNCTION airlock_count_devices();
CREATE TRIGGER devices_counted_again AFTER UPDATE ON devices
FOR EACH ROW WHEN (OLD.product IS DISTINCT FROM NEW.product
    OR OLD.version IS DISTINCT FROM NEW.version
    OR OLD.security_version IS DISTINCT FROM NEW.security_version)
EXECUTE FUNCTION airlock_count_devices();
-- reports are only ever inserted
CREATE FUNCTION airlock_count_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.offered = 1 AND NEW.product IS NOT NULL AND NEW.status IN ('installed', 'failed') THEN
        INSERT INTO device_votes AS v (device_id, product, version, last_ms, failed)
        VALUES (NEW.device_id, NEW.product, NEW.version, NEW.at_ms,
                CASE WHEN NEW.status = 'failed' THEN 1 ELSE 0 END)
        ON CONFLICT (device_id, product, version) DO UPDATE SET
            failed = CASE WHEN excluded.last_ms > v.last_ms THEN excluded.failed
                          WHEN excluded.last_ms = v.last_ms THEN GREATEST(v.failed, excluded.failed)
                          ELSE v.failed END,
            last_ms = GREATEST(v.last_ms, excluded.last_ms);
    END IF;
    IF NEW.offered = 1 AND NEW.product IS NOT NULL AND NEW.status = 'installed' THEN
        INSERT INTO first_installs AS f (product, version, device_id, first_ms)
        VALUES (NEW.product, NEW.version, NEW.device_id, NEW.at_ms)
        ON CONFLICT (product, version, device_id) DO UPDATE SET
            first_ms = LEAST(f.first_ms, excluded.first_ms);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER reports_counted AFTER INSERT ON reports
FOR EACH ROW EXECUTE FUNCTION airlock_count_report();

-- What the rows written before this version add up to (the triggers exist first: nothing
-- written meanwhile is missed or counted twice: CREATE TRIGGER holds writers off until the
-- migration's transaction commits).
INSERT INTO fleet_count_changes (product, version, security_version, devices)
SELECT product, version, security_version, COUNT(*) FROM devices
GROUP BY product, version, security_version;
INSERT INTO device_votes (device_id, product, version, last_ms, failed)
SELECT r.device_id, r.product, r.version, r.at_ms,
       MAX(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END)
FROM reports r
JOIN (SELECT device_id, product, version, MAX(at_ms) AS last_ms FROM reports
      WHERE offered = 1 AND product IS NOT NULL AND status IN ('installed', 'failed')
      GROUP BY device_id, product, version) latest
  ON latest.device_id = r.device_id AND latest.product = r.product
     AND latest.version = r.version AND latest.last_ms = r.at_ms
WHERE r.offered = 1 AND r.status IN ('installed', 'failed')
GROUP BY r.device_id, r.product, r.version, r.at_ms;
INSERT INTO first_installs (product, version, device_id, first_ms)
SELECT product, version, device_id, MIN(at_ms) FROM reports
WHERE offered = 1 AND product IS NOT NULL AND status = 'installed'
GROUP BY product, version, device_id;
