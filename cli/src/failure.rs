//! How a failed command ends, the same in the three binaries: one exit code per error class
//! (the table in docs/cli.md) and, with `--json`, `{"error": class, "message": ...}` on stderr.
//!
//! The class comes from the error itself: a [`Failure`] raised with its class, a server's
//! [`HttpRefusal`], a rule of airlock-core, or the I/O and network errors under the context
//! a command added. Anything else is class `error` (exit 1).

use airlock_core::{release, rollout, sbom, support, verify};

/// The exit codes, for a binary's `long_about` (`concat!(..., airlock_cli::exit_codes_help!())`).
#[macro_export]
macro_rules! exit_codes_help {
    () => {
        "Exit codes: 0 success, 1 error, 2 usage (a malformed command line or value), 3 a \
verification failed, 4 refused by a rule, 5 not found, 6 network (the server cannot be reached). \
With --json (or AIRLOCK_JSON=1) an error is printed on stderr as {\"error\": CLASS, \"message\": \
...}. See docs/cli.md."
    };
}

/// What kind of failure ended a command; each has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Anything not below (a file that cannot be written, a bug): exit 1.
    Error,
    /// The command line or a value in it is malformed: exit 2 (clap's own code).
    Usage,
    /// A signature, hash or metadata check failed: exit 3.
    Verification,
    /// A rule refused the change (support window, release rules, admin token scope, a
    /// conflict on the server): exit 4.
    Refused,
    /// A file, repository, product, release or server object does not exist: exit 5.
    NotFound,
    /// The server cannot be reached or failed to answer: exit 6.
    Network,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::Error,
        ErrorClass::Usage,
        ErrorClass::Verification,
        ErrorClass::Refused,
        ErrorClass::NotFound,
        ErrorClass::Network,
    ];

    pub fn exit_code(self) -> u8 {
        match self {
            ErrorClass::Error => 1,
            ErrorClass::Usage => 2,
            ErrorClass::Verification => 3,
            ErrorClass::Refused => 4,
            ErrorClass::NotFound => 5,
            ErrorClass::Network => 6,
        }
    }

    /// The `error` field of the JSON error.
    pub fn code(self) -> &'static str {
        match self {
            ErrorClass::Error => "error",
            ErrorClass::Usage => "usage",
            ErrorClass::Verification => "verification",
            ErrorClass::Refused => "refused",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Network => "network",
        }
    }
}

/// An error raised by code that knows its class (e.g. "unknown product" is [`ErrorClass::NotFound`]).
#[derive(Debug)]
pub struct Failure {
    pub class: ErrorClass,
    pub message: String,
}

impl Failure {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Failure {
            class,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::NotFound, message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Refused, message)
    }
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Verification, message)
    }
}

impl Failure {
    /// Not found: `unknown {what} 'name'`, with the closest of `known` when one is close
    /// enough to be a typo (`did you mean 'acme-cam'?`), else the known names, then `hint`.
    pub fn unknown<S: AsRef<str>>(what: &str, name: &str, known: &[S], hint: &str) -> Self {
        let names: Vec<&str> = known.iter().map(AsRef::as_ref).collect();
        let mut message = format!("unknown {what} '{name}'");
        if let Some(close) = closest(name, &names) {
            message.push_str(&format!(", did you mean '{close}'?"));
        } else if !names.is_empty() {
            message.push_str(&format!(" (known: {})", names.join(", ")));
        }
        if !hint.is_empty() {
            message.push_str(&format!(" ({hint})"));
        }
        Self::not_found(message)
    }
}

/// The name in `known` that `name` is most likely a typo of.
pub fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A server's answer other than 2xx: its status and, when it sent one, the `{"error",
/// "message"}` body of airlock-server.
#[derive(Debug)]
pub struct HttpRefusal {
    pub status: u16,
    /// The server's error code (`support_rule`, `conflict`, ...).
    pub code: Option<String>,
    pub message: String,
}

impl HttpRefusal {
    pub fn class(&self) -> ErrorClass {
        match (self.status, self.code.as_deref()) {
            (404, _) => ErrorClass::NotFound,
            (
                _,
                Some(
                    "bad_signature" | "hash_mismatch" | "length_mismatch" | "invalid_metadata"
                    | "expired",
                ),
            ) => ErrorClass::Verification,
            (502..=504, _) => ErrorClass::Network,
            (400..=499, _) => ErrorClass::Refused,
            _ => ErrorClass::Error,
        }
    }
}

impl std::fmt::Display for HttpRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(
                f,
                "server refused ({} {code}): {}",
                self.status, self.message
            ),
            None if self.message.is_empty() && matches!(self.status, 401 | 403) => write!(
                f,
                "server refused the admin token ({}): wrong token, or it lacks the scope for this action",
                self.status
            ),
            None => write!(f, "server answered {}: {}", self.status, self.message),
        }
    }
}

impl std::error::Error for HttpRefusal {}

/// The class of `e`: the outermost cause in its chain whose class is known.
pub fn classify(e: &anyhow::Error) -> ErrorClass {
    e.chain().find_map(class_of).unwrap_or(ErrorClass::Error)
}

