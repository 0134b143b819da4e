//! Passphrases for encrypted key files and PINs for tokens: where they come from (an
//! environment variable, a file, or a prompt on the terminal — never a command-line argument,
//! which other users can read in the process list) and asking at most once per command.

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

use airlock_core::keys::{KeyError, SigningKey};

/// The variable read when no other source is named.
pub const DEFAULT_ENV: &str = "AIRLOCK_KEY_PASSPHRASE";

/// Where the passphrase of encrypted key files comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PassphraseSource {
    /// `AIRLOCK_KEY_PASSPHRASE` when set, else a prompt when stdin is a terminal.
    #[default]
    Default,
    /// This environment variable (`--passphrase-env NAME`); it must be set.
    Env(String),
    /// The first line of this file (`--passphrase-file FILE`).
    File(PathBuf),
}

impl PassphraseSource {
    fn describe(&self) -> String {
        match self {
            PassphraseSource::Default => format!("${DEFAULT_ENV}"),
            PassphraseSource::Env(name) => format!("${name}"),
            PassphraseSource::File(path) => path.display().to_string(),
        }
    }
}

/// The passphrases of one command: its source, and those typed at the prompt (kept so each
/// is asked once, zeroized when dropped).
pub struct Passphrases {
    source: PassphraseSource,
    interactive: bool,
    typed: Mutex<Vec<Zeroizing<String>>>,
    for_new_keys: Mutex<Option<Zeroizing<String>>>,
}

impl std::fmt::Debug for Passphrases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a passphrase.
        f.debug_struct("Passphrases")
            .field("source", &self.source)
            .field("interactive", &self.interactive)
            .finish_non_exhaustive()
    }
}

impl Default for Passphrases {
    fn default() -> Self {
        Self::new(PassphraseSource::Default)
    }
}

/// The first line of a secret file, without its line ending.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Whether a person can be asked: stdin is a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks on the terminal without echo.
pub fn prompt(question: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(question)
        .map(Zeroizing::new)
        .context("reading from the terminal")
}

/// Reads a secret from a file (first line), e.g. `--passphrase-file` or a PIN file.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let line = first_line(&text);
    if line.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(Zeroizing::new(line.to_string()))
}

impl Passphrases {
    pub fn new(source: PassphraseSource) -> Self {
        Self::with_terminal(source, interactive())
    }

    /// As [`Passphrases::new`], saying whether prompting is possible (tests: never).
    pub fn with_terminal(source: PassphraseSource, interactive: bool) -> Self {
        Passphrases {
            source,
            interactive,
            typed: Mutex::new(Vec::new()),
            for_new_keys: Mutex::new(None),
        }
    }

