//! One update cycle: enrol if needed, check in, refresh the TUF metadata, re-check the answer,
//! download and verify, hand over for installation, report, and persist what the device runs.

use serde::{Deserialize, Serialize};

use airlock_core::api::{CheckInRequest, CheckInResponse, DeltaUse, DeviceReport, ReportStatus};
use airlock_core::decision::DeviceState;

use crate::config::Config;
use crate::download::{download_target, Download};
use crate::error::Error;
use crate::install::{InstallError, Installer};
use crate::link::Link;
use crate::metadata::refresh;
use crate::offer::{judge, Verdict};
use crate::refusal::{Refusal, Refused};
use crate::retry::Retries;
use crate::server::{check_in, ensure_enrolled, send_device_report, send_report};
use crate::state::{load_installed, save_installed, Installed};

/// How a cycle ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Installed {
        from: String,
        to: String,
        target: String,
        urgent: bool,
        /// Installed although the server answered "up to date": a security release held back
        /// past its limit (`airlock_core::hold`), taken from the device's verified metadata.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        withheld: bool,
    },
    UpToDate {
        version: String,
    },
    EndOfSupport {
        statement: String,
        successor: Option<String>,
        notice_url: Option<String>,
        security_updates_until: jiff::civil::Date,
    },
    Refused {
        /// What kind of refusal (not in the JSON form, which carries the reason only).
        #[serde(skip)]
        kind: Refusal,
        reason: String,
    },
    /// The verified image did not boot; the device rolled back to its version.
    Failed {
        version: String,
        code: String,
    },
    /// The image download was cut off (network, server restart); the part received is kept
    /// and the next cycle resumes from it. Nothing was installed.
    Interrupted {
        version: String,
        received: u64,
        length: u64,
    },
}

impl Outcome {
    pub fn is_refused(&self) -> bool {
        matches!(self, Outcome::Refused { .. })
    }

    /// The kind of refusal, if the cycle ended in one.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Outcome::Refused { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    fn refused(r: Refused) -> Self {
        Outcome::Refused {
            kind: r.kind,
            reason: r.reason,
        }
    }
}

/// What a cycle did, and what the device runs afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRun {
    pub id: String,
    pub product: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What the device runs afterwards.
    pub version: String,
    pub security_version: u64,
    /// What the cycle's requests to the server took.
    pub requests: Requests,
    /// Image and delta bytes that arrived over the wire in this cycle (what a metered link
    /// pays for; metadata not counted).
    pub image_bytes: u64,
    /// How a delta went, when one was offered: applied, or refused with the full image
    /// downloaded instead (docs/deltas.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaUse>,
}

/// A cycle's requests to the server: how many were retried after a passing failure
/// ([`crate::retry`]), and its reports, sent and of those not delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub retried: u32,
    pub reports: u32,
    pub reports_undelivered: u32,
}

/// The report code of the `downloading` report for a security release the server withheld
/// (answered "up to date" past the release's hold limit).
pub const WITHHELD_REPORT_CODE: &str = "withheld_security_release";

/// A signed release the device will install, and why.
struct Offer<'a> {
    release: &'a airlock_core::release::Release,
    urgent: bool,
    withheld: bool,
    /// The signed delta to try first, or why the offered one was refused.
    delta: Result<Option<&'a airlock_core::delta::Delta>, String>,
    /// The offered delta's name (for the report when it was refused).
    offered_delta: Option<String>,
    /// The installed image, to rebuild the delta from.
    source: Option<std::path::PathBuf>,
}

/// What the install step did besides its outcome: bytes on the wire and how a delta went.
#[derive(Default)]
struct Transfer {
    image_bytes: u64,
    delta: Option<DeltaUse>,
}

/// How a cycle sends: its retry count, and its reports (sent, not delivered).
struct Sending<'a> {
    retries: &'a Retries,
    reports: &'a mut (u32, u32),
}

/// A device agent: its configuration, HTTP client, installer and link.
pub struct Device<'a> {
    pub config: &'a Config,
    pub client: &'a reqwest::Client,
    pub installer: &'a dyn Installer,
    pub link: &'a dyn Link,
}

