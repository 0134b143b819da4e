-- Audit entries get an id (issue 14): the order they were written in, and the cursor of
-- `GET /v1/admin/audit`'s pages.
ALTER TABLE audit ADD COLUMN id BIGSERIAL PRIMARY KEY;
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at_ms);
