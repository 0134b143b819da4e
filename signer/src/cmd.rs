//! The commands of the `airlock` binary: one module per command group (as tuftool), each
//! owning its clap arguments, its `run` and its output (text, or JSON with `--json`). This file
//! holds what they share: the global options, option groups used by several commands (the key
//! passphrase of the commands that sign, new keys, staging), and printing.

use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

use airlock_signer::keys::KeyAccess;
use airlock_signer::passphrase::PassphraseSource;
use airlock_signer::repo::Repo;

pub mod advisory;
pub mod audit;
pub mod compliance;
pub mod device;
pub mod enrolment_token;
pub mod incident;
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
}

impl Globals {
    pub fn new(json: bool) -> Self {
        Globals { json }
    }

    /// Opens a repository for a command that reads it and signs nothing (its private keys are
    /// not opened: no passphrase is asked).
    pub fn open(&self, dir: &Path) -> Result<Repo> {
        Repo::open(dir)
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

/// Where the passphrase of encrypted key files comes from: options of the commands that sign
/// (or otherwise open private keys), and of no other.
#[derive(Args)]
pub struct PassphraseArgs {
    /// Environment variable that holds the passphrase of encrypted key files (default:
    /// AIRLOCK_KEY_PASSPHRASE; when unset, airlock asks on the terminal). Takes precedence
    /// over --passphrase-file.
    #[arg(long, value_name = "NAME", env = "AIRLOCK_PASSPHRASE_ENV")]
    passphrase_env: Option<String>,
    /// File whose first line is the passphrase of encrypted key files.
    #[arg(long, value_name = "FILE", env = "AIRLOCK_KEY_PASSPHRASE_FILE")]
    passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    /// How the command reaches private keys: --passphrase-env before --passphrase-file;
    /// neither: AIRLOCK_KEY_PASSPHRASE or the terminal. Made once per command, so a
    /// passphrase is asked at most once.
    pub fn access(&self) -> KeyAccess {
        let source = match (&self.passphrase_env, &self.passphrase_file) {
            (Some(name), _) => PassphraseSource::Env(name.clone()),
            (None, Some(file)) => PassphraseSource::File(file.clone()),
            (None, None) => PassphraseSource::Default,
        };
        KeyAccess::new(source, false)
    }

    /// Opens a repository whose keys the command signs with.
    pub fn open(&self, dir: &Path) -> Result<Repo> {
        Ok(Repo::open(dir)?.with_key_access(self.access()))
    }
}

/// Options of commands that create keys (and sign with them).
#[derive(Args)]
pub struct NewKeyArgs {
    /// Write the new private key files encrypted with a passphrase (PKCS#8, scrypt +
    /// AES-256-CBC); the passphrase comes from --passphrase-env, --passphrase-file,
    /// AIRLOCK_KEY_PASSPHRASE or the terminal.
    #[arg(long, env = "AIRLOCK_ENCRYPT_KEYS")]
    pub encrypt_keys: bool,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

impl NewKeyArgs {
    /// The key access of a command that creates keys (`--encrypt-keys`).
    pub fn access(&self) -> KeyAccess {
        KeyAccess {
            encrypt_new: self.encrypt_keys,
            ..self.passphrase.access()
        }
    }

    /// Opens a repository for a command that creates keys.
    pub fn open(&self, dir: &Path) -> Result<Repo> {
        Ok(Repo::open(dir)?.with_key_access(self.access()))
    }
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
