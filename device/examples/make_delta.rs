//! Makes a zstd patch-from delta as the signer does (`airlock_device::delta::create` at
//! [`airlock_device::delta::LEVEL`]), applies it back with the device's `apply` and prints the
//! delta's length and its percentage of the target's, for measuring a pair without a
//! repository (docs/benchmarks.md).
//!
//!   cargo run -p airlock-device --example make_delta -- SOURCE TARGET [OUT]

use airlock_device::delta;
use sha2::Digest;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (source, target, out) = match &args[..] {
        [s, t] => (s, t, None),
        [s, t, o] => (s, t, Some(o)),
        _ => {
            eprintln!("usage: make_delta SOURCE TARGET [OUT]");
            return std::process::ExitCode::from(2);
        }
    };
    let run = || -> Result<(usize, usize), String> {
        let source = std::fs::read(source).map_err(|e| format!("reading {source}: {e}"))?;
        let target = std::fs::read(target).map_err(|e| format!("reading {target}: {e}"))?;
        let d = delta::create(&source, &target, delta::LEVEL).map_err(|e| e.to_string())?;
        let rebuilt = delta::apply(&source, &d[..], target.len() as u64, std::io::sink())
            .map_err(|e| e.to_string())?;
        let sha256 = hex::encode(sha2::Sha256::digest(&target));
        if rebuilt.length != target.len() as u64 || rebuilt.sha256 != sha256 {
            return Err("the delta does not rebuild the target".into());
        }
        if let Some(out) = out {
            std::fs::write(out, &d).map_err(|e| format!("writing {out}: {e}"))?;
        }
        Ok((d.len(), target.len()))
    };
    match run() {
        Ok((d, t)) => {
            println!("{d} {:.2}%", 100.0 * d as f64 / t.max(1) as f64);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make_delta: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
