//! The client's trusted metadata and the checks that decide whether new metadata may replace
//! it: TUF 5.2 to 5.6, one method per step. No I/O and no clock: the caller passes the bytes it
//! read or downloaded, and `now` is fixed when the set is created.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};

use super::metadata::{
    MetaFile, Metadata, RoleKeysMeta, RootMeta, SnapshotMeta, TargetsMeta, TimestampMeta,
};

/// The name under which the top-level targets role is delegated by root.
pub const ROOT_DELEGATOR: &str = "root";

/// What happened to a timestamp offered by the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampUpdate {
    /// Accepted: newer than the trusted one.
    Updated,
    /// Same version as the trusted one: the trusted one is kept (TUF 5.4.3.1).
    Unchanged,
}

/// Root, timestamp, snapshot and the targets roles loaded so far, each verified.
#[derive(Debug)]
pub struct TrustedSet {
    now: jiff::Timestamp,
    root: Metadata<RootMeta>,
    /// Timestamp and snapshot keys of the root this session started from (TUF 5.3.11).
    initial_keys: [Option<RoleKeysMeta>; 2],
    timestamp: Option<Metadata<TimestampMeta>>,
    snapshot: Option<Metadata<SnapshotMeta>>,
    /// Role name -> (the delegator it was verified against, metadata).
    targets: HashMap<String, (String, Metadata<TargetsMeta>)>,
}

impl TrustedSet {
    /// TUF 5.2: load the trusted root. It must be signed by a threshold of its own root keys.
    /// An expired trusted root is fine here: a newer one may be found (TUF 5.3.10 checks the
    /// final root).
    pub fn new(root_bytes: &[u8], now: jiff::Timestamp) -> Result<Self> {
        let root = Metadata::<RootMeta>::from_bytes(root_bytes).context("trusted root")?;
        root.verify_with(&root.signed.keys_for("root")?)
            .context("trusted root is not signed by its own root keys")?;
        let initial_keys = [
            root.signed.role_keys("timestamp").cloned(),
            root.signed.role_keys("snapshot").cloned(),
        ];
        Ok(TrustedSet {
            now,
            root,
            initial_keys,
            timestamp: None,
            snapshot: None,
            targets: HashMap::new(),
        })
    }

    pub fn root(&self) -> &RootMeta {
        &self.root.signed
    }

    pub fn timestamp(&self) -> Option<&TimestampMeta> {
        self.timestamp.as_ref().map(|t| &t.signed)
    }

    pub fn snapshot(&self) -> Option<&SnapshotMeta> {
        self.snapshot.as_ref().map(|s| &s.signed)
    }

    /// TUF 5.3.4 - 5.3.7: accept the next root version.
    pub fn update_root(&mut self, bytes: &[u8]) -> Result<()> {
        ensure!(
            self.timestamp.is_none(),
            "root cannot change after timestamp was loaded"
        );
        let new = Metadata::<RootMeta>::from_bytes(bytes)?;
        // TUF 5.3.4: signed by a threshold of the trusted root's root keys ...
        new.verify_with(&self.root.signed.keys_for("root")?)
            .context("new root is not signed by the trusted root's keys")?;
        // ... and by a threshold of its own root keys.
        new.verify_with(&new.signed.keys_for("root")?)
            .context("new root is not signed by its own root keys")?;
        // TUF 5.3.5: exactly the next version (no rollback, no skipping).
        // checked: a trusted root at version u64::MAX has no successor
        let expected = self.root.signed.version.checked_add(1);
        ensure!(
            expected == Some(new.signed.version),
            "expected root version {}, got {}",
            self.root.signed.version.saturating_add(1),
            new.signed.version
        );
        // TUF 5.3.6: an intermediate root may be expired; only the final one is checked.
        // TUF 5.3.7: it becomes the trusted root.
        self.root = new;
        Ok(())
    }

