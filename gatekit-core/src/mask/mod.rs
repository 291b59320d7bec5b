//! Masking of sensitive values in flight: in SQL result cells, `COPY` rows, terminal output
//! and Kubernetes responses.
//!
//! A [`MaskSpec`] (one `[[mask]]` profile) compiles into a [`Masker`]: built-in detectors
//! (card numbers, e-mail addresses, phone numbers, US SSNs, IBANs, IP addresses, AWS access
//! keys, JWTs, PEM private keys, bearer tokens, password assignments), custom ones
//! ([`DetectorSpec`]: a regex or a list of terms), column rules, and a [`Strategy`] for
//! rendering. Every built-in detector validates what it finds (Luhn and issuer ranges,
//! mod-97, SSN area rules, address syntax, decoded JWT headers) and looks at the context
//! (word boundaries, "ssn" before a bare nine-digit run) to keep false positives out.
//!
//! - [`Masker::find`] and [`Masker::mask`] work on a whole input;
//! - [`Masker::column`] and [`Masker::mask_cell`] on result cells, telling the caller when a
//!   masked value no longer fits the column's type;
//! - [`StreamMasker`] on a stream pushed in chunks.
//!
//! ```
//! use gatekit_core::mask::{CellOutcome, ColumnRef, Masker, MaskSpec, Strategy, ValueKind};
//!
//! let mut spec = MaskSpec::new("pii", ["credit_card", "email"]);
//! spec.columns = vec!["ssn".into()];
//! spec.strategy = Strategy::Partial;
//! let masker = Masker::compile(&spec, &[])?;
//!
//! let line = b"paid with 4111-1111-1111-1111, receipt to jane@example.com";
//! assert_eq!(
//!     masker.mask(line).as_ref(),
//!     b"paid with ****-****-****-1111, receipt to ****@******e.com".as_slice(),
//! );
//!
//! let ssn = masker.column(&ColumnRef::of_table(Some("public"), "customers", "ssn"), ValueKind::Text);
//! assert_eq!(masker.mask_cell(&ssn, b"234-56-7890"), CellOutcome::Masked(b"***-**-7890".to_vec()));
//! let id = masker.column(&ColumnRef::named("id"), ValueKind::Int64);
//! assert_eq!(masker.mask_cell(&id, b"4111111111111111"), CellOutcome::DoesNotFit);
//! # Ok::<(), gatekit_core::mask::MaskError>(())
//! ```

mod ansi;
mod column;
mod error;
mod masker;
mod scan;
mod spec;
mod strategy;
mod stream;

#[cfg(test)]
mod tests;

pub use column::{CellOutcome, Column, ColumnRef, ValueKind};
pub use error::MaskError;
pub use masker::{BUILT_IN_DETECTORS, Finding, Masker};
pub use spec::{DetectorKind, DetectorSpec, MaskSpec, Strategy};
pub use stream::StreamMasker;
