//! `airlock compliance statement PRODUCT --regime uk|au`: the statement of compliance, from the
//! signed support record in the repository and the manufacturer's options; its fields, gaps
//! and document are [`airlock_report::statement`]'s.

use anyhow::{bail, Result};

pub use airlock_report::statement::{document, gaps, Declarant, Regime, Statement};

use crate::repo::Repo;
use crate::status;

fn required(what: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        bail!("{what} must not be empty");
    }
    Ok(value.to_string())
}

/// The statement of `product`'s signed support record; every option the declarant gives
/// besides the batch must be non-empty (and is trimmed).
pub fn build(
    repo: &Repo,
    product: &str,
    regime: Regime,
    who: &Declarant,
    now: jiff::Timestamp,
    force: bool,
) -> Result<Statement> {
    let s = status::status(repo)?;
    let p = s.product(product)?;
    let who = Declarant {
        manufacturer: required("--manufacturer", &who.manufacturer)?,
        address: required("--address", &who.address)?,
        batch: who.batch.clone(),
        signatory: required("--signatory", &who.signatory)?,
        signatory_function: required("--signatory-function", &who.signatory_function)?,
        place: required("--place", &who.place)?,
        date: who.date,
    };
    Ok(Statement::new(
        product, &p.support, regime, &who, now, force,
    ))
}
