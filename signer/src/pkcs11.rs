//! Ed25519 keys held on a PKCS#11 token (an HSM, a smart card, SoftHSM2 in tests): named by a
//! `pkcs11:` URI (RFC 7512), used through the module given by `AIRLOCK_PKCS11_MODULE`, signing
//! with CKM_EDDSA. The private key never leaves the token; airlock only asks it to sign.
//!
//! Supported URI attributes: `token`, `serial`, `slot-id`, `object`, `id` in the path;
//! `pin-source` and `module-path` in the query. Example:
//! `pkcs11:token=airlock;object=root-1` (PIN from `AIRLOCK_PKCS11_PIN` or a prompt).
//! `pin-value` is refused: a URI is stored as the role's key file and given on command lines
//! (`--key`, `--root-keys`), so a PIN in it would land in a file, shell history and the
//! process list.

use anyhow::{anyhow, bail, Context, Result};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use zeroize::Zeroizing;

use crate::passphrase;

/// The module used when neither the URI nor `AIRLOCK_PKCS11_MODULE` names one (Debian's
/// softhsm2 package).
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const MODULE_ENV: &str = "AIRLOCK_PKCS11_MODULE";
/// Where a key file's (or `--key` URI's) `module-path` may point: a `:`-separated list of
/// directories (or module files). A module is code airlock loads into itself, with the keys
/// and PINs it handles; a key file is data that may come with a repository, so it may only
/// pick among modules the operator installed. `AIRLOCK_PKCS11_MODULE`, set by the operator,
/// is not restricted.
pub const MODULES_ENV: &str = "AIRLOCK_PKCS11_MODULES";
/// The allow-list when `AIRLOCK_PKCS11_MODULES` is not set: the system's module directories
/// (Debian multiarch and others).
pub const DEFAULT_MODULE_DIRS: &[&str] = &[
    "/usr/lib/softhsm",
    "/usr/lib/pkcs11",
    "/usr/lib/x86_64-linux-gnu/softhsm",
    "/usr/lib/x86_64-linux-gnu/pkcs11",
    "/usr/lib/aarch64-linux-gnu/softhsm",
    "/usr/lib/aarch64-linux-gnu/pkcs11",
    "/usr/lib64/softhsm",
    "/usr/lib64/pkcs11",
];

/// The allow-list for `module-path`: `AIRLOCK_PKCS11_MODULES`, or [`DEFAULT_MODULE_DIRS`].
pub fn allowed_module_dirs() -> Vec<PathBuf> {
    match std::env::var_os(MODULES_ENV).filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list).collect(),
        None => DEFAULT_MODULE_DIRS.iter().map(PathBuf::from).collect(),
    }
}

/// Refuses a `module-path` outside `allowed` (compared after resolving symlinks and `..`, so a
/// path cannot step out of an allowed directory). A module that does not exist is left to the
/// loader's "does not exist" message.
pub fn check_module_allowed(module: &Path, allowed: &[PathBuf]) -> Result<()> {
    let Ok(real) = module.canonicalize() else {
        return Ok(());
    };
    let ok = allowed.iter().any(|entry| {
        entry
            .canonicalize()
            .is_ok_and(|e| real == e || (e.is_dir() && real.starts_with(&e)))
    });
    if !ok {
        bail!(
            "module-path {} is not in the PKCS#11 module allow-list ({}): a key file may only \
             name a module the operator allowed; add its directory to {MODULES_ENV} \
             (':'-separated) or set {MODULE_ENV} instead",
            module.display(),
            allowed
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        );
    }
    Ok(())
}
pub const PIN_ENV: &str = "AIRLOCK_PKCS11_PIN";

/// A parsed `pkcs11:` URI naming one private key.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenUri {
    /// The URI as given (never with a PIN: `pin-value` is refused).
    text: String,
    pub token: Option<String>,
    pub serial: Option<String>,
    pub slot_id: Option<u64>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub pin_source: Option<PathBuf>,
    pub module_path: Option<PathBuf>,
}

impl std::fmt::Debug for TokenUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for TokenUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn decode(value: &str, attr: &str) -> Result<String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| anyhow!("pkcs11: URI attribute {attr} is not UTF-8 once percent-decoded"))
}

