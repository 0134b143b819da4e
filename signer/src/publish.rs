//! `airlock publish --server URL`: uploads the firmware blobs the server lacks (content
//! addressed by sha256, streamed), then the signed metadata. The server verifies everything
//! again, signs snapshot and timestamp and switches to the new repository in one step.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_core::api::{ErrorBody, PublishRequest, PublishResponse};

use crate::repo::Repo;

#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub server: url::Url,
    pub admin_token: String,
    /// Hold new releases until a rollout of them is started.
    pub hold: bool,
    /// Show a progress bar for uploads (on a terminal).
    pub progress: bool,
}

/// Reads an admin token file (first line, trimmed).
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the admin token from {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        bail!("the admin token file {} is empty", path.display());
    }
    Ok(token)
}

/// A file the repository lists as a target, and where the repository keeps it.
#[derive(Debug, Clone)]
pub struct BlobToUpload {
    pub name: String,
    pub sha256: String,
    pub length: u64,
    pub path: PathBuf,
}

/// The request body: every root version, targets.json and each product role, as signed; and
/// the files those roles list.
pub fn build_request(repo: &Repo) -> Result<(PublishRequest, Vec<BlobToUpload>)> {
    let read = |p: &Path| -> Result<String> {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let mut roots = Vec::new();
    for (_, path) in repo.root_history()? {
        roots.push(read(&path)?);
    }
    let targets_text = read(&repo.metadata_dir().join("targets.json"))?;
    let targets = repo.load_targets()?.signed;
    let mut roles = BTreeMap::new();
    let mut blobs = Vec::new();
    for product in repo.products(&targets) {
        roles.insert(product.clone(), read(&repo.role_path(&product))?);
        let role = repo.load_role(&product)?.signed;
        for (name, t) in &role.targets {
            let path = repo.target_path(name.raw())?;
            blobs.push(BlobToUpload {
                name: name.raw().to_string(),
                sha256: hex::encode(&*t.hashes.sha256),
                length: t.length,
                path,
            });
        }
    }
    Ok((
        PublishRequest {
            roots,
            targets: targets_text,
            roles,
            hold: false,
        },
        blobs,
    ))
}

/// Refuses to send a release whose image is empty (0 bytes), before any upload: the server
/// refuses it too ([`airlock_core::verify::VerifyError::EmptyImage`]).
pub(crate) fn check_no_empty_images(blobs: &[BlobToUpload]) -> Result<()> {
    if let Some(b) = blobs.iter().find(|b| b.length == 0) {
        bail!(
            "{}; withdraw it first (`airlock release withdraw REPO PRODUCT VERSION --reason ...`)",
            airlock_core::verify::VerifyError::EmptyImage {
                name: b.name.clone()
            }
        );
    }
    Ok(())
}

pub(crate) async fn error_of(resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let refusal = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => airlock_cli::HttpRefusal {
            status,
            code: Some(body.error),
            message: body.message,
        },
        Err(_) => airlock_cli::HttpRefusal {
            status,
            code: None,
            message: text.trim().to_string(),
        },
    };
    refusal.into()
}

/// How many times a publish answered 503 is sent in all.
const PUBLISH_ATTEMPTS: u32 = 4;

/// The wait a 503 asks for (`Retry-After` in seconds), 5 s without one, at most 30 s.
fn retry_after_seconds(headers: &reqwest::header::HeaderMap) -> u64 {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(5)
        .clamp(1, 30)
}

pub async fn publish(repo: &Repo, opts: &PublishOptions) -> Result<PublishResponse> {
    let (mut request, blobs) = build_request(repo)?;
    check_no_empty_images(&blobs)?;
    request.hold = opts.hold;
    let client = reqwest::Client::builder()
        .build()
        .context("creating the HTTP client")?;
    let auth = format!("Bearer {}", opts.admin_token);
    let mut uploaded = std::collections::BTreeSet::new();
    let bar = airlock_cli::progress_bar(
        opts.progress,
        blobs.iter().map(|b| b.length).sum(),
        "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    );
    for BlobToUpload {
        name,
        sha256,
        length,
        path,
    } in blobs
    {
        if !uploaded.insert(sha256.clone()) {
            continue;
        }
        let url = opts
            .server
            .join(&format!("v1/admin/blobs/{sha256}"))
            .context("building the blob URL")?;
        let head = client
            .head(url.clone())
            .header("authorization", &auth)
            .send()
            .await
            .with_context(|| format!("contacting {}", opts.server))?;
        if head.status().is_success() {
            tracing::debug!(target = %name, "blob already on the server");
            bar.inc(length);
            continue;
        }
        if head.status() != reqwest::StatusCode::NOT_FOUND {
            return Err(error_of(head)
                .await
                .context(format!("checking blob of {name}")));
        }
        let (actual, actual_len) = crate::digest::sha256_file(&path)?;
        if actual != sha256 || actual_len != length {
            bail!(
                "{} does not match its signed length and sha256 (was it changed after signing?)",
                path.display()
            );
        }
        let file = tokio::fs::File::open(&path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        bar.set_message(name.clone());
        let counted = bar.clone();
        let stream = futures::StreamExt::inspect(tokio_util_stream(file), move |chunk| {
            if let Ok(c) = chunk {
                counted.inc(c.len() as u64);
            }
        });
        tracing::info!(target = %name, bytes = length, "uploading");
        let resp = client
            .put(url)
            .header("authorization", &auth)
            .header("content-length", length)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .with_context(|| format!("uploading {name}"))?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await.context(format!("uploading {name}")));
        }
    }
    bar.finish_and_clear();
    let url = opts
        .server
        .join("v1/admin/publish")
        .context("building the publish URL")?;
    // A 503 (the server's store busy or briefly unreachable) changed nothing: the publish is
    // one transaction. It is sent again after the server's Retry-After, a few times.
    let mut attempt = 1;
    let resp = loop {
        let resp = client
            .post(url.clone())
            .header("authorization", &auth)
            .json(&request)
            .send()
            .await
            .with_context(|| format!("contacting {}", opts.server))?;
        if resp.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE || attempt >= PUBLISH_ATTEMPTS
        {
            break resp;
        }
        let wait = retry_after_seconds(resp.headers());
        tracing::warn!(
            attempt,
            wait_seconds = wait,
            "the server could not take the publish now (503); sending it again"
        );
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        attempt += 1;
    };
    if !resp.status().is_success() {
        return Err(error_of(resp).await);
    }
    resp.json::<PublishResponse>()
        .await
        .context("reading the server's answer")
}

fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_503_waits_as_long_as_the_server_asks_within_bounds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(super::retry_after_seconds(&h), 5);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(super::retry_after_seconds(&h), 2);
        h.insert("retry-after", "3600".parse().unwrap());
        assert_eq!(super::retry_after_seconds(&h), 30);
        h.insert("retry-after", "0".parse().unwrap());
        assert_eq!(super::retry_after_seconds(&h), 1);
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(super::retry_after_seconds(&h), 5);
    }
}
