-- Fleet figures and rollout health at a million devices (issue 15, docs/benchmarks.md "Fleet
-- queries at 1,000,000 devices"): the product's devices by version and its fleet size are read
-- from an index instead of the whole devices table, and the devices offered a release likewise
-- from offers (whose primary key starts with the device); a rollout's health rule finds each
-- voting device's latest report by device.
CREATE INDEX IF NOT EXISTS devices_by_product_version ON devices (product, version, security_version);
CREATE INDEX IF NOT EXISTS offers_by_release ON offers (product, version);
CREATE INDEX IF NOT EXISTS reports_by_device ON reports (device_id, at_ms);