/// As [`TokenUri::parse`]; clap parses the `--key`-style flags of this type with it.
impl std::str::FromStr for TokenUri {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<TokenUri> {
        TokenUri::parse(text)
    }
}

impl TokenUri {
    /// Whether `text` is meant as a token key (starts with `pkcs11:`).
    pub fn is_uri(text: &str) -> bool {
        text.trim_start()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
    }

    pub fn parse(text: &str) -> Result<TokenUri> {
        let text = text.trim();
        if !Self::is_uri(text) {
            bail!("not a pkcs11: URI");
        }
        let rest = &text[7..];
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = TokenUri {
            text: text.to_string(),
            token: None,
            serial: None,
            slot_id: None,
            object: None,
            id: None,
            pin_source: None,
            module_path: None,
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .with_context(|| format!("pkcs11: URI attribute {attr:?} has no '='"))?;
            match name {
                "token" => uri.token = Some(decode(value, name)?),
                "serial" => uri.serial = Some(decode(value, name)?),
                "object" => uri.object = Some(decode(value, name)?),
                "slot-id" => {
                    uri.slot_id = Some(
                        decode(value, name)?
                            .parse()
                            .with_context(|| format!("pkcs11: URI slot-id {value:?}"))?,
                    )
                }
                "id" => {
                    uri.id = Some(percent_encoding::percent_decode_str(value).collect());
                }
                "type" => {
                    if value != "private" {
                        bail!("pkcs11: URI type={value}: airlock signs with a private key (type=private)");
                    }
                }
                // Informational, or vendor extensions (RFC 7512 section 2.3).
                "manufacturer"
                | "model"
                | "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {}
                other if other.starts_with("x-") => {}
                other => bail!(
                    "pkcs11: URI attribute {other:?} is not supported (token, serial, slot-id, \
                     object, id; query: pin-source, module-path)"
                ),
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .with_context(|| format!("pkcs11: URI query attribute {attr:?} has no '='"))?;
            match name {
                "pin-value" => bail!(
                    "pkcs11: URI attribute pin-value is not accepted: the URI is written to the \
                     role's key file and may be given on a command line, so the PIN would be \
                     stored and shown; remove pin-value and set {PIN_ENV}, add \
                     pin-source=FILE (a file only you can read), or enter the PIN when asked"
                ),
                "pin-source" => {
                    let v = decode(value, name)?;
                    let path = v.strip_prefix("file:").unwrap_or(&v);
                    uri.pin_source = Some(PathBuf::from(path));
                }
                "module-path" => uri.module_path = Some(PathBuf::from(decode(value, name)?)),
                other if other.starts_with("x-") => {}
                other => bail!(
                    "pkcs11: URI query attribute {other:?} is not supported (pin-source, \
                     module-path)"
                ),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            bail!(
                "pkcs11: URI {} names no key: give object=LABEL or id=%01...",
                uri.redacted()
            );
        }
        Ok(uri)
    }

    /// The URI with any PIN replaced, for messages and logs.
    pub fn redacted(&self) -> String {
        match self.text.split_once('?') {
            Some((path, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|a| {
                        if a.starts_with("pin-value=") {
                            "pin-value=***".to_string()
                        } else {
                            a.to_string()
                        }
                    })
                    .collect();
                format!("{path}?{}", query.join("&"))
            }
            None => self.text.clone(),
        }
    }

    /// The URI as given (to store in a key file, which is private like a key).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The module: `module-path` in the URI, `AIRLOCK_PKCS11_MODULE`, or SoftHSM2's.
    pub fn module(&self) -> PathBuf {
        self.module_path
            .clone()
            .or_else(|| std::env::var_os(MODULE_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE))
    }

    fn token_name(&self) -> String {
        self.token
            .clone()
            .or_else(|| self.serial.as_ref().map(|s| format!("serial {s}")))
            .or_else(|| self.slot_id.map(|s| format!("slot {s}")))
            .unwrap_or_else(|| "the token".into())
    }

    fn key_template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut t = vec![Attribute::Class(class)];
        if let Some(label) = &self.object {
            t.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &self.id {
            t.push(Attribute::Id(id.clone()));
        }
        t
    }

    /// The PIN: from `pin-source`, `AIRLOCK_PKCS11_PIN`, or a prompt on the terminal.
    fn pin(&self) -> Result<Zeroizing<String>> {
        if let Some(path) = &self.pin_source {
            return passphrase::read_secret_file(path)
                .with_context(|| format!("reading the PIN of {} (pin-source)", self.token_name()));
        }
        if let Some(pin) = std::env::var(PIN_ENV).ok().filter(|p| !p.is_empty()) {
            return Ok(Zeroizing::new(pin));
        }
        if passphrase::interactive() {
            return passphrase::prompt(&format!("PIN for token {}: ", self.token_name()));
        }
        bail!(
            "{} needs its user PIN: set {PIN_ENV}, add pin-source=FILE to the URI, or run \
             airlock in a terminal to be asked",
            self.token_name()
        )
    }
}

/// Says what a PKCS#11 failure means in a user's terms.
fn explain(e: CkError) -> anyhow::Error {
    match e {
        CkError::Pkcs11(RvError::PinIncorrect, _) => anyhow!("wrong PIN"),
        CkError::Pkcs11(RvError::PinLocked, _) => anyhow!("the PIN is locked"),
        CkError::Pkcs11(RvError::PinExpired, _) => anyhow!("the PIN has expired"),
        CkError::Pkcs11(RvError::MechanismInvalid, f) => {
            anyhow!("{f}: the token does not support CKM_EDDSA (Ed25519 signing)")
        }
        CkError::Pkcs11(rv, f) => anyhow!("{f} failed: {rv:?}"),
        CkError::LibraryLoading(e) => anyhow!("cannot load the PKCS#11 module: {e}"),
        other => anyhow!("{other}"),
    }
}

/// One context per module and process: C_Initialize may be called only once.
fn context(module: &Path) -> Result<Pkcs11> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| anyhow!("lock poisoned"))?;
    if let Some(ctx) = contexts.get(module) {
        return Ok(ctx.clone());
    }
    if !module.exists() {
        bail!(
            "the PKCS#11 module {} does not exist (set {MODULE_ENV} or module-path in the URI)",
            module.display()
        );
    }
    let ctx = Pkcs11::new(module)
        .map_err(explain)
        .with_context(|| format!("loading the PKCS#11 module {}", module.display()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(explain(e))
                .with_context(|| format!("initialising the PKCS#11 module {}", module.display()))
        }
    }
    contexts.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// The slot of the one token the URI names.
fn find_slot(ctx: &Pkcs11, uri: &TokenUri, module: &Path) -> Result<Slot> {
    let slots = ctx.get_slots_with_token().map_err(explain)?;
    let mut seen = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        let info = ctx.get_token_info(slot).map_err(explain)?;
        let label = info.label().trim().to_string();
        let serial = info.serial_number().trim().to_string();
        let ok = uri.token.as_ref().is_none_or(|t| *t == label)
            && uri.serial.as_ref().is_none_or(|s| *s == serial)
            && uri.slot_id.is_none_or(|id| id == slot.id());
        if ok {
            matching.push(slot);
        }
        seen.push(format!("{label:?} (serial {serial}, slot {})", slot.id()));
    }
    match matching.as_slice() {
        [slot] => Ok(*slot),
        [] => bail!(
            "no token {} in {} (tokens there: {})",
            uri.token_name(),
            module.display(),
            listing(&seen)
        ),
        _ => bail!(
            "{} matches several tokens in {} ({}): add serial= or slot-id= to the URI",
            uri.redacted(),
            module.display(),
            seen.join(", ")
        ),
    }
}

