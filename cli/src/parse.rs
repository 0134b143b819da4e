//! The command line of the three binaries: clap's command with what all three share applied
//! once here, and its parsing with usage errors in the `--json` form.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, CommandFactory};

use crate::failure::{print_error, ErrorClass};

/// Heading of the options every subcommand takes (`--config`, `--json`, ...), apart from the
/// command's own.
pub const GLOBAL_HEADING: &str = "Global options";

/// The binary's clap command as parsed and documented: every on/off flag reads its
/// AIRLOCK_* variable as 1/0, true/false, yes/no, on/off; dates, timestamps, versions and URLs
/// are parsed by [`crate::values`], whose errors name the accepted form; global options are
/// listed under [`GLOBAL_HEADING`].
pub fn command<C: CommandFactory>() -> clap::Command {
    with_install_commands(shared_conventions(C::command()))
}

/// `completions SHELL` and `man DIR`: what a packager or user installs beside the binary
/// (docs/cli.md). Answered here, before the binary's own commands are looked at.
fn with_install_commands(cmd: clap::Command) -> clap::Command {
    let name = cmd.get_name().to_string();
    cmd.subcommand(
        clap::Command::new("completions")
            .about(format!(
                "Print the shell completion script to stdout, e.g. `{name} completions bash > \
                 ~/.local/share/bash-completion/completions/{name}`"
            ))
            .arg(
                clap::Arg::new("shell")
                    .required(true)
                    .value_parser(clap::value_parser!(clap_complete::Shell))
                    .help("The shell: bash, zsh, fish, elvish or powershell"),
            ),
    )
    .subcommand(
        clap::Command::new("man")
            .about(format!(
                "Write the man pages ({name}.1 and one per subcommand) into a directory, e.g. \
                 `{name} man ~/.local/share/man/man1`"
            ))
            .arg(
                clap::Arg::new("dir")
                    .required(true)
                    .value_parser(clap::value_parser!(std::path::PathBuf))
                    .help("Directory to write the pages into (created if missing)"),
            ),
    )
}

/// Answers `completions` and `man`; `None` for the binary's own commands.
fn install_command(
    fresh: fn() -> clap::Command,
    matches: &clap::ArgMatches,
) -> Option<anyhow::Result<()>> {
    use anyhow::Context as _;
    match matches.subcommand() {
        Some(("completions", sub)) => {
            let shell = *sub.get_one::<clap_complete::Shell>("shell")?;
            let mut cmd = fresh();
            let name = cmd.get_name().to_string();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut script);
            Some(write_stdout(&script))
        }
        Some(("man", sub)) => {
            let dir = sub.get_one::<std::path::PathBuf>("dir")?;
            let written = std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(without_help_commands(fresh()), dir))
                .with_context(|| format!("writing man pages into {}", dir.display()));
            Some(written)
        }
        _ => None,
    }
}

fn shared_conventions(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        let arg = if matches!(arg.get_action(), ArgAction::SetTrue) {
            arg.value_parser(BoolishValueParser::new())
        } else if let Some(parser) = crate::values::parser_for(arg.get_value_parser().type_id()) {
            arg.value_parser(parser)
        } else {
            arg
        };
        if arg.is_global_set() {
            arg.help_heading(GLOBAL_HEADING)
        } else {
            arg
        }
    })
    .mut_subcommands(shared_conventions)
}

/// Whether the variable `name` is set to a true value: 1, true, yes, on (any case). Unset,
/// empty, 0, false, no and off are false.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| truthy(&v))
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// `--json` on the command line (before a `--`) or AIRLOCK_JSON: errors are printed as JSON,
/// including those of the command line itself, before clap has parsed it.
pub(crate) fn json_requested(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
        || env_flag("AIRLOCK_JSON")
}

/// `bytes` on stdout; a reader that went away early is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The command without clap's `help` subcommands, which need no man page of their own.
fn without_help_commands(cmd: clap::Command) -> clap::Command {
    cmd.disable_help_subcommand(true)
        .mut_subcommands(without_help_commands)
}

/// Parses `args`. `Err(code)` when the command ended here: a usage error (printed, as JSON
/// with `json`; 2, or 0 for --help and --version), or `completions` / `man` answered.
pub(crate) fn parse<C: clap::Parser>(args: Vec<OsString>, json: bool) -> Result<C, ExitCode> {
    let mut cmd = command::<C>();
    let matches = match cmd.try_get_matches_from_mut(args) {
        Ok(matches) => matches,
        Err(e) => return Err(usage_error(e, json)),
    };
    match install_command(command::<C>, &matches) {
        Some(Ok(())) => return Err(ExitCode::SUCCESS),
        Some(Err(e)) => return Err(crate::failure::report(&e, json)),
        None => {}
    }
    let mut matches = matches;
    C::from_arg_matches_mut(&mut matches).map_err(|e| usage_error(e.format(&mut cmd), json))
}

/// Prints a clap error (as JSON with `json`) and returns its exit code (2; 0 for --help and
/// --version).
fn usage_error(e: clap::Error, json: bool) -> ExitCode {
    if json && e.use_stderr() {
        let text = e.render().to_string();
        let message = text
            .trim()
            .trim_start_matches("error: ")
            .trim_end_matches("For more information, try '--help'.")
            .trim();
        print_error(ErrorClass::Usage, message, true);
        ExitCode::from(ErrorClass::Usage.exit_code())
    } else {
        let _ = e.print();
        ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_variables_take_the_usual_spellings() {
        for yes in ["1", "true", "TRUE", "yes", "on"] {
            assert!(truthy(yes), "{yes}");
        }
        for no in ["", "0", "false", "no", "off", "2"] {
            assert!(!truthy(no), "{no}");
        }
    }

    #[test]
    fn json_is_seen_before_a_double_dash_only() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(json_requested(&args(&["airlock", "status", "--json"])));
        assert!(
            !json_requested(&args(&["airlock", "x", "--", "--json"])) || env_flag("AIRLOCK_JSON")
        );
    }
}
