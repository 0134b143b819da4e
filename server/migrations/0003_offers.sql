-- What the server offered each device (issue 12, item 5): a report counts toward a rollout's
-- health rule and the fleet figures only for a release the server offered that device. A
-- device's product never changes (its credential is bound to it), so (device, version) is
-- the key; the first offer's time is kept.
CREATE TABLE IF NOT EXISTS offers (
    device_id TEXT NOT NULL,
    version TEXT NOT NULL,
    product TEXT NOT NULL,
    first_ms BIGINT NOT NULL,
    PRIMARY KEY (device_id, version)
);
-- Reports of a release the device was not offered are recorded with offered = 0 and counted
-- nowhere. Reports from before this version were not checked: they keep counting.
ALTER TABLE reports ADD COLUMN offered INTEGER NOT NULL DEFAULT 1;
