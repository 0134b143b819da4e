//! The commands of the `airlock` binary: one module per command group (as tuftool), each
//! owning its clap arguments, its `run` and its output (text, or JSON with `--json`). This file
//! holds what they share: the global options, option groups used by several commands, and
//! printing.

use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

use airlock_signer::keys::KeyAccess;
use airlock_signer::passphrase::PassphraseSource;
use airlock_signer::repo::Repo;

pub mod audit;
pub mod compliance;
pub mod device;
pub mod enrolment_token;
pub mod init;
pub mod product;
pub mod publish;
pub mod release;
pub mod renew;
pub mod rollout;
pub mod root;
pub mod sign;
pub mod status;
pub mod support;
pub mod targets;
pub mod verify;

/// What every command gets from the global options.
pub struct Globals {
    /// `--json`: machine-readable output instead of text.
    pub json: bool,
    /// How key files are opened (passphrase source).
    pub access: KeyAccess,
}

impl Globals {
    /// `passphrase_env` takes precedence over `passphrase_file`; neither: the default source.
    pub fn new(
        json: bool,
        passphrase_env: Option<String>,
        passphrase_file: Option<PathBuf>,
    ) -> Self {
        let source = match (passphrase_env, passphrase_file) {
            (Some(name), _) => PassphraseSource::Env(name),
            (None, Some(file)) => PassphraseSource::File(file),
            (None, None) => PassphraseSource::Default,
        };
        Globals {
            json,
            access: KeyAccess::new(source, false),
        }
    }

    /// Opens a repository; every repository of a command reaches its keys the same way.
    pub fn open(&self, dir: &Path) -> Result<Repo> {
        Ok(Repo::open(dir)?.with_key_access(self.access.clone()))
    }

    /// Opens a repository for a command that creates keys (`--encrypt-keys`).
    pub fn open_creating_keys(&self, dir: &Path, new_keys: &NewKeyArgs) -> Result<Repo> {
        Ok(self.open(dir)?.with_key_access(self.encrypting(new_keys)))
    }

    /// The key access of a command that creates keys (`--encrypt-keys`).
    pub fn encrypting(&self, new_keys: &NewKeyArgs) -> KeyAccess {
        KeyAccess {
            encrypt_new: new_keys.encrypt_keys,
            ..self.access.clone()
        }
    }

    /// A progress bar on stderr: only for text output on a terminal.
    pub fn progress(&self) -> bool {
        !self.json && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    /// Prints `value` as JSON with `--json`, else the text `text` makes.
    pub fn print<T: serde::Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", text());
        }
        Ok(())
    }
}

/// Options of commands that create keys.
#[derive(Args)]
pub struct NewKeyArgs {
    /// Write the new private key files encrypted with a passphrase (PKCS#8, scrypt +
    /// AES-256-CBC); the passphrase comes from --passphrase-env, --passphrase-file,
    /// AIRLOCK_KEY_PASSPHRASE or the terminal.
    #[arg(long, env = "AIRLOCK_ENCRYPT_KEYS")]
    pub encrypt_keys: bool,
}

/// Option of commands that change targets.json.
#[derive(Args)]
pub struct StageArgs {
    /// Stage the change of targets.json for its key holders (`airlock targets propose`, `airlock
    /// sign`, `airlock targets apply`) instead of signing it with the targets keys in REPO/keys.
    /// A change already staged is always joined.
    #[arg(long, env = "AIRLOCK_STAGE_TARGETS")]
    pub stage: bool,
}

/// An error that only sets the exit code (the output was already printed).
#[derive(Debug)]
pub struct ExitWith(pub u8);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for ExitWith {}
