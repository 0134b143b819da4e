-- Audit entries get an id (issue 14): the order they were written in, and the cursor of
-- `GET /v1/admin/audit`'s pages. SQLite cannot add an AUTOINCREMENT column: the table is
-- copied in its insertion order.
CREATE TABLE audit_with_ids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
INSERT INTO audit_with_ids (at_ms, actor, action, detail)
    SELECT at_ms, actor, action, detail FROM audit ORDER BY rowid;
DROP TABLE audit;
ALTER TABLE audit_with_ids RENAME TO audit;
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at_ms);
