//! Applies a delta as the device does (`airlock_device::delta::apply_signed`): reads the
//! installed image whole, rebuilds into a file with the full target's length as the bound, and
//! prints the rebuilt image's length and sha256. For scripts/bench-deltas, which measures its
//! time and peak memory with /usr/bin/time (docs/benchmarks.md).
//!
//!   cargo run -p airlock-device --example apply_delta -- ALGORITHM SOURCE DELTA OUT LIMIT

use std::io::Write;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [algorithm, source, delta, out, limit] = &args[..] else {
        eprintln!("usage: apply_delta ALGORITHM SOURCE DELTA OUT LIMIT");
        return std::process::ExitCode::from(2);
    };
    let run = || -> Result<airlock_device::delta::Rebuilt, String> {
        let limit: u64 = limit.parse().map_err(|e| format!("LIMIT: {e}"))?;
        let source = std::fs::read(source).map_err(|e| format!("reading {source}: {e}"))?;
        let file = std::fs::File::create(out).map_err(|e| format!("writing {out}: {e}"))?;
        let mut writer = std::io::BufWriter::new(file);
        let rebuilt = airlock_device::delta::apply_signed(
            algorithm,
            &source,
            std::path::Path::new(delta),
            limit,
            &mut writer,
        )?;
        writer.flush().map_err(|e| format!("writing {out}: {e}"))?;
        Ok(rebuilt)
    };
    match run() {
        Ok(r) => {
            println!("{} {}", r.length, r.sha256);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("apply_delta: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
