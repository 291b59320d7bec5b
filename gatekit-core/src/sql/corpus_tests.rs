//! The statement corpus under `tests/data/sql/`: every file is a list of cases
//!
//! ```text
//! == class, class | object, object [| escaped]
//! statement text, over as many lines as it takes
//! ```
//!
//! Lines starting with `##` are comments. `escaped` cases spell control characters and
//! non-ASCII as `\r`, `\t`, `\n`, `\xHH`, `\u{…}` and `\\`, and their line breaks are kept.

use super::{SqlClassifier, SqlContext, SqlOptions};
use crate::class::{Class, ClassSet};

const FILES: &[(&str, &str)] = &[
    (
        "classes.sql",
        include_str!("../../tests/data/sql/classes.sql"),
    ),
    (
        "bypass.sql",
        include_str!("../../tests/data/sql/bypass.sql"),
    ),
    (
        "clients.sql",
        include_str!("../../tests/data/sql/clients.sql"),
    ),
    (
        "fallback.sql",
        include_str!("../../tests/data/sql/fallback.sql"),
    ),
    ("psql.sql", include_str!("../../tests/data/sql/psql.sql")),
];

struct Case {
    file: &'static str,
    line: usize,
    classes: ClassSet,
    objects: Vec<String>,
    sql: String,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let h: String = it.by_ref().take(2).collect();
                out.push(char::from(
                    u8::from_str_radix(&h, 16).expect("bad \\x escape in corpus"),
                ));
            }
            Some('u') => {
                assert_eq!(it.next(), Some('{'), "bad \\u escape in corpus");
                let h: String = it.by_ref().take_while(|c| *c != '}').collect();
                let v = u32::from_str_radix(&h, 16).expect("bad \\u escape in corpus");
                out.push(char::from_u32(v).expect("bad \\u escape in corpus"));
            }
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn parse(file: &'static str, text: &'static str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut current: Option<(Case, bool, Vec<&str>)> = None;
    let finish = |c: Option<(Case, bool, Vec<&str>)>, cases: &mut Vec<Case>| {
        if let Some((mut case, escaped, lines)) = c {
            let joined = lines.join("\n");
            let trimmed = joined.trim_end_matches(['\n', ' ']);
            case.sql = if escaped {
                unescape(trimmed)
            } else {
                trimmed.to_owned()
            };
            cases.push(case);
        }
    };
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("##") {
            continue;
        }
        if let Some(head) = line.strip_prefix("== ") {
            finish(current.take(), &mut cases);
            let mut parts = head.split('|');
            let classes: ClassSet = parts
                .next()
                .unwrap_or("")
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<Class>()
                        .unwrap_or_else(|e| panic!("{file}:{}: {e}", n + 1))
                })
                .collect();
            let mut objects: Vec<String> = parts
                .next()
                .unwrap_or_else(|| panic!("{file}:{}: missing `| objects`", n + 1))
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            objects.sort();
            let escaped = parts.next().is_some_and(|f| f.trim() == "escaped");
            current = Some((
                Case {
                    file,
                    line: n + 1,
                    classes,
                    objects,
                    sql: String::new(),
                },
                escaped,
                Vec::new(),
            ));
        } else if let Some((_, _, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    finish(current.take(), &mut cases);
    cases
}

fn all_cases() -> Vec<Case> {
    FILES.iter().flat_map(|(f, t)| parse(f, t)).collect()
}

#[test]
fn corpus_matches() {
    let classifier = SqlClassifier::new(SqlOptions::default());
    let ctx = SqlContext::default();
    let cases = all_cases();
    let mut failures = Vec::new();
    for case in &cases {
        assert!(
            !case.sql.is_empty(),
            "{}:{}: empty statement",
            case.file,
            case.line
        );
        let c = classifier
            .classify(case.sql.as_bytes(), &ctx)
            .classification();
        let mut objects = c.objects.clone();
        objects.sort();
        if c.classes != case.classes || objects != case.objects {
            failures.push(format!(
                "{}:{}: expected [{}] | {:?}\n    got [{}] | {:?}\n    sql: {}",
                case.file,
                case.line,
                case.classes.names().join(", "),
                case.objects,
                c.classes.names().join(", "),
                objects,
                case.sql.escape_debug()
            ));
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases differ",
        failures.len(),
        cases.len()
    );
}

#[test]
fn corpus_is_large_and_covers_every_class() {
    let cases = all_cases();
    assert!(cases.len() >= 300, "only {} corpus cases", cases.len());
    let mut seen = ClassSet::EMPTY;
    for c in &cases {
        seen |= c.classes;
    }
    for class in Class::ALL {
        if matches!(class, Class::Exec | Class::Secret) {
            // Shell and Kubernetes classes: SQL never carries them.
            continue;
        }
        assert!(seen.contains(class), "no corpus case expects `{class}`");
    }
}

#[test]
fn fast_path_agrees_with_the_parser_on_every_statement_it_reads() {
    let fast = SqlClassifier::new(SqlOptions::default());
    let full = SqlClassifier::new(SqlOptions::default()).without_fast_path();
    let ctx = SqlContext::default();
    let mut read_fast = 0;
    for case in all_cases() {
        let src = case.sql.as_str();
        let lexed = super::lexer::lex(src);
        for toks in lexed.toks.split(|t| t.kind == super::lexer::Kind::Semi) {
            if super::fastpath::read(src, toks, &[]).is_some() {
                read_fast += 1;
            }
        }
        let a = fast.classify(src.as_bytes(), &ctx);
        let b = full.classify(src.as_bytes(), &ctx);
        for (x, y) in a.statements.iter().zip(&b.statements) {
            assert_eq!(
                (x.classes, &x.tables, x.has_where, x.parsed, x.tag),
                (y.classes, &y.tables, y.has_where, y.parsed, y.tag),
                "{}:{}: {}",
                case.file,
                case.line,
                case.sql
            );
        }
        assert_eq!(a.statements.len(), b.statements.len());
    }
    assert!(
        read_fast >= 40,
        "the fast path read only {read_fast} corpus statements"
    );
}

/// `sql` with every standalone digit run replaced by `with`.
fn other_integers(sql: &str, with: &str) -> String {
    let joins = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let mut out = String::with_capacity(sql.len());
    let mut prev: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() && !prev.is_some_and(joins) {
            let mut run = String::from(c);
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                run.push(d);
            }
            if chars.peek().is_some_and(|&n| joins(n)) {
                out.push_str(&run);
            } else {
                out.push_str(with);
            }
            prev = run.chars().last();
            continue;
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

#[test]
fn cache_shares_entries_only_where_classification_agrees() {
    let classifier = SqlClassifier::new(SqlOptions::default());
    let ctx = SqlContext::default();
    let mut shared = 0;
    for case in all_cases() {
        let mut cache = super::ClassifierCache::default();
        let first = cache.get_or_classify(&classifier, case.sql.as_bytes(), &ctx);
        assert_eq!(*first, classifier.classify(case.sql.as_bytes(), &ctx));
        for with in ["0", "1", "00", "5", "12345", "98765432109876543210"] {
            let variant = other_integers(&case.sql, with);
            let before = cache.stats().hits;
            let cached = cache.get_or_classify(&classifier, variant.as_bytes(), &ctx);
            if variant != case.sql && cache.stats().hits > before {
                shared += 1;
            }
            assert_eq!(
                *cached,
                classifier.classify(variant.as_bytes(), &ctx),
                "{}:{}: {}",
                case.file,
                case.line,
                variant
            );
        }
    }
    assert!(
        shared >= 50,
        "only {shared} corpus variants shared an entry"
    );
}
