//! Run-time settings: which are ordinary session state and which change who the session is,
//! what gets logged or how the server reads the text that follows; and the `SET`, `RESET`,
//! `SHOW` and `DISCARD` statements, classified from tokens (their grammar is small and holds
//! no expressions, so the tokens say everything).

use super::lexer::{Kind, Tok, ident_value, str_value};
use crate::class::{Class, ClassSet};

/// A change of the session's `search_path` seen in the analysed text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SearchPathChange {
    /// The new schemas, in order; empty when the setting goes back to the server's default
    /// (`RESET search_path`, `SET search_path TO DEFAULT`).
    pub schemas: Vec<String>,
    /// `SET LOCAL` (or `set_config(…, true)`): the change ends with the transaction.
    pub local: bool,
}

/// Settings whose change is a change of identity: `dcl`.
const IDENTITY: &[&str] = &["role", "session_authorization"];

/// Settings an ordinary session must not change unseen: `admin`.
const PROTECTED: &[&str] = &[
    "session_replication_role",
    "standard_conforming_strings",
    "backslash_quote",
    "client_encoding",
    "session_preload_libraries",
    "local_preload_libraries",
    "shared_preload_libraries",
    "dynamic_library_path",
    "event_triggers",
    "allow_system_table_mods",
    "allow_in_place_tablespaces",
    "ignore_system_indexes",
    "ignore_checksum_failure",
    "zero_damaged_pages",
    "lo_compat_privileges",
    "row_security",
    "compute_query_id",
    "max_stack_depth",
    "jit_provider",
    "data_directory",
    "config_file",
    "hba_file",
    "archive_command",
    "restore_command",
    "ssl",
    "password_encryption",
];

/// Prefixes of protected settings (`log_*` and the settings of auditing extensions).
const PROTECTED_PREFIXES: &[&str] = &[
    "log_",
    "debug_",
    "trace_",
    "track_",
    "wal_",
    "syslog_",
    "gatekit.",
    "pgaudit.",
    "auto_explain.",
    "pg_stat_statements.",
    "anon.",
    "sepgsql.",
];

/// The class of changing setting `name` (lower case) to `value` (`None`: unknown or not a
/// literal). `extra` holds configured names, a trailing `*` matching any suffix.
pub(crate) fn setting_class(name: &str, value: Option<&str>, extra: &[String]) -> Class {
    if IDENTITY.contains(&name) {
        return Class::Dcl;
    }
    let value = value.map(str::trim);
    match name {
        // The gateway reads text as UTF-8 with standard-conforming strings; a session that
        // changes either would be read differently by the server than by the gateway.
        "client_encoding" | "names" => {
            return match value {
                Some(v) if is_utf8_name(v) || v.eq_ignore_ascii_case("default") => Class::Session,
                _ => Class::Admin,
            };
        }
        "standard_conforming_strings" => {
            return match value {
                Some(v)
                    if ["on", "true", "yes", "1", "default"]
                        .iter()
                        .any(|t| v.eq_ignore_ascii_case(t)) =>
                {
                    Class::Session
                }
                _ => Class::Admin,
            };
        }
        _ => {}
    }
    if PROTECTED.contains(&name) || PROTECTED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Class::Admin;
    }
    for e in extra {
        let hit = match e.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => e == name,
        };
        if hit {
            return Class::Admin;
        }
    }
    Class::Session
}

fn is_utf8_name(v: &str) -> bool {
    ["utf8", "utf-8", "unicode", "utf_8"]
        .iter()
        .any(|n| v.eq_ignore_ascii_case(n))
}

/// What a `SET`/`RESET`/`SHOW`/`DISCARD` statement is.
pub(crate) struct SetOutcome {
    pub classes: ClassSet,
    pub search_path: Option<SearchPathChange>,
}

fn lower(src: &str, toks: &[Tok], i: usize) -> Option<String> {
    ident_value(src, toks, i).map(|v| v.to_ascii_lowercase())
}