    /// TUF 5.3.10: the final root must not be expired.
    pub fn check_root_not_expired(&self) -> Result<()> {
        self.root.ensure_unexpired("root", self.now)
    }

    /// TUF 5.3.11: whether the timestamp or snapshot keys changed since the session started, in
    /// which case the trusted timestamp and snapshot must be dropped (fast-forward recovery).
    pub fn timestamp_or_snapshot_keys_rotated(&self) -> bool {
        let now = [
            self.root.signed.role_keys("timestamp"),
            self.root.signed.role_keys("snapshot"),
        ];
        now.iter()
            .zip(&self.initial_keys)
            .any(|(current, initial)| *current != initial.as_ref())
    }

    /// A timestamp from local storage: trusted for rollback checks if the current root's
    /// timestamp keys signed it, even if it has expired since.
    pub fn load_local_timestamp(&mut self, bytes: &[u8]) -> Result<()> {
        self.check_root_not_expired()?;
        let local = Metadata::<TimestampMeta>::from_bytes(bytes)?;
        local.verify_with(&self.root.signed.keys_for("timestamp")?)?;
        local.signed.snapshot_meta()?;
        self.timestamp = Some(local);
        Ok(())
    }

    /// TUF 5.4: a timestamp downloaded from the repository.
    pub fn update_timestamp(&mut self, bytes: &[u8]) -> Result<TimestampUpdate> {
        ensure!(
            self.snapshot.is_none(),
            "timestamp cannot change after snapshot was loaded"
        );
        self.check_root_not_expired()?;
        let new = Metadata::<TimestampMeta>::from_bytes(bytes)?;
        // TUF 5.4.2: signed by a threshold of the root's timestamp keys.
        new.verify_with(&self.root.signed.keys_for("timestamp")?)?;
        let new_snapshot_meta = new.signed.snapshot_meta()?;
        if let Some(trusted) = &self.timestamp {
            // TUF 5.4.3.1: the version must not go back; an equal version changes nothing.
            if new.signed.version < trusted.signed.version {
                bail!(
                    "timestamp rollback: trusted v{}, offered v{}",
                    trusted.signed.version,
                    new.signed.version
                );
            }
            if new.signed.version == trusted.signed.version {
                return Ok(TimestampUpdate::Unchanged);
            }
            // TUF 5.4.3.2: the snapshot version it lists must not go back either.
            let trusted_snapshot = trusted.signed.snapshot_meta()?.version;
            ensure!(
                new_snapshot_meta.version >= trusted_snapshot,
                "snapshot rollback in timestamp: trusted v{trusted_snapshot}, offered v{}",
                new_snapshot_meta.version
            );
        }
        // TUF 5.4.4: not expired.
        new.ensure_unexpired("timestamp", self.now)?;
        // TUF 5.4.5: it becomes the trusted timestamp.
        self.timestamp = Some(new);
        Ok(TimestampUpdate::Updated)
    }

    /// The snapshot entry of a trusted timestamp that is not expired (TUF 5.4.4 applied to the
    /// timestamp kept from an earlier session, before snapshot is loaded).
    fn final_timestamp_snapshot_meta(&self) -> Result<&MetaFile> {
        let timestamp = self
            .timestamp
            .as_ref()
            .context("snapshot needs a trusted timestamp")?;
        timestamp.ensure_unexpired("timestamp", self.now)?;
        timestamp.signed.snapshot_meta()
    }

    /// A snapshot from local storage: trusted for rollback checks if the current root's
    /// snapshot keys signed it. Its bytes were checked against hashes when first downloaded.
    pub fn load_local_snapshot(&mut self, bytes: &[u8]) -> Result<()> {
        self.final_timestamp_snapshot_meta()?;
        let local = Metadata::<SnapshotMeta>::from_bytes(bytes)?;
        local.verify_with(&self.root.signed.keys_for("snapshot")?)?;
        self.snapshot = Some(local);
        Ok(())
    }