    /// The passphrase the source gives without asking anyone, if any.
    fn configured(&self) -> Result<Option<Zeroizing<String>>> {
        match &self.source {
            PassphraseSource::Default => Ok(std::env::var(DEFAULT_ENV)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Zeroizing::new)),
            PassphraseSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Some(Zeroizing::new(v))),
                _ => bail!("--passphrase-env {name}: the variable {name} is not set"),
            },
            PassphraseSource::File(path) => read_secret_file(path)
                .map(Some)
                .with_context(|| format!("reading the key passphrase from {}", path.display())),
        }
    }

    fn how_to_give(&self) -> String {
        format!(
            "give its passphrase in ${DEFAULT_ENV}, with --passphrase-file FILE or \
             --passphrase-env NAME, or run airlock in a terminal to be asked (current source: {})",
            self.source.describe()
        )
    }

    /// Decrypts an encrypted key file read from `path`.
    pub fn unlock(&self, path: &Path, pem: &[u8]) -> Result<SigningKey> {
        if let Some(pass) = self.configured()? {
            return match SigningKey::from_encrypted_pkcs8_pem(pem, pass.as_bytes()) {
                Ok(key) => Ok(key),
                Err(KeyError::WrongPassphrase) => bail!(
                    "wrong passphrase for {} (passphrase from {})",
                    path.display(),
                    self.source.describe()
                ),
                Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
            };
        }
        if !self.interactive {
            bail!("{} is encrypted: {}", path.display(), self.how_to_give());
        }
        // One passphrase usually protects every key of a repository: try those typed already.
        {
            let typed = self
                .typed
                .lock()
                .map_err(|_| anyhow::anyhow!("lock poisoned"))?;
            for pass in typed.iter() {
                if let Ok(key) = SigningKey::from_encrypted_pkcs8_pem(pem, pass.as_bytes()) {
                    return Ok(key);
                }
            }
        }
        for _ in 0..3 {
            let pass = prompt(&format!("Passphrase for {}: ", path.display()))?;
            match SigningKey::from_encrypted_pkcs8_pem(pem, pass.as_bytes()) {
                Ok(key) => {
                    self.typed
                        .lock()
                        .map_err(|_| anyhow::anyhow!("lock poisoned"))?
                        .push(pass);
                    return Ok(key);
                }
                Err(KeyError::WrongPassphrase) => eprintln!("wrong passphrase, try again"),
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        }
        bail!("wrong passphrase for {} (3 attempts)", path.display())
    }

    /// The passphrase that protects new key files: the configured one; else the one typed in
    /// this command to unlock the repository's keys (proven right, and one passphrase per
    /// repository is what a key holder remembers); else asked twice on the terminal.
    pub fn for_new_keys(&self) -> Result<Zeroizing<String>> {
        let mut chosen = self
            .for_new_keys
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        if let Some(pass) = chosen.as_ref() {
            return Ok(pass.clone());
        }
        let typed = self
            .typed
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?
            .first()
            .cloned();
        let pass = match (self.configured()?, typed) {
            (Some(pass), _) | (None, Some(pass)) => pass,
            (None, None) if self.interactive => {
                let first = prompt("Passphrase for the new key files: ")?;
                let again = prompt("The same passphrase again: ")?;
                if first != again {
                    bail!("the two passphrases differ; no key was written");
                }
                first
            }
            (None, None) => bail!(
                "--encrypt-keys needs a passphrase: set ${DEFAULT_ENV}, use --passphrase-file \
                 FILE or --passphrase-env NAME, or run airlock in a terminal to be asked"
            ),
        };
        if pass.is_empty() {
            bail!("an empty passphrase protects nothing; no key was written");
        }
        *chosen = Some(pass.clone());
        Ok(pass)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passphrase_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "open sesame\n").unwrap();
        let p = Passphrases::with_terminal(PassphraseSource::File(path.clone()), false);
        assert_eq!(p.for_new_keys().unwrap().as_str(), "open sesame");

        let key = SigningKey::generate();
        let pem = key.to_encrypted_pkcs8_pem(b"open sesame").unwrap();
        let back = p.unlock(Path::new("keys/x.key"), pem.as_bytes()).unwrap();
        assert_eq!(back.key_id().unwrap(), key.key_id().unwrap());
    }

    #[test]
    fn wrong_passphrase_names_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "wrong\n").unwrap();
        let p = Passphrases::with_terminal(PassphraseSource::File(path), false);
        let pem = SigningKey::generate()
            .to_encrypted_pkcs8_pem(b"right")
            .unwrap();
        let err = p
            .unlock(Path::new("repo/keys/targets.key"), pem.as_bytes())
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("wrong passphrase for repo/keys/targets.key"),
            "{err:#}"
        );
    }

    #[test]
    fn no_source_and_no_terminal_explains_how_to_give_one() {
        let p = Passphrases::with_terminal(
            PassphraseSource::Env("AIRLOCK_TEST_UNSET_PASSPHRASE_VARIABLE".into()),
            false,
        );
        let err = p.for_new_keys().unwrap_err();
        assert!(format!("{err:#}").contains("is not set"), "{err:#}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        let p = Passphrases::with_terminal(PassphraseSource::File(empty.path().into()), false);
        assert!(format!("{:#}", p.for_new_keys().unwrap_err()).contains("is empty"));
    }
}
