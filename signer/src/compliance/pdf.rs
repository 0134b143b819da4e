//! The PDF form of a compliance document ([`airlock_report::pdf`]).

use anyhow::Result;

use super::document::Document;

/// The document as PDF bytes; `created` becomes the PDF's creation and modification date.
pub fn render(doc: &Document, footer: &str, created: jiff::Timestamp) -> Result<Vec<u8>> {
    Ok(airlock_report::pdf::render(doc, footer, created)?)
}
