//! Ed25519 keys: generated with ed25519-dalek, stored as PKCS#8 PEM, presented to tough as a
//! signer ([`tough::sign::Sign`]) and key source ([`tough::key_source::KeySource`]).
//!
//! This module never touches the filesystem; callers read and write the PEM text.

use async_trait::async_trait;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::Signer as _;
use std::collections::HashMap;
use thiserror::Error;
use tough::schema::key::{Ed25519Key, Ed25519Scheme, Key};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("not an Ed25519 private key in PKCS#8 PEM or DER form")]
    NotEd25519Pkcs8,
    #[error("cannot encode the key as PKCS#8: {0}")]
    Encode(String),
    #[error("not a TUF public key in JSON form: {0}")]
    BadPublicKey(String),
    #[error("only ed25519 keys are supported here, found a {0} key")]
    UnsupportedKeyType(String),
    #[error("cannot compute the key id: {0}")]
    KeyId(String),
    #[error("key {0} has already signed this")]
    AlreadySigned(String),
}

/// An Ed25519 signing key.
#[derive(Clone)]
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field(
                "public",
                &hex::encode(self.inner.verifying_key().as_bytes()),
            )
            .finish()
    }
}

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        SigningKey {
            inner: ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng),
        }
    }

    /// Reads a PKCS#8 key, PEM ("PRIVATE KEY") or DER.
    pub fn from_pkcs8(bytes: &[u8]) -> Result<Self, KeyError> {
        let inner = match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                ed25519_dalek::SigningKey::from_pkcs8_pem(text.trim())
            }
            _ => ed25519_dalek::SigningKey::from_pkcs8_der(bytes),
        }
        .map_err(|_| KeyError::NotEd25519Pkcs8)?;
        Ok(SigningKey { inner })
    }

    /// PKCS#8 PEM text (zeroized when dropped).
    pub fn to_pkcs8_pem(&self) -> Result<zeroize::Zeroizing<String>, KeyError> {
        self.inner
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The public half as a TUF key.
    pub fn tuf_key(&self) -> Key {
        public_tuf_key(self.inner.verifying_key().as_bytes())
    }

    /// The TUF key id (hex sha256 of the canonical JSON of the public key).
    pub fn key_id(&self) -> Result<String, KeyError> {
        key_id_hex(&self.tuf_key())
    }

    /// Signs `msg` (raw Ed25519, as TUF's `ed25519` scheme).
    pub fn sign_bytes(&self, msg: &[u8]) -> Vec<u8> {
        self.inner.sign(msg).to_bytes().to_vec()
    }
}

/// A TUF ed25519 key from raw public key bytes.
pub fn public_tuf_key(public: &[u8]) -> Key {
    Key::Ed25519 {
        keyval: Ed25519Key {
            public: public.to_vec().into(),
            _extra: HashMap::new(),
        },
        scheme: Ed25519Scheme::Ed25519,
        _extra: HashMap::new(),
    }
}

/// The hex key id of a TUF key.
pub fn key_id_hex(key: &Key) -> Result<String, KeyError> {
    key.key_id()
        .map(|id| hex::encode(&*id))
        .map_err(|e| KeyError::KeyId(e.to_string()))
}

/// Parses a public key file: the TUF key JSON (`{"keytype": "ed25519", "scheme": "ed25519",
/// "keyval": {"public": HEX}}`), as `airlock-server init` writes it.
pub fn parse_public_key(bytes: &[u8]) -> Result<Key, KeyError> {
    let key: Key =
        serde_json::from_slice(bytes).map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
    match &key {
        Key::Ed25519 { .. } => Ok(key),
        Key::Rsa { .. } => Err(KeyError::UnsupportedKeyType("rsa".into())),
        _ => Err(KeyError::UnsupportedKeyType("ecdsa".into())),
    }
}

/// The JSON text of a public key file.
pub fn public_key_json(key: &Key) -> String {
    serde_json::to_string_pretty(key).unwrap_or_default() + "\n"
}

#[async_trait]
impl tough::sign::Sign for SigningKey {
    fn tuf_key(&self) -> Key {
        SigningKey::tuf_key(self)
    }

    async fn sign(
        &self,
        msg: &[u8],
        _rng: &(dyn aws_lc_rs::rand::SecureRandom + Sync),
    ) -> Result<Vec<u8>, BoxError> {
        Ok(self.sign_bytes(msg))
    }
}

#[async_trait]
impl tough::key_source::KeySource for SigningKey {
    async fn as_sign(&self) -> Result<Box<dyn tough::sign::Sign>, BoxError> {
        Ok(Box::new(self.clone()))
    }

    async fn write(&self, _value: &str, _key_id_hex: &str) -> Result<(), BoxError> {
        Err("airlock keys are written by airlock, not through tough".into())
    }
}

/// Boxes keys as tough key sources.
pub fn key_sources(keys: &[SigningKey]) -> Vec<Box<dyn tough::key_source::KeySource>> {
    keys.iter()
        .map(|k| Box::new(k.clone()) as Box<dyn tough::key_source::KeySource>)
        .collect()
}

/// The canonical JSON (OLPC, as TUF signs it) of a value.
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Adds `key`'s signature over the canonical form of `signed.signed` (multi-holder signing:
/// each holder adds theirs); refuses to sign twice with one key.
pub fn add_signature<T: serde::Serialize>(
    signed: &mut tough::schema::Signed<T>,
    key: &SigningKey,
) -> Result<String, KeyError> {
    let id = key.key_id()?;
    if signed
        .signatures
        .iter()
        .any(|s| hex::encode(&*s.keyid) == id)
    {
        return Err(KeyError::AlreadySigned(id));
    }
    let data = canonical_json(&signed.signed).map_err(|e| KeyError::Encode(e.to_string()))?;
    signed.signatures.push(tough::schema::Signature {
        keyid: hex::decode(&id)
            .map_err(|e| KeyError::KeyId(e.to_string()))?
            .into(),
        sig: key.sign_bytes(&data).into(),
    });
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_key_id() {
        let k = SigningKey::generate();
        let pem = k.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = SigningKey::from_pkcs8(pem.as_bytes()).unwrap();
        assert_eq!(back.key_id().unwrap(), k.key_id().unwrap());
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(SigningKey::from_pkcs8(b"hello").is_err());
        assert!(SigningKey::from_pkcs8(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        )
        .is_err());
    }

    #[test]
    fn public_key_json_round_trip() {
        let k = SigningKey::generate();
        let text = public_key_json(&k.tuf_key());
        let parsed = parse_public_key(text.as_bytes()).unwrap();
        assert_eq!(key_id_hex(&parsed).unwrap(), k.key_id().unwrap());
        assert!(parse_public_key(b"{}").is_err());
    }

    #[test]
    fn signatures_verify() {
        let k = SigningKey::generate();
        let sig = k.sign_bytes(b"msg");
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        let public = k.inner.verifying_key();
        assert!(public.verify_strict(b"msg", &sig).is_ok());
        assert!(public.verify_strict(b"other", &sig).is_err());
    }
}
