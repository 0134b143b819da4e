//! `airlock enrolment-token create|list|revoke` and `airlock device revoke|reinstate`: device
//! enrolment through the server's admin API (scope `devices`).

use anyhow::Result;

use airlock_core::api::{
    DeviceRevocation, EnrolmentTokenInfo, EnrolmentTokenRequest, EnrolmentTokenResponse,
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
