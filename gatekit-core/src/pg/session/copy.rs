//! Column identities for `COPY … TO STDOUT`, so column rules apply to COPY OUT data.
//!
//! A COPY's data carries no column descriptions: its fields are the table's columns in
//! order (or the listed ones), or the columns of the COPY's query. When the session's
//! profiles have column rules, an allowed `Query` or `Parse` whose text holds
//! `COPY … TO STDOUT` is parsed once (sqlparser, PostgreSQL dialect) into a [`CopySpec`]:
//! where the fields come from ([`CopySource`]) and how the data is laid out (the format,
//! `DELIMITER`, `QUOTE`, `ESCAPE`, `NULL` and `HEADER` options). A COPY with an option
//! the gateway cannot read its data by (`ENCODING` other than UTF-8, a multi-byte
//! delimiter, quote or escape) is refused with `42501` before it reaches the server.
//!
//! When the server answers with CopyOutResponse, the session asks the driver
//! ([`Event::ResolveCopy`](super::Event::ResolveCopy)) and reads no more of the server's
//! bytes until [`Session::handle_copy_columns`] answers. The driver resolves the source on
//! its catalog connection: a table by `pg_attribute` (non-dropped, non-generated columns
//! in order), a query (or `SELECT cols FROM table` for a column list) by preparing it and
//! naming each result column's table OID and attribute number, inside a read-only
//! transaction whose `search_path` is the one the client gave at startup.
//!
//! Failing closed: when the columns cannot be resolved (the lookup failed, a temporary
//! table, the statement could not be parsed, the count differs from the server's, or the
//! session has run a statement touching `search_path` and the COPY names an unqualified
//! relation), every field of the COPY is treated as an unidentified column: masked
//! whole, which for COPY data of an unknown type means sent as NULL (`\N` in text, the
//! NULL string in CSV, length -1 in binary), with one notice at the end of the result.

use std::sync::Arc;

use jiff::Timestamp;
use sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource as AstSource, CopyTarget,
    Statement, visit_relations,
};

use super::columns::QualifiedColumn;
use super::copy_data::CopyFormat;
use super::mask::MaskMode;
use super::shapes::{Field, Formats, Lineage, Plan};
use super::{Event, Session};
use crate::mask::Masker;
use crate::pg::codec::{Frame, FrontendMessage};
use crate::pg::error::PgError;

/// A type OID no type has: fields of unknown type must stay unchanged or go NULL.
const UNKNOWN_TYPE: u32 = u32::MAX;
/// Longest statement text parsed for COPY options.
const MAX_COPY_SQL: usize = 64 * 1024;

/// Where the fields of a `COPY … TO STDOUT` come from, as SQL text for the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopySource {
    /// Every non-dropped, non-generated column of this table (as written, possibly
    /// qualified and quoted), in order.
    Table(String),
    /// The result columns of this query.
    Query(String),
}

/// The driver's request to name the fields of a COPY OUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyRequest {
    /// What to resolve.
    pub source: CopySource,
    /// The `search_path` to resolve it under (the client's startup setting), if any.
    pub search_path: Option<String>,
    /// The role the session runs as (from `roles`), if any: resolve as that role, so
    /// `$user` in the path and the privileges are the session's.
    pub role: Option<String>,
}

/// One field of a COPY OUT, as the catalog resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyField {
    /// The table column it is, `None` for an expression.
    pub column: Option<QualifiedColumn>,
    /// The field's type OID.
    pub type_oid: u32,
}

/// A COPY TO STDOUT statement as the session reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CopySpec {
    source: CopySource,
    format: CopyFormat,
    /// Whether it names a relation without its schema.
    unqualified: bool,
}

/// A CopyOutResponse waiting for its fields' names.
pub(super) struct AwaitingCopy {
    frame: Frame,
    format: CopyFormat,
    columns: usize,
    binary: bool,
}

/// The COPY OUT being streamed, with column rules.
#[derive(Debug)]
pub(super) struct CopyOut {
    pub plan: Arc<Plan>,
    pub format: CopyFormat,
    /// The header line has yet to come.
    pub header_left: bool,
}

/// Whether the profiles need COPY fields told apart.
pub(super) fn column_rules(maskers: &[Arc<Masker>]) -> bool {
    maskers.iter().any(|m| m.has_column_rules())
}

