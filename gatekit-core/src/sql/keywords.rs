//! Classification from a statement's leading key words: the whole story for statements whose
//! grammar holds no queries (`ALTER SYSTEM`, `REINDEX`, `DO`, `SET` …), and the fallback for
//! statements the parser refused.

use std::borrow::Cow;

use super::lexer::{Kind, StrKind, Tok, ident_value};
use super::objects::qualify;
use super::settings::{SearchPathChange, classify_set_family, setting_class};
use crate::class::{Class, ClassSet};

/// What the key words say about one statement.
#[derive(Debug, Default)]
pub(crate) struct Lexical {
    pub classes: ClassSet,
    /// Command tag (`SELECT`, `ALTER SYSTEM`, …); `UNKNOWN` when unrecognised.
    pub tag: &'static str,
    /// The statement's form is recognised completely: no `unparsed` even when the parser
    /// refused it.
    pub confident: bool,
    pub has_where: bool,
    pub tables: Vec<String>,
    pub search_path: Option<SearchPathChange>,
}

/// One step of the walk: the classes of the statement head at `toks[0]`, and where an
/// executed inner statement starts, if any (`EXPLAIN ANALYZE x`, `PREPARE p AS x`).
struct Step {
    classes: ClassSet,
    tag: &'static str,
    confident: bool,
    inner: Option<usize>,
}

fn set(cs: &[Class]) -> ClassSet {
    cs.iter().copied().collect()
}

/// Classifies one statement's tokens.
pub(crate) fn classify(
    src: &str,
    toks: &[Tok],
    search_path: &[String],
    extra_settings: &[String],
) -> Lexical {
    let mut out = Lexical {
        tag: "UNKNOWN",
        ..Lexical::default()
    };
    let mut start = 0usize;
    let mut first = true;
    // Iterative, not recursive: `EXPLAIN ANALYZE EXPLAIN ANALYZE …` nests without bound.
    while start < toks.len() {
        let Some(rest) = toks.get(start..) else { break };
        let step = step(src, rest, extra_settings, &mut out);
        out.classes |= step.classes;
        if first {
            out.tag = step.tag;
            out.confident = step.confident;
            first = false;
        } else {
            out.confident &= step.confident;
        }
        match step.inner {
            Some(n) if n > 0 => start += n,
            _ => break,
        }
    }
    if toks.first().is_some_and(|t| {
        ["vacuum", "analyze", "analyse", "cluster", "reindex"]
            .iter()
            .any(|w| t.is_kw(src, w))
    }) {
        maintenance_tables(src, toks, search_path, &mut out.tables);
    } else if out.tag != "IMPORT FOREIGN SCHEMA" {
        collect_tables(src, toks, search_path, &mut out.tables);
    }
    out.has_where = toks.iter().any(|t| t.is_kw(src, "where"));
    if !out.confident {
        out.classes |= nested_heads(src, toks);
    }
    out
}

/// For statements not fully understood: statements opened inside brackets (`COPY (DELETE …)`,
/// `WITH x AS (UPDATE …)`), taken at their worst since their conditions are not read.
fn nested_heads(src: &str, toks: &[Tok]) -> ClassSet {
    let mut c = ClassSet::EMPTY;
    for w in toks.windows(2) {
        if w[0].kind != Kind::LParen || w[1].kind != Kind::Ident {
            continue;
        }
        let t = &w[1];
        if t.is_kw(src, "delete") || t.is_kw(src, "update") {
            c.insert(Class::Write);
            c.insert(Class::BulkWrite);
        } else if t.is_kw(src, "insert") || t.is_kw(src, "merge") {
            c.insert(Class::Write);
        } else if t.is_kw(src, "truncate") {
            c.insert(Class::BulkWrite);
            c.insert(Class::Destructive);
        } else if t.is_kw(src, "drop") {
            c.insert(Class::Ddl);
            c.insert(Class::Destructive);
        }
    }
    c
}

