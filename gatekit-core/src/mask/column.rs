//! Result columns: which are masked whole, and whether a masked cell still fits its type.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::MaskError;

/// The identity of a result column: the real column behind any alias where the gateway
/// could resolve it (table OID and attribute number to `schema.table.column`), else its
/// label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ColumnRef<'a> {
    /// The schema of the table, if known.
    pub schema: Option<&'a str>,
    /// The table, if the column is a table's column.
    pub table: Option<&'a str>,
    /// The column name (or the label of a computed column).
    pub name: &'a str,
}

impl<'a> ColumnRef<'a> {
    /// A column known only by its name or label.
    pub const fn named(name: &'a str) -> ColumnRef<'a> {
        ColumnRef {
            schema: None,
            table: None,
            name,
        }
    }

    /// A table's column.
    pub const fn of_table(schema: Option<&'a str>, table: &'a str, name: &'a str) -> ColumnRef<'a> {
        ColumnRef {
            schema,
            table: Some(table),
            name,
        }
    }
}

/// What a cell's value must stay parseable as. A masked value that does not parse as its
/// kind is reported as [`CellOutcome::DoesNotFit`], so the caller can send NULL rather than
/// bytes that break a client's driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// Text of any form (`text`, `varchar`, `char`, `name`, unknown literals).
    Text,
    /// A 16-bit integer in decimal text.
    Int16,
    /// A 32-bit integer in decimal text.
    Int32,
    /// A 64-bit integer in decimal text.
    Int64,
    /// A decimal or floating-point number in text (`-1.5e3`, `NaN`, `Infinity`).
    Numeric,
    /// A JSON document.
    Json,
    /// Raw bytes with no syntax (e.g. `bytea` in binary format).
    Bytes,
    /// Any other type (dates, UUIDs, network addresses, arrays …): only the unchanged value
    /// is known to fit.
    Other,
}

impl ValueKind {
    /// Whether `value` parses as this kind.
    pub fn accepts(self, value: &[u8]) -> bool {
        let text = std::str::from_utf8(value);
        match self {
            ValueKind::Text | ValueKind::Bytes => true,
            ValueKind::Int16 => text.is_ok_and(|t| t.parse::<i16>().is_ok()),
            ValueKind::Int32 => text.is_ok_and(|t| t.parse::<i32>().is_ok()),
            ValueKind::Int64 => text.is_ok_and(|t| t.parse::<i64>().is_ok()),
            ValueKind::Numeric => is_numeric(value),
            ValueKind::Json => serde_json::from_slice::<serde::de::IgnoredAny>(value).is_ok(),
            ValueKind::Other => false,
        }
    }
}

/// `[+-]?(digits[.digits] | .digits)([eE][+-]?digits)?`, or `NaN` / `[+-]Infinity`.
fn is_numeric(v: &[u8]) -> bool {
    let unsigned = match v.first() {
        Some(b'+' | b'-') => v.get(1..).unwrap_or_default(),
        _ => v,
    };
    if v.eq_ignore_ascii_case(b"nan") || unsigned.eq_ignore_ascii_case(b"infinity") {
        return true;
    }
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let int = digits(unsigned);
    let mut rest = unsigned.get(int..).unwrap_or_default();
    let mut frac = 0;
    if rest.first() == Some(&b'.') {
        rest = rest.get(1..).unwrap_or_default();
        frac = digits(rest);
        rest = rest.get(frac..).unwrap_or_default();
    }
    if int + frac == 0 {
        return false;
    }
    if let Some(b'e' | b'E') = rest.first() {
        rest = rest.get(1..).unwrap_or_default();
        if let Some(b'+' | b'-') = rest.first() {
            rest = rest.get(1..).unwrap_or_default();
        }
        let exp = digits(rest);
        if exp == 0 {
            return false;
        }
        rest = rest.get(exp..).unwrap_or_default();
    }
    rest.is_empty()
}

/// A result column resolved against a profile once (per result set), for
/// [`Masker::mask_cell`](super::Masker::mask_cell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub(crate) whole: bool,
    pub(crate) kind: ValueKind,
}

impl Column {
    /// Whether a column rule masks every value of this column whole.
    pub const fn masked_whole(&self) -> bool {
        self.whole
    }

    /// The kind its values must stay parseable as.
    pub const fn kind(&self) -> ValueKind {
        self.kind
    }
}

