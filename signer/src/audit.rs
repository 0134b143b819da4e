//! `airlock audit`: the server's audit log through the admin API (scope `read`): who published
//! what (and why a publish was refused), rollout actions, tokens, device revocations.

use anyhow::Result;

use airlock_core::api::{AuditEntry, AuditPage};

use crate::rollout::AdminClient;

/// The filters of `GET /v1/admin/audit`, each sent only when given.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (checked by the server).
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<u64>,
    pub limit: Option<u32>,
}

/// One page of entries, newest first.
pub async fn fetch(client: &AdminClient, filter: &AuditFilter) -> Result<AuditPage> {
    let mut query: Vec<(&str, String)> = Vec::new();
    let text = [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("since", &filter.since),
        ("until", &filter.until),
    ];
    for (name, value) in text {
        if let Some(v) = value {
            query.push((name, v.clone()));
        }
    }
    if let Some(before) = filter.before {
        query.push(("before", before.to_string()));
    }
    if let Some(limit) = filter.limit {
        query.push(("limit", limit.to_string()));
    }
    let mut path = String::from("v1/admin/audit");
    if !query.is_empty() {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        path = format!("{path}?{encoded}");
    }
    client.send(client.get(&path)?).await
}

/// What an entry's detail says in a few words: a refused publish's error and message, a
/// rollout's release and reason, else the detail as JSON.
fn summary(e: &AuditEntry) -> String {
    let d = &e.detail;
    let text = |key: &str| d.get(key).and_then(|v| v.as_str());
    if e.action == "publish" {
        return match d.get("ok").and_then(|v| v.as_bool()) {
            Some(false) => format!(
                "refused ({}): {}",
                text("error").unwrap_or("?"),
                text("message").unwrap_or("")
            ),
            _ => format!(
                "ok: {}",
                d.get("changed").unwrap_or(&serde_json::Value::Null)
            ),
        };
    }
    if let (Some(product), Some(version)) = (text("product"), text("version")) {
        let reason = text("reason").map(|r| format!(": {r}")).unwrap_or_default();
        return format!("{product} {version}{reason}");
    }
    d.to_string()
}

/// Human-readable page: one line per entry, then how to get the next page.
pub fn render(page: &AuditPage) -> String {
    if page.entries.is_empty() {
        return "no audit entries match\n".to_string();
    }
    let mut out = String::new();
    for e in &page.entries {
        out.push_str(&format!(
            "{}  #{}  {}  {}  {}\n",
            e.at,
            e.id,
            e.actor,
            e.action,
            summary(e)
        ));
    }
    if let Some(before) = page.next_before {
        out.push_str(&format!("(more: add --before {before})\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_publish_reads_as_its_reason() {
        let entry = |action: &str, detail: serde_json::Value| AuditEntry {
            id: 7,
            at: "2026-12-02T08:00:00Z".parse().unwrap(),
            actor: "admin".into(),
            action: action.into(),
            detail,
        };
        let page = AuditPage {
            entries: vec![
                entry(
                    "publish",
                    serde_json::json!({"ok": false, "error": "bad_signature", "message": "targets: 0 of 1 signatures"}),
                ),
                entry(
                    "rollout.superseded",
                    serde_json::json!({"product": "acme-cam", "version": "1.3.0", "reason": "superseded by acme-cam 1.3.1"}),
                ),
            ],
            next_before: Some(7),
        };
        assert_eq!(
            render(&page),
            "2026-12-02T08:00:00Z  #7  admin  publish  refused (bad_signature): targets: 0 of 1 signatures\n\
             2026-12-02T08:00:00Z  #7  admin  rollout.superseded  acme-cam 1.3.0: superseded by acme-cam 1.3.1\n\
             (more: add --before 7)\n"
        );
    }
}
