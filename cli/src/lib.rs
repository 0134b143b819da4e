//! What the three binaries (`airlock`, `airlock-server`, `airlock-sim`) share around their
//! command lines: config files, logging, the async runtime, the exit code and progress bars.

use anyhow::Context as _;

pub mod failure;
mod parse;
pub mod values;

pub use failure::{ErrorClass, Failure, HttpRefusal};
pub use parse::{command, env_flag};

/// The whole `main` of a binary: the config file ([`apply_config_file`]), the command line
/// ([`command`]: boolean variables take 1/0/yes/no too, global options under their own
/// heading), logging ([`init_logging`] with `default_log`), the runtime ([`runtime`] with the
/// `worker_threads` the command line asks for), then `run`. `Ok(code)` is the exit code; an
/// error is printed as one line, `error: what was being done: why` (with `--json` or
/// AIRLOCK_JSON: `{"error": class, "message": ...}`), and exits with its class's code
/// ([`failure`]). Output to a closed pipe (`airlock status --json | head -1`) ends the
/// process quietly instead of panicking.
pub fn main<C, F>(
    default_log: &str,
    worker_threads: impl FnOnce(&C) -> Option<usize>,
    run: impl FnOnce(C) -> F,
) -> std::process::ExitCode
where
    C: clap::Parser,
    F: std::future::Future<Output = anyhow::Result<u8>>,
{
    exit_quietly_on_broken_pipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Err(e) = apply_config_file::<C>() {
        return failure::report(&e, parse::json_requested(&args));
    }
    // After the config file: it may set AIRLOCK_JSON.
    let json = parse::json_requested(&args);
    let cli = match parse::parse::<C>(args, json) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(default_log);
    let runtime = match runtime(worker_threads(&cli)) {
        Ok(rt) => rt,
        Err(e) => return failure::report(&e, json),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => failure::report(&e, json),
    }
}

/// Rust ignores SIGPIPE, so `println!` to a reader that went away (`| head -1`) panics; the
/// reader chose to stop reading, so the command ends quietly with 0 (as ripgrep does).
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // std's print macros: "failed printing to stdout: Broken pipe (os error 32)".
        if message.starts_with("failed printing to std") && message.contains("(os error 32)") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// `--config FILE` (or AIRLOCK_CONFIG): a TOML file of flag settings; each becomes the flag's
/// AIRLOCK_* variable unless already set (flag > environment > file). Call before parsing.
pub fn apply_config_file<C: clap::CommandFactory>() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = airlock_core::config::config_path_from_args(&args)
        .or_else(|| std::env::var("AIRLOCK_CONFIG").ok())
    else {
        return Ok(());
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading config file {path}"))?;
    let mut known = Vec::new();
    collect_envs(&C::command(), &mut known);
    let settings = airlock_core::config::env_assignments(&text, &known)
        .with_context(|| format!("config file {path}"))?;
    for (var, value) in settings {
        if std::env::var_os(&var).is_none() {
            // Single-threaded here: called before the runtime starts.
            std::env::set_var(var, value);
        }
    }
    Ok(())
}

fn collect_envs(cmd: &clap::Command, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        if let Some(env) = arg.get_env() {
            out.push(env.to_string_lossy().into_owned());
        }
    }
    for sub in cmd.get_subcommands() {
        collect_envs(sub, out);
    }
}

/// Logs to stderr with `tracing`; the filter comes from AIRLOCK_LOG or `default`, and
/// `AIRLOCK_LOG_FORMAT=json` writes one JSON object per line (with the span fields, e.g. the
/// request id) for log collectors. Colours only on a terminal ([`log_colours`]).
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colours = log_colours(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    if std::env::var("AIRLOCK_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// Whether log lines carry ANSI colour codes: only when stderr is a terminal (a log file or a
/// collector would store the escape codes) and NO_COLOR (no-color.org) is unset or empty.
pub fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The multi-threaded tokio runtime (`worker_threads` = one per core when `None`).
pub fn runtime(worker_threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n.max(1));
    }
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A progress bar on stderr up to `len`, drawn with `template` (indicatif's syntax); hidden
/// when `show` is false (JSON output, or stderr is not a terminal).
pub fn progress_bar(show: bool, len: u64, template: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::log_colours;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        let set = Some(std::ffi::OsStr::new("1"));
        let empty = Some(std::ffi::OsStr::new(""));
        assert!(log_colours(true, None));
        assert!(log_colours(true, empty), "an empty NO_COLOR does not count");
        assert!(!log_colours(true, set));
        assert!(
            !log_colours(false, None),
            "a file or a pipe gets no escape codes"
        );
        assert!(!log_colours(false, set));
    }
}