    /// Whether the trusted snapshot can be used as is: the version timestamp lists, and not
    /// expired (TUF 5.5.4, 5.5.6).
    pub fn check_snapshot_final(&self) -> Result<()> {
        let expected = self.final_timestamp_snapshot_meta()?.version;
        let snapshot = self.snapshot.as_ref().context("no trusted snapshot")?;
        ensure!(
            snapshot.signed.version == expected,
            "timestamp lists snapshot v{expected}, trusted snapshot is v{}",
            snapshot.signed.version
        );
        snapshot.ensure_unexpired("snapshot", self.now)
    }

    /// The snapshot entry timestamp lists, to download the snapshot.
    pub fn snapshot_meta(&self) -> Result<&MetaFile> {
        self.final_timestamp_snapshot_meta()
    }

    /// TUF 5.5: a snapshot downloaded from the repository.
    pub fn update_snapshot(&mut self, bytes: &[u8]) -> Result<()> {
        ensure!(
            self.targets.is_empty(),
            "snapshot cannot change after targets were loaded"
        );
        let meta = self.final_timestamp_snapshot_meta()?;
        // TUF 5.5.2: length and hashes as listed in timestamp.
        meta.verify_length_and_hashes(bytes)
            .context("snapshot does not match timestamp")?;
        let expected_version = meta.version;
        let new = Metadata::<SnapshotMeta>::from_bytes(bytes)?;
        // TUF 5.5.3: signed by a threshold of the root's snapshot keys.
        new.verify_with(&self.root.signed.keys_for("snapshot")?)?;
        // TUF 5.5.4: the version timestamp lists.
        ensure!(
            new.signed.version == expected_version,
            "timestamp lists snapshot v{expected_version}, got v{}",
            new.signed.version
        );
        // TUF 5.5.5: no targets role disappears or goes back in version.
        if let Some(trusted) = &self.snapshot {
            for (name, old) in &trusted.signed.meta {
                let new_meta = new
                    .signed
                    .meta
                    .get(name)
                    .with_context(|| format!("new snapshot no longer lists {name}"))?;
                ensure!(
                    new_meta.version >= old.version,
                    "rollback of {name}: trusted v{}, offered v{}",
                    old.version,
                    new_meta.version
                );
            }
        }
        // TUF 5.5.6: not expired.
        new.ensure_unexpired("snapshot", self.now)?;
        // TUF 5.5.7: it becomes the trusted snapshot.
        self.snapshot = Some(new);
        Ok(())
    }

    /// The snapshot entry for a targets role, to download it (TUF 5.6.1).
    pub fn targets_meta(&self, role: &str) -> Result<&MetaFile> {
        self.check_snapshot_final()?;
        let snapshot = self.snapshot.as_ref().context("no trusted snapshot")?;
        snapshot
            .signed
            .meta
            .get(&format!("{role}.json"))
            .with_context(|| format!("role {role} is delegated but snapshot does not list it"))
    }

    /// A targets role already verified against `delegator` in this session.
    pub fn targets(&self, role: &str, delegator: &str) -> Option<&TargetsMeta> {
        self.targets
            .get(role)
            .filter(|(verified_by, _)| verified_by == delegator)
            .map(|(_, md)| &md.signed)
    }

