//! Device authentication. An operator creates enrolment tokens (per product, or per device);
//! a device enrols once with a token and receives its own credential; check-ins and reports
//! then carry `Authorization: Bearer <credential>`. Only digests of tokens and credentials are
//! stored. `--device-auth open` keeps unauthenticated check-ins for labs and demos.
//! `--device-auth mtls` authenticates devices by their X.509 client certificate instead
//! ([`crate::tls`]): the certificate names the device, and a device id revoked in the state
//! store or a certificate on the CRL is refused.

use axum::http::HeaderMap;
use std::collections::HashMap;
use std::sync::RwLock;
use thiserror::Error;

use crate::storage::DeviceCredential;

/// Why a device's request was refused before its body was read.
#[derive(Debug, Error)]
pub enum DeviceAuthError {
    #[error("device id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'")]
    BadDeviceId,
    /// No credential, an unknown device or a wrong credential: one answer, so that it does not
    /// tell a caller which device ids exist.
    #[error("missing or invalid device credential (a device enrols once with POST /v1/devices/{{id}}/enrol and then sends its credential as a bearer token)")]
    Unauthenticated,
    /// Only to the holder of the device's own credential: it needs to know it was revoked.
    #[error("device {0} was revoked")]
    Revoked(String),
    #[error("device {device} is enrolled as a {enrolled}, not a {claimed}")]
    WrongProduct {
        device: String,
        enrolled: String,
        claimed: String,
    },
    /// `--device-auth mtls`: the connection carries no verified client certificate.
    #[error("a client certificate is required: this server authenticates devices by the X.509 certificate they present over HTTPS (its URI SAN urn:airlock:device:<id> names the device)")]
    NoClientCertificate,
    #[error("{0}")]
    CertificateWithoutId(crate::tls::CertificateIdError),
    /// The path names another device than the certificate does.
    #[error("the client certificate is device {certificate}'s, not {path}'s")]
    NotCertificateDevice { path: String, certificate: String },
    #[error(transparent)]
    State(#[from] crate::storage::StateError),
}

/// Device ids: 1-128 characters of A-Z a-z 0-9 . _ : -
pub fn check_device_id(id: &str) -> Result<(), DeviceAuthError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(DeviceAuthError::BadDeviceId)
    }
}

/// A flag's value: an enum whose variants are named by fixed words, parsed by `FromStr` (clap
/// and the config file); an unknown word is answered with the list (`"x": expected a or b`).
macro_rules! flag_choice {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$variant_meta:meta])* $variant:ident = $word:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(format!("{other:?}: expected {}", [$($word),+].join(" or "))),
                }
            }
        }
    };
}

flag_choice! {
    /// Whether check-ins and reports need a device credential.
    DeviceAuth {
        #[default]
        Required = "required",
        Open = "open",
        /// The device's X.509 client certificate (needs HTTPS and `--client-ca`).
        Mtls = "mtls",
    }
}

flag_choice! {
    /// Who may read `/tuf/` (metadata and images).
    TufAccess {
        /// Anyone: plain TUF clients, mirrors and CDNs (TUF protects integrity, not secrecy).
        #[default]
        Public = "public",
        /// Only enrolled devices (their credential as a bearer token) and the admin token: for
        /// vendors whose images must not be downloadable by strangers.
        Enrolled = "enrolled",
    }
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A new random secret (256 bits, hex).
pub fn random_secret() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Constant-time equality of two hex digests.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Enrolled devices' credentials, in memory (the state store is the record).
#[derive(Default)]
pub struct Credentials {
    by_device: RwLock<HashMap<String, DeviceCredential>>,
    /// Digests of live (not revoked) credentials, for `/tuf/` access without a device id.
    live: RwLock<std::collections::HashSet<String>>,
}

fn live_set<'a>(
    list: impl Iterator<Item = &'a DeviceCredential>,
) -> std::collections::HashSet<String> {
    list.filter(|c| !c.revoked)
        .map(|c| c.credential_sha256.clone())
        .collect()
}

impl Credentials {
    pub fn new(list: Vec<DeviceCredential>) -> Self {
        let c = Credentials::default();
        c.replace(list);
        c
    }

