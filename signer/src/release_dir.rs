//! `airlock release add REPO PRODUCT --from-dir DIR`: every file in DIR becomes a release target
//! of the product, in one signing step.
//!
//! Each file's version comes from its name, `NAME-VERSION[.EXT]` (`acme-cam-1.4.0.bin`,
//! `fw-2.0.0-rc.1.img`, `acme-cam-2.1.0.tar.gz`): the version is the part after the first `-`
//! that parses as a semantic version once up to two extensions are removed. The release fields
//! given on the command line (kind, security version, ...) apply to every file.
//!
//! Everything is checked before any byte is copied (names, versions not released yet, the same
//! version twice, the product's support window). Then the files are copied into the repository
//! and hashed in the same pass, on every core (rayon, one open file per worker, fixed buffers,
//! each file opened relative to its directory); a copy is always a new file, never written
//! through one left by an interrupted run. The copies reach the disk (one syncfs) before the
//! role, signed once, is written last (temp file + rename); until then no metadata lists them,
//! and a failure removes them. A file that vanishes or changes while it is copied is named in
//! the error, and the repository stays as it was.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use airlock_core::names;
use airlock_core::release::{Advisory, ReleaseInfo, ReleaseKind};

use crate::repo::{expiry_in_days, Repo};

mod copy;
use copy::{copy_and_hash, Copied, Dirs};

#[derive(Debug, Clone)]
pub struct DirOptions {
    pub product: String,
    pub dir: PathBuf,
    pub security_version: u64,
    pub kind: ReleaseKind,
    pub requires: Option<semver::Version>,
    /// Release time of every file; defaults to now.
    pub released: Option<jiff::Timestamp>,
    pub advisories: Vec<Advisory>,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Hard-link the files into the repository instead of copying them (same file system; a
    /// symbolic link, or a file on another file system, is copied).
    pub link: bool,
    /// Accept versions older than the product's newest release (a maintenance branch).
    pub allow_older: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirRelease {
    pub target: String,
    pub version: semver::Version,
    pub length: u64,
    pub sha256: Sha256Hex,
}

/// A SHA-256 digest, shown and serialized as lower-case hex (encoded only when it is shown: a
/// run of 100k files prints 20 of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Hex(pub [u8; 32]);

impl std::fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut hex = [0u8; 64];
        // 64 bytes for 32: the buffer always fits
        hex::encode_to_slice(self.0, &mut hex).map_err(|_| std::fmt::Error)?;
        f.write_str(std::str::from_utf8(&hex).map_err(|_| std::fmt::Error)?)
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DirReport {
    pub product: String,
    pub role_version: u64,
    pub bytes: u64,
    pub releases: Vec<DirRelease>,
    /// The product's newest release, when some of these are older (added with --allow-older).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub older_than: Option<semver::Version>,
}

/// The version in a file name `NAME-VERSION[.EXT]`, if any: the first `-` after which the rest,
/// without up to two extensions (a part after a `.` that is not all digits), or else as it is,
/// is a semantic version.
pub fn version_from_file_name(name: &str) -> Option<semver::Version> {
    let mut rest = name;
    while let Some((_, after)) = rest.split_once('-') {
        // up to two extensions (`.bin`, `.tar.gz`), never a number of the version itself
        let mut stem = after;
        for _ in 0..2 {
            let Some((shorter, ext)) = stem.rsplit_once('.') else {
                break;
            };
            if ext.is_empty() || ext.bytes().all(|b| b.is_ascii_digit()) {
                break;
            }
            if let Ok(v) = semver::Version::parse(shorter) {
                return Some(v);
            }
            stem = shorter;
        }
        if let Ok(v) = semver::Version::parse(after) {
            return Some(v);
        }
        rest = after;
    }
    None
}

/// One file to add.
struct Planned {
    source: PathBuf,
    file_name: String,
    target: String,
    key: tough::TargetName,
    /// From the file name; every other release field is the run's own ([`ReleaseInfo`] built
    /// once).
    version: semver::Version,
}

/// The names of the files directly in `dir` (hidden files skipped), sorted.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // file_type() needs no stat on most file systems; only a link is followed.
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() || t.is_dir() => entry.path().is_dir(),
            Ok(_) => false,
            Err(_) => entry.path().is_dir(),
        };
        if is_dir {
            bail!(
                "{} is a directory: --from-dir adds the files directly in {}",
                entry.path().display(),
                dir.display()
            );
        }
        files.push(name);
    }
    // names share long prefixes (acme-cam-1.0.): sorting 100k takes both cores' time
    files.par_sort_unstable();
    if files.is_empty() {
        bail!("{} holds no files to release", dir.display());
    }
    Ok(files)
}

