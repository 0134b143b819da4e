//! keys/ of the repository: which key files belong to a role, loading them (plain, encrypted
//! or naming a token key) and saving new ones (0600, encrypted when the repository says so).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

use airlock_core::keys::SigningKey;

use crate::durable;
use crate::keys::RoleKey;
use crate::pkcs11::TokenUri;

use super::{list_dir, Repo};

impl Repo {
    /// The key files of keys/ that belong to `role` ([`is_role_key_stem`]), as (stem, path),
    /// sorted by name.
    pub fn role_key_files(&self, role: &str) -> Result<Vec<(String, PathBuf)>> {
        let dir = self.keys_dir();
        let mut out = Vec::new();
        if !dir.is_dir() {
            return Ok(out);
        }
        for (name, path) in list_dir(&dir)? {
            if let Some(stem) = name.strip_suffix(".key") {
                if is_role_key_stem(role, stem) && path.is_file() {
                    out.push((stem.to_string(), path));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn key_path(&self, name: &str) -> PathBuf {
        self.keys_dir().join(format!("{name}.key"))
    }

    /// A key held in a file of keys/ (plain or encrypted), e.g. to compare ids; a key on a
    /// token is refused (see [`Repo::load_role_key`]).
    pub fn load_key(&self, name: &str) -> Result<SigningKey> {
        match self.load_role_key(name)? {
            RoleKey::File(key) => Ok(key),
            RoleKey::Token(t) => bail!(
                "the {name} key is held on a token ({}), not in a file",
                t.uri().redacted()
            ),
        }
    }

    /// The key keys/`name`.key holds or names (a file key, or a key on a PKCS#11 token).
    pub fn load_role_key(&self, name: &str) -> Result<RoleKey> {
        let path = self.key_path(name);
        self.key_access
            .read_key_file(&path)
            .with_context(|| format!("reading the {name} key"))
    }

    /// The keys held for a role: `keys/<role>.key` and `keys/<role>.<n>.key` (a role with
    /// several keys). '.' never occurs in a product id, so the names cannot collide.
    pub fn role_keys(&self, role: &str) -> Result<Vec<RoleKey>> {
        let keys = self.held_role_keys(role)?;
        if keys.is_empty() {
            bail!(
                "no key for role {role} in {} (expected {role}.key or {role}.N.key)",
                self.keys_dir().display()
            );
        }
        Ok(keys)
    }

    /// As [`Repo::role_keys`], but none is not an error: the keys of a role whose holders keep
    /// them elsewhere (they sign proposals with `airlock sign`).
    pub fn held_role_keys(&self, role: &str) -> Result<Vec<RoleKey>> {
        let mut keys = Vec::new();
        if self.key_path(role).is_file() {
            keys.push(self.load_role_key(role)?);
        }
        let mut numbered = Vec::new();
        for (name, _) in list_dir(&self.keys_dir())? {
            if let Some(n) = name
                .strip_prefix(&format!("{role}."))
                .and_then(|rest| rest.strip_suffix(".key"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                numbered.push((n, format!("{role}.{n}")));
            }
        }
        numbered.sort();
        for (_, stem) in numbered {
            keys.push(self.load_role_key(&stem)?);
        }
        Ok(keys)
    }

    /// Saves `keys` for a role: `<role>.key` for one key, `<role>.1.key`... for several.
    pub fn save_role_keys(&self, role: &str, keys: &[RoleKey]) -> Result<Vec<PathBuf>> {
        if let [key] = keys {
            return Ok(vec![self.save_role_key(role, key)?]);
        }
        keys.iter()
            .enumerate()
            .map(|(i, k)| self.save_role_key(&format!("{role}.{}", i + 1), k))
            .collect()
    }

    /// Writes keys/`name`.key for a role key: the private key for a file key, the URI for a
    /// key on a token.
    pub fn save_role_key(&self, name: &str, key: &RoleKey) -> Result<PathBuf> {
        match key {
            RoleKey::File(k) => self.save_new_key(name, k),
            RoleKey::Token(t) => self.save_token_key(name, t.uri()),
        }
    }

    /// Whether keys created now are written encrypted: `--encrypt-keys`, or a repository
    /// initialised with it.
    pub fn encrypts_new_keys(&self) -> Result<bool> {
        if self.key_access.encrypt_new {
            return Ok(true);
        }
        if !Self::config_path(&self.dir).is_file() {
            return Ok(false);
        }
        Ok(self.config()?.encrypt_keys)
    }

    /// Gets the passphrase for new key files now, if they will be encrypted, so that a
    /// missing or mistyped passphrase stops a command before it changes anything.
    pub fn prepare_new_keys(&self) -> Result<()> {
        if self.encrypts_new_keys()? {
            self.key_access.passphrases.for_new_keys()?;
        }
        Ok(())
    }

    /// Writes a new private key file (0600, encrypted when [`Repo::encrypts_new_keys`]);
    /// refuses to overwrite one.
    pub fn save_new_key(&self, name: &str, key: &SigningKey) -> Result<PathBuf> {
        let path = self.free_key_path(name)?;
        let pem = self
            .key_access
            .key_file_text(key, self.encrypts_new_keys()?)?;
        durable::write_private(&path, pem.as_bytes())?;
        Ok(path)
    }

    /// keys/`name`.key for a new key; refused when a key file is there already.
    fn free_key_path(&self, name: &str) -> Result<PathBuf> {
        let path = self.key_path(name);
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite a key",
                path.display()
            );
        }
        Ok(path)
    }

    /// Writes keys/`name`.key naming a key on a token (0600: the URI may carry a PIN).
    pub fn save_token_key(&self, name: &str, uri: &TokenUri) -> Result<PathBuf> {
        let path = self.free_key_path(name)?;
        durable::write_private(&path, format!("{}\n", uri.as_str()).as_bytes())?;
        Ok(path)
    }

    /// All root keys held in keys/ (root-N.key), as (file stem, key).
    pub fn root_keys(&self) -> Result<Vec<(String, RoleKey)>> {
        let mut keys = Vec::new();
        for (name, _) in list_dir(&self.keys_dir())? {
            if let Some(stem) = name.strip_suffix(".key") {
                if stem.starts_with("root-") {
                    keys.push((stem.to_string(), self.load_role_key(stem)?));
                }
            }
        }
        Ok(keys)
    }
}

/// Whether keys/`stem`.key holds a key of `role`: `<role>.key` or `<role>.<n>.key` (a role
/// with several keys; '.' never occurs in a product id, so names cannot collide); root keys
/// are `root-<n>.key` (from `init`) or `root-v<version>-<n>.key` (from `root rotate`).
pub fn is_role_key_stem(role: &str, stem: &str) -> bool {
    let numbered = |prefix: String| {
        stem.strip_prefix(&prefix)
            .is_some_and(|n| n.parse::<u32>().is_ok())
    };
    if role == "root" {
        let rotated = stem
            .strip_prefix("root-v")
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(v, n)| v.parse::<u64>().is_ok() && n.parse::<u32>().is_ok());
        return numbered("root-".into()) || rotated;
    }
    stem == role || numbered(format!("{role}."))
}

#[cfg(test)]
mod tests {
    use super::is_role_key_stem;

    #[test]
    fn key_file_names_belong_to_one_role() {
        assert!(is_role_key_stem("acme-cam", "acme-cam"));
        assert!(is_role_key_stem("acme-cam", "acme-cam.2"));
        assert!(is_role_key_stem("targets", "targets.10"));
        assert!(is_role_key_stem("root", "root-1"));
        assert!(is_role_key_stem("root", "root-v2-1"));
        assert!(!is_role_key_stem("root", "root-v2"));
        assert!(!is_role_key_stem("root", "root-vx-1"));
        // another product whose id starts the same, a retired-style name, root's own rules
        assert!(!is_role_key_stem("acme-cam", "acme-cam-2"));
        assert!(!is_role_key_stem("acme-cam", "acme-cam.x"));
        assert!(!is_role_key_stem("acme", "acme-cam"));
        assert!(!is_role_key_stem("root", "root"));
        assert!(!is_role_key_stem("root", "root.1"));
        assert!(!is_role_key_stem("targets", "targets-1"));
    }
}