    /// Replaces the whole set (a replica following the shared state).
    pub fn replace(&self, list: Vec<DeviceCredential>) {
        let fresh: HashMap<String, DeviceCredential> =
            list.into_iter().map(|c| (c.device_id.clone(), c)).collect();
        let live = live_set(fresh.values());
        match self.by_device.write() {
            Ok(mut m) => *m = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        self.set_live(live);
    }

    fn set_live(&self, live: std::collections::HashSet<String>) {
        match self.live.write() {
            Ok(mut m) => *m = live,
            Err(p) => *p.into_inner() = live,
        }
    }

    fn update_live(&self, remove: Option<&str>, add: Option<&str>) {
        let mut live = match self.live.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(old) = remove {
            live.remove(old);
        }
        if let Some(new) = add {
            live.insert(new.to_string());
        }
    }

    /// Whether `presented` is the credential of some enrolled, unrevoked device.
    pub fn is_live(&self, presented: &str) -> bool {
        let digest = sha256_hex(presented);
        match self.live.read() {
            Ok(s) => s.contains(&digest),
            Err(p) => p.into_inner().contains(&digest),
        }
    }

    pub fn set(&self, c: DeviceCredential) {
        let add = (!c.revoked).then(|| c.credential_sha256.clone());
        let previous = match self.by_device.write() {
            Ok(mut m) => m.insert(c.device_id.clone(), c),
            Err(p) => p.into_inner().insert(c.device_id.clone(), c),
        };
        self.update_live(
            previous.as_ref().map(|p| p.credential_sha256.as_str()),
            add.as_deref(),
        );
    }

    /// Drops a device's credential (a reinstated device enrols again).
    pub fn forget(&self, device_id: &str) {
        let removed = match self.by_device.write() {
            Ok(mut m) => m.remove(device_id),
            Err(p) => p.into_inner().remove(device_id),
        };
        self.update_live(removed.as_ref().map(|c| c.credential_sha256.as_str()), None);
    }

    pub fn revoke(&self, device_id: &str) {
        let mut guard = match self.by_device.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let digest = guard.get_mut(device_id).map(|c| {
            c.revoked = true;
            c.credential_sha256.clone()
        });
        drop(guard);
        self.update_live(digest.as_deref(), None);
    }

    /// Checks the bearer credential of `device_id` and answers what it enrolled as: refused
    /// when missing, wrong or of an unknown device (401, one answer for all three) or, to the
    /// holder of the right credential, when the device is revoked (403). From memory alone:
    /// [`Credentials::verdict`] says when the state store must be asked.
    pub fn check(&self, device_id: &str, headers: &HeaderMap) -> Result<Enrolled, DeviceAuthError> {
        match self.verdict(device_id, headers) {
            Verdict::Judged(result) => result,
            Verdict::NotHere { .. } => Err(DeviceAuthError::Unauthenticated),
        }
    }

    /// [`Credentials::check`], telling apart a credential this replica cannot judge: the
    /// device is unknown here, or the credential kept here is not the one presented. Both can
    /// be this replica lagging behind another (an enrolment or a reinstatement there, whose
    /// change notice has not arrived): the caller asks the state store ([`judge`]). Decided
    /// under one read of the map, so a notice landing meanwhile cannot turn a miss into a
    /// refusal.
    pub fn verdict(&self, device_id: &str, headers: &HeaderMap) -> Verdict {
        let Some(presented) = crate::auth::bearer_token(headers) else {
            return Verdict::Judged(Err(DeviceAuthError::Unauthenticated));
        };
        // hashed before the lookup, so an unknown id costs the same as a wrong credential
        let digest = sha256_hex(presented);
        let guard = match self.by_device.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match guard.get(device_id).map(|c| judge(device_id, c, &digest)) {
            Some(Err(DeviceAuthError::Unauthenticated)) | None => Verdict::NotHere {
                presented_sha256: digest,
            },
            Some(judged) => Verdict::Judged(judged),
        }
    }
}

/// What [`Credentials::verdict`] found in memory.
#[derive(Debug)]
pub enum Verdict {
    /// Accepted, or refused for good (no credential, or a revoked device).
    Judged(Result<Enrolled, DeviceAuthError>),
    /// Unknown here, or another credential kept here: the state store decides (the presented
    /// credential's digest, for its judgement).
    NotHere { presented_sha256: String },
}

/// Judges the credential with digest `presented` against `c` (as kept in memory or just read
/// from the state store).
pub fn judge(
    device_id: &str,
    c: &DeviceCredential,
    presented: &str,
) -> Result<Enrolled, DeviceAuthError> {
    if !same(&c.credential_sha256, presented) {
        return Err(DeviceAuthError::Unauthenticated);
    }
    if c.revoked {
        return Err(DeviceAuthError::Revoked(device_id.to_string()));
    }
    Ok(Enrolled {
        product: c.product.clone(),
        drill: c.drill,
    })
}

/// What a device's valid credential says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub product: String,
    /// Enrolled with a drill token: nothing it sends is recorded.
    pub drill: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Device;
    use crate::error::ApiError;
    use axum::http::header;

