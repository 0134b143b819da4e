//! The keys a role signs with, wherever they are held: a PKCS#8 file in keys/ (plain or
//! encrypted with a passphrase) or a private key on a PKCS#11 token, named in its key file
//! by a `pkcs11:` URI instead of a PEM. All of them sign through one type, [`RoleKey`], which
//! tough sees as a [`tough::sign::Sign`] and [`tough::key_source::KeySource`].

use anyhow::{Context, Result};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use tough::schema::key::Key;

use airlock_core::keys::{
    canonical_json, is_encrypted_pkcs8, key_id_hex, public_tuf_key, SigningKey,
};

use crate::passphrase::{PassphraseSource, Passphrases};
use crate::pkcs11::{self, TokenKey, TokenUri};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A key a role signs with.
// A command holds a handful of keys: boxing the in-memory one would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum RoleKey {
    /// In memory, read from a key file (or just generated).
    File(SigningKey),
    /// On a PKCS#11 token.
    Token(Arc<TokenKey>),
}

impl From<SigningKey> for RoleKey {
    fn from(key: SigningKey) -> Self {
        RoleKey::File(key)
    }
}

impl RoleKey {
    /// The public half as a TUF key.
    pub fn tuf_key(&self) -> Key {
        match self {
            RoleKey::File(k) => k.tuf_key(),
            RoleKey::Token(t) => public_tuf_key(t.public_key()),
        }
    }

    /// The TUF key id (hex).
    pub fn key_id(&self) -> Result<String> {
        Ok(key_id_hex(&self.tuf_key())?)
    }

    /// A raw Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        match self {
            RoleKey::File(k) => Ok(k.sign_bytes(msg)),
            RoleKey::Token(t) => t.sign(msg),
        }
    }

    /// Where the key is held, for reports: "file" or the (redacted) token URI.
    pub fn held_in(&self) -> String {
        match self {
            RoleKey::File(_) => "file".into(),
            RoleKey::Token(t) => t.uri().redacted(),
        }
    }
}

#[async_trait]
impl tough::sign::Sign for RoleKey {
    fn tuf_key(&self) -> Key {
        RoleKey::tuf_key(self)
    }

    async fn sign(
        &self,
        msg: &[u8],
        _rng: &(dyn aws_lc_rs::rand::SecureRandom + Sync),
    ) -> Result<Vec<u8>, BoxError> {
        RoleKey::sign(self, msg).map_err(|e| format!("{e:#}").into())
    }
}

#[async_trait]
impl tough::key_source::KeySource for RoleKey {
    async fn as_sign(&self) -> Result<Box<dyn tough::sign::Sign>, BoxError> {
        Ok(Box::new(self.clone()))
    }

    async fn write(&self, _value: &str, _key_id_hex: &str) -> Result<(), BoxError> {
        Err("airlock keys are written by airlock, not through tough".into())
    }
}

/// Boxes keys as tough key sources.
pub fn key_sources(keys: &[RoleKey]) -> Vec<Box<dyn tough::key_source::KeySource>> {
    keys.iter()
        .map(|k| Box::new(k.clone()) as Box<dyn tough::key_source::KeySource>)
        .collect()
}

/// Adds `key`'s signature over the canonical form of `signed.signed` (multi-holder signing);
/// refuses to sign twice with one key.
pub fn add_signature<T: serde::Serialize>(
    signed: &mut tough::schema::Signed<T>,
    key: &RoleKey,
) -> Result<String> {
    let id = key.key_id()?;
    if signed
        .signatures
        .iter()
        .any(|s| hex::encode(&*s.keyid) == id)
    {
        anyhow::bail!("key {id} has already signed this");
    }
    let data = canonical_json(&signed.signed).context("encoding the metadata to sign")?;
    signed.signatures.push(tough::schema::Signature {
        keyid: hex::decode(&id).context("decoding a key id")?.into(),
        sig: key.sign(&data)?.into(),
    });
    Ok(id)
}

/// How one command reaches private keys: the passphrases of encrypted key files (asked at most
/// once) and whether the keys it creates are written encrypted.
#[derive(Debug, Clone, Default)]
pub struct KeyAccess {
    pub passphrases: Arc<Passphrases>,
    /// Write new key files encrypted (`--encrypt-keys`; a repository made with it keeps doing
    /// so through `encrypt_keys` in airlock.json).
    pub encrypt_new: bool,
}

impl KeyAccess {
    pub fn new(source: PassphraseSource, encrypt_new: bool) -> Self {
        KeyAccess {
            passphrases: Arc::new(Passphrases::new(source)),
            encrypt_new,
        }
    }