/// Whether `sql` holds `word` (ASCII case-insensitive).
pub(super) fn mentions(sql: &[u8], word: &str) -> bool {
    sql.windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// `copy`, then what may move the schema an unqualified name resolves in.
const WORDS: [&str; 6] = [
    "copy",
    "search_path",
    "schema",
    "set_config",
    "role",
    "session_authorization",
];

/// All of [`WORDS`] in one pass, ASCII case-insensitive.
static WORD_SCAN: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(WORDS)
            .ok()
    });

/// Whether `sql` may hold a COPY, and whether it may move the schema an unqualified name
/// resolves in (a `search_path` setting in any spelling, `SET SCHEMA`, `set_config`, whose
/// name may be escaped, or a change of role, which moves `$user`).
pub(super) fn scan_words(sql: &[u8]) -> (bool, bool) {
    let Some(ac) = WORD_SCAN.as_ref() else {
        let copy = mentions(sql, WORDS[0]);
        return (copy, WORDS[1..].iter().any(|w| mentions(sql, w)));
    };
    let (mut copy, mut moves) = (false, false);
    for m in ac.find_overlapping_iter(sql) {
        if m.pattern().as_usize() == 0 {
            copy = true;
        } else {
            moves = true;
        }
        if copy && moves {
            break;
        }
    }
    (copy, moves)
}

/// The COPY statements of `sql` that send data to the client (`TO STDOUT`, and `TO STDIN`,
/// which PostgreSQL reads the same way), in order; `Ok(None)` when it does not parse as the
/// server reads it (its COPYs then fail closed). The text goes through the classifier's
/// checked parse: the same budget, and only where both lexers agree, so inline COPY data or
/// a comment cannot hide a statement from this list. `Err` with the reason for an option the
/// gateway cannot read COPY data by.
pub(super) fn specs(sql: &[u8]) -> Result<Option<Vec<Arc<CopySpec>>>, String> {
    let Some(text) = std::str::from_utf8(sql)
        .ok()
        .filter(|t| t.len() <= MAX_COPY_SQL && !t.contains('\0'))
    else {
        return Ok(None);
    };
    let Some(statements) = crate::sql::checked_statements(text) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for st in &statements {
        if let Statement::Copy {
            source,
            to: true,
            target: CopyTarget::Stdout | CopyTarget::Stdin,
            options,
            legacy_options,
            ..
        } = st
        {
            let format = format_of(options, legacy_options)?;
            // The relation a table-form COPY names is not visited as one by sqlparser.
            let mut unqualified = match source {
                AstSource::Table { table_name, .. } => table_name.0.len() < 2,
                AstSource::Query(_) => false,
            };
            let _ = visit_relations(st, |name| {
                unqualified |= name.0.len() < 2;
                std::ops::ControlFlow::<()>::Continue(())
            });
            let source = match source {
                AstSource::Table {
                    table_name,
                    columns,
                } if columns.is_empty() => CopySource::Table(table_name.to_string()),
                AstSource::Table {
                    table_name,
                    columns,
                } => {
                    let list: Vec<String> = columns.iter().map(ToString::to_string).collect();
                    CopySource::Query(format!("SELECT {} FROM {table_name}", list.join(", ")))
                }
                AstSource::Query(q) => CopySource::Query(q.to_string()),
            };
            out.push(Arc::new(CopySpec {
                source,
                format,
                unqualified,
            }));
        }
    }
    Ok(Some(out))
}

fn one_byte(what: &str, c: char) -> Result<u8, String> {
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| format!("COPY {what} '{c}' is not a one-byte character"))
}