    #[test]
    fn flag_words_parse_and_an_unknown_word_lists_the_choices() {
        assert_eq!("open".parse::<DeviceAuth>(), Ok(DeviceAuth::Open));
        assert_eq!("mtls".parse::<DeviceAuth>(), Ok(DeviceAuth::Mtls));
        assert_eq!("enrolled".parse::<TufAccess>(), Ok(TufAccess::Enrolled));
        assert_eq!(DeviceAuth::default(), DeviceAuth::Required);
        assert_eq!(TufAccess::default(), TufAccess::Public);
        assert_eq!(
            "x".parse::<DeviceAuth>(),
            Err("\"x\": expected required or open or mtls".to_string())
        );
        assert_eq!(
            "x".parse::<TufAccess>(),
            Err("\"x\": expected public or enrolled".to_string())
        );
    }

    fn creds() -> (Credentials, String) {
        let secret = random_secret();
        let c = Credentials::new(vec![DeviceCredential {
            device_id: "d1".into(),
            product: "acme-cam".into(),
            credential_sha256: sha256_hex(&secret),
            revoked: false,
            drill: false,
        }]);
        (c, secret)
    }

    fn bearer(s: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {s}").parse().unwrap(),
        );
        h
    }

    /// The HTTP status a device would get for `c.check(...)` and, when it passes, the
    /// product check of its check-in.
    fn status(c: &Credentials, id: &str, headers: &HeaderMap, product: Option<&str>) -> u16 {
        let checked = c.check(id, headers).and_then(|enrolled| {
            let device = Device {
                id: id.into(),
                enrolled_product: Some(enrolled.product),
                drill: enrolled.drill,
            };
            product.map_or(Ok(()), |p| device.check_product(p))
        });
        match checked {
            Ok(()) => 200,
            Err(e) => ApiError::from(e).status.as_u16(),
        }
    }

    #[test]
    fn credentials_are_checked() {
        let (c, secret) = creds();
        assert_eq!(status(&c, "d1", &bearer(&secret), Some("acme-cam")), 200);
        assert_eq!(status(&c, "d1", &HeaderMap::new(), None), 401);
        assert_eq!(status(&c, "d1", &bearer("nope"), None), 401);
        assert_eq!(status(&c, "d2", &bearer(&secret), None), 401);
        // no credential, a wrong one, an unknown device: one answer
        let answers: Vec<String> = [
            c.check("d1", &HeaderMap::new()),
            c.check("d1", &bearer("nope")),
            c.check("nobody", &bearer("nope")),
        ]
        .into_iter()
        .map(|r| {
            let e = ApiError::from(r.unwrap_err());
            format!("{} {} {}", e.status, e.code, e.message)
        })
        .collect();
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
        assert_eq!(status(&c, "d1", &bearer(&secret), Some("other")), 403);
        assert!(c.is_live(&secret) && !c.is_live("nope"));
        c.revoke("d1");
        assert_eq!(status(&c, "d1", &bearer(&secret), None), 403);
        assert!(
            !c.is_live(&secret),
            "a revoked credential no longer reads /tuf/"
        );
    }
}
