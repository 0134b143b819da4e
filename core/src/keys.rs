//! Ed25519 keys: generated with ed25519-dalek, stored as PKCS#8 PEM (plain, or encrypted with a
//! passphrase: PBES2 with scrypt and AES-256-CBC, RFC 8018, as `openssl pkcs8` reads it),
//! presented to tough as a signer ([`tough::sign::Sign`]) and key source
//! ([`tough::key_source::KeySource`]).
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
    #[error("the key is encrypted (ENCRYPTED PRIVATE KEY) and needs its passphrase")]
    Encrypted,
    #[error("not an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY PEM): {0}")]
    NotEncryptedPkcs8(String),
    #[error("wrong passphrase (or a damaged key file)")]
    WrongPassphrase,
    #[error("an empty passphrase protects nothing")]
    EmptyPassphrase,
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

    /// Reads a PKCS#8 key, PEM ("PRIVATE KEY") or DER. An encrypted key is refused with
    /// [`KeyError::Encrypted`]: read it with [`SigningKey::from_encrypted_pkcs8_pem`].
    pub fn from_pkcs8(bytes: &[u8]) -> Result<Self, KeyError> {
        if is_encrypted_pkcs8(bytes) {
            return Err(KeyError::Encrypted);
        }
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

    /// Reads an encrypted PKCS#8 PEM key ("ENCRYPTED PRIVATE KEY", PBES2: scrypt or PBKDF2
    /// with AES-CBC, as written by [`SigningKey::to_encrypted_pkcs8_pem`] or OpenSSL).
    pub fn from_encrypted_pkcs8_pem(bytes: &[u8], passphrase: &[u8]) -> Result<Self, KeyError> {
        use pkcs8::der::{Decode, SecretDocument};
        let text = std::str::from_utf8(bytes)
            .map_err(|_| KeyError::NotEncryptedPkcs8("not text".into()))?;
        let (label, doc) = SecretDocument::from_pem(text.trim())
            .map_err(|e| KeyError::NotEncryptedPkcs8(e.to_string()))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(KeyError::NotEncryptedPkcs8(format!(
                "the PEM label is {label:?}"
            )));
        }
        let info = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes())
            .map_err(|e| KeyError::NotEncryptedPkcs8(e.to_string()))?;
        // A wrong passphrase shows as bad CBC padding or, rarely, as padding that happens to
        // be valid around garbage; either way what comes out is not a PrivateKeyInfo.
        let plain = info
            .decrypt(passphrase)
            .map_err(|_| KeyError::WrongPassphrase)?;
        if pkcs8::PrivateKeyInfo::from_der(plain.as_bytes()).is_err() {
            return Err(KeyError::WrongPassphrase);
        }
        let inner = ed25519_dalek::SigningKey::from_pkcs8_der(plain.as_bytes())
            .map_err(|_| KeyError::NotEd25519Pkcs8)?;
        Ok(SigningKey { inner })
    }

    /// Encrypted PKCS#8 PEM text: PBES2 with scrypt and AES-256-CBC, a fresh random salt and
    /// IV each time. The scrypt cost is OpenSSL's (`openssl pkcs8 -scrypt`: N = 2^14, r = 8,
    /// p = 1, 16 MiB): a larger N would be refused by OpenSSL's 32 MiB limit, and a key
    /// holder must be able to check or convert their key with standard tools.
    pub fn to_encrypted_pkcs8_pem(
        &self,
        passphrase: &[u8],
    ) -> Result<zeroize::Zeroizing<String>, KeyError> {
        use pkcs8::der::Decode;
        use pkcs8::pkcs5::{pbes2, scrypt};
        use rand_core::RngCore;
        if passphrase.is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        let encode = |e: &dyn std::fmt::Display| KeyError::Encode(e.to_string());
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut salt);
        rand_core::OsRng.fill_bytes(&mut iv);
        let cost = scrypt::Params::new(14, 8, 1, 32).map_err(|e| encode(&e))?;
        let params =
            pbes2::Parameters::scrypt_aes256cbc(cost, &salt, &iv).map_err(|e| encode(&e))?;
        // PKCS#8 v1 (no embedded public key): OpenSSL 3.0 reads only that form of an Ed25519
        // key; ed25519-dalek's own encoding is v2.
        let der = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.inner.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_der()
        .map_err(|e| encode(&e))?;
        let info = pkcs8::PrivateKeyInfo::from_der(der.as_bytes()).map_err(|e| encode(&e))?;
        info.encrypt_with_params(params, passphrase)
            .map_err(|e| encode(&e))?
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .map_err(|e| encode(&e))
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