fn class_of(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    if let Some(f) = cause.downcast_ref::<Failure>() {
        return Some(f.class);
    }
    if let Some(r) = cause.downcast_ref::<HttpRefusal>() {
        return Some(r.class());
    }
    if cause.is::<support::SupportError>()
        || cause.is::<support::ReleaseRuleError>()
        || cause.is::<release::ReleaseError>()
        || cause.is::<sbom::SbomError>()
    {
        return Some(ErrorClass::Refused);
    }
    if cause.is::<rollout::RolloutError>() {
        return Some(ErrorClass::Usage);
    }
    if cause.is::<verify::VerifyError>() {
        return Some(ErrorClass::Verification);
    }
    if let Some(r) = cause.downcast_ref::<reqwest::Error>() {
        if r.is_connect() || r.is_timeout() {
            return Some(ErrorClass::Network);
        }
    }
    let io = cause.downcast_ref::<std::io::Error>()?;
    use std::io::ErrorKind as K;
    match io.kind() {
        K::NotFound => Some(ErrorClass::NotFound),
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::TimedOut
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => Some(ErrorClass::Network),
        _ => None,
    }
}

/// The one-line message of `e`: what was being done and why. A server that cannot be reached
/// ends at the network error's own reason ("connection refused") instead of the HTTP client's
/// chain of wrappers.
pub fn message(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        if let Some(r) = cause.downcast_ref::<reqwest::Error>() {
            if r.is_connect() || r.is_timeout() {
                let said = parts.join(": ");
                parts.push(unreachable_reason(r, &said));
                break;
            }
        }
        parts.push(cause.to_string());
    }
    parts.dedup();
    parts.join(": ")
}

/// Why the server at `e`'s URL could not be reached, naming the URL unless `said` does.
fn unreachable_reason(e: &reqwest::Error, said: &str) -> String {
    let at = e
        .url()
        .map(|u| format!("{}://{}", u.scheme(), u.authority()))
        .unwrap_or_default();
    let at = if at.is_empty() || said.contains(&at) {
        String::new()
    } else {
        format!("{at}: ")
    };
    if e.is_timeout() {
        return format!("{at}no answer in time (is the server overloaded, or the URL wrong?)");
    }
    let io = std::iter::successors(std::error::Error::source(e), |c| c.source())
        .find_map(|c| c.downcast_ref::<std::io::Error>());
    let why = match io.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".to_string(),
        Some(_) | None => io.map_or_else(|| "cannot connect".to_string(), |i| i.to_string()),
    };
    format!("{at}{why} (is the server running, and is the URL right?)")
}

/// Prints a failed command's error on stderr (`error: ...`, or the JSON object with `json`)
/// and returns its exit code.
pub fn report(e: &anyhow::Error, json: bool) -> std::process::ExitCode {
    let class = classify(e);
    print_error(class, &message(e), json);
    std::process::ExitCode::from(class.exit_code())
}

/// Prints one error line of `class` on stderr, as text or JSON.
pub fn print_error(class: ErrorClass, message: &str, json: bool) {
    if json {
        let body = serde_json::json!({"error": class.code(), "message": message});
        eprintln!("{body}");
    } else {
        eprintln!("error: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_usage_is_clap_s() {
        let mut codes: Vec<u8> = ErrorClass::ALL.iter().map(|c| c.exit_code()).collect();
        codes.dedup();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(ErrorClass::Usage.exit_code(), 2);
    }

    #[test]
    fn the_outermost_known_class_wins() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound))
            .context("reading repo/airlock.json");
        assert_eq!(classify(&e), ErrorClass::NotFound);
        let e = anyhow::Error::new(Failure::refused("no")).context("publishing");
        assert_eq!(classify(&e), ErrorClass::Refused);
        assert_eq!(classify(&anyhow::anyhow!("plain")), ErrorClass::Error);
    }

    #[test]
    fn an_unknown_name_suggests_the_closest() {
        let known = ["acme-cam", "acme-old"];
        let f = Failure::unknown("product", "acme-cma", &known, "");
        assert_eq!(
            f.message,
            "unknown product 'acme-cma', did you mean 'acme-cam'?"
        );
        assert_eq!(f.class, ErrorClass::NotFound);
        let f = Failure::unknown("product", "zebra", &known, "add it");
        assert_eq!(
            f.message,
            "unknown product 'zebra' (known: acme-cam, acme-old) (add it)"
        );
    }

    #[test]
    fn server_answers_are_classed_by_status_and_code() {
        let refusal = |status, code: Option<&str>| HttpRefusal {
            status,
            code: code.map(str::to_string),
            message: String::new(),
        };
        assert_eq!(refusal(404, Some("unknown")).class(), ErrorClass::NotFound);
        assert_eq!(
            refusal(400, Some("support_rule")).class(),
            ErrorClass::Refused
        );
        assert_eq!(refusal(401, None).class(), ErrorClass::Refused);
        assert_eq!(
            refusal(400, Some("bad_signature")).class(),
            ErrorClass::Verification
        );
        assert_eq!(refusal(503, None).class(), ErrorClass::Network);
        assert_eq!(refusal(500, Some("internal")).class(), ErrorClass::Error);
    }
}
