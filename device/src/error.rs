//! Failures of an update cycle that are not a security verdict: the server cannot be reached
//! or refuses the device, or the device cannot keep its state. Refusals are not errors; they
//! are [`crate::Outcome::Refused`].

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the {what} URL")]
    Url {
        what: &'static str,
        #[source]
        source: url::ParseError,
    },
    #[error("enrolling with {server}")]
    EnrolRequest {
        server: url::Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("enrolment refused by the server ({status}): {body}")]
    EnrolRefused {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("checking in with {server}")]
    CheckInRequest {
        server: url::Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("check-in refused by the server ({status}): {body}")]
    CheckInRefused {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("reading the {what} answer")]
    ReadAnswer {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("parsing the {what} answer")]
    ParseAnswer {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{action} {}", path.display())]
    State {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {}", path.display())]
    TlsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: unusable {what}", path.display())]
    TlsUnusable {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{}: a client certificate needs its key and a key its certificate (give both)", .0.display())]
    TlsIncomplete(PathBuf),
    #[error("parsing {}", path.display())]
    ParseState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn state(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::State {
            action,
            path,
            source,
        }
    }
}
