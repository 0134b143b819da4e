//! The subcommands of `airlock-sim`: each module owns its arguments, its run and its output
//! (text or `--json`); `main.rs` parses and dispatches. Each returns the exit code.

pub mod attack;
pub mod demo;
pub mod device;
pub mod run;
