//! The statements OLTP clients send most (point selects, single-row writes with plain
//! conditions, as pgbench and ORMs send them), read from the reference lexer's tokens
//! without sqlparser.
//!
//! The grammar accepted is a strict subset of PostgreSQL's: names, parameters, literals,
//! comparisons joined by `AND`, no function calls, no subqueries, no key word used as a
//! name. Anything else is left to the full parser, so this path can only be narrower than
//! it; tests check both agree on every statement it accepts.

use std::borrow::Cow;

use super::lexer::{Kind, StrKind, Tok, ident_value};
use super::objects::qualify;
use crate::class::{Class, ClassSet};

/// What the fast path read.
#[derive(Debug)]
pub(crate) struct Simple {
    pub classes: ClassSet,
    pub tag: &'static str,
    pub table: String,
    pub has_where: bool,
    /// SQL-standard functions written without parentheses (`CURRENT_TIMESTAMP`).
    pub functions: Vec<String>,
}

/// Key words the server reserves (or that would change the statement's shape): never taken
/// as a name here.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "between",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "delete",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "of",
    "offset",
    "on",
    "only",
    "operator",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "set",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Whether `word` is in [`RESERVED`] (sorted), compared ASCII case-insensitively.
fn is_reserved(word: &str) -> bool {
    if word.len() > 17 {
        return false;
    }
    RESERVED
        .binary_search_by(|probe| {
            let w = word.bytes().map(|b| b.to_ascii_lowercase());
            probe.bytes().cmp(w)
        })
        .is_ok()
}

