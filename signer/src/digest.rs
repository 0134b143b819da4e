//! sha256 of files as they are on disk (targets, uploads, verification).

use anyhow::{Context, Result};
use std::path::Path;

/// Streams a file through sha256; returns (hex digest, length).
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    thread_local! {
        // One read buffer per thread: a fresh 256 KiB buffer per file is an mmap and munmap
        // each, which dominates hashing 100k small files.
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 * 1024]);
    }
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    BUF.with_borrow_mut(|buf| -> Result<()> {
        loop {
            let n = f
                .read(buf)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                return Ok(());
            }
            hasher.update(buf.get(..n).unwrap_or_default());
            len += n as u64;
        }
    })?;
    Ok((hex::encode(hasher.finalize()), len))
}