/// Whether `bytes` hold an encrypted PKCS#8 PEM key (which needs a passphrase to read).
pub fn is_encrypted_pkcs8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| {
        text.trim_start()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    })
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
    crate::canonical::to_vec(value)
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
    fn encrypted_pem_round_trip_keeps_key_id() {
        let k = SigningKey::generate();
        let pem = k.to_encrypted_pkcs8_pem(b"correct horse").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(is_encrypted_pkcs8(pem.as_bytes()));
        let back = SigningKey::from_encrypted_pkcs8_pem(pem.as_bytes(), b"correct horse").unwrap();
        assert_eq!(back.key_id().unwrap(), k.key_id().unwrap());
        // the same key and passphrase never give the same file (fresh salt and IV)
        let again = k.to_encrypted_pkcs8_pem(b"correct horse").unwrap();
        assert_ne!(*pem, *again);
    }

    #[test]
    fn wrong_passphrase_is_refused() {
        let k = SigningKey::generate();
        let pem = k.to_encrypted_pkcs8_pem(b"correct horse").unwrap();
        for wrong in [&b"correct horsE"[..], b"", b"battery staple"] {
            assert!(matches!(
                SigningKey::from_encrypted_pkcs8_pem(pem.as_bytes(), wrong),
                Err(KeyError::WrongPassphrase)
            ));
        }
    }

    #[test]
    fn encrypted_key_read_without_passphrase_says_so() {
        let pem = SigningKey::generate()
            .to_encrypted_pkcs8_pem(b"pass phrase")
            .unwrap();
        assert!(matches!(
            SigningKey::from_pkcs8(pem.as_bytes()),
            Err(KeyError::Encrypted)
        ));
        let plain = SigningKey::generate().to_pkcs8_pem().unwrap();
        assert!(!is_encrypted_pkcs8(plain.as_bytes()));
        assert!(matches!(
            SigningKey::from_encrypted_pkcs8_pem(plain.as_bytes(), b"pass phrase"),
            Err(KeyError::NotEncryptedPkcs8(_))
        ));
    }

    #[test]
    fn empty_passphrase_is_refused_when_encrypting() {
        assert!(matches!(
            SigningKey::generate().to_encrypted_pkcs8_pem(b""),
            Err(KeyError::EmptyPassphrase)
        ));
    }

    /// `openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:correct-horse` (OpenSSL 3.0:
    /// PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC): a holder may bring a key made with OpenSSL.
    #[test]
    fn openssl_encrypted_key_is_read() {
        const OPENSSL_PEM: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgOcM2ns/1CeQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEL1CIR7CsGQb+Jt0PFwnBLUEQE6I
0uWpBMK2cU2WNZthGM+SW97KbmmOgCEEfsFkRgIaKGlbUJiqcMgiuA6iCSk6h1o1
GKeiOZEs4iutt+dU4LA=
-----END ENCRYPTED PRIVATE KEY-----
";
        let k =
            SigningKey::from_encrypted_pkcs8_pem(OPENSSL_PEM.as_bytes(), b"correct-horse").unwrap();
        assert_eq!(
            hex::encode(k.inner.verifying_key().as_bytes()),
            "db3a2b5204d60d5be470fe64ea8d7e948eb37071997f08a48f9e2dfb7b3b3c7a"
        );
        assert!(matches!(
            SigningKey::from_encrypted_pkcs8_pem(OPENSSL_PEM.as_bytes(), b"correct-hors"),
            Err(KeyError::WrongPassphrase)
        ));
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