/// The outcome of masking one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CellOutcome {
    /// Nothing to mask: send the value as it is.
    Unchanged,
    /// The masked value.
    Masked(Vec<u8>),
    /// The value had to be masked, but the masked form does not parse as the column's type:
    /// send NULL instead.
    DoesNotFit,
}

/// Column globs, split by how much of the qualified name they match.
#[derive(Debug)]
pub(crate) struct ColumnRules {
    /// `ssn`, `*card*`: the column name.
    name: GlobSet,
    /// `customers.ssn`: table and column.
    table: GlobSet,
    /// `public.customers.ssn`: schema, table and column.
    schema: GlobSet,
}

impl ColumnRules {
    pub(crate) fn new(profile: &str, patterns: &[String]) -> Result<ColumnRules, MaskError> {
        let mut sets = [
            GlobSetBuilder::new(),
            GlobSetBuilder::new(),
            GlobSetBuilder::new(),
        ];
        for pattern in patterns {
            let bad = |message: String| MaskError::BadColumnGlob {
                profile: profile.to_owned(),
                pattern: pattern.clone(),
                message,
            };
            let dots = pattern.bytes().filter(|&b| b == b'.').count();
            let Some(set) = sets.get_mut(dots) else {
                return Err(bad("at most `schema.table.column`".into()));
            };
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| bad(e.kind().to_string()))?;
            set.add(glob);
        }
        let [name, table, schema] = sets.map(|s| s.build());
        let build = |r: Result<GlobSet, globset::Error>| {
            r.map_err(|e| MaskError::BadColumnGlob {
                profile: profile.to_owned(),
                pattern: e.glob().unwrap_or_default().to_owned(),
                message: e.kind().to_string(),
            })
        };
        Ok(ColumnRules {
            name: build(name)?,
            table: build(table)?,
            schema: build(schema)?,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.name.is_empty() && self.table.is_empty() && self.schema.is_empty()
    }

    pub(crate) fn matches(&self, c: &ColumnRef<'_>) -> bool {
        if self.name.is_match(c.name) {
            return true;
        }
        let Some(table) = c.table else {
            return false;
        };
        if !self.table.is_empty() && self.table.is_match(format!("{table}.{}", c.name)) {
            return true;
        }
        match c.schema {
            Some(schema) if !self.schema.is_empty() => {
                self.schema.is_match(format!("{schema}.{table}.{}", c.name))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_by_qualification() {
        let pats = ["ssn", "*card*", "customers.email", "billing.*.iban"].map(String::from);
        let rules = ColumnRules::new("p", &pats).unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.matches(&ColumnRef::named("SSN")));
        assert!(rules.matches(&ColumnRef::named("credit_card_no")));
        assert!(!rules.matches(&ColumnRef::named("email")));
        assert!(rules.matches(&ColumnRef::of_table(None, "customers", "email")));
        assert!(!rules.matches(&ColumnRef::of_table(None, "orders", "email")));
        assert!(rules.matches(&ColumnRef::of_table(Some("billing"), "accounts", "iban")));
        assert!(!rules.matches(&ColumnRef::of_table(Some("public"), "accounts", "iban")));
        assert!(ColumnRules::new("p", &["a.b.c.d".into()]).is_err());
        assert!(ColumnRules::new("p", &["[".into()]).is_err());
    }

    #[test]
    fn kinds_accept_their_syntax() {
        assert!(ValueKind::Int16.accepts(b"-32768"));
        assert!(!ValueKind::Int16.accepts(b"99999"));
        assert!(ValueKind::Int64.accepts(b"4111111111111111"));
        assert!(!ValueKind::Int64.accepts(b"[REDACTED:credit_card]"));
        for ok in [
            "1",
            "-1.5",
            ".5",
            "5.",
            "1e9",
            "+2.5E-3",
            "NaN",
            "-Infinity",
        ] {
            assert!(ValueKind::Numeric.accepts(ok.as_bytes()), "{ok}");
        }
        for bad in ["", ".", "1e", "1.2.3", "****", "e5"] {
            assert!(!ValueKind::Numeric.accepts(bad.as_bytes()), "{bad}");
        }
        assert!(ValueKind::Json.accepts(br#"{"a":"[REDACTED:email]"}"#));
        assert!(!ValueKind::Json.accepts(br#"{"a":"x"#));
        assert!(ValueKind::Text.accepts(b"anything"));
        assert!(!ValueKind::Other.accepts(b"2024-01-01"));
    }
}
