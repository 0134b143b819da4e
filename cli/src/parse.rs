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
    shared_conventions(C::command())
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

/// Parses `args`; on a usage error prints it (as JSON with `json`) and returns its exit code
/// (2; 0 for --help and --version, which clap prints).
pub(crate) fn parse<C: clap::Parser>(args: Vec<OsString>, json: bool) -> Result<C, ExitCode> {
    let mut cmd = command::<C>();
    let parsed = cmd
        .try_get_matches_from_mut(args)
        .and_then(|mut matches| C::from_arg_matches_mut(&mut matches))
        .map_err(|e| e.format(&mut cmd));
    parsed.map_err(|e| {
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
    })
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