fn step(src: &str, toks: &[Tok], extra_settings: &[String], out: &mut Lexical) -> Step {
    // `(SELECT 1)`: parenthesised queries.
    let lead = toks.iter().take_while(|t| t.kind == Kind::LParen).count();
    let kw = |i: usize, w: &str| toks.get(lead + i).is_some_and(|t| t.is_kw(src, w));
    let any_kw = |w: &str| toks.iter().any(|t| t.is_kw(src, w));
    let mk = |classes: ClassSet, tag: &'static str, confident: bool| Step {
        classes,
        tag,
        confident,
        inner: None,
    };
    let Some(first) = toks.get(lead) else {
        return mk(ClassSet::EMPTY, "UNKNOWN", false);
    };
    if first.kind != Kind::Ident {
        return mk(ClassSet::EMPTY, "UNKNOWN", false);
    }
    let word = first.text(src).to_ascii_lowercase();
    let dml_where = |c: &mut ClassSet| {
        if any_kw("where") {
            c.insert(Class::Write);
        } else {
            c.insert(Class::BulkWrite);
        }
    };
    match word.as_str() {
        "select" | "values" => mk(set(&[Class::Read]), "SELECT", false),
        "table" => {
            // TABLE [ONLY] name [*]: a whole-table read.
            let mut i = 1;
            if kw(i, "only") {
                i += 1;
            }
            let ok = name_end(toks, lead + i).is_some_and(|e| {
                let e = if toks
                    .get(e)
                    .is_some_and(|t| t.kind == Kind::Op && t.text(src) == "*")
                {
                    e + 1
                } else {
                    e
                };
                e == toks.len()
            });
            mk(set(&[Class::Read]), "SELECT", ok && lead == 0)
        }
        "with" => {
            let mut c = set(&[Class::Read]);
            if any_kw("insert") || any_kw("merge") {
                c.insert(Class::Write);
            }
            if any_kw("update") || any_kw("delete") {
                c.insert(Class::Write);
                c.insert(Class::BulkWrite);
            }
            mk(c, "SELECT", false)
        }
        "show" | "set" | "reset" | "discard" => {
            match classify_set_family(src, toks, extra_settings) {
                Some(o) => {
                    out.search_path = o.search_path;
                    let tag = match word.as_str() {
                        "show" => "SHOW",
                        "set" => "SET",
                        "reset" => "RESET",
                        _ => "DISCARD",
                    };
                    mk(o.classes, tag, true)
                }
                None => mk(set(&[Class::Session]), "SET", false),
            }
        }
        "insert" => mk(set(&[Class::Write]), "INSERT", false),
        "update" => {
            let mut c = ClassSet::EMPTY;
            dml_where(&mut c);
            mk(c, "UPDATE", false)
        }
        "delete" => {
            let mut c = ClassSet::EMPTY;
            dml_where(&mut c);
            mk(c, "DELETE", false)
        }
        "merge" => {
            let mut c = set(&[Class::Write]);
            if any_kw("delete") {
                c.insert(Class::BulkWrite);
            }
            mk(c, "MERGE", false)
        }
        "truncate" => mk(
            set(&[Class::BulkWrite, Class::Destructive]),
            "TRUNCATE",
            false,
        ),
        "drop" => {
            let mut c = set(&[Class::Destructive, Class::Ddl]);
            if kw(1, "role") || kw(1, "user") || kw(1, "group") || kw(1, "owned") {
                c.insert(Class::Dcl);
            }
            let confident = kw(1, "owned") && kw(2, "by");
            mk(c, "DROP", confident)
        }
        "create" | "alter" => create_alter(src, toks, lead, &word, extra_settings),
        "comment" => mk(set(&[Class::Ddl]), "COMMENT", false),
        "security" if kw(1, "label") => mk(set(&[Class::Ddl]), "SECURITY LABEL", true),
        "import" if kw(1, "foreign") => mk(set(&[Class::Ddl]), "IMPORT FOREIGN SCHEMA", true),
        "grant" => mk(set(&[Class::Dcl]), "GRANT", true),
        "revoke" => mk(set(&[Class::Dcl]), "REVOKE", true),
        "reassign" if kw(1, "owned") => mk(set(&[Class::Dcl]), "REASSIGN OWNED", true),
        "begin" | "start" | "commit" | "end" | "rollback" | "abort" | "savepoint" | "release" => {
            mk(set(&[Class::Session]), "TRANSACTION", true)
        }
        "prepare" if kw(1, "transaction") => {
            mk(set(&[Class::Session]), "PREPARE TRANSACTION", true)
        }
        "prepare" => {
            // PREPARE name [(types)] AS statement: the statement runs at EXECUTE.
            let as_at = toks.iter().position(|t| t.is_kw(src, "as"));
            Step {
                classes: set(&[Class::Procedural]),
                tag: "PREPARE",
                confident: false,
                inner: as_at.map(|a| a + 1),
            }
        }
        "execute" => mk(set(&[Class::Procedural]), "EXECUTE", false),
        "deallocate" => mk(set(&[Class::Session]), "DEALLOCATE", true),
        "do" => mk(set(&[Class::Procedural]), "DO", do_shape(src, toks)),
        "call" => mk(set(&[Class::Procedural]), "CALL", false),
        "copy" => mk(copy_classes(src, toks), "COPY", false),
        "explain" => {
            let (analyze, inner) = explain_head(src, toks);
            Step {
                classes: set(&[Class::Read]),
                tag: "EXPLAIN",
                confident: false,
                inner: if analyze { inner } else { None },
            }
        }
        "vacuum" => {
            let full = toks.iter().any(|t| t.is_kw(src, "full"));
            mk(
                set(&[if full { Class::Admin } else { Class::Write }]),
                "VACUUM",
                true,
            )
        }
        "analyze" | "analyse" => mk(set(&[Class::Write]), "ANALYZE", true),
        "cluster" => mk(set(&[Class::Admin]), "CLUSTER", true),
        "reindex" => mk(set(&[Class::Admin]), "REINDEX", true),
        "checkpoint" => mk(set(&[Class::Admin]), "CHECKPOINT", toks.len() == 1),
        "load" => mk(set(&[Class::Admin]), "LOAD", true),
        "lock" => mk(set(&[Class::Admin]), "LOCK", true),
        "listen" | "unlisten" => mk(set(&[Class::Session]), "LISTEN", true),
        "notify" => mk(set(&[Class::Write]), "NOTIFY", true),
        "declare" => {
            let for_at = toks.iter().position(|t| t.is_kw(src, "for"));
            Step {
                classes: set(&[Class::Read]),
                tag: "DECLARE CURSOR",
                confident: false,
                inner: for_at.map(|f| f + 1),
            }
        }
        "fetch" => mk(set(&[Class::Read]), "FETCH", true),
        "move" | "close" => mk(set(&[Class::Session]), "CLOSE", true),
        "refresh" => mk(set(&[Class::Write]), "REFRESH MATERIALIZED VIEW", false),
        _ => mk(ClassSet::EMPTY, "UNKNOWN", false),
    }
}

