//! PostgreSQL statement classification.
//!
//! [`SqlClassifier::classify`] turns the bytes of a query (as they will be forwarded) into
//! the shared [`Class`]es and the objects they touch. It never fails: text it cannot read
//! fully is classified `unparsed`, with whatever classes its key words still show.
//!
//! How it reads text:
//! - a lexer that follows the server's own rules splits statements and finds what is code
//!   and what is data (strings, dollar quotes, quoted identifiers, nested comments);
//! - sqlparser (PostgreSQL dialect) parses each statement, but only when its tokenizer agrees
//!   with that lexer on every string and comment, and only within the size, nesting and
//!   operator-chain budget;
//! - leading key words classify what the parser refuses, and statements whose small grammar
//!   says everything (`SET`, `DO`, `ALTER SYSTEM`, `REINDEX` …);
//! - the token stream is searched for calls of dangerous functions, wherever they appear.
//!
//! ```
//! use gatekit_core::sql::{SqlClassifier, SqlContext, SqlOptions};
//! use gatekit_core::Class;
//!
//! let classifier = SqlClassifier::new(SqlOptions::default());
//! let analysis = classifier.classify(b"DELETE FROM orders; SELECT 'DROP TABLE x'", &SqlContext::default());
//! let c = analysis.classification();
//! assert!(c.classes.contains(Class::BulkWrite));
//! assert!(!c.classes.contains(Class::Destructive));
//! assert_eq!(c.objects, ["public.orders"]);
//! ```

mod ast;
mod cache;
mod calls;
mod fastpath;
mod keywords;
mod lexer;
mod objects;
mod parse;
mod redact;
mod settings;

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;

use crate::class::{Class, ClassSet, Classification};

pub use cache::{CacheStats, ClassifierCache};
pub use calls::{ADMIN_FUNCTIONS, DYNAMIC_SQL_FUNCTIONS};
pub use redact::redact_secrets;
pub use settings::SearchPathChange;

/// Every statement of `src` parsed within the classifier's budget and only where its
/// lexers agree with the server's reading (see `parse.rs`); `None` otherwise.
pub(crate) fn checked_statements(src: &str) -> Option<Vec<sqlparser::ast::Statement>> {
    parse::checked_statements(src, SqlOptions::default().max_depth)
}

/// Limits and extensions of a [`SqlClassifier`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlOptions {
    /// Text longer than this is classified from its tokens only (default 1 MiB).
    pub max_bytes: usize,
    /// Bracket nesting beyond this is classified from tokens only (default 32).
    pub max_depth: usize,
    /// More functions whose call is `admin`, matched by name in any schema, case folded.
    pub extra_admin_functions: Vec<String>,
    /// More settings whose change is `admin`; a trailing `*` matches any suffix
    /// (`myapp.tenant*`).
    pub extra_protected_settings: Vec<String>,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            max_bytes: 1 << 20,
            max_depth: 32,
            extra_admin_functions: Vec::new(),
            extra_protected_settings: Vec::new(),
        }
    }
}

/// What the classifier needs to know about the session.
#[derive(Clone, Copy, Debug, Default)]
pub struct SqlContext<'a> {
    /// The session's `search_path`; unqualified tables get its first schema (`$user`
    /// skipped), `public` when empty.
    pub search_path: &'a [String],
}

/// One statement of an analysed text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StatementInfo {
    /// Command tag from the leading key words (`SELECT`, `DELETE`, `ALTER SYSTEM` …;
    /// `UNKNOWN` when not recognised).
    pub tag: &'static str,
    /// Classes of this statement (including what it executes).
    pub classes: ClassSet,
    /// Tables, views and sequences named, as `schema.table`.
    pub tables: Vec<String>,
    /// Functions called, as written (lower-cased unless quoted, with their schema if given).
    pub functions: Vec<String>,
    /// Absolute server paths read or written (`COPY … TO '/x'`, `pg_read_file('/x')`).
    pub paths: Vec<String>,
    /// Whether the statement narrows its rows with `WHERE`.
    pub has_where: bool,
    /// Whether the statement was understood completely: by the parser, or from its tokens
    /// for statements of a small fixed grammar (`SET`, `DO`, `REINDEX` …). When not, it
    /// carries `unparsed`.
    pub parsed: bool,
}

/// The classification of a whole text (one statement or a script).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SqlAnalysis {
    /// The statements, in order.
    pub statements: Vec<StatementInfo>,
    /// Whether every statement was understood completely (see [`StatementInfo::parsed`]).
    pub parsed: bool,
    /// The last change of `search_path` in the text, for the gateway to track.
    pub search_path: Option<SearchPathChange>,
    /// The text exceeded a budget (size, nesting, chain length) and was read from tokens only.
    pub budget_exceeded: bool,
}

