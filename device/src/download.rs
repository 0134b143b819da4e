//! Download of a signed image into `<state>/firmware/<file>.part`, resuming a partial file with
//! a Range request (If-Range on the image's ETag, its sha256), verified by length and sha256
//! against what the product role signed (TUF 5.7.3) before it is handed over for installation.
//! More bytes than the signed length stop the transfer at once (endless data).

use futures::StreamExt;
use sha2::Digest;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use airlock_core::names;
use airlock_core::release::Release;

use crate::config::Config;
use crate::link::{Arrival, Link};
use crate::refusal::{Refusal, Refused};
use crate::state::{firmware_dir, stored_credential};

/// Why a download did not complete.
#[derive(Debug)]
pub enum Download {
    /// The image failed verification (or could not be fetched as signed): nothing installed.
    Refused(Refused),
    /// The transfer stopped early; `<file>.part` keeps what arrived, for a Range resume.
    Interrupted { received: u64 },
}

fn refused(kind: Refusal, m: String) -> Download {
    Download::Refused(Refused::new(kind, m))
}

fn storage(m: String) -> Download {
    refused(Refusal::LocalStorage, m)
}

/// The sha256 state of what an earlier, interrupted attempt left, read in pieces (images may
/// be large).
async fn hash_partial(part: &Path) -> Result<sha2::Sha256, Download> {
    let read_err = |e: std::io::Error| storage(format!("reading {}: {e}", part.display()));
    let mut hasher = sha2::Sha256::new();
    let mut file = tokio::fs::File::open(part).await.map_err(read_err)?;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut buf).await.map_err(read_err)?;
        if n == 0 {
            return Ok(hasher);
        }
        hasher.update(&buf[..n]);
    }
}

/// A signed target file to download: its name, and the sha256 and length its role signed.
#[derive(Debug, Clone, Copy)]
pub struct TargetFile<'a> {
    pub name: &'a str,
    pub sha256: &'a str,
    pub length: u64,
}

impl<'a> From<&'a Release> for TargetFile<'a> {
    fn from(r: &'a Release) -> Self {
        TargetFile {
            name: &r.name,
            sha256: &r.sha256,
            length: r.length,
        }
    }
}

impl<'a> From<&'a airlock_core::delta::Delta> for TargetFile<'a> {
    fn from(d: &'a airlock_core::delta::Delta) -> Self {
        TargetFile {
            name: &d.name,
            sha256: &d.sha256,
            length: d.length,
        }
    }
}

/// Downloads and verifies `release`; returns the path of the verified image (`<file>.part`).
pub async fn download(
    cfg: &Config,
    client: &reqwest::Client,
    link: &dyn Link,
    release: &Release,
) -> Result<PathBuf, Download> {
    download_target(cfg, client, link, release.into(), &mut 0).await
}

