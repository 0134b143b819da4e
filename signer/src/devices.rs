//! `airlock enrolment-token create|list|revoke` and `airlock device show|revoke|reinstate`:
//! device enrolment through the server's admin API (scope `devices`; `show`: scope `read`).

use anyhow::Result;

use airlock_core::api::{
    DeviceHistory, DeviceRevocation, EnrolmentTokenInfo, EnrolmentTokenRequest,
    EnrolmentTokenResponse,
};

use crate::rollout::AdminClient;

/// Path segments the server accepts as ids: anything else is refused here, not sent.
fn segment(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    anyhow::ensure!(
        ok,
        "{what} {id:?}: expected 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'"
    );
    Ok(())
}

pub async fn create_token(
    client: &AdminClient,
    req: &EnrolmentTokenRequest,
) -> Result<EnrolmentTokenResponse> {
    client
        .send(client.post("v1/admin/enrolment-tokens")?.json(req))
        .await
}

pub async fn list_tokens(client: &AdminClient) -> Result<Vec<EnrolmentTokenInfo>> {
    client.send(client.get("v1/admin/enrolment-tokens")?).await
}

pub async fn revoke_token(client: &AdminClient, id: &str) -> Result<EnrolmentTokenInfo> {
    segment("token id", id)?;
    let path = format!("v1/admin/enrolment-tokens/{id}/revoke");
    client.send(client.post(&path)?).await
}

/// `action`: `revoke` or `reinstate`.
pub async fn device_action(
    client: &AdminClient,
    device_id: &str,
    action: &str,
) -> Result<DeviceRevocation> {
    segment("device id", device_id)?;
    let path = format!("v1/admin/devices/{device_id}/{action}");
    client.send(client.post(&path)?).await
}

/// One device's history: enrolment, check-ins as runs of the same answer, offers, reports.
pub async fn device_history(client: &AdminClient, device_id: &str) -> Result<DeviceHistory> {
    segment("device id", device_id)?;
    client
        .send(client.get(&format!("v1/admin/devices/{device_id}"))?)
        .await
}

/// Human-readable device history.
pub fn render_history(h: &DeviceHistory) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "device {}
",
        h.device_id
    );
    match &h.enrolment {
        Some(e) if e.revoked => {
            let _ = writeln!(out, "credential: revoked (enrolled for {})", e.product);
        }
        Some(e) => {
            let _ = writeln!(out, "credential: enrolled for {}", e.product);
        }
        None => out.push_str("credential: not enrolled\n"),
    }
    out.push_str("check-ins (runs of the same answer, newest first):\n");
    if h.check_ins.is_empty() {
        out.push_str("  none\n");
    }
    for r in &h.check_ins {
        let offered = r
            .offered
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} .. {}  {:>5} × {} {} (security version {}): {}{offered}{}",
            r.since,
            r.until,
            r.check_ins,
            r.product,
            r.version,
            r.security_version,
            r.decision,
            if r.current { "  (latest)" } else { "" }
        );
    }
    out.push_str("offers:\n");
    if h.offers.is_empty() {
        out.push_str("  none\n");
    }
    for o in &h.offers {
        let _ = writeln!(out, "  {} first offered {}", o.version, o.first_offered_at);
    }
    out.push_str("reports (newest first):\n");
    if h.reports.is_empty() {
        out.push_str("  none\n");
    }
    for r in &h.reports {
        let _ = writeln!(
            out,
            "  {} {} {}{}{}",
            r.at,
            r.status,
            r.version,
            r.code
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            if r.counted {
                ""
            } else {
                "  not counted: not offered"
            }
        );
    }
    out
}

/// Human-readable token list.
pub fn render_tokens(list: &[EnrolmentTokenInfo]) -> String {
    if list.is_empty() {
        return "no enrolment tokens\n".to_string();
    }
    let mut out = String::from("id\tproduct\tdevice\texpires\tuses left\tstate\n");
    for t in list {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            t.id,
            t.product,
            t.device_id.as_deref().unwrap_or("(any)"),
            t.expires_at,
            t.uses_left,
            if t.drill {
                format!("{} (drill)", t.state)
            } else {
                t.state.clone()
            }
        ));
    }
    out
}
