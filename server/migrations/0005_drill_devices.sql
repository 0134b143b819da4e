-- Drill devices (issue 14): an enrolment token made for attack drills marks the credentials it
-- issues; the server answers such devices as any other but records none of their check-ins or
-- reports, so drills against a production server never count in fleet figures, compliance
-- reports or a rollout's health rule.
ALTER TABLE enrolment_tokens ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device_credentials ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;