struct P<'a> {
    src: &'a str,
    toks: &'a [Tok],
    i: usize,
    search_path: &'a [String],
    functions: Vec<String>,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.i)
    }

    fn kw(&mut self, w: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_kw(self.src, w)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn kind(&mut self, k: Kind) -> bool {
        if self.peek().is_some_and(|t| t.kind == k) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn op(&mut self, ops: &[&str]) -> bool {
        if self
            .peek()
            .is_some_and(|t| t.kind == Kind::Op && ops.contains(&t.text(self.src)))
        {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// One identifier usable as a name.
    fn ident(&mut self) -> Option<Cow<'a, str>> {
        let t = self.peek()?;
        match t.kind {
            Kind::Ident => {
                if is_reserved(t.text(self.src)) {
                    return None;
                }
            }
            Kind::QuotedIdent => {}
            _ => return None,
        }
        let v = ident_value(self.src, self.toks, self.i)?;
        self.i += 1;
        Some(v)
    }

    /// `a`, `a.b`, `a.b.c`.
    fn name(&mut self) -> Option<Vec<Cow<'a, str>>> {
        let mut parts = vec![self.ident()?];
        while parts.len() < 3
            && self.peek().is_some_and(|t| t.kind == Kind::Dot)
            && self.toks.get(self.i + 1).is_some_and(|t| t.is_name())
        {
            self.i += 1;
            parts.push(self.ident()?);
        }
        Some(parts)
    }

    fn value(&mut self) -> bool {
        let Some(t) = self.peek() else { return false };
        let ok = match t.kind {
            Kind::Param | Kind::Number | Kind::Str(StrKind::Plain) => true,
            Kind::Ident
                if ["true", "false", "null"]
                    .iter()
                    .any(|w| t.is_kw(self.src, w)) =>
            {
                true
            }
            Kind::Ident => match ["current_timestamp", "current_date", "localtimestamp"]
                .iter()
                .find(|w| t.is_kw(self.src, w))
            {
                Some(f) => {
                    if !self.functions.iter().any(|x| x == f) {
                        self.functions.push((*f).to_owned());
                    }
                    true
                }
                None => false,
            },
            _ => false,
        };
        if ok {
            self.i += 1;
        }
        ok
    }

    /// A column or a value; returns whether it was a column.
    fn operand(&mut self) -> Option<bool> {
        if self.value() {
            return Some(false);
        }
        self.name()?;
        Some(true)
    }

    /// `operand op operand` or `column IS [NOT] NULL`; returns whether a column is named.
    fn condition(&mut self) -> Option<bool> {
        let left = self.operand()?;
        if self.kw("is") {
            self.kw("not");
            return self.kw("null").then_some(left);
        }
        if !self.op(&["=", "<>", "!=", "<", ">", "<=", ">="]) {
            return None;
        }
        let right = self.operand()?;
        Some(left || right)
    }

    /// `WHERE cond [AND cond]…`; returns whether it narrows (names a column).
    fn where_clause(&mut self) -> Option<bool> {
        let mut narrows = self.condition()?;
        while self.kw("and") {
            narrows |= self.condition()?;
        }
        Some(narrows)
    }

    fn alias(&mut self) -> Option<()> {
        if self.kw("as") {
            self.ident()?;
        } else if self
            .peek()
            .is_some_and(|t| t.kind == Kind::Ident || t.kind == Kind::QuotedIdent)
        {
            // A non-reserved identifier is an alias; reserved ones end the item.
            let save = self.i;
            if self.ident().is_none() {
                self.i = save;
            }
        }
        Some(())
    }

    fn column_list(&mut self) -> Option<()> {
        loop {
            self.name()?;
            if !self.kind(Kind::Comma) {
                return Some(());
            }
        }
    }

    fn returning(&mut self) -> Option<()> {
        if self.kw("returning") {
            if self.op(&["*"]) {
                return Some(());
            }
            self.column_list()?;
        }
        Some(())
    }

    fn done(&self) -> bool {
        self.i == self.toks.len()
    }

    fn table(&self, parts: &[Cow<'_, str>]) -> String {
        qualify(parts, self.search_path, false)
    }
}

/// Reads `toks` (one statement) when it has one of the simple shapes.
pub(crate) fn read(src: &str, toks: &[Tok], search_path: &[String]) -> Option<Simple> {
    let mut p = P {
        src,
        toks,
        i: 0,
        search_path,
        functions: Vec::new(),
    };
    let first = p.peek()?;
    if first.is_kw(src, "select") {
        select(&mut p)
    } else if first.is_kw(src, "update") {
        update(&mut p)
    } else if first.is_kw(src, "insert") {
        insert(&mut p)
    } else if first.is_kw(src, "delete") {
        delete(&mut p)
    } else {
        None
    }
}

fn select(p: &mut P<'_>) -> Option<Simple> {
    p.kw("select");
    loop {
        if !p.op(&["*"]) {
            p.name()?;
            if p.peek().is_some_and(|t| t.kind == Kind::Dot) {
                p.i += 1;
                if !p.op(&["*"]) {
                    return None;
                }
            } else {
                p.alias()?;
            }
        }
        if !p.kind(Kind::Comma) {
            break;
        }
    }
    if !p.kw("from") {
        return None;
    }
    let parts = p.name()?;
    p.alias()?;
    let has_where = p.kw("where");
    if has_where {
        p.where_clause()?;
    }
    if p.kw("order") {
        if !p.kw("by") {
            return None;
        }
        loop {
            p.name()?;
            let _ = p.kw("asc") || p.kw("desc");
            if !p.kind(Kind::Comma) {
                break;
            }
        }
    }
    if p.kw("limit") && !(p.kind(Kind::Param) || p.kind(Kind::Number)) {
        return None;
    }
    if p.kw("offset") && !(p.kind(Kind::Param) || p.kind(Kind::Number)) {
        return None;
    }
    if p.kw("for") && !(p.kw("update") || p.kw("share")) {
        return None;
    }
    p.kind(Kind::Semi);
    if !p.done() {
        return None;
    }
    Some(Simple {
        classes: ClassSet::of(Class::Read),
        tag: "SELECT",
        table: p.table(&parts),
        has_where,
        functions: std::mem::take(&mut p.functions),
    })
}

/// Classes of a write to `table` narrowed or not.
fn write_classes(table: &str, narrows: bool) -> ClassSet {
    let mut c = ClassSet::of(if narrows {
        Class::Write
    } else {
        Class::BulkWrite
    });
    if table.starts_with("pg_catalog.") {
        c.insert(Class::Admin);
    }
    c
}

fn update(p: &mut P<'_>) -> Option<Simple> {
    p.kw("update");
    let parts = p.name()?;
    p.alias()?;
    if !p.kw("set") {
        return None;
    }
    loop {
        p.name()?;
        if !p.op(&["="]) {
            return None;
        }
        p.operand()?;
        if p.op(&["+", "-"]) {
            p.operand()?;
        }
        if !p.kind(Kind::Comma) {
            break;
        }
    }
    let has_where = p.kw("where");
    let narrows = if has_where { p.where_clause()? } else { false };
    p.returning()?;
    p.kind(Kind::Semi);
    if !p.done() {
        return None;
    }
    let table = p.table(&parts);
    Some(Simple {
        classes: write_classes(&table, narrows),
        tag: "UPDATE",
        table,
        has_where,
        functions: std::mem::take(&mut p.functions),
    })
}

fn delete(p: &mut P<'_>) -> Option<Simple> {
    p.kw("delete");
    if !p.kw("from") {
        return None;
    }
    let parts = p.name()?;
    p.alias()?;
    let has_where = p.kw("where");
    let narrows = if has_where { p.where_clause()? } else { false };
    p.returning()?;
    p.kind(Kind::Semi);
    if !p.done() {
        return None;
    }
    let table = p.table(&parts);
    Some(Simple {
        classes: write_classes(&table, narrows),
        tag: "DELETE",
        table,
        has_where,
        functions: std::mem::take(&mut p.functions),
    })
}

fn insert(p: &mut P<'_>) -> Option<Simple> {
    p.kw("insert");
    if !p.kw("into") {
        return None;
    }
    let parts = p.name()?;
    if p.kind(Kind::LParen) {
        p.column_list()?;
        if !p.kind(Kind::RParen) {
            return None;
        }
    }
    if !p.kw("values") || !p.kind(Kind::LParen) {
        return None;
    }
    loop {
        if !p.value() {
            return None;
        }
        if !p.kind(Kind::Comma) {
            break;
        }
    }
    if !p.kind(Kind::RParen) {
        return None;
    }
    p.returning()?;
    p.kind(Kind::Semi);
    if !p.done() {
        return None;
    }
    let table = p.table(&parts);
    let mut classes = ClassSet::of(Class::Write);
    if table.starts_with("pg_catalog.") {
        classes.insert(Class::Admin);
    }
    Some(Simple {
        classes,
        tag: "INSERT",
        table,
        has_where: false,
        functions: std::mem::take(&mut p.functions),
    })
}

#[cfg(test)]
mod tests {
    use super::{RESERVED, is_reserved};

    #[test]
    fn reserved_words_are_sorted_and_found_in_any_case() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(is_reserved("WHERE") && is_reserved("select") && is_reserved("Current_Timestamp"));
        assert!(!is_reserved("customers") && !is_reserved("wher") && !is_reserved(""));
    }
}
