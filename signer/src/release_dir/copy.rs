//! The files of `release add --from-dir` brought into the repository: copied (hashed on the
//! way) or hard-linked, each refused when it changes or vanishes while it is read.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A file copied into the repository, with its digest.
pub(super) struct Copied {
    pub(super) length: u64,
    pub(super) sha256: [u8; 32],
}

/// The source directory and the product's target directory, opened once: each file is opened
/// by its name relative to them, without walking the whole path again per file (at 100k small
/// files the path walks were a fifth of the kernel's work).
pub(super) struct Dirs {
    source: std::os::fd::OwnedFd,
    dest: std::os::fd::OwnedFd,
    dest_path: PathBuf,
}

impl Dirs {
    pub(super) fn open(source: &Path, dest: &Path) -> Result<Dirs> {
        use rustix::fs::{Mode, OFlags};
        let open = |dir: &Path| {
            rustix::fs::open(
                dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(std::io::Error::from)
            .with_context(|| format!("opening {}", dir.display()))
        };
        Ok(Dirs {
            source: open(source)?,
            dest: open(dest)?,
            dest_path: dest.to_path_buf(),
        })
    }
}

/// The identity and state of a file when it was opened, compared again once it is read.
fn same_state(a: &rustix::fs::Stat, b: &rustix::fs::Stat) -> bool {
    a.st_ino == b.st_ino
        && a.st_dev == b.st_dev
        && a.st_size == b.st_size
        && a.st_mtime == b.st_mtime
        && a.st_mtime_nsec == b.st_mtime_nsec
}

/// Copies the file `name` of the source directory to the same name in the target directory and
/// hashes the bytes on the way; refuses a file that vanishes or changes meanwhile (deleted or
/// replaced, other length or modification time than when it was opened). `source` is its path,
/// for messages and the test hook.
pub(super) fn copy_and_hash(
    dirs: &Dirs,
    name: &str,
    source: &Path,
    link: bool,
    buf: &mut [u8],
    before_read: &(dyn Fn(&Path) + Sync),
) -> Result<Copied> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    use sha2::{Digest, Sha256};
    let dest = || dirs.dest_path.join(name);
    let vanished = |e: rustix::io::Errno, when: &str| -> anyhow::Error {
        if e == rustix::io::Errno::NOENT {
            anyhow::anyhow!("{} vanished {when}", source.display())
        } else {
            anyhow::Error::new(std::io::Error::from(e))
                .context(format!("reading {}", source.display()))
        }
    };
    // NONBLOCK: a named pipe in the directory is refused below instead of waiting for a writer
    let input = rustix::fs::openat(
        &dirs.source,
        name,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| vanished(e, "before it was read"))?;
    let opened = rustix::fs::fstat(&input).map_err(|e| vanished(e, "before it was read"))?;
    if rustix::fs::FileType::from_raw_mode(opened.st_mode) != rustix::fs::FileType::RegularFile {
        bail!(
            "{} is not a regular file: --from-dir releases files",
            source.display()
        );
    }
    let opened_len = u64::try_from(opened.st_size).unwrap_or_default();
    before_read(source);
    let linked = link && hard_link(dirs, name, source, &opened)?;
    let out = if linked {
        None
    } else {
        // Always a new file: one left by an interrupted run (which no metadata lists) is
        // unlinked first, never truncated, since it may be a hard link to someone's file.
        let create = || {
            rustix::fs::openat(
                &dirs.dest,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_bits_truncate(0o666),
            )
        };
        let mut created = create();
        if created.as_ref().err() == Some(&rustix::io::Errno::EXIST) {
            let _ = rustix::fs::unlinkat(&dirs.dest, name, AtFlags::empty());
            created = create();
        }
        Some(
            created
                .map_err(std::io::Error::from)
                .with_context(|| format!("creating {}", dest().display()))?,
        )
    };
    let mut input = std::fs::File::from(input);
    let mut out = out.map(std::fs::File::from);
    let mut hasher = Sha256::new();
    let mut length = 0u64;
    loop {
        let n = input
            .read(buf)
            .with_context(|| format!("reading {}", source.display()))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        if let Some(out) = out.as_mut() {
            out.write_all(chunk)
                .with_context(|| format!("writing {}", dest().display()))?;
        }
        length += n as u64;
        // A regular file that returned less than asked is at its end: no read just to see 0
        // (one system call in nine per small file). Growth after this point shows in the
        // length and time compared below.
        if n < buf.len() && length == opened_len {
            break;
        }
    }
    drop(out);
    // The open file itself, not its path again: deleted (or replaced by a rename) meanwhile, it
    // has no link left; written to, its length or time moved.
    let now = rustix::fs::fstat(&input)
        .map_err(std::io::Error::from)
        .with_context(|| format!("reading {}", source.display()))?;
    if now.st_nlink == 0 {
        bail!("{} vanished while it was read", source.display());
    }
    if !same_state(&opened, &now) || length != opened_len {
        bail!(
            "{} changed while it was read ({} bytes when opened, {} read, {} now): nothing was added; \
             add it again once it is complete",
            source.display(),
            opened_len,
            length,
            now.st_size
        );
    }
    if linked {
        // a link must be to the very file that was read
        let d = rustix::fs::statat(&dirs.dest, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(std::io::Error::from)
            .with_context(|| format!("reading {}", dest().display()))?;
        if d.st_ino != opened.st_ino || d.st_dev != opened.st_dev {
            bail!(
                "{} changed while it was linked: nothing was added; add it again once it is complete",
                source.display()
            );
        }
    }
    Ok(Copied {
        length,
        sha256: hasher.finalize().into(),
    })
}

/// Hard-links the file `name` of the source directory into the target directory; false when it
/// has to be copied instead (a symbolic link, whose link would not be the file, or another file
/// system).
fn hard_link(dirs: &Dirs, name: &str, source: &Path, opened: &rustix::fs::Stat) -> Result<bool> {
    use rustix::fs::{AtFlags, FileType};
    use rustix::io::Errno;
    let entry = rustix::fs::statat(&dirs.source, name, AtFlags::SYMLINK_NOFOLLOW);
    if entry.is_ok_and(|m| FileType::from_raw_mode(m.st_mode) == FileType::Symlink) {
        return Ok(false);
    }
    // Not the file that was opened any more: copy what was opened (the checks after reading
    // compare it again).
    if entry.is_ok_and(|m| m.st_ino != opened.st_ino) {
        return Ok(false);
    }
    let link = || rustix::fs::linkat(&dirs.source, name, &dirs.dest, name, AtFlags::empty());
    let mut result = link();
    if result == Err(Errno::EXIST) {
        // A file of that name that no metadata lists (left by an interrupted run) is replaced.
        let _ = rustix::fs::unlinkat(&dirs.dest, name, AtFlags::empty());
        result = link();
    }
    match result {
        Ok(()) => Ok(true),
        Err(Errno::XDEV) => Ok(false),
        Err(e) => Err(anyhow::Error::new(std::io::Error::from(e)).context(format!(
            "linking {} as {}",
            source.display(),
            dirs.dest_path.join(name).display()
        ))),
    }
}