impl Device<'_> {
    /// Runs one update cycle. `Err` is for failures that are not a security verdict (cannot
    /// reach the server, cannot write state); refusals are `Ok` with [`Outcome::Refused`].
    pub async fn run_cycle(&self) -> Result<DeviceRun, Error> {
        let cfg = self.config;
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(Error::state("creating", &cfg.state_dir))?;
        let mut installed = load_installed(cfg)?;
        let device = DeviceState {
            product: installed.product.clone(),
            version: installed.version.clone(),
            security_version: installed.security_version,
        };
        let retries = Retries::default();
        let mut reports = (0, 0);
        let credential = ensure_enrolled(cfg, self.client, &retries).await?;
        self.link.before_request().await;
        // The installed image's hash as recorded when it was installed; only sent when the
        // image can be read back, to rebuild a delta from (checked again before that).
        let source = self.installer.installed_image(&cfg.state_dir, &installed);
        let request = CheckInRequest {
            product: device.product.clone(),
            version: device.version.to_string(),
            security_version: device.security_version,
            policy: None,
            installed_sha256: source.as_ref().and(installed.sha256.clone()),
            delta_algorithms: source.as_ref().map(|_| self.installer.delta_algorithms()),
        };
        let answer = check_in(cfg, self.client, &retries, credential.as_deref(), &request).await?;
        let now = cfg.now();
        let mut transfer = Transfer::default();
        let outcome = match refresh(cfg, self.client, &retries, now).await {
            Err(refused) => Outcome::refused(refused),
            Ok(verified) => match judge(&device, &verified, &answer, now) {
                Verdict::Refuse(refused) => Outcome::refused(refused),
                Verdict::UpToDate => Outcome::UpToDate {
                    version: device.version.to_string(),
                },
                Verdict::EndOfSupport(n) => {
                    installed.end_of_support_notice = Some(n.statement.clone());
                    Outcome::EndOfSupport {
                        statement: n.statement,
                        successor: n.successor,
                        notice_url: n.notice_url,
                        security_updates_until: n.security_updates_until,
                    }
                }
                Verdict::Install {
                    release,
                    urgent,
                    withheld,
                } => {
                    if withheld {
                        tracing::warn!(
                            device = %cfg.id,
                            target = %release.name,
                            "the server answered up to date, but the verified metadata lists a security release held back past its limit: installing it"
                        );
                    }
                    let offered = match &answer {
                        CheckInResponse::Update { target, .. } if target.name == release.name => {
                            target.delta.as_deref()
                        }
                        _ => None,
                    };
                    let offer = Offer {
                        release,
                        urgent,
                        withheld,
                        delta: crate::delta::signed_delta(
                            &verified.deltas,
                            release,
                            offered,
                            request.installed_sha256.as_deref(),
                            request.delta_algorithms.as_deref().unwrap_or_default(),
                        ),
                        offered_delta: offered.map(|d| d.name.clone()),
                        source: source.clone(),
                    };
                    let sending = Sending {
                        retries: &retries,
                        reports: &mut reports,
                    };
                    self.install(&mut installed, offer, sending, &mut transfer, now)
                        .await
                }
            },
        };
        save_installed(&cfg.state_dir, &installed)?;
        Ok(DeviceRun {
            id: cfg.id.clone(),
            product: cfg.product.clone(),
            outcome,
            version: installed.version.to_string(),
            security_version: installed.security_version,
            requests: Requests {
                retried: retries.count(),
                reports: reports.0,
                reports_undelivered: reports.1,
            },
            image_bytes: transfer.image_bytes,
            delta: transfer.delta,
        })
    }

    /// Downloads, verifies and installs an offer that passed the re-check, reporting each step.
    /// A withheld release is reported as such when its download starts (code
    /// [`WITHHELD_REPORT_CODE`]), so the server's operators see what the device found.
    async fn install(
        &self,
        installed: &mut Installed,
        offer: Offer<'_>,
        sending: Sending<'_>,
        transfer: &mut Transfer,
        now: jiff::Timestamp,
    ) -> Outcome {
        let Offer {
            release,
            urgent,
            withheld,
            delta,
            offered_delta,
            source,
        } = offer;
        let cfg = self.config;
        let version = release.info.version.to_string();
        let Sending { retries, reports } = sending;
        let mut delta_use: Option<DeltaUse> = None;
        let mut report = async |status, code, delta: Option<DeltaUse>| {
            let delivered = match delta {
                None => send_report(cfg, self.client, retries, status, &version, code).await,
                Some(delta) => {
                    let report = DeviceReport {
                        status,
                        version: version.clone(),
                        code,
                        delta: Some(delta),
                    };
                    send_device_report(cfg, self.client, retries, &report).await
                }
            };
            reports.0 += 1;
            reports.1 += u32::from(!delivered);
        };
        let code = withheld.then(|| WITHHELD_REPORT_CODE.to_string());
        report(ReportStatus::Downloading, code, None).await;
        // A delta first, every check kept (crate::delta::rebuild); any refusal falls back to
        // the full image and says so in the report.
        let mut rebuilt = None;
        match (delta, source) {
            (Ok(Some(d)), Some(source)) => {
                match crate::delta::rebuild(
                    cfg,
                    self.client,
                    self.link,
                    d,
                    release,
                    &source,
                    &mut transfer.image_bytes,
                )
                .await
                {
                    Ok(image) => {
                        rebuilt = Some(image);
                        delta_use = Some(DeltaUse {
                            name: d.name.clone(),
                            applied: true,
                            reason: None,
                        });
                    }
                    Err(crate::delta::Failure::Interrupted { received }) => {
                        return Outcome::Interrupted {
                            version: version.clone(),
                            received,
                            length: d.length,
                        }
                    }
                    Err(crate::delta::Failure::Refused(reason)) => {
                        tracing::warn!(device = %cfg.id, delta = %d.name, %reason,
                            "delta refused: downloading the full image");
                        delta_use = Some(DeltaUse {
                            name: d.name.clone(),
                            applied: false,
                            reason: Some(reason),
                        });
                    }
                }
            }
            (Ok(Some(d)), None) => {
                delta_use = Some(DeltaUse {
                    name: d.name.clone(),
                    applied: false,
                    reason: Some("the installed image cannot be read".into()),
                });
            }
            (Ok(None), _) => {}
            (Err(reason), _) => {
                tracing::warn!(device = %cfg.id, %reason, "offered delta refused: downloading the full image");
                delta_use = Some(DeltaUse {
                    name: offered_delta.unwrap_or_default(),
                    applied: false,
                    reason: Some(reason),
                });
            }
        }
        transfer.delta = delta_use.clone();
        let downloaded = match rebuilt {
            Some(image) => Ok(image),
            None => {
                download_target(
                    cfg,
                    self.client,
                    self.link,
                    release.into(),
                    &mut transfer.image_bytes,
                )
                .await
            }
        };
        let image = match downloaded {
            Ok(image) => image,
            Err(Download::Interrupted { received }) => {
                return Outcome::Interrupted {
                    version: version.clone(),
                    received,
                    length: release.length,
                }
            }
            Err(Download::Refused(refused)) => {
                report(
                    ReportStatus::Failed,
                    Some("verification_failed".into()),
                    delta_use,
                )
                .await;
                return Outcome::refused(refused);
            }
        };
        match self.installer.install(&image, release).await {
            Err(InstallError::Storage(reason)) => {
                report(
                    ReportStatus::Failed,
                    Some("verification_failed".into()),
                    delta_use,
                )
                .await;
                Outcome::refused(Refused::new(Refusal::LocalStorage, reason))
            }
            Err(InstallError::BootFailed { code }) => {
                report(ReportStatus::Failed, Some(code.clone()), delta_use).await;
                Outcome::Failed {
                    version: version.clone(),
                    code,
                }
            }
            Ok(()) => {
                let from = installed.version.to_string();
                installed.version = release.info.version.clone();
                installed.security_version = release.info.security_version;
                installed.target = Some(release.name.clone());
                installed.sha256 = Some(release.sha256.clone());
                installed.installed_at = Some(now);
                report(ReportStatus::Installed, None, delta_use).await;
                Outcome::Installed {
                    from,
                    to: version.clone(),
                    target: release.name.clone(),
                    urgent,
                    withheld,
                }
            }
        }
    }
}
