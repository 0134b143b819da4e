//! airlock-report: the compliance report and the statements of compliance as documents, and
//! their renderers. Pure: it takes the facts (signed support record, releases, roles, fleet
//! figures, test verdicts) and returns a [`Document`] and its bytes; reading the repository,
//! asking a server and signing the output are the `airlock` signer's.
//!
//! - [`document`]: the document model (headings, paragraphs, lists, tables, charts);
//!   [`markdown`], [`html`] (askama, escaping by default) and, with the `pdf` feature,
//!   [`pdf`] render it.
//! - [`chart`]: line charts as SVG, one palette and axis layout for the report and the
//!   simulator's scenario charts.
//! - [`report`]: the compliance report (crosswalk in [`crosswalk`], verdicts in [`verdict`],
//!   fleet figures in [`fleet`], test evidence in [`evidence`]); [`statement`]: the UK and
//!   Australian statements of compliance; [`csaf`]: CSAF 2.0 advisories from the signed
//!   advisory data.

pub mod chart;
pub mod crosswalk;
#[cfg(feature = "csaf")]
pub mod csaf;
pub mod document;
pub mod evidence;
pub mod fleet;
mod html;
mod markdown;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod report;
pub mod statement;
pub mod verdict;

pub use document::{Block, Chart, Document};
pub use html::html;
pub use markdown::markdown;
#[cfg(feature = "pdf")]
pub use pdf::PdfError;
pub use report::{Report, ReportError};
