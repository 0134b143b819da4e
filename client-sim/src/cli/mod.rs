//! The subcommands of `airlock-sim`: each module owns its arguments, its run and its output
//! (text or `--json`); `main.rs` parses and dispatches. Each returns the exit code.

pub mod attack;
pub mod demo;
pub mod device;
pub mod run;
pub mod soak;
pub mod tls;

/// Prints `value` as JSON (`--json`) or as `render` makes it.
fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    render: impl Fn(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", render(value));
    }
    Ok(())
}