pub async fn add_dir(repo: &Repo, opts: &DirOptions) -> Result<DirReport> {
    add_dir_with_read_hook(repo, opts, &|_| {}).await
}

/// As [`add_dir`]; `before_read` runs for each file once it is open (tests change files there).
pub async fn add_dir_with_read_hook(
    repo: &Repo,
    opts: &DirOptions,
    before_read: &(dyn Fn(&Path) + Sync),
) -> Result<DirReport> {
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_millis() as u64;
    let config = repo.config()?;
    let (targets, mut role) = crate::release::product_role_for_release(repo, &opts.product)?;
    let support = repo.load_support(&opts.product)?;
    tracing::debug!(
        elapsed_ms = ms(),
        targets = role.targets.len(),
        "role loaded"
    );
    if opts.kind == ReleaseKind::Feature && !opts.advisories.is_empty() {
        bail!("advisories belong to security (or sunset) releases; this is a feature release");
    }
    let mut seen = HashSet::new();
    for a in &opts.advisories {
        if !seen.insert(a.id.as_str()) {
            bail!("advisory {} is given twice", a.id);
        }
    }

    // What is released already, in one pass over the role.
    let mut released_versions: HashMap<semver::Version, String> = HashMap::new();
    for (name, t) in &role.targets {
        if let Ok(existing) = airlock_core::release::Release::from_target(name.raw(), t) {
            released_versions.insert(existing.info.version, name.raw().to_string());
        }
    }
    let released = airlock_core::whole_seconds(opts.released.unwrap_or_else(jiff::Timestamp::now));
    let listed = list_files(&opts.dir)?;
    // The release fields of every file but its version (taken from the first file with one, in
    // name order). The support rules depend on those fields, not on the file: checked once, for
    // that first file, which the error names.
    let first = listed
        .iter()
        .find_map(|n| version_from_file_name(n).map(|v| (n, v)));
    let info = ReleaseInfo {
        product: opts.product.clone(),
        version: first
            .as_ref()
            .map_or_else(|| semver::Version::new(0, 0, 0), |(_, v)| v.clone()),
        security_version: opts.security_version,
        kind: opts.kind,
        requires: opts.requires.clone(),
        released,
        advisories: opts.advisories.clone(),
    };
    if let Some((first, _)) = first {
        support
            .check_new_release(&info, released)
            .with_context(|| {
                format!(
                    "{}: the product's support record does not allow this release",
                    opts.dir.join(first).display()
                )
            })?;
    }
    // Each file's name and version, and whether it is released already, on every core; then the
    // same version twice among the new files.
    let checked: Vec<Result<Planned>> = listed
        .into_par_iter()
        .map(|file_name| {
            let source = opts.dir.join(&file_name);
            names::check_file_name(&file_name)
                .with_context(|| format!("{} cannot be a target name", source.display()))?;
            if file_name == names::SUPPORT_FILE {
                bail!("{} is reserved for the support record", names::SUPPORT_FILE);
            }
            let version = version_from_file_name(&file_name).with_context(|| {
                format!(
                    "{}: no version in the file name (expected NAME-VERSION.EXT, e.g. {}-1.4.0.bin)",
                    source.display(),
                    opts.product
                )
            })?;
            let target = format!("{}/{}", opts.product, file_name);
            let key = tough::TargetName::new(target.clone())?;
            if role.targets.contains_key(&key) {
                bail!("{target} is already released; give the new image a new file name");
            }
            if let Some(other) = released_versions.get(&version) {
                bail!(
                    "{} version {version} is already released as {other} ({} has the same version)",
                    opts.product,
                    source.display()
                );
            }
            Ok(Planned {
                source,
                file_name,
                target,
                key,
                version,
            })
        })
        .collect();
    let mut planned = checked.into_iter().collect::<Result<Vec<Planned>>>()?;
    // The same version twice among the new files (each was compared with the released ones).
    let mut by_version: Vec<&Planned> = planned.iter().collect();
    by_version.par_sort_unstable_by(|a, b| {
        a.version
            .cmp(&b.version)
            .then_with(|| a.file_name.cmp(&b.file_name))
    });
    if let Some(w) = by_version.windows(2).find(|w| w[0].version == w[1].version) {
        bail!(
            "{} version {} is given twice: {} and {}",
            opts.product,
            w[0].version,
            w[0].source.display(),
            w[1].source.display()
        );
    }
    // The oldest new file against the newest release (each one older is refused alike).
    let newest = released_versions.keys().max();
    let older_than = match by_version.first() {
        Some(oldest) => crate::release::check_not_older(
            &opts.product,
            &oldest.version,
            newest,
            opts.allow_older,
        )
        .with_context(|| oldest.source.display().to_string())?,
        None => None,
    };
    drop(by_version);

    tracing::debug!(elapsed_ms = ms(), files = planned.len(), "files checked");
    // The keys before the long copy: a passphrase or PIN is asked first, a wrong one stops here.
    let keys = repo.role_keys(&opts.product)?;
    let dest_dir = repo.targets_dir().join(&opts.product);
    std::fs::create_dir_all(&dest_dir)
        .with_context(|| format!("creating {}", dest_dir.display()))?;

    let bar = airlock_cli::progress_bar(
        opts.progress,
        planned.len() as u64,
        "hashing {pos}/{len} files [{bar:30}] {per_sec} eta {eta}",
    );
    let dirs = Dirs::open(&opts.dir, &dest_dir)?;
    let copied: Vec<Result<Copied>> = planned
        .par_iter()
        .map_init(
            || vec![0u8; 256 * 1024],
            |buf, p| {
                let r = copy_and_hash(&dirs, &p.file_name, &p.source, opts.link, buf, before_read)
                    .and_then(|c| {
                        crate::release::check_not_empty(&p.source, Some(c.length))?;
                        Ok(c)
                    });
                bar.inc(1);
                r
            },
        )
        .collect();
    bar.finish_and_clear();
    drop(dirs);
    tracing::debug!(elapsed_ms = ms(), "files copied and hashed");
    // The copies have their final names (no metadata lists them until the role is written; no
    // rename per file, which costs more than the copy of a small file): a failure removes them.
    let remove_copies = |names: &mut dyn Iterator<Item = &str>| {
        for name in names {
            let _ = std::fs::remove_file(dest_dir.join(name));
        }
    };
    let ok = match copied.into_iter().collect::<Result<Vec<Copied>>>() {
        Ok(ok) => ok,
        Err(first) => {
            remove_copies(&mut planned.iter().map(|p| p.file_name.as_str()));
            return Err(first.context(format!(
                "adding the files of {} (nothing was added)",
                opts.dir.display()
            )));
        }
    };

    // The release fields are the same for every file but its version: encode them once.
    let shared_custom = info.to_custom();
    let mut copied_names: Vec<String> = Vec::with_capacity(planned.len());
    // The copies go to the disk (one syncfs for all) while the role is built and signed; the
    // role is written once they are there.
    let synced = {
        let dir = dest_dir.clone();
        std::thread::spawn(move || crate::durable::sync_file_system(&dir))
    };
    let result = async {
        // The entries on every core, then into the role's map.
        let entries: Vec<tough::schema::Target> = planned
            .par_iter()
            .zip(&ok)
            .map(|(p, c)| tough::schema::Target {
                length: c.length,
                hashes: tough::schema::Hashes {
                    sha256: c.sha256.to_vec().into(),
                    _extra: HashMap::new(),
                },
                custom: {
                    let mut custom = shared_custom.clone();
                    custom.insert(
                        "version".to_string(),
                        serde_json::Value::String(p.version.to_string()),
                    );
                    custom
                },
                _extra: HashMap::new(),
            })
            .collect();
        // The plan is used up here: its names and versions move into the role and the report,
        // the rest is freed before the role is encoded (only the file names stay, in case the
        // copies have to be removed).
        let mut releases = Vec::with_capacity(planned.len());
        role.targets.reserve(planned.len());
        let mut bytes = 0u64;
        for ((p, c), entry) in planned.drain(..).zip(&ok).zip(entries) {
            role.targets.insert(p.key, entry);
            bytes += c.length;
            releases.push(DirRelease {
                target: p.target,
                version: p.version,
                length: c.length,
                sha256: Sha256Hex(c.sha256),
            });
            copied_names.push(p.file_name);
        }
        role.version = role.version.saturating_add(1);
        role.expires = expiry_in_days(config.expiry_days)?;
        let role_version = role.version.get();
        let delegations = targets
            .delegations
            .clone()
            .context("targets.json has no delegations")?;
        // The images are in place; the role that lists them is written last.
        tracing::debug!(elapsed_ms = ms(), "role built");
        let signed = repo
            .sign_role(&opts.product, role, &delegations, &keys)
            .await?;
        tracing::debug!(elapsed_ms = ms(), bytes = signed.len(), "role signed");
        // The copies reach the disk before the role that lists them.
        synced
            .join()
            .map_err(|_| anyhow::anyhow!("syncing {} failed", dest_dir.display()))??;
        crate::durable::write_atomic(&repo.role_path(&opts.product), &signed)?;
        tracing::debug!(elapsed_ms = ms(), "role written");
        Ok::<_, anyhow::Error>(DirReport {
            product: opts.product.clone(),
            role_version,
            bytes,
            releases,
            older_than,
        })
    }
    .await;
    if result.is_err() {
        // the names not moved yet (an error before the role was built), and those that were
        remove_copies(
            &mut planned
                .iter()
                .map(|p| p.file_name.as_str())
                .chain(copied_names.iter().map(String::as_str)),
        );
    }
    crate::repo::drop_in_background((planned, ok, copied_names));
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    /// A repository with product acme-cam and a directory of three releases.
    async fn repo_and_dir(tmp: &Path) -> (Repo, PathBuf) {
        let online = airlock_core::keys::SigningKey::generate();
        let pub_path = tmp.join("online.pub");
        std::fs::write(
            &pub_path,
            airlock_core::keys::public_key_json(&online.tuf_key()),
        )
        .unwrap();
        crate::init::init(&crate::init::InitOptions {
            dir: tmp.join("repo"),
            online_key_file: pub_path,
            root_threshold: 1,
            root_keys: 1,
            targets_threshold: 1,
            targets_keys: 1,
            expiry_days: 30,
        })
        .await
        .unwrap();
        let repo = Repo::open(&tmp.join("repo")).unwrap();
        crate::product::add(
            &repo,
            &crate::product::ProductOptions::new(
                "acme-cam".into(),
                "2025-01-01".parse().unwrap(),
                "2027-06-30".parse().unwrap(),
                "2030-12-31".parse().unwrap(),
            ),
        )
        .await
        .unwrap();
        let dir = tmp.join("out");
        std::fs::create_dir(&dir).unwrap();
        for (i, v) in ["1.0.0", "1.1.0", "1.2.0"].iter().enumerate() {
            std::fs::write(
                dir.join(format!("acme-cam-{v}.bin")),
                vec![i as u8; 300_000 + i],
            )
            .unwrap();
        }
        (repo, dir)
    }

    fn options(dir: &Path) -> DirOptions {
        DirOptions {
            product: "acme-cam".into(),
            dir: dir.to_path_buf(),
            security_version: 1,
            kind: ReleaseKind::Security,
            requires: None,
            released: None,
            advisories: Vec::new(),
            progress: false,
            link: false,
            allow_older: false,
        }
    }

    /// Every file under the repository with its bytes.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let bytes = std::fs::read(&p).unwrap();
                    out.push((p, bytes));
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_directory_is_released_in_one_signing_step() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        let report = add_dir(&repo, &options(&dir)).await.unwrap();
        assert_eq!(report.releases.len(), 3);
        assert_eq!(report.role_version, 2);
        let role = repo.load_role("acme-cam").unwrap().signed;
        assert_eq!(role.targets.len(), 4, "three releases and support.json");
        let (sha, len) =
            crate::digest::sha256_file(&repo.targets_dir().join("acme-cam/acme-cam-1.2.0.bin"))
                .unwrap();
        assert_eq!(len, 300_002);
        assert_eq!(sha, report.releases[2].sha256.to_string());
        assert_eq!(
            serde_json::to_value(&report.releases[2]).unwrap()["sha256"],
            serde_json::json!(sha)
        );
        // the same versions again: refused before anything is copied
        let before = snapshot(&repo.dir);
        let e = format!("{:#}", add_dir(&repo, &options(&dir)).await.unwrap_err());
        assert!(e.contains("already released"), "{e}");
        assert_eq!(snapshot(&repo.dir), before);
    }

    #[tokio::test]
    async fn linked_files_are_the_files_that_were_hashed() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        let opts = DirOptions {
            link: true,
            ..options(&dir)
        };
        let report = add_dir(&repo, &opts).await.unwrap();
        assert_eq!(report.releases.len(), 3);
        let source = std::fs::metadata(dir.join("acme-cam-1.1.0.bin")).unwrap();
        let target =
            std::fs::metadata(repo.targets_dir().join("acme-cam/acme-cam-1.1.0.bin")).unwrap();
        assert_eq!(source.ino(), target.ino());
        assert!(crate::verify::verify_local(&repo)
            .unwrap()
            .problems
            .is_empty());
    }

    #[tokio::test]
    async fn a_file_that_vanishes_while_read_is_named_and_nothing_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        let before = snapshot(&repo.dir);
        let victim = dir.join("acme-cam-1.1.0.bin");
        let hook = |p: &Path| {
            if p == victim {
                std::fs::remove_file(p).unwrap();
            }
        };
        let e = format!(
            "{:#}",
            add_dir_with_read_hook(&repo, &options(&dir), &hook)
                .await
                .unwrap_err()
        );
        assert!(
            e.contains("acme-cam-1.1.0.bin vanished while it was read")
                && e.contains("nothing was added"),
            "{e}"
        );
        assert_eq!(snapshot(&repo.dir), before, "repository unchanged");
    }

    #[tokio::test]
    async fn a_file_that_changes_while_read_is_named_and_nothing_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        let before = snapshot(&repo.dir);
        let victim = dir.join("acme-cam-1.2.0.bin");
        let hook = |p: &Path| {
            if p == victim {
                // still being written by a build
                let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
                f.write_all(b"more").unwrap();
            }
        };
        let e = format!(
            "{:#}",
            add_dir_with_read_hook(&repo, &options(&dir), &hook)
                .await
                .unwrap_err()
        );
        assert!(
            e.contains("acme-cam-1.2.0.bin changed while it was read"),
            "{e}"
        );
        assert_eq!(snapshot(&repo.dir), before, "repository unchanged");
    }

    #[tokio::test]
    async fn the_same_version_twice_in_a_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        std::fs::write(dir.join("acme-cam-1.1.0.img"), b"other image").unwrap();
        let before = snapshot(&repo.dir);
        let e = format!("{:#}", add_dir(&repo, &options(&dir)).await.unwrap_err());
        assert!(
            e.contains("version 1.1.0 is given twice")
                && e.contains("acme-cam-1.1.0.bin")
                && e.contains("acme-cam-1.1.0.img"),
            "{e}"
        );
        assert_eq!(snapshot(&repo.dir), before, "repository unchanged");
    }

    #[tokio::test]
    async fn a_file_left_by_an_interrupted_run_is_replaced_not_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        // An interrupted `--link` run left a hard link to someone's file under a target's name.
        let precious = tmp.path().join("precious.bin");
        std::fs::write(&precious, b"not to be overwritten").unwrap();
        let dest = repo.targets_dir().join("acme-cam");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::hard_link(&precious, dest.join("acme-cam-1.0.0.bin")).unwrap();
        add_dir(&repo, &options(&dir)).await.unwrap();
        assert_eq!(std::fs::read(&precious).unwrap(), b"not to be overwritten");
        assert_eq!(
            std::fs::read(dest.join("acme-cam-1.0.0.bin")).unwrap(),
            std::fs::read(dir.join("acme-cam-1.0.0.bin")).unwrap()
        );
    }

    #[tokio::test]
    async fn a_named_pipe_is_refused_without_waiting_for_a_writer() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        let fifo = dir.join("acme-cam-1.3.0.bin");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let before = snapshot(&repo.dir);
        let e = format!("{:#}", add_dir(&repo, &options(&dir)).await.unwrap_err());
        assert!(
            e.contains("acme-cam-1.3.0.bin is not a regular file"),
            "{e}"
        );
        assert_eq!(snapshot(&repo.dir), before, "repository unchanged");
    }

    #[tokio::test]
    async fn a_file_without_a_version_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, dir) = repo_and_dir(tmp.path()).await;
        std::fs::write(dir.join("notes.txt"), b"x").unwrap();
        let e = format!("{:#}", add_dir(&repo, &options(&dir)).await.unwrap_err());
        assert!(e.contains("notes.txt: no version in the file name"), "{e}");
    }

    #[test]
    fn versions_come_from_file_names() {
        let v = |s: &str| version_from_file_name(s).map(|v| v.to_string());
        assert_eq!(v("acme-cam-1.4.0.bin").as_deref(), Some("1.4.0"));
        assert_eq!(v("fw-2.0.0-rc.1.img").as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(v("fw-3.1.2").as_deref(), Some("3.1.2"));
        assert_eq!(v("acme-cam-v2-10.0.1.tar.gz").as_deref(), Some("10.0.1"));
        assert_eq!(v("fw-1.2.bin"), None);
        assert_eq!(v("fw.bin"), None);
        assert_eq!(v("fw-1.2.0.1.bin"), None);
    }
}