/// What an error lists as found instead (tokens, keys): "none", or the names joined.
fn listing(found: &[String]) -> String {
    if found.is_empty() {
        "none".to_string()
    } else {
        found.join(", ")
    }
}

/// The 32-byte Ed25519 public key in a CKA_EC_POINT value: a DER OCTET STRING wrapping the
/// key (PKCS#11 3.0, what SoftHSM2 returns), or the bare 32 bytes (some older tokens).
pub fn ed25519_from_ec_point(value: &[u8]) -> Result<[u8; 32]> {
    let raw = match value {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        [0x04, 0x81, 0x20, rest @ ..] if rest.len() == 32 => rest,
        bare if bare.len() == 32 => bare,
        _ => bail!(
            "CKA_EC_POINT is not an Ed25519 public key ({} bytes: {})",
            value.len(),
            hex::encode(value)
        ),
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(raw);
    Ok(out)
}

/// Whether CKA_EC_PARAMS names Ed25519: the OID 1.3.101.112 or the curve name
/// "edwards25519" as a PrintableString (both allowed by PKCS#11 3.0).
pub fn is_ed25519_params(value: &[u8]) -> bool {
    const OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    value == OID
        || matches!(value, [0x13, len, name @ ..] if *len as usize == name.len() && name == b"edwards25519")
}

/// An Ed25519 private key on a token, with an open, logged-in session.
pub struct TokenKey {
    uri: TokenUri,
    session: Mutex<Session>,
    key: ObjectHandle,
    public: [u8; 32],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("uri", &self.uri.redacted())
            .field("public", &hex::encode(self.public))
            .finish()
    }
}