    /// Reads a key file: PKCS#8 PEM or DER, encrypted PKCS#8 PEM (decrypted with the
    /// passphrase), or a `pkcs11:` URI naming a key on a token.
    pub fn read_key_file(&self, path: &Path) -> Result<RoleKey> {
        let bytes = zeroize::Zeroizing::new(
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        );
        if let Some(uri) = std::str::from_utf8(&bytes)
            .ok()
            .filter(|t| TokenUri::is_uri(t))
        {
            let uri =
                TokenUri::parse(uri).with_context(|| format!("reading {}", path.display()))?;
            let key = pkcs11::open(&uri)
                .with_context(|| format!("opening the token key named in {}", path.display()))?;
            return Ok(RoleKey::Token(key));
        }
        if is_encrypted_pkcs8(&bytes) {
            return Ok(RoleKey::File(self.passphrases.unlock(path, &bytes)?));
        }
        Ok(RoleKey::File(
            SigningKey::from_pkcs8(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
        ))
    }

    /// A key given on the command line (`--key`): a `pkcs11:` URI or a key file.
    pub fn read_key_ref(&self, reference: &str) -> Result<RoleKey> {
        if TokenUri::is_uri(reference) {
            let uri = TokenUri::parse(reference)?;
            return Ok(RoleKey::Token(
                pkcs11::open(&uri).with_context(|| format!("opening the token key {uri}"))?,
            ));
        }
        self.read_key_file(Path::new(reference))
    }

    /// The text of a new key file for `key`: encrypted PKCS#8 PEM when `encrypt`, else plain.
    pub fn key_file_text(
        &self,
        key: &SigningKey,
        encrypt: bool,
    ) -> Result<zeroize::Zeroizing<String>> {
        if encrypt {
            let pass = self.passphrases.for_new_keys()?;
            Ok(key.to_encrypted_pkcs8_pem(pass.as_bytes())?)
        } else {
            Ok(key.to_pkcs8_pem()?)
        }
    }
}

/// Opens the token keys named on a command line (`--root-key`, `--key` ...).
pub fn open_token_keys(uris: &[TokenUri]) -> Result<Vec<RoleKey>> {
    uris.iter()
        .map(|uri| {
            pkcs11::open(uri)
                .map(RoleKey::Token)
                .with_context(|| format!("opening the token key {uri}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::passphrase::PassphraseSource;

    fn access(pass: &str, dir: &Path) -> KeyAccess {
        let path = dir.join("passphrase");
        std::fs::write(&path, format!("{pass}\n")).unwrap();
        KeyAccess {
            passphrases: Arc::new(Passphrases::with_terminal(
                PassphraseSource::File(path),
                false,
            )),
            encrypt_new: true,
        }
    }

    #[test]
    fn encrypted_key_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let a = access("hunter2 but longer", dir.path());
        let key = SigningKey::generate();
        let text = a.key_file_text(&key, true).unwrap();
        let path = dir.path().join("targets.key");
        std::fs::write(&path, text.as_bytes()).unwrap();
        let back = a.read_key_file(&path).unwrap();
        assert_eq!(back.key_id().unwrap(), key.key_id().unwrap());
        assert!(matches!(back, RoleKey::File(_)));

        let elsewhere = dir.path().join("other");
        std::fs::create_dir(&elsewhere).unwrap();
        let other = access("not it", &elsewhere);
        let err = format!("{:#}", other.read_key_file(&path).unwrap_err());
        assert!(
            err.contains("wrong passphrase for") && err.contains("targets.key"),
            "{err}"
        );
    }

    #[test]
    fn plain_key_file_needs_no_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let path = dir.path().join("p.key");
        std::fs::write(&path, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        let a = KeyAccess {
            passphrases: Arc::new(Passphrases::with_terminal(
                PassphraseSource::Env("AIRLOCK_TEST_UNSET_PASSPHRASE_VARIABLE".into()),
                false,
            )),
            encrypt_new: false,
        };
        assert_eq!(
            a.read_key_file(&path).unwrap().key_id().unwrap(),
            key.key_id().unwrap()
        );
    }

    #[test]
    fn role_key_signatures_verify_through_add_signature() {
        let key = RoleKey::from(SigningKey::generate());
        let mut signed = tough::schema::Signed {
            signed: serde_json::json!({"a": 1}),
            signatures: Vec::new(),
        };
        add_signature(&mut signed, &key).unwrap();
        assert!(add_signature(&mut signed, &key).is_err());
        assert_eq!(signed.signatures.len(), 1);
    }

    #[test]
    fn bad_token_uri_in_a_key_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme-cam.key");
        std::fs::write(&path, "pkcs11:token=airlock\n").unwrap();
        let err = format!(
            "{:#}",
            KeyAccess::default().read_key_file(&path).unwrap_err()
        );
        assert!(
            err.contains("acme-cam.key") && err.contains("names no key"),
            "{err}"
        );
    }
}