fn create_alter(
    src: &str,
    toks: &[Tok],
    lead: usize,
    word: &str,
    extra_settings: &[String],
) -> Step {
    let kw = |i: usize, w: &str| toks.get(lead + i).is_some_and(|t| t.is_kw(src, w));
    let any_kw = |w: &str| toks.iter().any(|t| t.is_kw(src, w));
    let create = word == "create";
    let tag = if create { "CREATE" } else { "ALTER" };
    let mut c = set(&[Class::Ddl]);
    let mut confident = false;
    // Skip CREATE's modifiers to find the object type.
    let mut i = 1;
    while [
        "or",
        "replace",
        "temp",
        "temporary",
        "unlogged",
        "global",
        "local",
        "trusted",
        "procedural",
        "constraint",
        "unique",
        "recursive",
    ]
    .iter()
    .any(|w| kw(i, w))
    {
        i += 1;
    }
    let obj = toks
        .get(lead + i)
        .filter(|t| t.kind == Kind::Ident)
        .map(|t| t.text(src).to_ascii_lowercase())
        .unwrap_or_default();
    match obj.as_str() {
        "system" if !create => {
            return Step {
                classes: set(&[Class::Admin]),
                tag: "ALTER SYSTEM",
                confident: true,
                inner: None,
            };
        }
        "role" | "user" | "group" => {
            c = set(&[Class::Dcl]);
            confident = true;
        }
        "default" if kw(i + 1, "privileges") => {
            c = set(&[Class::Dcl]);
            confident = true;
        }
        "extension" | "language" | "subscription" | "tablespace" | "event" => {
            c.insert(Class::Admin);
            confident = create;
        }
        "function" | "procedure" if create => {
            c.insert(Class::Procedural);
            confident = true;
        }
        "database" if !create => {}
        _ => {}
    }
    if !create && any_kw("owner") {
        c.insert(Class::Dcl);
    }
    // ALTER ROLE/DATABASE/FUNCTION … SET setting: the setting applies to later sessions or
    // calls, so a protected one counts as changing it.
    if !create
        && matches!(
            obj.as_str(),
            "role" | "user" | "group" | "database" | "function" | "procedure" | "routine"
        )
        && let Some(k) = toks.iter().position(|t| t.is_kw(src, "set"))
        && let Some(name) = ident_value(src, toks, k + 1)
    {
        let name = name.to_ascii_lowercase();
        let value = toks.get(k + 3).and_then(|t| {
            if t.is_str() {
                super::lexer::str_value(src, toks, k + 3).map(Cow::into_owned)
            } else {
                Some(t.text(src).to_owned())
            }
        });
        match setting_class(&name, value.as_deref(), extra_settings) {
            Class::Session => {}
            other => c.insert(other),
        }
    }
    // Functions in C or internal code, or in an untrusted language, run with the server's
    // own rights.
    if create
        && matches!(obj.as_str(), "function" | "procedure")
        && let Some(k) = toks.iter().position(|t| t.is_kw(src, "language"))
        && let Some(lang) = toks
            .get(k + 1)
            .map(|t| t.text(src).trim_matches(['\'', '"']).to_ascii_lowercase())
        && (["c", "internal"].contains(&lang.as_str()) || lang.ends_with('u'))
    {
        c.insert(Class::Admin);
    }
    if !create && (any_kw("disable") || any_kw("no")) && any_kw("security") {
        c.insert(Class::Dcl);
    }
    if !create && any_kw("disable") && any_kw("trigger") {
        c.insert(Class::Admin);
    }
    if create
        && any_kw("as")
        && (any_kw("select") || any_kw("table") || any_kw("values"))
        && !matches!(obj.as_str(), "function" | "procedure")
    {
        c.insert(Class::Read);
    }
    Step {
        classes: c,
        tag,
        confident,
        inner: None,
    }
}

