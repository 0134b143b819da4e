-- How delta updates went (issue 18, docs/deltas.md): a device's installed or failed report says
-- whether it rebuilt the image from a signed delta (delta_applied = 1) or refused the delta and
-- fell back to the full image (0, with the reason); NULL when no delta was offered. Operators
-- read, per release and per rollout, devices updated by delta and fallbacks: a rising fallback
-- rate means spoiled deltas on the wire, devices whose images drifted, or a bad delta.
ALTER TABLE reports ADD COLUMN delta_name TEXT;
ALTER TABLE reports ADD COLUMN delta_applied INTEGER;
ALTER TABLE reports ADD COLUMN delta_reason TEXT;
-- Each device's delta outcome for a release, kept as migration 10 keeps votes: from its latest
-- installed or failed report of the release (offered to it) that carries one; a fallback wins
-- over an applied delta reported at the same instant. Nothing but this trigger writes it.
CREATE TABLE delta_outcomes (
    device_id TEXT NOT NULL,
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    last_ms BIGINT NOT NULL,
    applied INTEGER NOT NULL,
    PRIMARY KEY (device_id, product, version)
);
CREATE INDEX delta_outcomes_by_release ON delta_outcomes (product, version, last_ms, applied);
-- reports are only ever inserted; reports from before this version carry no delta outcome
CREATE FUNCTION airlock_count_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.offered = 1 AND NEW.product IS NOT NULL AND NEW.delta_applied IS NOT NULL
        AND NEW.status IN ('installed', 'failed') THEN
        INSERT INTO delta_outcomes AS d (device_id, product, version, last_ms, applied)
        VALUES (NEW.device_id, NEW.product, NEW.version, NEW.at_ms, NEW.delta_applied)
        ON CONFLICT (device_id, product, version) DO UPDATE SET
            applied = CASE WHEN excluded.last_ms > d.last_ms THEN excluded.applied
                           WHEN excluded.last_ms = d.last_ms THEN LEAST(d.applied, excluded.applied)
                           ELSE d.applied END,
            last_ms = GREATEST(d.last_ms, excluded.last_ms);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER reports_delta_outcome AFTER INSERT ON reports
FOR EACH ROW EXECUTE FUNCTION airlock_count_delta();
