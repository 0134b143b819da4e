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
    let resp = client
        .post(url)
        .header("authorization", &auth)
        .json(&request)
        .send()
        .await
        .with_context(|| format!("contacting {}", opts.server))?;
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
