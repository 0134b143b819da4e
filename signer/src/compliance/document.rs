//! The document model of reports and statements and its Markdown and HTML forms
//! ([`airlock_report::document`]).

pub use airlock_report::document::{Block, Chart, Document};
pub use airlock_report::{html, markdown};