/// The data layout a COPY's options ask for.
fn format_of(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyFormat, String> {
    let mut name = "text".to_owned();
    let (mut delimiter, mut quote, mut escape, mut null, mut header) =
        (None, None, None, None, false);
    for o in options {
        match o {
            CopyOption::Format(f) => name = f.value.to_ascii_lowercase(),
            CopyOption::Delimiter(c) => delimiter = Some(one_byte("DELIMITER", *c)?),
            CopyOption::Null(s) => null = Some(s.clone()),
            CopyOption::Header(h) => header = *h,
            CopyOption::Quote(c) => quote = Some(one_byte("QUOTE", *c)?),
            CopyOption::Escape(c) => escape = Some(one_byte("ESCAPE", *c)?),
            CopyOption::Encoding(e) => {
                let e = e.to_ascii_lowercase().replace(['-', '_'], "");
                if e != "utf8" && e != "unicode" {
                    return Err(format!(
                        "COPY ENCODING '{e}' is not supported by masking; use UTF-8"
                    ));
                }
            }
            CopyOption::ForceQuote(_)
            | CopyOption::ForceNotNull(_)
            | CopyOption::ForceNull(_)
            | CopyOption::Freeze(_) => {}
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Binary => name = "binary".into(),
            CopyLegacyOption::Delimiter(c) => delimiter = Some(one_byte("DELIMITER", *c)?),
            CopyLegacyOption::Null(s) => null = Some(s.clone()),
            CopyLegacyOption::Header => header = true,
            CopyLegacyOption::Csv(csv) => {
                name = "csv".into();
                for c in csv {
                    match c {
                        CopyLegacyCsvOption::Header => header = true,
                        CopyLegacyCsvOption::Quote(q) => quote = Some(one_byte("QUOTE", *q)?),
                        CopyLegacyCsvOption::Escape(e) => escape = Some(one_byte("ESCAPE", *e)?),
                        CopyLegacyCsvOption::ForceQuote(_)
                        | CopyLegacyCsvOption::ForceNotNull(_) => {}
                    }
                }
            }
            other => {
                return Err(format!("COPY option {other} is not supported by masking"));
            }
        }
    }
    match name.as_str() {
        "text" => Ok(CopyFormat::Text {
            delimiter: delimiter.unwrap_or(b'\t'),
            null: null.unwrap_or_else(|| "\\N".into()).into_bytes().into(),
            header,
        }),
        "csv" => {
            let quote = quote.unwrap_or(b'"');
            Ok(CopyFormat::Csv {
                delimiter: delimiter.unwrap_or(b','),
                quote,
                escape: escape.unwrap_or(quote),
                null: null.unwrap_or_default().into_bytes().into(),
                header,
            })
        }
        "binary" => Ok(CopyFormat::Binary),
        other => Err(format!("COPY FORMAT {other} is not supported by masking")),
    }
}

/// Reads a CopyOutResponse: whether it is binary, and its column count.
fn copy_out_shape(frame: &Frame) -> Option<(bool, usize)> {
    let body = frame.body();
    let binary = *body.first()? == 1;
    let count = u16::from_be_bytes([*body.get(1)?, *body.get(2)?]);
    Some((binary, usize::from(count)))
}

impl Session {
    /// The COPY statements of a `Query` or `Parse` to pair with it once allowed, when the
    /// session's profiles have column rules (`None`: nothing to pair). `Err`: the
    /// statement must be refused, for this reason. Read when the statement arrives, so the
    /// caller's audit record can say it was refused.
    pub(super) fn copy_specs_for(
        &mut self,
        frame: &Frame,
    ) -> Result<Option<Vec<Arc<CopySpec>>>, String> {
        let needs = match &self.mask {
            MaskMode::Off => false,
            MaskMode::On(s) => s.masking.as_ref().is_none_or(|m| column_rules(m.maskers())),
            MaskMode::Undecided => true,
        };
        if !needs {
            return Ok(None);
        }
        let sql = match frame.frontend() {
            Ok(FrontendMessage::Query { sql } | FrontendMessage::Parse { sql, .. }) => sql,
            _ => return Ok(None),
        };
        // What may move the schema an unqualified name resolves in: a `search_path`
        // setting in any spelling, `SET SCHEMA`, `set_config` (whose name may be escaped),
        // or a change of role (`$user`). Then an unqualified COPY fails closed.
        let (copy, moves_schema) = self.words.get(sql, scan_words);
        if moves_schema {
            self.search_path_changed = true;
        }
        if !copy {
            return Ok(None);
        }
        Ok(Some(specs(sql)?.unwrap_or_default()))
    }

    /// Pairs the COPY statements of the frame just queued for the server with it.
    pub(super) fn attach_copies(&mut self, specs: Vec<Arc<CopySpec>>) -> Result<(), PgError> {
        self.track_sent()?;
        if let MaskMode::On(s) = &mut self.mask {
            s.tracker.attach_copies(specs);
        }
        Ok(())
    }

    /// A CopyOutResponse under column rules: resolve its fields, or fail closed. `false`
    /// when the session must wait for [`Session::handle_copy_columns`].
    pub(super) fn copy_out_started(&mut self, frame: Frame) -> Result<bool, PgError> {
        // The session's startup search_path: a parameter, or `-c search_path=…` in
        // `options` (which PostgreSQL applies after the parameters).
        let search_path = self.client.as_ref().and_then(|c| {
            c.options
                .iter()
                .chain(c.settings.iter())
                .find(|(k, _)| k.eq_ignore_ascii_case("search_path"))
                .map(|(_, v)| v.clone())
        });
        let search_path_changed = self.search_path_changed;
        let role = self
            .identity
            .as_ref()
            .and_then(|id| super::startup::pick_role(id, &self.config).ok().flatten())
            .map(str::to_owned);
        let MaskMode::On(s) = &mut self.mask else {
            self.to_client.extend_from_slice(frame.raw());
            return Ok(true);
        };
        let (binary, columns) = copy_out_shape(&frame).ok_or(PgError::Malformed {
            side: crate::pg::error::Side::Upstream,
            tag: crate::pg::error::Tag(b'H'),
            what: "CopyOutResponse too short",
        })?;
        s.tracker.copy = Some(binary);
        let spec = s.tracker.copy_spec();
        let usable = spec.filter(|sp| {
            matches!(sp.format, CopyFormat::Binary) == binary
                && !(sp.unqualified && search_path_changed)
        });
        match usable {
            Some(sp) => {
                self.events.push_back(Event::ResolveCopy(CopyRequest {
                    source: sp.source.clone(),
                    search_path,
                    role,
                }));
                s.awaiting_copy = Some(AwaitingCopy {
                    frame,
                    format: sp.format.clone(),
                    columns,
                    binary,
                });
                Ok(false)
            }
            None => {
                let awaiting = AwaitingCopy {
                    frame,
                    format: CopyFormat::default_for(binary),
                    columns,
                    binary,
                };
                self.copy_resolved(awaiting, None);
                Ok(true)
            }
        }
    }

    /// The answer to [`Event::ResolveCopy`](super::Event::ResolveCopy): the COPY's
    /// fields in order, or why they could not be named (then every field is masked as
    /// an unidentified column).
    pub fn handle_copy_columns(
        &mut self,
        now: Timestamp,
        answer: Result<Vec<CopyField>, String>,
    ) -> Result<(), PgError> {
        self.check()?;
        self.record_clock(now);
        let awaiting = match &mut self.mask {
            MaskMode::On(s) => s.awaiting_copy.take(),
            _ => None,
        };
        let Some(awaiting) = awaiting else {
            return Err(self.fail(PgError::BadInput {
                input: "handle_copy_columns",
                state: "not resolving COPY columns",
            }));
        };
        self.copy_resolved(awaiting, answer.ok());
        let r = self.process_upstream(now);
        self.settle(r)
    }

    /// Plans the COPY's fields and forwards its CopyOutResponse.
    fn copy_resolved(&mut self, awaiting: AwaitingCopy, found: Option<Vec<CopyField>>) {
        let MaskMode::On(s) = &mut self.mask else {
            return;
        };
        let Some(masking) = s.masking.clone() else {
            return;
        };
        let format = u16::from(awaiting.binary);
        let fields: Vec<Field> = match found.filter(|f| f.len() == awaiting.columns) {
            Some(found) => found
                .into_iter()
                .enumerate()
                .map(|(i, f)| Field {
                    label: format!("column {}", i + 1).into(),
                    key: None,
                    type_oid: f.type_oid,
                    format,
                    lineage: f
                        .column
                        .map_or(Lineage::Expression, |q| Lineage::Known(Arc::new(q))),
                })
                .collect(),
            None => (0..awaiting.columns)
                .map(|i| Field {
                    label: format!("column {}", i + 1).into(),
                    key: None,
                    type_oid: UNKNOWN_TYPE,
                    format,
                    lineage: Lineage::Unknown,
                })
                .collect(),
        };
        let plan = Plan::new(
            &fields,
            &Formats::default(),
            masking.maskers(),
            &mut s.tracker.memo,
        );
        s.tracker.copy_out = Some(CopyOut {
            plan: Arc::new(plan),
            header_left: awaiting.format.header(),
            format: awaiting.format,
        });
        self.to_client.extend_from_slice(awaiting.frame.raw());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn one_scan_finds_what_word_by_word_search_finds(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("CoPy".to_owned()),
                    Just("SEARCH_path".to_owned()),
                    Just("sChema".to_owned()),
                    Just("set_config".to_owned()),
                    Just("ROLE".to_owned()),
                    Just("session_AUTHORIZATION".to_owned()),
                    "[a-zA-Z_ ;()']{0,6}",
                ],
                0..8,
            ),
        ) {
            let sql = parts.concat();
            let copy = mentions(sql.as_bytes(), "copy");
            let moves = WORDS[1..].iter().any(|w| mentions(sql.as_bytes(), w));
            prop_assert_eq!(scan_words(sql.as_bytes()), (copy, moves));
        }
    }
}
