//! The dashboard's pages (GET): each reads through the services the admin API uses and renders
//! one template.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use airlock_core::api::{AuditEntry, EnrolmentTokenInfo, FleetReport, RolloutStatus};
use airlock_core::release::Release;
use airlock_core::support::SupportChange;

use crate::app::AppState;
use crate::auth::Scope;
use crate::routes::public::SupportStatus;
use crate::storage::{DeviceHistory, DeviceRow};
use crate::ui::session::Session;
use crate::ui::svg::{self, FleetChart, Timeline};
use crate::ui::{render, UiError};

/// Offline-signed metadata expiring this close is flagged on the overview.
pub const EXPIRY_WARNING_DAYS: i64 = 30;
/// Rows of the device search and the audit log per page.
const PAGE_ROWS: u32 = 100;

/// What every page's frame shows: title, navigation, who is signed in, the sign-out form.
pub struct Layout {
    pub title: String,
    pub nav: &'static str,
    pub actor: String,
    pub csrf: String,
    pub may_rollout: bool,
    pub may_devices: bool,
}

impl Layout {
    fn new(session: &Session, title: impl Into<String>, nav: &'static str) -> Layout {
        Layout {
            title: title.into(),
            nav,
            actor: session.actor.clone(),
            csrf: session.csrf.clone(),
            may_rollout: session.may(Scope::Rollout),
            may_devices: session.may(Scope::Devices),
        }
    }
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "ui/sign_in.html")]
pub struct SignInPage<'a> {
    pub next: &'a str,
    pub error: Option<&'a str>,
    /// The browser came from a page whose session had ended (expired, signed out, revoked).
    pub ended: bool,
}

#[derive(Deserialize, Default)]
pub struct NextParam {
    #[serde(default)]
    next: String,
    /// `1` when a page sent the browser here because its session had ended.
    #[serde(default)]
    expired: String,
}

pub async fn sign_in_form(Query(q): Query<NextParam>) -> Result<Html<String>, UiError> {
    render(&SignInPage {
        next: crate::ui::session::safe_next(&q.next),
        error: None,
        ended: q.expired == "1",
    })
}

// ---- overview ----

pub struct RoleExpiry {
    pub role: String,
    pub expires: jiff::Timestamp,
    pub days_left: i64,
    /// `expired`, `warn` or `ok`.
    pub level: &'static str,
    /// Renewed by the server itself (snapshot, timestamp).
    pub online: bool,
}

pub struct ProductFleet {
    pub product: String,
    pub status: &'static str,
    pub devices: u64,
    /// (version, devices, at or above the floor, link to its devices)
    pub versions: Vec<(String, u64, bool, String)>,
    pub below_floor: u64,
    pub below_floor_percent: String,
    pub floor: u64,
    /// Devices of a product whose security support has ended.
    pub end_of_support: u64,
    pub last_check_in: Option<jiff::Timestamp>,
}

#[derive(Template)]
#[template(path = "ui/overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub published: bool,
    pub timeline: Timeline,
    pub roles: Vec<RoleExpiry>,
    pub warnings: usize,
    pub fleets: Vec<ProductFleet>,
}

/// Every role's expiry, soonest first, with its warning level at `now`.
pub fn role_expiries(view: &crate::view::RepoView, now: jiff::Timestamp) -> Vec<RoleExpiry> {
    let all = crate::background::expiring_offline_roles(
        view,
        now,
        jiff::SignedDuration::from_hours(24 * 365 * 1000),
    );
    let online = [
        ("snapshot", view.index.snapshot_expires),
        ("timestamp", view.index.timestamp_expires),
    ];
    let mut out: Vec<RoleExpiry> = all
        .into_iter()
        .map(|(role, expires)| (role, expires, false))
        .chain(
            online
                .into_iter()
                .filter_map(|(role, e)| e.map(|e| (role.to_string(), e, true))),
        )
        .map(|(role, expires, online)| {
            let left = expires.duration_since(now);
            let days_left = left.as_secs().div_euclid(86_400);
            let level = if left.is_negative() || left.is_zero() {
                "expired"
            } else if !online && days_left < EXPIRY_WARNING_DAYS {
                "warn"
            } else {
                "ok"
            };
            RoleExpiry {
                role,
                expires,
                days_left,
                level,
                online,
            }
        })
        .collect();
    out.sort_by_key(|r| r.expires);
    out
}

