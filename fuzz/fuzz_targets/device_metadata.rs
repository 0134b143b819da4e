//! TUF metadata as a device reads it. The input is up to five metadata files separated by NUL
//! bytes, in the order of the client workflow: a new root (empty: none), timestamp, snapshot,
//! targets, then the delegated roles in the order targets lists them.
//!
//! Each file goes through both clients, from the fixture's trusted root at the fixture's time:
//! - tough's schema (what `airlock-device`'s loader parses) and the trusted root's signature
//!   check of that role (`Root::verify_role`);
//! - the conformance client's trusted set (`airlock_sim::tuf_client::trusted`, TUF 5.3-5.6):
//!   every step must refuse what it cannot verify, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_sim::tuf_client::trusted::{TrustedSet, ROOT_DELEGATOR};
use tough::schema::{Root, Signed, Snapshot, Targets, Timestamp};

/// tough's reading of one role: parse, then the trusted root's threshold of signatures.
fn tough_reads<T>(bytes: &[u8])
where
    T: tough::schema::Role + serde::de::DeserializeOwned + serde::Serialize,
{
    let Ok(signed) = serde_json::from_slice::<Signed<T>>(bytes) else {
        return;
    };
    let root = &airlock_fuzz::fixture().root.signed;
    let _ = root.verify_role(&signed);
    // Canonical form of what was parsed (what a signature covers) must always be computable.
    let _ = signed.signed.canonical_form();
}

fuzz_target!(|data: &[u8]| {
    let fixture = airlock_fuzz::fixture();
    let parts = airlock_fuzz::parts(data);
    let part = |i: usize| parts.get(i).copied();

    if let Some(bytes) = part(0) {
        tough_reads::<Root>(bytes);
    }
    if let Some(bytes) = part(1) {
        tough_reads::<Timestamp>(bytes);
    }
    if let Some(bytes) = part(2) {
        tough_reads::<Snapshot>(bytes);
    }
    for bytes in parts.iter().skip(3) {
        tough_reads::<Targets>(bytes);
    }
    // Delegated roles: the delegating role's keys and threshold (tough's `Delegations`).
    let top = part(3).and_then(|b| serde_json::from_slice::<Signed<Targets>>(b).ok());
    if let Some(delegations) = top.as_ref().and_then(|t| t.signed.delegations.as_ref()) {
        for (role, bytes) in delegations.roles.iter().zip(parts.iter().skip(4)) {
            if let Ok(signed) = serde_json::from_slice::<Signed<Targets>>(bytes) {
                let _ = delegations.verify_role(&signed, &role.name);
            }
        }
    }

    let mut trusted = TrustedSet::new(&fixture.root_bytes, fixture.now).expect("fixture root");
    if let Some(root) = part(0).filter(|b| !b.is_empty()) {
        if trusted.update_root(root).is_err() {
            return;
        }
    }
    if trusted.check_root_not_expired().is_err() {
        return;
    }
    let Some(timestamp) = part(1) else { return };
    if trusted.update_timestamp(timestamp).is_err() {
        return;
    }
    let Some(snapshot) = part(2) else { return };
    if trusted.update_snapshot(snapshot).is_err() || trusted.check_snapshot_final().is_err() {
        return;
    }
    let Some(targets) = part(3) else { return };
    let Ok(top) = trusted.update_targets("targets", ROOT_DELEGATOR, targets) else {
        return;
    };
    let delegated: Vec<String> = top
        .delegations
        .as_ref()
        .and_then(|d| d.roles().ok())
        .map(|roles| roles.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    for (name, bytes) in delegated.iter().zip(parts.iter().skip(4)) {
        let _ = trusted.update_targets(name, "targets", bytes);
    }
});
