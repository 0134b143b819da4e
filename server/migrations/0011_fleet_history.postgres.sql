-- The fleet's versions over time, kept as devices report (issue 17, docs/benchmarks.md
-- "Dashboard pages with a large store"): the product page's chart replayed every installed
-- report of the product at each request (over a second at 100,000 devices). At each instant a
-- device counts once, on the version of its latest installed report (offered to it) at or
-- before it; of reports at one instant, the greatest version string (byte order: COLLATE "C",
-- as on SQLite) counts. This table holds that count as changes by time: +1 for the version a
-- device is on from `at_ms`, -1 for the one it leaves then. Devices by version at instant T
-- are the sums of the rows at or before T, the same figures the replay gave
-- (server/src/storage/fleet_queries.rs tests compare both over random fleets). Only
-- inserted, by the trigger below in the transaction of each report and by the backfill;
-- migrate-storage rebuilds it on the target (its triggers) and compares the sums.
CREATE TABLE fleet_history_changes (
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    devices BIGINT NOT NULL
);
CREATE INDEX fleet_history_changes_by_time
    ON fleet_history_changes (product, at_ms, version, devices);
-- The product page's median time to install reads the middle first installs of a release in
-- time order instead of every install of the product.
CREATE INDEX first_installs_by_time ON first_installs (product, version, first_ms);

-- Before the report is in the table, so the lookups see the device's other reports only. A
-- report changes nothing when one at the same instant already names an equal or greater
-- version, or when the device was already on its version then. Otherwise the device moves to
-- it at its instant from the version it was on (if any), and back at the device's next later
-- report (if any), whose own move was written against the version it replaces here.
-- Replicas may write two reports of one device at once: a lock per device, held to the end of
-- the transaction, makes the second see the first (read committed: each statement here sees
-- what committed before it). The server writes a batch's reports in device order, so two
-- batches never wait on each other in a cycle.
CREATE FUNCTION airlock_move_fleet_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous TEXT;
    later_ms BIGINT;
BEGIN
    IF NEW.offered <> 1 OR NEW.product IS NULL OR NEW.status <> 'installed' THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(
        hashtextextended('airlock fleet history ' || NEW.product || ' ' || NEW.device_id, 0));
    IF EXISTS (
        SELECT 1 FROM reports r
        WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
          AND r.status = 'installed' AND r.at_ms = NEW.at_ms
          AND r.version COLLATE "C" >= NEW.version COLLATE "C") THEN
        RETURN NEW;
    END IF;
    SELECT r.version INTO previous FROM reports r
    WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
      AND r.status = 'installed' AND r.at_ms <= NEW.at_ms
    ORDER BY r.at_ms DESC, r.version COLLATE "C" DESC LIMIT 1;
    IF previous IS NOT DISTINCT FROM NEW.version THEN
        RETURN NEW;
    END IF;
    SELECT MIN(r.at_ms) INTO later_ms FROM reports r
    WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
      AND r.status = 'installed' AND r.at_ms > NEW.at_ms;
    INSERT INTO fleet_history_changes (product, version, at_ms, devices)
    VALUES (NEW.product, NEW.version, NEW.at_ms, 1);
    IF previous IS NOT NULL THEN
        INSERT INTO fleet_history_changes (product, version, at_ms, devices)
        VALUES (NEW.product, previous, NEW.at_ms, -1);
    END IF;
    IF later_ms IS NOT NULL THEN
        INSERT INTO fleet_history_changes (product, version, at_ms, devices)
        VALUES (NEW.product, NEW.version, later_ms, -1);
        IF previous IS NOT NULL THEN
            INSERT INTO fleet_history_changes (product, version, at_ms, devices)
            VALUES (NEW.product, previous, later_ms, 1);
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER reports_move_fleet_history BEFORE INSERT ON reports
FOR EACH ROW EXECUTE FUNCTION airlock_move_fleet_history();

-- What the reports written before this version add up to: each device's version at each
-- instant it reported, and a move wherever that differs from its version before (the trigger
-- exists first: CREATE TRIGGER holds writers off until the migration's transaction commits).
WITH at_instant AS (
    SELECT device_id, product, at_ms, MAX(version COLLATE "C") AS version FROM reports
    WHERE offered = 1 AND product IS NOT NULL AND status = 'installed'
    GROUP BY device_id, product, at_ms
), moves AS (
    SELECT product, version, at_ms,
           LAG(version) OVER (PARTITION BY device_id, product ORDER BY at_ms) AS previous
    FROM at_instant
), changes AS (
    SELECT product, version, at_ms, 1 AS devices FROM moves
    WHERE previous IS NULL OR previous <> version
    UNION ALL
    SELECT product, previous, at_ms, -1 FROM moves
    WHERE previous IS NOT NULL AND previous <> version
)
INSERT INTO fleet_history_changes (product, version, at_ms, devices)
SELECT product, version, at_ms, SUM(devices) FROM changes
GROUP BY product, version, at_ms HAVING SUM(devices) <> 0;