pub async fn overview(
    State(app): State<AppState>,
    session: Session,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    let view = app.view();
    let now = app.clock.now();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    app.check_ins.flush().await;
    let mut fleets = Vec::new();
    for (name, p) in &view.products {
        let versions = app.state.fleet_versions(name).await?;
        let floor = p.support.min_security_version;
        let (supported, _) = crate::fleet::supported_share(&versions, floor);
        let devices: u64 = versions.iter().map(|v| v.devices).sum();
        let status = SupportStatus::of(&p.support, now);
        let mut by_version: Vec<(String, u64, bool, String)> = versions
            .iter()
            .map(|v| {
                (
                    v.version.clone(),
                    v.devices,
                    v.security_version >= floor,
                    format!("/ui/devices?q={}", path_segment(&v.version)),
                )
            })
            .collect();
        by_version.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        by_version.truncate(8);
        let below = devices - supported;
        fleets.push(ProductFleet {
            product: name.clone(),
            status: status.words(),
            devices,
            versions: by_version,
            below_floor: below,
            below_floor_percent: percent(below, devices),
            floor,
            end_of_support: if status == SupportStatus::EndOfSupport {
                devices
            } else {
                0
            },
            last_check_in: app.state.last_check_in(name).await?,
        });
    }
    let roles = role_expiries(&view, now);
    render(&OverviewPage {
        layout: Layout::new(&session, "Overview", "overview"),
        published: view.is_published(),
        timeline: svg::timeline(view.products.values().map(|p| &p.support), today),
        warnings: roles.iter().filter(|r| r.level != "ok").count(),
        roles,
        fleets,
    })
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

// ---- product ----

pub struct ReleaseRow {
    pub release: Release,
    pub rollout: Option<RolloutStatus>,
}

#[derive(Template)]
#[template(path = "ui/product.html")]
pub struct ProductPage {
    pub layout: Layout,
    pub product: String,
    pub status: &'static str,
    pub support: airlock_core::support::SupportRecord,
    pub releases: Vec<ReleaseRow>,
    /// (target, when, reason, forced) of withdrawn releases.
    pub withdrawn: Vec<SupportChange>,
    pub fleet: FleetReport,
    pub chart: Option<FleetChart>,
}

pub async fn product(
    State(app): State<AppState>,
    session: Session,
    Path(product): Path<String>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    let view = app.view();
    let p = view.products.get(&product).ok_or_else(|| {
        UiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown product {product:?}"),
        )
    })?;
    let fleet = crate::fleet::fleet(&app, &product).await?;
    let rollouts = app.rollouts();
    let latest: Vec<&airlock_core::rollout::Rollout> = p
        .releases
        .iter()
        .filter_map(|r| crate::rollouts::latest_for_target(&rollouts, &r.name))
        .collect();
    let mut statuses = crate::rollouts::statuses(app.state.as_ref(), &latest, app.clock.now())
        .await?
        .into_iter();
    let mut releases: Vec<ReleaseRow> = p
        .releases
        .iter()
        .map(|r| ReleaseRow {
            release: r.clone(),
            rollout: crate::rollouts::latest_for_target(&rollouts, &r.name)
                .and_then(|_| statuses.next()),
        })
        .collect();
    releases.sort_by(|a, b| b.release.info.version.cmp(&a.release.info.version));
    render(&ProductPage {
        layout: Layout::new(&session, format!("Product {product}"), "overview"),
        status: SupportStatus::of(&p.support, app.clock.now()).words(),
        withdrawn: p
            .support
            .history
            .iter()
            .filter(|c| c.withdrawn.is_some())
            .cloned()
            .collect(),
        support: p.support.clone(),
        chart: svg::fleet_chart(&fleet.history),
        fleet,
        releases,
        product,
    })
}

