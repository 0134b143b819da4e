//! Firmware blobs in an S3 bucket (AWS S3 or any S3-protocol server: MinIO, Ceph RGW, Garage),
//! so that several server replicas share one store.
//!
//! Objects are `<prefix>sha256/<hex>`, content-addressed like [`super::LocalBlobs`]. An upload
//! is spooled to a local temporary file while it is hashed (memory stays flat), and only a
//! complete, verified upload is put into the bucket: an object under a digest is always that
//! digest's content. Large blobs go up as a multipart upload, which S3 makes visible only
//! when it completes.

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream as S3Body, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::path::{Path, PathBuf};

use super::blobs::{BlobError, BlobReader, BlobStore, ByteStream};
use airlock_core::names::is_sha256_hex;

/// Where the blobs live: `s3://BUCKET[/PREFIX]` plus how to reach the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix, empty or ending in `/`.
    pub prefix: String,
    /// Endpoint of an S3-protocol server (e.g. `http://127.0.0.1:9000`); `None` = AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// Path-style addressing (`http://host/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
    /// Time limit of one attempt of a request to the service (connecting, and waiting for its
    /// answer; uploads get a second more per MiB). A service that does not answer in time
    /// counts as unavailable, like one answering 5xx.
    pub timeout: std::time::Duration,
}