/// Downloads and verifies any signed target (an image or a delta) into `<file>.part`, adding
/// the bytes that arrived over the wire to `wire_bytes`.
pub async fn download_target(
    cfg: &Config,
    client: &reqwest::Client,
    link: &dyn Link,
    release: TargetFile<'_>,
    wire_bytes: &mut u64,
) -> Result<PathBuf, Download> {
    let (dir_name, file) = names::split_target_name(release.name)
        .map_err(|e| refused(Refusal::InvalidMetadata, e.to_string()))?;
    let dir = firmware_dir(&cfg.state_dir);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| storage(format!("creating {}: {e}", dir.display())))?;
    let part = dir.join(format!("{file}.part"));
    let length = release.length;
    let mut have = tokio::fs::metadata(&part).await.map_or(0, |m| m.len());
    if have > length {
        let _ = tokio::fs::remove_file(&part).await;
        have = 0;
    }
    let mut hasher = if have > 0 {
        hash_partial(&part).await?
    } else {
        sha2::Sha256::new()
    };
    if have < length {
        let url = cfg
            .tuf_base
            .join("tuf/targets/")
            .and_then(|u| u.join(&format!("{dir_name}/{}.{file}", release.sha256)))
            .map_err(|e| {
                refused(
                    Refusal::Other,
                    format!("image URL for {}: {e}", release.name),
                )
            })?;
        let mut request = client.get(url);
        if let Some(c) = stored_credential(&cfg.state_dir) {
            request = request.bearer_auth(c);
        }
        if have > 0 {
            request = request
                .header(reqwest::header::RANGE, format!("bytes={have}-"))
                .header(reqwest::header::IF_RANGE, format!("\"{}\"", release.sha256));
        }
        link.before_request().await;
        let resp = match request.send().await {
            Ok(r) => r,
            Err(_) => return Err(Download::Interrupted { received: have }),
        };
        let status = resp.status();
        let out = if status == reqwest::StatusCode::PARTIAL_CONTENT && have > 0 {
            tokio::fs::OpenOptions::new().append(true).open(&part).await
        } else if status.is_success() {
            // the whole image (a fresh start, or the server ignored the range)
            have = 0;
            hasher = sha2::Sha256::new();
            tokio::fs::File::create(&part).await
        } else if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE || status.is_server_error() {
            if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                let _ = tokio::fs::remove_file(&part).await;
                have = 0;
            }
            return Err(Download::Interrupted { received: have });
        } else {
            return Err(refused(
                Refusal::Unreachable,
                format!("downloading {}: the server answered {status}", release.name),
            ));
        }
        .map_err(|e| storage(format!("opening {}: {e}", part.display())))?;
        let before = have;
        let received = receive(resp, out, link, release, &part, have, &mut hasher).await;
        have = match received {
            Ok(h) => h,
            Err((e, h)) => {
                *wire_bytes += h.saturating_sub(before);
                return Err(e);
            }
        };
        *wire_bytes += have - before;
        if have < length {
            return Err(Download::Interrupted { received: have });
        }
    }
    let actual = hex::encode(hasher.finalize());
    if actual != release.sha256 {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(refused(
            Refusal::HashMismatch,
            format!(
                "image {} failed verification: hash mismatch (sha256 {actual}, the product role signed {})",
                release.name, release.sha256
            ),
        ));
    }
    Ok(part)
}

/// Streams the body into `out`, hashing as it goes; returns how many bytes `part` now holds.
/// Stops with a refusal as soon as more than the signed length would arrive.
async fn receive(
    resp: reqwest::Response,
    mut out: tokio::fs::File,
    link: &dyn Link,
    release: TargetFile<'_>,
    part: &Path,
    mut have: u64,
    hasher: &mut sha2::Sha256,
) -> Result<u64, (Download, u64)> {
    let length = release.length;
    let write_err = |e: std::io::Error| storage(format!("writing {}: {e}", part.display()));
    let mut stream = resp.bytes_stream();
    let mut interrupted = false;
    while let Some(piece) = stream.next().await {
        let Ok(mut piece) = piece else {
            interrupted = true;
            break;
        };
        if have + piece.len() as u64 > length {
            drop(out);
            let _ = tokio::fs::remove_file(part).await;
            // what arrived up to the cut counts as bytes on the wire
            return Err((
                refused(
                    Refusal::LengthMismatch,
                    format!(
                        "{} exceeds the maximum size its product role signed ({length} bytes)",
                        release.name
                    ),
                ),
                have + piece.len() as u64,
            ));
        }
        if let Arrival::CutAfter(n) = link.image_piece(have, piece.len(), length).await {
            piece.truncate(n);
            interrupted = true;
        }
        hasher.update(&piece);
        out.write_all(&piece)
            .await
            .map_err(|e| (write_err(e), have))?;
        have += piece.len() as u64;
        if interrupted {
            break;
        }
    }
    out.sync_all().await.map_err(|e| (write_err(e), have))?;
    if interrupted {
        return Err((Download::Interrupted { received: have }, have));
    }
    Ok(have)
}