// ---- rollouts ----

/// A release a rollout may be started for: published, with no rollout in progress.
pub struct Startable {
    pub product: String,
    pub version: String,
    pub held: bool,
}

#[derive(Template)]
#[template(path = "ui/rollouts.html")]
pub struct RolloutsPage {
    pub layout: Layout,
    pub current: Vec<RolloutStatus>,
    pub ended: Vec<RolloutStatus>,
    pub startable: Vec<Startable>,
    /// Offsets of the next older and newer pages of ended rollouts, if any.
    pub older: Option<usize>,
    pub newer: Option<usize>,
    /// Which ended rollouts this page shows ("51–100 of 999").
    pub shown: String,
}

/// Ended rollouts on one page of the rollout list.
pub const ENDED_PER_PAGE: usize = 50;

/// `?ended=N`: the ended rollouts from the N-th newest on.
#[derive(Debug, Default, serde::Deserialize)]
pub struct EndedPage {
    pub ended: Option<usize>,
}

pub async fn rollouts(
    State(app): State<AppState>,
    session: Session,
    Query(q): Query<EndedPage>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    let skip = q.ended.unwrap_or(0);
    let page = crate::rollouts::list_page(&app, skip, ENDED_PER_PAGE).await?;
    let view = app.view();
    let all = app.rollouts();
    let mut startable = Vec::new();
    for (name, p) in &view.products {
        for r in &p.releases {
            let latest = crate::rollouts::latest_for_target(&all, &r.name);
            let in_progress = latest.is_some_and(|l| {
                matches!(
                    l.state,
                    airlock_core::rollout::RolloutState::Active
                        | airlock_core::rollout::RolloutState::Paused
                )
            });
            if !in_progress {
                startable.push(Startable {
                    product: name.clone(),
                    version: r.info.version.to_string(),
                    held: latest
                        .is_some_and(|l| l.state == airlock_core::rollout::RolloutState::Held),
                });
            }
        }
    }
    // held releases first: they are the ones waiting for an operator
    startable.sort_by_key(|s| std::cmp::Reverse(s.held));
    // older ended rollouts a page at a time (plain links: no script needed)
    let next = skip.saturating_add(ENDED_PER_PAGE);
    let older = (next < page.ended_total).then_some(next);
    let newer = (skip > 0).then(|| skip.saturating_sub(ENDED_PER_PAGE));
    let shown = if page.ended.is_empty() {
        String::new()
    } else {
        format!(
            "{}–{} of {}",
            skip + 1,
            skip + page.ended.len(),
            page.ended_total
        )
    };
    render(&RolloutsPage {
        layout: Layout::new(&session, "Rollouts", "rollouts"),
        current: page.current,
        ended: page.ended,
        startable,
        older,
        newer,
        shown,
    })
}

#[derive(Template)]
#[template(path = "ui/rollout.html")]
pub struct RolloutPage {
    pub layout: Layout,
    pub s: RolloutStatus,
    pub live: RolloutFigures,
    pub live_url: String,
}

/// The part of a rollout's page that updates live: state, figures, actions.
pub struct RolloutFigures {
    pub s: RolloutStatus,
    pub reached: String,
    pub rate: String,
    pub threshold: Option<String>,
    /// Paused by its health rule (not by an operator).
    pub auto_paused: bool,
    pub may_rollout: bool,
    pub csrf: String,
    /// The rollout page's path.
    pub base: String,
    /// Its history, newest first: updated live with the figures, so an auto-pause shows
    /// there with its reason as soon as it happens.
    pub events: Vec<AuditEntry>,
}

/// [`RolloutFigures`] alone: the fragment `ui.js` fetches and swaps in.
#[derive(Template)]
#[template(path = "ui/rollout_live.html")]
pub struct LiveFragment {
    pub live: RolloutFigures,
}