/// Default of [`S3Config::timeout`].
pub const DEFAULT_S3_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl S3Config {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix`.
    pub fn parse(url: &str) -> Result<S3Config, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?} is not an s3://BUCKET[/PREFIX] URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(format!(
                "{bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, '-', '.')"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == ".." || p == ".") {
            return Err(format!(
                "the prefix {prefix:?} must not contain . or .. segments"
            ));
        }
        Ok(S3Config {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            endpoint: None,
            region: "us-east-1".to_string(),
            path_style: false,
            timeout: DEFAULT_S3_TIMEOUT,
        })
    }
}

/// Parts of a multipart upload (S3 allows 5 MiB..5 GiB per part, at most 10,000 parts).
const PART_SIZE: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    config: S3Config,
    spool: PathBuf,
}

fn s3_error<E>(what: &str, e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (detail, passing) = match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let status = s.raw().status().as_u16();
            (
                format!(
                    "{} ({}, HTTP {status})",
                    err.message().unwrap_or("no message"),
                    err.code().unwrap_or("no code")
                ),
                // the service's own fault or throttling (500 InternalError, 503 SlowDown ...)
                status >= 500 || status == 429,
            )
        }
        // no answer in time, no connection, or a cut-off answer: the service, not the request
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (airlock_core::error_chain(&e), true)
        }
        other => (airlock_core::error_chain(other), false),
    };
    let error = std::io::Error::other(format!("S3 {what}: {detail}"));
    if passing {
        BlobError::Unavailable(error)
    } else {
        BlobError::Io(error)
    }
}

/// The time limit of one attempt to upload `len` bytes: the configured limit plus a second
/// per MiB (a slow link must not cut a large part off; a silent service still fails in time).
fn upload_timeout(base: std::time::Duration, len: u64) -> std::time::Duration {
    base + std::time::Duration::from_secs(len >> 20)
}

fn is_not_found<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => s.raw().status().as_u16() == 404,
        _ => false,
    }
}

impl S3Blobs {
    /// Connects to the bucket. Credentials come from `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`); `spool` is a local directory for
    /// uploads being verified.
    pub async fn open(config: S3Config, spool: &Path) -> Result<Self, BlobError> {
        let key = std::env::var("AWS_ACCESS_KEY_ID").map_err(|_| {
            BlobError::Io(std::io::Error::other(
                "S3 blobs need AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
            ))
        })?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").map_err(|_| {
            BlobError::Io(std::io::Error::other(
                "S3 blobs need AWS_SECRET_ACCESS_KEY in the environment",
            ))
        })?;
        let credentials = aws_sdk_s3::config::Credentials::new(
            key,
            secret,
            std::env::var("AWS_SESSION_TOKEN").ok(),
            None,
            "environment",
        );
        let mut builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(config.path_style)
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(config.timeout)
                    .operation_attempt_timeout(config.timeout)
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let client = aws_sdk_s3::Client::from_conf(builder.build());
        tokio::fs::create_dir_all(spool).await?;
        let mut entries = tokio::fs::read_dir(spool).await?;
        while let Some(entry) = entries.next_entry().await? {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
        let blobs = S3Blobs {
            client,
            config,
            spool: spool.to_path_buf(),
        };
        blobs.check().await?;
        Ok(blobs)
    }

    fn key_of(&self, sha256: &str) -> Result<String, BlobError> {
        if !is_sha256_hex(sha256) {
            return Err(BlobError::BadDigest(sha256.to_string()));
        }
        Ok(format!("{}sha256/{sha256}", self.config.prefix))
    }

    /// A per-operation override giving an upload of `len` bytes its time limit.
    fn upload_config(&self, len: u64) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::default().timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(self.config.timeout)
                .operation_attempt_timeout(upload_timeout(self.config.timeout, len))
                .build(),
        )
    }

    async fn upload(&self, key: &str, file: &Path, len: u64) -> Result<(), BlobError> {
        if len <= PART_SIZE {
            let body = S3Body::from_path(file)
                .await
                .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?;
            self.client
                .put_object()
                .bucket(&self.config.bucket)
                .key(key)
                .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                .body(body)
                .customize()
                .config_override(self.upload_config(len))
                .send()
                .await
                .map_err(|e| s3_error("put_object", e))?;
            return Ok(());
        }
        let started = self
            .client
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error("create_multipart_upload", e))?;
        let upload_id = started
            .upload_id()
            .ok_or_else(|| BlobError::Io(std::io::Error::other("S3 gave no upload id")))?
            .to_string();
        let result = async {
            let mut parts = Vec::new();
            let mut offset = 0u64;
            let mut number = 1i32;
            while offset < len {
                let n = PART_SIZE.min(len - offset);
                let body = S3Body::read_from()
                    .path(file)
                    .offset(offset)
                    .length(Length::Exact(n))
                    .build()
                    .await
                    .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.config.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_length(i64::try_from(n).unwrap_or(i64::MAX))
                    .body(body)
                    .customize()
                    .config_override(self.upload_config(n))
                    .send()
                    .await
                    .map_err(|e| s3_error("upload_part", e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_string))
                        .build(),
                );
                offset += n;
                number += 1;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.config.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                // The service joins the parts while this request waits: that takes time in
                // proportion to the object (minutes for large objects on AWS, per its
                // documentation; a 1 GiB image on moto took longer than the bare 10 s limit and
                // every large publish to S3 failed, scripts/bench-publish-large), so the
                // request gets the same size-scaled limit as the upload itself.
                .customize()
                .config_override(self.upload_config(len))
                .send()
                .await
                .map_err(|e| s3_error("complete_multipart_upload", e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.config.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, sha256: &str, body: ByteStream, limit: u64) -> Result<u64, BlobError> {
        let key = self.key_of(sha256)?;
        let tmp = super::blobs::temp_path(&self.spool, sha256);
        let result = async {
            let len = super::blobs::spool_verified(&tmp, sha256, body, limit).await?;
            if self.stat(sha256).await? != Some(len) {
                self.upload(&key, &tmp, len).await?;
            }
            Ok(len)
        }
        .await;
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }

    async fn stat(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        let key = self.key_of(sha256)?;
        match self
            .client
            .head_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.content_length()
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
            )),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_error("head_object", e)),
        }
    }

    async fn open_at(
        &self,
        sha256: &str,
        offset: u64,
    ) -> Result<Option<(u64, BlobReader)>, BlobError> {
        let key = self.key_of(sha256)?;
        let mut request = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(&key);
        let total = if offset > 0 {
            let Some(total) = self.stat(sha256).await? else {
                return Ok(None);
            };
            if offset >= total {
                return Ok(Some((total, Box::pin(tokio::io::empty()))));
            }
            request = request.range(format!("bytes={offset}-"));
            Some(total)
        } else {
            None
        };
        match request.send().await {
            Ok(out) => {
                let total = match total {
                    Some(t) => t,
                    None => out
                        .content_length()
                        .and_then(|l| u64::try_from(l).ok())
                        .unwrap_or(0),
                };
                Ok(Some((total, Box::pin(out.body.into_async_read()))))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_error("get_object", e)),
        }
    }

    async fn check(&self) -> Result<(), BlobError> {
        self.client
            .head_bucket()
            .bucket(&self.config.bucket)
            .send()
            .await
            .map_err(|e| s3_error(&format!("bucket {}", self.config.bucket), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn parses_bucket_urls() {
        let c = S3Config::parse("s3://firmware").unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("firmware", ""));
        let c = S3Config::parse("s3://firmware/prod/eu/").unwrap();
        assert_eq!(c.prefix, "prod/eu/");
        for bad in [
            "firmware",
            "s3://",
            "s3://UPPER",
            "s3://a",
            "s3://b_x",
            "s3://fw/../x",
            "http://fw",
        ] {
            assert!(S3Config::parse(bad).is_err(), "{bad} accepted");
        }
    }

    /// An S3-protocol server from AIRLOCK_TEST_S3_ENDPOINT (scripts/test starts one), with a
    /// fresh bucket; `None` (said loudly) without one, a failure when skips are failures.
    pub(crate) async fn test_bucket(test: &str) -> Option<S3Config> {
        let Ok(endpoint) = std::env::var("AIRLOCK_TEST_S3_ENDPOINT") else {
            crate::storage::tests::skip(
                test,
                "AIRLOCK_TEST_S3_ENDPOINT is not set (scripts/test sets it)",
            );
            return None;
        };
        let bucket = format!(
            "airlock-unit-{}",
            &crate::deviceauth::sha256_hex(&format!("{test}{:?}", std::time::SystemTime::now()))
                [..12]
        );
        let config = S3Config {
            bucket: bucket.clone(),
            prefix: "t/".into(),
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".into(),
            path_style: true,
            timeout: DEFAULT_S3_TIMEOUT,
        };
        let sdk = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                std::env::var("AWS_ACCESS_KEY_ID").unwrap(),
                std::env::var("AWS_SECRET_ACCESS_KEY").unwrap(),
                None,
                None,
                "test",
            ))
            .force_path_style(true)
            .endpoint_url(endpoint)
            .build();
        aws_sdk_s3::Client::from_conf(sdk)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        Some(config)
    }

    fn stream_of(data: Vec<u8>) -> ByteStream {
        Box::pin(futures::stream::iter(
            data.chunks(1 << 20)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        ))
    }

    #[tokio::test]
    async fn s3_put_verifies_and_reads_back_with_ranges() {
        use tokio::io::AsyncReadExt;
        let Some(config) = test_bucket("s3_put_verifies_and_reads_back_with_ranges").await else {
            return;
        };
        let spool = tempfile::tempdir().unwrap();
        let blobs = S3Blobs::open(config, spool.path()).await.unwrap();
        // small (single put) and large (multipart: 2 parts) blobs
        for size in [1000usize, PART_SIZE as usize + 12345] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let digest = hex::encode(sha2::Sha256::digest(&data));
            assert_eq!(blobs.stat(&digest).await.unwrap(), None);
            // wrong content for the digest: refused, nothing stored
            let mut other = data.clone();
            other[0] ^= 1;
            assert!(matches!(
                blobs.put(&digest, stream_of(other), u64::MAX).await,
                Err(BlobError::HashMismatch { .. })
            ));
            assert!(matches!(
                blobs.put(&digest, stream_of(data.clone()), 10).await,
                Err(BlobError::TooLarge { limit: 10 })
            ));
            assert_eq!(blobs.stat(&digest).await.unwrap(), None);
            assert_eq!(
                blobs
                    .put(&digest, stream_of(data.clone()), u64::MAX)
                    .await
                    .unwrap(),
                size as u64
            );
            assert_eq!(blobs.stat(&digest).await.unwrap(), Some(size as u64));
            let (len, mut r) = blobs.open(&digest).await.unwrap().unwrap();
            let mut back = Vec::new();
            r.read_to_end(&mut back).await.unwrap();
            assert_eq!((len, back == data), (size as u64, true));
            let (len, mut r) = blobs.open_at(&digest, 700).await.unwrap().unwrap();
            let mut tail = Vec::new();
            r.read_to_end(&mut tail).await.unwrap();
            assert_eq!((len, &tail[..]), (size as u64, &data[700..]));
        }
        // the spool holds nothing once uploads are done
        assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
        assert!(blobs.open(&"ab".repeat(32)).await.unwrap().is_none());
        assert!(matches!(
            blobs.stat("../etc/passwd").await,
            Err(BlobError::BadDigest(_))
        ));
    }
}