/// `DO [LANGUAGE l] 'code' [LANGUAGE l]` and nothing else.
fn do_shape(src: &str, toks: &[Tok]) -> bool {
    let mut i = 1;
    let lang = |i: usize| {
        toks.get(i).is_some_and(|t| t.is_kw(src, "language"))
            && toks.get(i + 1).is_some_and(|t| t.is_name() || t.is_str())
    };
    if lang(i) {
        i += 2;
    }
    if !toks.get(i).is_some_and(|t| t.is_str()) {
        return false;
    }
    i += 1;
    if lang(i) {
        i += 2;
    }
    i == toks.len()
}

/// COPY: to the client is `read`, from the client `write`; a server file or program adds
/// `admin`.
fn copy_classes(src: &str, toks: &[Tok]) -> ClassSet {
    let mut depth = 0usize;
    let mut dir = None;
    let mut target = None;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::LParen => depth += 1,
            Kind::RParen => depth = depth.saturating_sub(1),
            Kind::Ident
                if depth == 0 && dir.is_none() && (t.is_kw(src, "to") || t.is_kw(src, "from")) =>
            {
                dir = Some(t.is_kw(src, "to"));
                target = toks.get(i + 1).copied();
            }
            _ => {}
        }
    }
    let mut c = ClassSet::EMPTY;
    match dir {
        Some(true) => c.insert(Class::Read),
        Some(false) => c.insert(Class::Write),
        None => {
            c.insert(Class::Read);
            c.insert(Class::Write);
        }
    }
    let client = target.is_some_and(|t| t.is_kw(src, "stdout") || t.is_kw(src, "stdin"));
    if !client {
        c.insert(Class::Admin);
    }
    c
}

/// Whether an EXPLAIN runs its statement, and where that statement starts.
fn explain_head(src: &str, toks: &[Tok]) -> (bool, Option<usize>) {
    let mut i = 1;
    let mut analyze = false;
    if toks.get(i).is_some_and(|t| t.kind == Kind::LParen) {
        // EXPLAIN (option [value], …)
        let mut depth = 0usize;
        while i < toks.len() {
            let t = toks[i];
            match t.kind {
                Kind::LParen => depth += 1,
                Kind::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                Kind::Ident if t.is_kw(src, "analyze") || t.is_kw(src, "analyse") => {
                    let off = toks.get(i + 1).is_some_and(|v| {
                        ["false", "off", "0"]
                            .iter()
                            .any(|w| v.text(src).eq_ignore_ascii_case(w))
                            || (v.kind == Kind::Str(StrKind::Plain)
                                && ["'false'", "'off'", "'0'"]
                                    .iter()
                                    .any(|w| v.text(src).eq_ignore_ascii_case(w)))
                    });
                    analyze |= !off;
                }
                _ => {}
            }
            i += 1;
        }
    } else {
        while toks.get(i).is_some_and(|t| {
            ["analyze", "analyse", "verbose"]
                .iter()
                .any(|w| t.is_kw(src, w))
        }) {
            analyze |= !toks[i].is_kw(src, "verbose");
            i += 1;
        }
    }
    (analyze, (i < toks.len()).then_some(i))
}