fn find_one(
    session: &Session,
    uri: &TokenUri,
    class: ObjectClass,
    what: &str,
) -> Result<ObjectHandle> {
    let found = session
        .find_objects(&uri.key_template(class))
        .map_err(explain)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => {
            let labels: Vec<String> = session
                .find_objects(&[Attribute::Class(class)])
                .unwrap_or_default()
                .into_iter()
                .filter_map(|h| session.get_attributes(h, &[AttributeType::Label]).ok())
                .flatten()
                .filter_map(|a| match a {
                    Attribute::Label(l) => Some(String::from_utf8_lossy(&l).into_owned()),
                    _ => None,
                })
                .collect();
            bail!(
                "no {what} {} on token {} ({what}s there: {})",
                uri.object
                    .as_ref()
                    .map(|o| format!("object={o}"))
                    .or_else(|| uri.id.as_ref().map(|id| format!("id={}", hex::encode(id))))
                    .unwrap_or_default(),
                uri.token_name(),
                listing(&labels)
            )
        }
        more => bail!(
            "{} matches {} {what}s on token {}: add id= to the URI",
            uri.redacted(),
            more.len(),
            uri.token_name()
        ),
    }
}

fn mechanism() -> Mechanism<'static> {
    Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
}

impl TokenKey {
    /// Opens the key a URI names: finds the token, logs in, finds the private key and its
    /// public half (CKA_EC_POINT), and checks with one signature that the two belong together.
    pub fn open(uri: &TokenUri) -> Result<TokenKey> {
        let module = uri.module();
        if uri.module_path.is_some() {
            check_module_allowed(&module, &allowed_module_dirs())?;
        }
        let ctx = context(&module)?;
        let slot = find_slot(&ctx, uri, &module)?;
        let session = ctx
            .open_ro_session(slot)
            .map_err(explain)
            .with_context(|| format!("opening a session on token {}", uri.token_name()))?;
        let logged_in = session
            .get_session_info()
            .map(|i| {
                matches!(
                    i.session_state(),
                    SessionState::RoUser | SessionState::RwUser
                )
            })
            .unwrap_or(false);
        if !logged_in {
            let pin = uri.pin()?;
            match session.login(UserType::User, Some(&pin.as_str().into())) {
                Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => {
                    return Err(explain(e))
                        .with_context(|| format!("logging in to token {}", uri.token_name()))
                }
            }
        }
        let key = find_one(&session, uri, ObjectClass::PRIVATE_KEY, "private key")?;
        let key_type = session
            .get_attributes(key, &[AttributeType::KeyType])
            .map_err(explain)?;
        if !key_type
            .iter()
            .any(|a| matches!(a, Attribute::KeyType(t) if *t == KeyType::EC_EDWARDS))
        {
            bail!("{} is not an Ed25519 key (CKK_EC_EDWARDS)", uri.redacted());
        }
        let public_object = find_one(&session, uri, ObjectClass::PUBLIC_KEY, "public key")?;
        let attrs = session
            .get_attributes(
                public_object,
                &[AttributeType::EcPoint, AttributeType::EcParams],
            )
            .map_err(explain)
            .with_context(|| format!("reading the public key of {}", uri.redacted()))?;
        let mut point = None;
        for attr in attrs {
            match attr {
                Attribute::EcPoint(p) => point = Some(p),
                Attribute::EcParams(p) if !is_ed25519_params(&p) => bail!(
                    "{} is on curve {} (CKA_EC_PARAMS), not Ed25519",
                    uri.redacted(),
                    hex::encode(&p)
                ),
                _ => {}
            }
        }
        let point = point.with_context(|| format!("{} has no CKA_EC_POINT", uri.redacted()))?;
        let public = ed25519_from_ec_point(&point)
            .with_context(|| format!("reading the public key of {}", uri.redacted()))?;
        let key = TokenKey {
            uri: uri.clone(),
            session: Mutex::new(session),
            key,
            public,
        };
        key.check_pair()?;
        Ok(key)
    }