impl RolloutFigures {
    fn of(s: &RolloutStatus, session: &Session, events: Vec<AuditEntry>) -> RolloutFigures {
        RolloutFigures {
            events,
            reached: format!("{:.1}", s.reached_percent),
            rate: format!("{:.1}", s.failure_rate_percent),
            threshold: s.pause_if.clone(),
            auto_paused: s.state == "paused"
                && s.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("health rule")),
            may_rollout: session.may(Scope::Rollout),
            csrf: session.csrf.clone(),
            base: rollout_path(&s.product, &s.version),
            s: s.clone(),
        }
    }
}

/// A rollout's history: the audit entries that name it (pauses, resumptions and the
/// auto-pause with their reasons), newest first.
async fn rollout_events(app: &AppState, s: &RolloutStatus) -> Result<Vec<AuditEntry>, UiError> {
    let query = crate::storage::AuditQuery {
        action: Some("rollout".into()),
        since: Some(s.started_at),
        limit: 1000,
        ..Default::default()
    };
    Ok(app
        .state
        .list_audit(&query)
        .await?
        .into_iter()
        .filter(|e| {
            e.detail.get("id").and_then(|v| v.as_str()) == Some(s.id.as_str())
                || (e.action == "rollout.start"
                    && e.detail.get("product").and_then(|v| v.as_str()) == Some(s.product.as_str())
                    && e.detail.get("version").and_then(|v| v.as_str()) == Some(s.version.as_str()))
        })
        .collect())
}

/// The dashboard path of the rollout of a release.
pub fn rollout_path(product: &str, version: &str) -> String {
    format!(
        "/ui/rollouts/{}/{}",
        path_segment(product),
        path_segment(version)
    )
}

/// The status of the rollout a page names: its release's newest.
async fn status_for(
    app: &AppState,
    product: &str,
    version: &str,
) -> Result<RolloutStatus, UiError> {
    Ok(crate::rollouts::status(app, product, version).await?)
}

pub async fn rollout(
    State(app): State<AppState>,
    session: Session,
    Path((product, version)): Path<(String, String)>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    let s = status_for(&app, &product, &version).await?;
    let events = rollout_events(&app, &s).await?;
    let base = rollout_path(&product, &version);
    render(&RolloutPage {
        layout: Layout::new(
            &session,
            format!("Rollout of {product} {version}"),
            "rollouts",
        ),
        live: RolloutFigures::of(&s, &session, events),
        live_url: format!("{base}/live"),
        s,
    })
}

/// The live figures of a rollout (an HTML fragment `ui.js` swaps in).
pub async fn rollout_live(
    State(app): State<AppState>,
    session: Session,
    Path((product, version)): Path<(String, String)>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    let s = status_for(&app, &product, &version).await?;
    let events = rollout_events(&app, &s).await?;
    render(&LiveFragment {
        live: RolloutFigures::of(&s, &session, events),
    })
}

#[derive(Template)]
#[template(path = "ui/confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub s: RolloutStatus,
    pub action: String,
    pub base: String,
}

/// The confirmation step of a rollout action (abort above all: it cannot be undone).
pub async fn confirm_rollout_action(
    State(app): State<AppState>,
    session: Session,
    Path((product, version, action)): Path<(String, String, String)>,
) -> Result<Response, UiError> {
    session.require(Scope::Rollout)?;
    if !matches!(action.as_str(), "pause" | "resume" | "abort") {
        return Err(UiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown rollout action {action:?} (pause, resume, abort)"),
        ));
    }
    let s = status_for(&app, &product, &version).await?;
    Ok(render(&ConfirmPage {
        layout: Layout::new(
            &session,
            format!(
                "{} the rollout of {product} {version}?",
                capitalise(&action)
            ),
            "rollouts",
        ),
        base: rollout_path(&product, &version),
        s,
        action,
    })?
    .into_response())
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `text` as one URL path segment.
pub fn path_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

// ---- devices ----

#[derive(Deserialize, Default)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "ui/devices.html")]
pub struct DevicesPage {
    pub layout: Layout,
    pub q: String,
    pub devices: Vec<DeviceRow>,
    pub limit: u32,
}