    /// TUF 5.6 (top-level targets, `delegator` = "root") and 5.6.7.2.1 (delegated roles): a
    /// targets role, verified against the role that delegates it on this search path.
    pub fn update_targets(
        &mut self,
        role: &str,
        delegator: &str,
        bytes: &[u8],
    ) -> Result<&TargetsMeta> {
        let meta = self.targets_meta(role)?;
        // TUF 5.6.2: length and hashes as listed in snapshot.
        meta.verify_length_and_hashes(bytes)
            .with_context(|| format!("{role} does not match snapshot"))?;
        let expected_version = meta.version;
        let new = Metadata::<TargetsMeta>::from_bytes(bytes)?;
        // TUF 5.6.3: signed by a threshold of the keys its delegator names for it.
        let keys = if delegator == ROOT_DELEGATOR {
            ensure!(role == "targets", "root delegates only the targets role");
            self.root.signed.keys_for("targets")?
        } else {
            let (_, parent) = self
                .targets
                .get(delegator)
                .with_context(|| format!("delegator {delegator} is not loaded"))?;
            parent
                .signed
                .delegations
                .as_ref()
                .with_context(|| format!("{delegator} has no delegations"))?
                .keys_for(delegator, role)?
        };
        new.verify_with(&keys)?;
        // TUF 5.6.4: the version snapshot lists.
        ensure!(
            new.signed.version == expected_version,
            "snapshot lists {role} v{expected_version}, got v{}",
            new.signed.version
        );
        // TUF 5.6.5: not expired.
        new.ensure_unexpired(role, self.now)?;
        // TUF 5.6.6: it becomes trusted, for this delegator.
        let slot = self
            .targets
            .entry(role.to_owned())
            .insert_entry((delegator.to_owned(), new));
        Ok(&slot.into_mut().1.signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf_client::metadata::canonical_json;
    use airlock_core::keys::SigningKey;
    use serde_json::{json, Value};

    const FUTURE: &str = "2100-01-01T00:00:00Z";
    const PAST: &str = "2000-01-01T00:00:00Z";

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn sign(signed: Value, keys: &[&SigningKey]) -> Vec<u8> {
        let canonical = canonical_json(&signed).unwrap();
        let signatures: Vec<Value> = keys
            .iter()
            .map(|k| json!({"keyid": k.key_id().unwrap(), "sig": hex::encode(k.sign_bytes(&canonical))}))
            .collect();
        serde_json::to_vec(&json!({"signed": signed, "signatures": signatures})).unwrap()
    }

    /// One key per top-level role.
    struct Keys {
        root: SigningKey,
        timestamp: SigningKey,
        snapshot: SigningKey,
        targets: SigningKey,
    }

    impl Keys {
        fn new() -> Self {
            Keys {
                root: SigningKey::generate(),
                timestamp: SigningKey::generate(),
                snapshot: SigningKey::generate(),
                targets: SigningKey::generate(),
            }
        }

        fn root(&self, version: u64, expires: &str) -> Value {
            let all = [&self.root, &self.timestamp, &self.snapshot, &self.targets];
            let keys: serde_json::Map<String, Value> = all
                .iter()
                .map(|k| {
                    (
                        k.key_id().unwrap(),
                        serde_json::to_value(k.tuf_key()).unwrap(),
                    )
                })
                .collect();
            let role = |k: &SigningKey| json!({"keyids": [k.key_id().unwrap()], "threshold": 1});
            json!({
                "_type": "root", "spec_version": "1.0.31", "version": version,
                "expires": expires, "consistent_snapshot": true, "keys": keys,
                "roles": {"root": role(&self.root), "timestamp": role(&self.timestamp),
                          "snapshot": role(&self.snapshot), "targets": role(&self.targets)},
            })
        }
    }

    fn timestamp(version: u64, snapshot_version: u64, expires: &str) -> Value {
        json!({"_type": "timestamp", "spec_version": "1.0.31", "version": version,
               "expires": expires, "meta": {"snapshot.json": {"version": snapshot_version}}})
    }

    fn snapshot(version: u64, meta: Value) -> Value {
        json!({"_type": "snapshot", "spec_version": "1.0.31", "version": version,
               "expires": FUTURE, "meta": meta})
    }

    fn trusted_with(keys: &Keys) -> TrustedSet {
        TrustedSet::new(&sign(keys.root(1, FUTURE), &[&keys.root]), now()).unwrap()
    }

    #[test]
    fn initial_root_must_be_signed_by_itself() {
        let keys = Keys::new();
        let other = SigningKey::generate();
        TrustedSet::new(&sign(keys.root(1, FUTURE), &[&other]), now()).unwrap_err();
        // An expired initial root is fine until it is the final one (TUF 5.3.10).
        let set = TrustedSet::new(&sign(keys.root(1, PAST), &[&keys.root]), now()).unwrap();
        set.check_root_not_expired().unwrap_err();
    }

    #[test]
    fn new_root_needs_old_and_new_keys_and_the_next_version() {
        let old = Keys::new();
        let mut set = trusted_with(&old);
        let new = Keys::new();
        // Only the new key: refused (TUF 5.3.4).
        set.update_root(&sign(new.root(2, FUTURE), &[&new.root]))
            .unwrap_err();
        // Only the old key: refused.
        set.update_root(&sign(new.root(2, FUTURE), &[&old.root]))
            .unwrap_err();
        // Skipping a version: refused (TUF 5.3.5).
        set.update_root(&sign(new.root(3, FUTURE), &[&old.root, &new.root]))
            .unwrap_err();
        set.update_root(&sign(new.root(2, FUTURE), &[&old.root, &new.root]))
            .unwrap();
        assert_eq!(set.root().version, 2);
        assert!(set.timestamp_or_snapshot_keys_rotated());
    }

    #[test]
    fn nothing_follows_a_root_at_the_last_version() {
        let keys = Keys::new();
        let last = sign(keys.root(u64::MAX, FUTURE), &[&keys.root]);
        let mut set = TrustedSet::new(&last, now()).unwrap();
        for next in [1, u64::MAX] {
            let e = set
                .update_root(&sign(keys.root(next, FUTURE), &[&keys.root]))
                .unwrap_err();
            assert!(e.to_string().contains("expected root version"), "{e}");
        }
        assert_eq!(set.root().version, u64::MAX);
    }

    #[test]
    fn duplicate_signatures_do_not_reach_a_threshold() {
        let keys = Keys::new();
        let bytes = sign(keys.root(1, FUTURE), &[&keys.root, &keys.root]);
        TrustedSet::new(&bytes, now()).unwrap_err();
    }

    #[test]
    fn timestamp_rollback_is_refused_and_equal_version_is_kept() {
        let keys = Keys::new();
        let mut set = trusted_with(&keys);
        set.load_local_timestamp(&sign(timestamp(5, 5, FUTURE), &[&keys.timestamp]))
            .unwrap();
        let older = sign(timestamp(4, 5, FUTURE), &[&keys.timestamp]);
        set.update_timestamp(&older).unwrap_err();
        let same = sign(timestamp(5, 9, FUTURE), &[&keys.timestamp]);
        assert_eq!(
            set.update_timestamp(&same).unwrap(),
            TimestampUpdate::Unchanged
        );
        assert_eq!(set.timestamp().unwrap().snapshot_meta().unwrap().version, 5);
        // TUF 5.4.3.2: a newer timestamp may not list an older snapshot.
        let snapshot_back = sign(timestamp(6, 4, FUTURE), &[&keys.timestamp]);
        set.update_timestamp(&snapshot_back).unwrap_err();
        // TUF 5.4.4: an expired timestamp is refused.
        let expired = sign(timestamp(6, 5, PAST), &[&keys.timestamp]);
        set.update_timestamp(&expired).unwrap_err();
        // Signed by the wrong role's key: refused.
        let wrong_key = sign(timestamp(6, 5, FUTURE), &[&keys.snapshot]);
        set.update_timestamp(&wrong_key).unwrap_err();
        let good = sign(timestamp(6, 5, FUTURE), &[&keys.timestamp]);
        assert_eq!(
            set.update_timestamp(&good).unwrap(),
            TimestampUpdate::Updated
        );
    }

    #[test]
    fn snapshot_may_not_drop_or_roll_back_a_role() {
        let keys = Keys::new();
        let mut set = trusted_with(&keys);
        set.load_local_timestamp(&sign(timestamp(1, 1, FUTURE), &[&keys.timestamp]))
            .unwrap();
        set.update_timestamp(&sign(timestamp(2, 2, FUTURE), &[&keys.timestamp]))
            .unwrap();
        // The local snapshot is v1: trusted for rollback checks, but not current.
        let meta = json!({"targets.json": {"version": 3}, "a.json": {"version": 2}});
        set.load_local_snapshot(&sign(snapshot(1, meta), &[&keys.snapshot]))
            .unwrap();
        set.check_snapshot_final().unwrap_err();
        let dropped = json!({"targets.json": {"version": 3}});
        set.update_snapshot(&sign(snapshot(2, dropped), &[&keys.snapshot]))
            .unwrap_err();
        let rolled_back = json!({"targets.json": {"version": 2}, "a.json": {"version": 2}});
        set.update_snapshot(&sign(snapshot(2, rolled_back), &[&keys.snapshot]))
            .unwrap_err();
        let wrong_version = json!({"targets.json": {"version": 3}, "a.json": {"version": 2}});
        set.update_snapshot(&sign(snapshot(3, wrong_version), &[&keys.snapshot]))
            .unwrap_err();
        let good = json!({"targets.json": {"version": 4}, "a.json": {"version": 2}});
        set.update_snapshot(&sign(snapshot(2, good), &[&keys.snapshot]))
            .unwrap();
        set.check_snapshot_final().unwrap();
    }

    #[test]
    fn delegated_role_is_verified_against_the_current_delegator() {
        let keys = Keys::new();
        let (key_a, key_b, key_parent_b) = (
            SigningKey::generate(),
            SigningKey::generate(),
            SigningKey::generate(),
        );
        let key_json = |k: &SigningKey| serde_json::to_value(k.tuf_key()).unwrap();
        let delegation = |name: &str, k: &SigningKey| {
            json!({"name": name, "keyids": [k.key_id().unwrap()], "threshold": 1,
                   "terminating": false, "paths": ["*"]})
        };
        let targets_role = |delegations: Value| {
            json!({"_type": "targets", "spec_version": "1.0.31", "version": 1,
                   "expires": FUTURE, "targets": {}, "delegations": delegations})
        };
        let mut set = trusted_with(&keys);
        set.load_local_timestamp(&sign(timestamp(1, 1, FUTURE), &[&keys.timestamp]))
            .unwrap();
        let meta = json!({"targets.json": {"version": 1}, "release.json": {"version": 1},
                          "parent-b.json": {"version": 1}});
        set.load_local_snapshot(&sign(snapshot(1, meta), &[&keys.snapshot]))
            .unwrap();
        // targets delegates "release" to key A and "parent-b" to its own key; parent-b
        // delegates "release" to key B.
        let targets = targets_role(json!({
            "keys": {key_a.key_id().unwrap(): key_json(&key_a),
                     key_parent_b.key_id().unwrap(): key_json(&key_parent_b)},
            "roles": [delegation("release", &key_a), delegation("parent-b", &key_parent_b)]}));
        set.update_targets("targets", ROOT_DELEGATOR, &sign(targets, &[&keys.targets]))
            .unwrap();
        let parent_b = targets_role(json!({
            "keys": {key_b.key_id().unwrap(): key_json(&key_b)},
            "roles": [delegation("release", &key_b)]}));
        set.update_targets("parent-b", "targets", &sign(parent_b, &[&key_parent_b]))
            .unwrap();

        let release = targets_role(json!({"keys": {}, "roles": []}));
        let signed_by_a = sign(release, &[&key_a]);
        set.update_targets("release", "targets", &signed_by_a)
            .unwrap();
        assert!(set.targets("release", "targets").is_some());
        // Verified through "targets" does not mean trusted through "parent-b", which names
        // another key for the same role name.
        assert!(set.targets("release", "parent-b").is_none());
        set.update_targets("release", "parent-b", &signed_by_a)
            .unwrap_err();
    }
}