    /// Signs a fixed message and verifies it with the public key read from the token: a
    /// mismatched public object would otherwise show only later as bad metadata signatures.
    fn check_pair(&self) -> Result<()> {
        let msg = b"airlock: does this private key match its public key?";
        let sig = self.sign(msg)?;
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, self.public)
            .verify(msg, &sig)
            .map_err(|_| {
                anyhow!(
                    "the public key object of {} does not match its private key",
                    self.uri.redacted()
                )
            })
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    pub fn uri(&self) -> &TokenUri {
        &self.uri
    }

    /// Signs `msg` on the token (CKM_EDDSA, pure Ed25519 as TUF's `ed25519` scheme).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let session = self.session.lock().map_err(|_| anyhow!("lock poisoned"))?;
        let sig = session
            .sign(&mechanism(), self.key, msg)
            .map_err(explain)
            .with_context(|| format!("signing with {}", self.uri.redacted()))?;
        if sig.len() != 64 {
            bail!(
                "{} returned a {}-byte signature, not a 64-byte Ed25519 one",
                self.uri.redacted(),
                sig.len()
            );
        }
        Ok(sig)
    }
}

/// Opens a token key, shared between the signers tough makes from it.
pub fn open(uri: &TokenUri) -> Result<Arc<TokenKey>> {
    Ok(Arc::new(TokenKey::open(uri)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn uri_with_token_and_object_parses() {
        let uri = TokenUri::parse("pkcs11:token=airlock;object=root-1").unwrap();
        assert_eq!(uri.token.as_deref(), Some("airlock"));
        assert_eq!(uri.object.as_deref(), Some("root-1"));
        assert_eq!(uri.id, None);
        assert_eq!(uri.module_path, None);
    }

    #[test]
    fn uri_values_are_percent_decoded() {
        let uri = TokenUri::parse(
            "pkcs11:token=Release%20Team;id=%01%a0;serial=0123?module-path=/opt/hsm/lib%2Dp11.so",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("Release Team"));
        assert_eq!(uri.id, Some(vec![0x01, 0xa0]));
        assert_eq!(uri.serial.as_deref(), Some("0123"));
        assert_eq!(uri.module(), PathBuf::from("/opt/hsm/lib-p11.so"));
    }

    #[test]
    fn a_pin_in_the_uri_is_refused() {
        // A URI is what `--key`/`--root-keys` take and what the key file stores: a PIN in it
        // would be written to disk and shown in the process list.
        let err = TokenUri::parse("pkcs11:token=a;object=k?pin-value=123456&module-path=/x.so")
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("pin-value is not accepted"), "{msg}");
        assert!(msg.contains(PIN_ENV) && msg.contains("pin-source"), "{msg}");
        assert!(!msg.contains("123456"), "{msg}");
        let uri = TokenUri::parse("pkcs11:token=a;object=k?pin-source=/run/pin").unwrap();
        assert!(!uri.as_str().contains("pin-value"));
    }

    #[test]
    fn bad_uris_are_refused_with_a_reason() {
        for (text, why) in [
            ("pkcs11:token=airlock", "names no key"),
            ("pkcs11:token=a;object=k;colour=red", "not supported"),
            ("pkcs11:object=k;type=public", "type=private"),
            ("pkcs11:object", "no '='"),
            ("pkcs11:object=k;slot-id=x", "slot-id"),
            ("file:///k.pem", "not a pkcs11: URI"),
        ] {
            let err = format!("{:#}", TokenUri::parse(text).unwrap_err());
            assert!(err.contains(why), "{text}: {err}");
        }
        // vendor extensions are ignored (RFC 7512 section 2.3)
        assert!(TokenUri::parse("pkcs11:object=k;x-vendor=1").is_ok());
    }

    #[test]
    fn ec_point_is_read_wrapped_or_bare() {
        let key = [7u8; 32];
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&key);
        assert_eq!(ed25519_from_ec_point(&wrapped).unwrap(), key);
        assert_eq!(ed25519_from_ec_point(&key).unwrap(), key);
        let mut long = vec![0x04, 0x81, 0x20];
        long.extend_from_slice(&key);
        assert_eq!(ed25519_from_ec_point(&long).unwrap(), key);
        // an uncompressed P-256 point is not an Ed25519 key
        let mut p256 = vec![0x04, 0x41, 0x04];
        p256.extend_from_slice(&[1u8; 64]);
        assert!(ed25519_from_ec_point(&p256).is_err());
        assert!(ed25519_from_ec_point(&wrapped[..20]).is_err());
    }

    #[test]
    fn ed25519_params_by_oid_or_name() {
        assert!(is_ed25519_params(&[0x06, 0x03, 0x2b, 0x65, 0x70]));
        // what SoftHSM2 2.6 stores for a key made by pkcs11-tool --key-type EC:edwards25519
        assert!(is_ed25519_params(
            &hex::decode("130c656477617264733235353139").unwrap()
        ));
        // Ed448 (1.3.101.113) and P-256 are not
        assert!(!is_ed25519_params(&[0x06, 0x03, 0x2b, 0x65, 0x71]));
        assert!(!is_ed25519_params(
            &hex::decode("06082a8648ce3d030107").unwrap()
        ));
    }

    #[test]
    fn missing_module_is_named() {
        let uri =
            TokenUri::parse("pkcs11:token=a;object=k?module-path=/nonexistent/p11.so").unwrap();
        let err = format!("{:#}", TokenKey::open(&uri).unwrap_err());
        assert!(err.contains("/nonexistent/p11.so does not exist"), "{err}");
    }

    #[test]
    fn module_paths_are_loaded_only_from_the_allow_list() {
        let tmp = tempfile::tempdir().unwrap();
        let allowed_dir = tmp.path().join("allowed");
        let other_dir = tmp.path().join("other");
        std::fs::create_dir_all(&allowed_dir).unwrap();
        std::fs::create_dir_all(&other_dir).unwrap();
        let inside = allowed_dir.join("p11.so");
        let outside = other_dir.join("evil.so");
        std::fs::write(&inside, b"").unwrap();
        std::fs::write(&outside, b"").unwrap();
        let list = vec![allowed_dir.clone()];
        check_module_allowed(&inside, &list).unwrap();
        let err = format!("{:#}", check_module_allowed(&outside, &list).unwrap_err());
        assert!(
            err.contains("allow-list") && err.contains(MODULES_ENV),
            "{err}"
        );
        // no stepping out with .. or a symlink
        let dotdot = allowed_dir.join("../other/evil.so");
        assert!(check_module_allowed(&dotdot, &list).is_err());
        #[cfg(unix)]
        {
            let link = allowed_dir.join("link.so");
            std::os::unix::fs::symlink(&outside, &link).unwrap();
            assert!(check_module_allowed(&link, &list).is_err());
        }
        // a file entry allows exactly that file
        check_module_allowed(&outside, std::slice::from_ref(&outside)).unwrap();
        // the default list covers Debian's SoftHSM2 module
        let defaults: Vec<PathBuf> = DEFAULT_MODULE_DIRS.iter().map(PathBuf::from).collect();
        let softhsm = Path::new(DEFAULT_MODULE);
        if softhsm.exists() {
            check_module_allowed(softhsm, &defaults).unwrap();
        }
        assert!(check_module_allowed(&outside, &defaults).is_err());
    }

    #[test]
    fn a_key_file_cannot_load_a_module_outside_the_allow_list() {
        let tmp = tempfile::tempdir().unwrap();
        let module = tmp.path().join("p11.so");
        std::fs::write(&module, b"not a module").unwrap();
        let uri = TokenUri::parse(&format!(
            "pkcs11:token=a;object=k?module-path={}",
            module.display()
        ))
        .unwrap();
        let err = format!("{:#}", TokenKey::open(&uri).unwrap_err());
        assert!(err.contains("allow-list"), "{err}");
    }
}