/// End of a possibly qualified name starting at `i`.
fn name_end(toks: &[Tok], i: usize) -> Option<usize> {
    if !toks.get(i)?.is_name() {
        return None;
    }
    let mut j = i + 1;
    while toks.get(j).is_some_and(|t| t.kind == Kind::Dot)
        && toks.get(j + 1).is_some_and(|t| t.is_name())
    {
        j += 2;
    }
    Some(j)
}

/// Table names after the key words that introduce them, for statements the parser refused.
fn collect_tables(src: &str, toks: &[Tok], search_path: &[String], out: &mut Vec<String>) {
    const INTRO: &[&str] = &[
        "from", "join", "into", "update", "table", "truncate", "only", "lock", "copy", "using",
    ];
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Ident || !INTRO.iter().any(|w| t.is_kw(src, w)) {
            continue;
        }
        let mut j = i + 1;
        if toks.get(j).is_some_and(|t| t.is_kw(src, "only")) {
            j += 1;
        }
        let Some(end) = name_end(toks, j) else {
            continue;
        };
        if toks.get(end).is_some_and(|t| t.kind == Kind::LParen) && !t.is_kw(src, "into") {
            // A function in FROM.
            continue;
        }
        let parts: Vec<Cow<'_, str>> = (j..end)
            .step_by(2)
            .filter_map(|k| ident_value(src, toks, k))
            .collect();
        if parts.len() != (end - j).div_ceil(2) || parts.is_empty() {
            continue;
        }
        if parts.len() == 1 && is_reserved(&parts[0]) && toks[j].kind == Kind::Ident {
            continue;
        }
        let q = qualify(&parts, search_path, false);
        if !out.contains(&q) {
            out.push(q);
        }
    }
}

fn is_reserved(w: &str) -> bool {
    [
        "select", "lateral", "only", "values", "with", "table", "set", "where", "stdin", "stdout",
        "program",
    ]
    .contains(&w)
}

/// The tables of `VACUUM [(options)] [FULL …] a, b (col)`, `ANALYZE …`, `CLUSTER t`,
/// `REINDEX TABLE t`.
fn maintenance_tables(src: &str, toks: &[Tok], search_path: &[String], out: &mut Vec<String>) {
    const SKIP: &[&str] = &[
        "full",
        "freeze",
        "verbose",
        "analyze",
        "analyse",
        "table",
        "concurrently",
        "index",
        "using",
    ];
    let mut i = 1;
    if toks.get(i).is_some_and(|t| t.kind == Kind::LParen) {
        let close = toks.iter().skip(i).position(|t| t.kind == Kind::RParen);
        i += close.map_or(toks.len(), |c| c + 1);
    }
    if toks.first().is_some_and(|t| t.is_kw(src, "reindex"))
        && !toks.get(i).is_some_and(|t| t.is_kw(src, "table"))
    {
        // REINDEX INDEX/SCHEMA/DATABASE/SYSTEM: not a table.
        return;
    }
    while toks
        .get(i)
        .is_some_and(|t| SKIP.iter().any(|w| t.is_kw(src, w)))
    {
        i += 1;
    }
    while let Some(end) = name_end(toks, i) {
        let parts: Vec<Cow<'_, str>> = (i..end)
            .step_by(2)
            .filter_map(|k| ident_value(src, toks, k))
            .collect();
        if !parts.is_empty() {
            let q = qualify(&parts, search_path, false);
            if !out.contains(&q) {
                out.push(q);
            }
        }
        i = end;
        if toks.get(i).is_some_and(|t| t.kind == Kind::LParen) {
            let close = toks.iter().skip(i).position(|t| t.kind == Kind::RParen);
            i += close.map_or(toks.len(), |c| c + 1);
        }
        if toks.get(i).is_some_and(|t| t.kind == Kind::Comma) {
            i += 1;
        } else {
            break;
        }
    }
}
