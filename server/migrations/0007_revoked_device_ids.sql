-- Devices authenticated by their client certificate (--device-auth mtls) never enrol, so they
-- have no row in device_credentials to mark revoked: `airlock device revoke ID` records the id
-- here, and the server refuses any certificate naming it until `airlock device reinstate ID`.
CREATE TABLE revoked_device_ids (
    device_id TEXT PRIMARY KEY,
    revoked_ms BIGINT NOT NULL
);
