-- The fleet's versions over time, kept as devices report (issue 17, docs/benchmarks.md
-- "Dashboard pages with a large store"): the product page's chart replayed every installed
-- report of the product at each request (over a second at 100,000 devices). At each instant a
-- device counts once, on the version of its latest installed report (offered to it) at or
-- before it; of reports at one instant, the greatest version string (byte order) counts. This
-- table holds that count as changes by time: +1 for the version a device is on from `at_ms`,
-- -1 for the one it leaves then. Devices by version at instant T are the sums of the rows at
-- or before T, the same figures the replay gave (server/src/storage/fleet_queries.rs tests
-- compare both over random fleets). Only inserted, by the trigger below in the transaction of
-- each report and by the backfill; migrate-storage rebuilds it on the target (its triggers)
-- and compares the sums.
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

-- Before the report is in the table, so the lookups see the device's other reports only
-- (through the device's index: the planner would otherwise scan a product's reports by
-- version, once per report written). A
-- report changes nothing when one at the same instant already names an equal or greater
-- version, or when the device was already on its version then. Otherwise the device moves to
-- it at its instant from the version it was on (if any), and back at the device's next later
-- report (if any), whose own move was written against the version it replaces here.
CREATE TRIGGER reports_move_fleet_history BEFORE INSERT ON reports
WHEN NEW.offered = 1 AND NEW.product IS NOT NULL AND NEW.status = 'installed'
    AND NOT EXISTS (
        SELECT 1 FROM reports r INDEXED BY reports_by_device
        WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
          AND r.status = 'installed' AND r.at_ms = NEW.at_ms AND r.version >= NEW.version)
    AND NEW.version IS NOT (
        SELECT r.version FROM reports r INDEXED BY reports_by_device
        WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
          AND r.status = 'installed' AND r.at_ms <= NEW.at_ms
        ORDER BY r.at_ms DESC, r.version DESC LIMIT 1)
BEGIN
    INSERT INTO fleet_history_changes (product, version, at_ms, devices)
    VALUES (NEW.product, NEW.version, NEW.at_ms, 1);
    INSERT INTO fleet_history_changes (product, version, at_ms, devices)
    SELECT NEW.product, previous.version, NEW.at_ms, -1
    FROM (SELECT r.version FROM reports r INDEXED BY reports_by_device
          WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
            AND r.status = 'installed' AND r.at_ms <= NEW.at_ms
          ORDER BY r.at_ms DESC, r.version DESC LIMIT 1) previous;
    INSERT INTO fleet_history_changes (product, version, at_ms, devices)
    SELECT NEW.product, NEW.version, later.at_ms, -1
    FROM (SELECT MIN(r.at_ms) AS at_ms FROM reports r INDEXED BY reports_by_device
          WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
            AND r.status = 'installed' AND r.at_ms > NEW.at_ms) later
    WHERE later.at_ms IS NOT NULL;
    INSERT INTO fleet_history_changes (product, version, at_ms, devices)
    SELECT NEW.product, previous.version, later.at_ms, 1
    FROM (SELECT r.version FROM reports r INDEXED BY reports_by_device
          WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
            AND r.status = 'installed' AND r.at_ms <= NEW.at_ms
          ORDER BY r.at_ms DESC, r.version DESC LIMIT 1) previous,
         (SELECT MIN(r.at_ms) AS at_ms FROM reports r INDEXED BY reports_by_device
          WHERE r.device_id = NEW.device_id AND r.product = NEW.product AND r.offered = 1
            AND r.status = 'installed' AND r.at_ms > NEW.at_ms) later
    WHERE later.at_ms IS NOT NULL;
END;

-- What the reports written before this version add up to: each device's version at each
-- instant it reported, and a move wherever that differs from its version before (the trigger
-- exists first; SQLite has one writer and the migration is one transaction).
WITH at_instant AS (
    SELECT device_id, product, at_ms, MAX(version) AS version FROM reports
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