impl SqlAnalysis {
    /// The union of every statement's classes.
    pub fn classes(&self) -> ClassSet {
        self.statements
            .iter()
            .fold(ClassSet::EMPTY, |acc, s| acc | s.classes)
    }

    /// What the policy engine decides on: the union of classes, and every table and path.
    pub fn classification(&self) -> Classification {
        let mut c = Classification {
            classes: self.classes(),
            objects: Vec::new(),
        };
        for s in &self.statements {
            for o in s.tables.iter().chain(&s.paths) {
                if !c.objects.contains(o) {
                    c.objects.push(o.clone());
                }
            }
        }
        c
    }
}

/// Statements whose key words say everything and that name no tables: not parsed.
const TOKEN_ONLY_TAGS: &[&str] = &[
    "TRANSACTION",
    "SET",
    "SHOW",
    "RESET",
    "DISCARD",
    "DEALLOCATE",
    "LISTEN",
    "CLOSE",
    "CHECKPOINT",
    "DO",
    "ALTER SYSTEM",
    "PREPARE TRANSACTION",
];

/// How deep SQL inside string literals (`query_to_xml('…')`, `dblink(…, '…')`) is followed.
const MAX_NESTING: usize = 2;

/// Classifies PostgreSQL text. Built once; `classify` takes `&self` and is cheap to share.
#[derive(Debug, Clone)]
pub struct SqlClassifier {
    options: SqlOptions,
    functions: calls::Functions,
    /// Whether simple statements skip the parser (always, except to test that path).
    fast_path: bool,
}

impl SqlClassifier {
    /// Compiles the function lists and settings of `options`.
    pub fn new(options: SqlOptions) -> Self {
        let functions = calls::Functions::new(&options.extra_admin_functions);
        SqlClassifier {
            options,
            functions,
            fast_path: true,
        }
    }

