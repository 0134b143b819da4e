//! `GET /v1/admin/audit`: the audit log (publishes accepted and refused with their reason,
//! re-signs, rollout actions, tokens, device revocations), filtered and paged.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use airlock_core::api::{AuditPage, ErrorBody};

use crate::app::AppState;
use crate::auth::{scope, Admin};
use crate::error::ApiError;
use crate::routes::responses::{AdminRefusals, ServerFault, Timeout};
use crate::storage::AuditQuery;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page.
pub const MAX_LIMIT: u32 = 1000;

/// The filters of `GET /v1/admin/audit`; all optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this actor: an admin token's name (`token create --name`; `admin-token-file` for the
    /// token of `--admin-token-file`), `server` (the server by itself), `cli` (`airlock-server`
    /// commands)
    pub actor: Option<String>,
    /// Only this action and the actions under it (`rollout` matches `rollout.start`)
    pub action: Option<String>,
    /// At or after this time: RFC 3339 (`2026-12-01T08:00:00Z`) or a date (`2026-12-01`, UTC)
    pub since: Option<String>,
    /// Before this time (same forms as `since`)
    pub until: Option<String>,
    /// Entries older than this id: the `next_before` of the previous page
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub before: Option<u64>,
    /// Page size, 1-1000 (default 100)
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A time filter: RFC 3339, or a date meaning its start in UTC.
pub fn parse_time(name: &str, text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            format!("{name} {text:?}: use an RFC 3339 time (2026-12-01T08:00:00Z) or a date (2026-12-01)")
        })
}

impl AuditParams {
    /// The storage query, or why the parameters are wrong.
    pub fn query(self) -> Result<AuditQuery, String> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(format!("limit {limit}: use 1 to {MAX_LIMIT}"));
        }
        let time = |name: &str, text: Option<String>| {
            text.filter(|t| !t.is_empty())
                .map(|t| parse_time(name, &t))
                .transpose()
        };
        // ids are the database's 64-bit signed integers
        if let Some(before) = self.before.filter(|b| i64::try_from(*b).is_err()) {
            return Err(format!(
                "before {before}: no entry has an id that large; pass the next_before of an earlier page"
            ));
        }
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Ok(AuditQuery {
            actor: nonempty(self.actor),
            action: nonempty(self.action),
            since: time("since", self.since)?,
            until: time("until", self.until)?,
            before: self.before,
            limit,
        })
    }
}

/// The audit log, newest first (scope `read`).
///
/// Every publish (accepted, or refused with its error code and message), re-sign, rollout
/// action (by an operator or the health rule, and rollouts the server ended), admin token and
/// enrolment token change, device revocation. Pages: pass `next_before` as `before`.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "admin",
    params(AuditParams),
    responses(
        (status = 200, description = "Entries, newest first", body = AuditPage),
        (status = 400, description = "A malformed filter (`bad_request`)", body = ErrorBody),
        AdminRefusals<scope::Read>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn audit(
    State(app): State<AppState>,
    _admin: Admin<scope::Read>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let query = params.query().map_err(ApiError::bad_request)?;
    let entries = app.state.list_audit(&query).await?;
    let next_before = (entries.len() == query.limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_filters_are_checked_and_times_take_two_forms() {
        let q = AuditParams {
            since: Some("2026-12-01".into()),
            until: Some("2026-12-02T06:00:00Z".into()),
            action: Some(String::new()),
            ..AuditParams::default()
        }
        .query()
        .unwrap();
        assert_eq!(
            (q.since.unwrap().to_string(), q.until.unwrap().to_string()),
            ("2026-12-01T00:00:00Z".into(), "2026-12-02T06:00:00Z".into())
        );
        assert_eq!((q.action, q.limit), (None, DEFAULT_LIMIT));
        let bad = |p: AuditParams| p.query().unwrap_err();
        assert!(bad(AuditParams {
            since: Some("31/12/2026".into()),
            ..AuditParams::default()
        })
        .contains("use an RFC 3339 time"));
        assert!(bad(AuditParams {
            limit: Some(0),
            ..AuditParams::default()
        })
        .contains("use 1 to 1000"));
        // found by scripts/api-fuzz: an id above i64::MAX was accepted (and wrapped)
        assert!(bad(AuditParams {
            before: Some(1 << 63),
            ..AuditParams::default()
        })
        .contains("next_before"));
        let q = AuditParams {
            before: Some(i64::MAX as u64),
            ..AuditParams::default()
        };
        assert_eq!(q.query().unwrap().before, Some(i64::MAX as u64));
    }
}
