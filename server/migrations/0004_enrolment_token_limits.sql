-- Enrolment tokens expire and are used up (issue 12). `id` names a token in lists and revocations:
-- the start of its digest. Tokens made before this migration expire 7 days after they were
-- made; a per-device token whose device is enrolled already counts as used.
ALTER TABLE enrolment_tokens ADD COLUMN id TEXT;
ALTER TABLE enrolment_tokens ADD COLUMN expires_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE enrolment_tokens ADD COLUMN uses_left BIGINT;
UPDATE enrolment_tokens SET id = SUBSTR(token_sha256, 1, 16);
UPDATE enrolment_tokens SET expires_ms = created_ms + 604800000;
UPDATE enrolment_tokens SET uses_left = 1 WHERE device_id IS NOT NULL;
UPDATE enrolment_tokens SET uses_left = 0
    WHERE device_id IN (SELECT device_id FROM device_credentials);
CREATE UNIQUE INDEX IF NOT EXISTS enrolment_tokens_id ON enrolment_tokens (id);