pub async fn devices(
    State(app): State<AppState>,
    session: Session,
    Query(params): Query<SearchParams>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    app.check_ins.flush().await;
    let q = params.q.trim().to_string();
    let devices = app.state.search_devices(&q, PAGE_ROWS).await?;
    render(&DevicesPage {
        layout: Layout::new(&session, "Devices", "devices"),
        q,
        devices,
        limit: PAGE_ROWS,
    })
}

#[derive(Template)]
#[template(path = "ui/device.html")]
pub struct DevicePage {
    pub layout: Layout,
    pub id_path: String,
    pub h: DeviceHistory,
    /// The device's product now (a run of another product names it).
    pub product: String,
    pub kept_runs: usize,
}

pub async fn device(
    State(app): State<AppState>,
    session: Session,
    Path(device_id): Path<String>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    app.check_ins.flush().await;
    let h = app.state.device_history(&device_id, PAGE_ROWS).await?;
    if h.device.is_none() && h.enrolled.is_none() {
        return Err(UiError::new(
            StatusCode::NOT_FOUND,
            format!("no device {device_id:?} has checked in or enrolled"),
        ));
    }
    render(&DevicePage {
        layout: Layout::new(&session, format!("Device {device_id}"), "devices"),
        id_path: path_segment(&device_id),
        product: h
            .device
            .as_ref()
            .map(|d| d.product.clone())
            .unwrap_or_default(),
        h,
        kept_runs: crate::storage::KEPT_CHECK_IN_RUNS,
    })
}

// ---- enrolment tokens ----

#[derive(Template)]
#[template(path = "ui/tokens.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<EnrolmentTokenInfo>,
    pub products: Vec<String>,
    /// A token just created: shown once.
    pub created: Option<airlock_core::api::EnrolmentTokenResponse>,
}

pub async fn enrolment_tokens(
    State(app): State<AppState>,
    session: Session,
) -> Result<Html<String>, UiError> {
    tokens_page(&app, &session, None).await
}

pub async fn tokens_page(
    app: &AppState,
    session: &Session,
    created: Option<airlock_core::api::EnrolmentTokenResponse>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Devices)?;
    let mut tokens = crate::enrolment::list_tokens(app).await?;
    tokens.reverse();
    render(&TokensPage {
        layout: Layout::new(session, "Enrolment tokens", "tokens"),
        tokens,
        products: app.view().products.keys().cloned().collect(),
        created,
    })
}

// ---- audit ----

#[derive(Deserialize, Default)]
pub struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    before: Option<u64>,
}

#[derive(Template)]
#[template(path = "ui/audit.html")]
pub struct AuditPageView {
    pub layout: Layout,
    pub actor: String,
    pub action: String,
    pub since: String,
    pub until: String,
    pub entries: Vec<AuditEntry>,
    /// The query string of the next (older) page.
    pub older: Option<String>,
}

pub async fn audit(
    State(app): State<AppState>,
    session: Session,
    Query(f): Query<AuditFilter>,
) -> Result<Html<String>, UiError> {
    session.require(Scope::Read)?;
    let params = crate::routes::audit::AuditParams {
        actor: Some(f.actor.clone()),
        action: Some(f.action.clone()),
        since: Some(f.since.clone()),
        until: Some(f.until.clone()),
        before: f.before,
        limit: Some(PAGE_ROWS),
    };
    let query = params
        .query()
        .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, e))?;
    let entries = app.state.list_audit(&query).await?;
    let older = (entries.len() == PAGE_ROWS as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|before| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("actor", &f.actor)
                .append_pair("action", &f.action)
                .append_pair("since", &f.since)
                .append_pair("until", &f.until)
                .append_pair("before", &before.to_string())
                .finish()
        });
    render(&AuditPageView {
        layout: Layout::new(&session, "Audit log", "audit"),
        actor: f.actor,
        action: f.action,
        since: f.since,
        until: f.until,
        entries,
        older,
    })
}
