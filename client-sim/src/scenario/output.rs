//! What a run leaves: the files of `--out` (timeline as JSON lines and CSV, samples, summary,
//! charts) and the summary printed on the terminal.

use anyhow::{Context, Result};
use std::path::Path;

use super::chart;
use super::timeline::TimelineEvent;
use super::{Sample, Summary};

pub fn write_outputs(
    out: &Path,
    timeline: &[TimelineEvent],
    samples: &[Sample],
    summary: &Summary,
) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    };
    let mut jsonl = Vec::new();
    for e in timeline {
        serde_json::to_writer(&mut jsonl, e)?;
        jsonl.push(b'\n');
    }
    write("timeline.jsonl", &jsonl)?;
    let mut csv = Vec::new();
    writeln!(csv, "hours,at,device,event,version,detail")?;
    for e in timeline {
        let detail = e.detail.clone().unwrap_or_default().replace('"', "\"\"");
        writeln!(
            csv,
            "{:.3},{},{},{},{},\"{}\"",
            e.hours, e.at, e.device, e.event, e.version, detail
        )?;
    }
    write("timeline.csv", &csv)?;
    write("samples.json", &serde_json::to_vec(samples)?)?;
    write("summary.json", &serde_json::to_vec_pretty(summary)?)?;
    write(
        "versions.svg",
        chart::versions(samples, &summary.name)?.as_bytes(),
    )?;
    write(
        "rollouts.svg",
        chart::rollouts(samples, &summary.name)?.as_bytes(),
    )?;
    write(
        "failures.svg",
        chart::failures(samples, &summary.name)?.as_bytes(),
    )?;
    if summary.wire_bytes.total > 0 {
        write(
            "wire.svg",
            chart::wire(samples, &summary.wire_bytes.per_group, &summary.name)?.as_bytes(),
        )?;
    }
    Ok(())
}

/// The terminal summary.
pub fn render(s: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {:?} (seed {}): {} devices, {:.0} simulated hours in {:.1} s ({} device cycles, {:.0}/s){}",
        s.name,
        s.seed,
        s.devices,
        s.simulated_hours,
        s.wall_seconds,
        s.device_cycles,
        s.cycles_per_second,
        s.peak_rss_mib.map(|m| format!(", peak memory {m:.0} MiB")).unwrap_or_default()
    );
    let _ = writeln!(out, "\n{:<28} {:>8}", "running at the end", "devices");
    for (v, n) in &s.final_versions {
        let _ = writeln!(out, "{v:<28} {n:>8}");
    }
    let _ = writeln!(out, "\n{:<28} {:>8}", "event", "count");
    for (e, n) in &s.events {
        let _ = writeln!(out, "{e:<28} {n:>8}");
    }
    if !s.rollouts.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<24} {:<9} {:>9} {:>7}  reason",
            "rollout", "state", "installed", "failed"
        );
        for r in &s.rollouts {
            let _ = writeln!(
                out,
                "{:<24} {:<9} {:>9} {:>7}  {}",
                format!("{}@{}", r.product, r.version),
                r.state,
                r.installed,
                r.failed,
                r.reason.as_deref().unwrap_or("")
            );
        }
    }
    let w = &s.wire_bytes;
    if w.total > 0 {
        let _ = writeln!(
            out,
            "\n{:<34} {:>7} {:>12} {:>14} {:>6} {:>9}",
            "bytes on the wire", "devices", "bytes", "per install", "delta", "fell back"
        );
        for (group, g) in &w.per_group {
            let _ = writeln!(
                out,
                "{:<34} {:>7} {:>12} {:>14} {:>6} {:>9}",
                group,
                g.devices,
                g.bytes,
                g.bytes_per_install()
                    .map_or_else(|| "-".to_string(), |b| b.to_string()),
                g.delta_installs,
                g.delta_fallbacks
            );
        }
    }
    let _ = writeln!(out);
    for c in &s.checks {
        let _ = writeln!(out, "{} {}", if c.ok { "ok  " } else { "FAIL" }, c.what);
    }
    if let Some(w) = &s.workdir {
        let _ = writeln!(out, "\nworking directory kept: {}", w.display());
    }
    out
}