/// Classifies a statement whose first token is `SET`, `RESET`, `SHOW` or `DISCARD`.
/// `toks` is the statement's tokens.
pub(crate) fn classify_set_family(src: &str, toks: &[Tok], extra: &[String]) -> Option<SetOutcome> {
    let first = toks.first()?;
    let kw = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_kw(src, w));
    let one = |c: Class| SetOutcome {
        classes: ClassSet::of(c),
        search_path: None,
    };
    if first.is_kw(src, "show") {
        return Some(SetOutcome {
            classes: ClassSet::of(Class::Session).union(ClassSet::of(Class::Read)),
            search_path: None,
        });
    }
    if first.is_kw(src, "discard") {
        // DISCARD ALL includes SET SESSION AUTHORIZATION DEFAULT and RESET ALL: it undoes
        // the role the gateway set for the session.
        return Some(one(if kw(1, "all") {
            Class::Dcl
        } else {
            Class::Session
        }));
    }
    if first.is_kw(src, "reset") {
        if kw(1, "all") || kw(1, "role") {
            return Some(one(Class::Dcl));
        }
        if kw(1, "session") && kw(2, "authorization") {
            return Some(one(Class::Dcl));
        }
        let name = setting_name(src, toks, 1)?;
        if name.0 == "search_path" {
            return Some(SetOutcome {
                classes: ClassSet::of(Class::Session),
                search_path: Some(SearchPathChange {
                    schemas: Vec::new(),
                    local: false,
                }),
            });
        }
        return Some(one(setting_class(&name.0, None, extra)));
    }
    if !first.is_kw(src, "set") {
        return None;
    }
    let mut i = 1;
    let mut local = false;
    if kw(i, "session") && kw(i + 1, "authorization") {
        return Some(one(Class::Dcl));
    }
    if kw(i, "session") && kw(i + 1, "characteristics") {
        return Some(one(Class::Session));
    }
    if kw(i, "local") || kw(i, "session") {
        local = kw(i, "local");
        i += 1;
    }
    if kw(i, "role") || (kw(i, "session") && kw(i + 1, "authorization")) {
        return Some(one(Class::Dcl));
    }
    if kw(i, "transaction") || kw(i, "constraints") || (kw(i, "time") && kw(i + 1, "zone")) {
        return Some(one(Class::Session));
    }
    if kw(i, "names") {
        let v = value_text(src, toks, i + 1);
        return Some(one(setting_class("names", v.as_deref(), extra)));
    }
    if kw(i, "schema") {
        let v = value_text(src, toks, i + 1)?;
        return Some(SetOutcome {
            classes: ClassSet::of(Class::Session),
            search_path: Some(SearchPathChange {
                schemas: vec![v],
                local,
            }),
        });
    }
    let (name, next) = setting_name(src, toks, i)?;
    let mut j = next;
    let is_assign = toks
        .get(j)
        .is_some_and(|t| t.is_kw(src, "to") || (t.kind == Kind::Op && t.text(src) == "="));
    if !is_assign {
        return None;
    }
    j += 1;
    if name == "search_path" {
        let mut schemas = Vec::new();
        if kw(j, "default") {
            return Some(SetOutcome {
                classes: ClassSet::of(Class::Session),
                search_path: Some(SearchPathChange { schemas, local }),
            });
        }
        while j < toks.len() {
            let t = toks[j];
            let v = if t.is_str() {
                str_value(src, toks, j).map(|c| c.into_owned())
            } else if t.is_name() {
                ident_value(src, toks, j).map(|c| c.into_owned())
            } else {
                None
            };
            schemas.push(v?);
            j += 1;
            match toks.get(j) {
                Some(t) if t.kind == Kind::Comma => j += 1,
                None => break,
                Some(_) => return None,
            }
        }
        return Some(SetOutcome {
            classes: ClassSet::of(Class::Session),
            search_path: Some(SearchPathChange { schemas, local }),
        });
    }
    let v = value_text(src, toks, j);
    Some(one(setting_class(&name, v.as_deref(), extra)))
}

/// A setting name at `i` (`name` or `ext.name`), lower-cased, and the index after it.
fn setting_name(src: &str, toks: &[Tok], i: usize) -> Option<(String, usize)> {
    let mut name = lower(src, toks, i)?;
    let mut j = i + 1;
    while toks.get(j).is_some_and(|t| t.kind == Kind::Dot) {
        name.push('.');
        name.push_str(&lower(src, toks, j + 1)?);
        j += 2;
    }
    Some((name, j))
}

/// The first value of a `SET … TO value`: a literal, a name or a number, as text.
fn value_text(src: &str, toks: &[Tok], i: usize) -> Option<String> {
    let t = toks.get(i)?;
    match t.kind {
        Kind::Str(_) => str_value(src, toks, i).map(|c| c.into_owned()),
        Kind::Ident | Kind::QuotedIdent | Kind::UnicodeIdent => {
            ident_value(src, toks, i).map(|c| c.into_owned())
        }
        Kind::Number => Some(t.text(src).to_owned()),
        _ => None,
    }
}

/// Parses the value of `search_path` as given to `set_config`: comma-separated names,
/// double-quoted ones keeping their case.
pub(crate) fn parse_search_path(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(q) => q.replace("\"\"", "\""),
                None => s.to_ascii_lowercase(),
            },
        )
        .collect()
}