    /// The same classifier with every statement going through the parser.
    #[cfg(test)]
    fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self
    }

    /// The options this classifier was built with.
    pub fn options(&self) -> &SqlOptions {
        &self.options
    }

    /// Classifies `sql`, the exact bytes of a simple or extended query.
    pub fn classify(&self, sql: &[u8], ctx: &SqlContext<'_>) -> SqlAnalysis {
        self.classify_nested(sql, ctx, 0)
    }

    fn classify_nested(&self, sql: &[u8], ctx: &SqlContext<'_>, nesting: usize) -> SqlAnalysis {
        let (text, clean) = match std::str::from_utf8(sql) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), !s.contains('\0')),
            // Not UTF-8: the gateway cannot know how the server reads it. Its tokens still
            // add what they show.
            Err(_) => (String::from_utf8_lossy(sql), false),
        };
        let src: &str = &text;
        let lexed = lexer::lex(src);
        let within_size = sql.len() <= self.options.max_bytes;
        let mut analysis = SqlAnalysis {
            budget_exceeded: !within_size,
            ..SqlAnalysis::default()
        };
        let parsable = clean && within_size && lexed.error.is_none();
        // Statements by the reference lexer; sqlparser's must line up one to one.
        let ranges: Vec<&[lexer::Tok]> = lexed
            .toks
            .split(|t| t.kind == lexer::Kind::Semi)
            .filter(|s| !s.is_empty())
            .collect();
        // sqlparser's tokenizer only runs when some statement needs the parser.
        let needs_parser = parsable && ranges.iter().any(|toks| !self.without_parser(src, toks));
        let parser_statements = if needs_parser {
            parse::statements(src, &lexed)
        } else {
            None
        };
        let mut theirs = parser_statements
            .filter(|p| p.len() == ranges.len())
            .map(Vec::into_iter);

        let mut search_path: Vec<String> = ctx.search_path.to_vec();
        for toks in ranges {
            let tokens = theirs.as_mut().and_then(Iterator::next);
            let (info, sp_change, over_budget) =
                self.statement(src, toks, tokens, parsable, &search_path, nesting);
            analysis.budget_exceeded |= over_budget;
            if let Some(change) = sp_change {
                search_path = if change.schemas.is_empty() {
                    Vec::new()
                } else {
                    change.schemas.clone()
                };
                analysis.search_path = Some(change);
            }
            analysis.statements.push(info);
        }
        if !clean || lexed.error.is_some() {
            for s in &mut analysis.statements {
                s.classes.insert(Class::Unparsed);
                s.parsed = false;
            }
        }
        if analysis.statements.is_empty() && !sql.is_empty() {
            // Nothing but whitespace and comments: the server answers with an empty result.
            let broken = !clean || lexed.error.is_some();
            analysis.statements.push(StatementInfo {
                tag: "EMPTY",
                classes: ClassSet::of(if broken {
                    Class::Unparsed
                } else {
                    Class::Session
                }),
                tables: Vec::new(),
                functions: Vec::new(),
                paths: Vec::new(),
                has_where: false,
                parsed: !broken,
            });
        }
        for s in &mut analysis.statements {
            // A write without a narrowing condition is still a write: rules on `write`
            // must not be dodged by leaving the WHERE out.
            if s.classes.contains(Class::BulkWrite) {
                s.classes.insert(Class::Write);
            }
        }
        analysis.parsed = analysis.statements.iter().all(|s| s.parsed);
        analysis
    }

    /// Whether a statement is read without the parser: by the fast path, or from key words
    /// that say everything.
    fn without_parser(&self, src: &str, toks: &[lexer::Tok]) -> bool {
        if !self.fast_path {
            return false;
        }
        if fastpath::read(src, toks, &[]).is_some() {
            return true;
        }
        let lex = keywords::classify(src, toks, &[], &self.options.extra_protected_settings);
        lex.confident && TOKEN_ONLY_TAGS.contains(&lex.tag)
    }

    /// Classifies one statement; returns it, any search-path change, and whether a budget
    /// kept the parser out.
    fn statement(
        &self,
        src: &str,
        toks: &[lexer::Tok],
        tokens: Option<Vec<sqlparser::tokenizer::TokenWithSpan>>,
        parsable: bool,
        search_path: &[String],
        nesting: usize,
    ) -> (StatementInfo, Option<SearchPathChange>, bool) {
        let extra = &self.options.extra_protected_settings;
        // The common simple statements, and those whose small grammar the key words already
        // read completely, need no parser.
        let simple = if parsable && self.fast_path {
            fastpath::read(src, toks, search_path)
        } else {
            None
        };
        let lex = match simple {
            Some(_) => keywords::Lexical::default(),
            None => keywords::classify(src, toks, search_path, extra),
        };
        let mut info = StatementInfo {
            tag: lex.tag,
            classes: ClassSet::EMPTY,
            tables: Vec::new(),
            functions: Vec::new(),
            paths: Vec::new(),
            has_where: false,
            parsed: false,
        };
        let mut over_budget = false;
        let token_only =
            self.fast_path && parsable && lex.confident && TOKEN_ONLY_TAGS.contains(&lex.tag);
        let tokens = if simple.is_some() || token_only {
            None
        } else {
            tokens
        };
        if let Some(s) = simple {
            info.tag = s.tag;
            info.classes = s.classes;
            info.tables.push(s.table);
            info.has_where = s.has_where;
            info.functions = s.functions;
            info.parsed = true;
        }
        // sqlparser reads `U&"…"` as `U & "…"`: such statements are read from tokens.
        let unicode_names = toks.iter().any(|t| t.kind == lexer::Kind::UnicodeIdent);
        if let Some(mut tokens) = tokens.filter(|_| !unicode_names) {
            if parse::within_budget(src, toks, self.options.max_depth) {
                let force_where = parse::strip_current_of(src, toks, &mut tokens);
                parse::normalize(&mut tokens);
                let limit = (self.options.max_depth * 2).max(50);
                if let Some(stmt) = parse::parse_one(tokens, limit) {
                    let facts = ast::analyze(&stmt, search_path, force_where);
                    info.classes = facts.classes;
                    if !facts.handled {
                        info.classes |= lex.classes;
                        info.has_where = lex.has_where;
                    } else {
                        info.has_where = facts.has_where;
                    }
                    info.tables = facts.tables;
                    info.functions = facts.functions;
                    info.paths = facts.paths;
                    info.parsed = true;
                }
            } else {
                over_budget = true;
            }
        }
        if !info.parsed {
            info.classes = lex.classes;
            if !lex.confident {
                info.classes.insert(Class::Unparsed);
            }
            info.tables = lex.tables;
            info.has_where = lex.has_where;
            info.parsed = lex.confident;
        }
        let calls = self.functions.scan(src, toks, extra);
        for parts in &calls.table_args {
            let t = objects::qualify(parts, search_path, false);
            if !info.tables.contains(&t) {
                info.tables.push(t);
            }
        }
        info.classes |= calls.classes;
        for p in calls.paths {
            if !info.paths.contains(&p) {
                info.paths.push(p);
            }
        }
        if nesting < MAX_NESTING {
            for j in &calls.nested_sql {
                let Some(inner) = lexer::str_value(src, toks, *j) else {
                    continue;
                };
                let ctx = SqlContext { search_path };
                let nested = self.classify_nested(inner.as_bytes(), &ctx, nesting + 1);
                let mut classes = nested.classes();
                classes.remove(Class::Unparsed);
                info.classes |= classes;
                for s in nested.statements {
                    for t in s.tables {
                        if !info.tables.contains(&t) {
                            info.tables.push(t);
                        }
                    }
                }
            }
        }
        if info.classes.is_empty() {
            info.classes.insert(Class::Unparsed);
            info.parsed = false;
        }
        let change = calls.search_path.or(lex.search_path);
        (info, change, over_budget)
    }
}
