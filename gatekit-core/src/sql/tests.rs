//! Unit tests and properties of the SQL classifier; the statement corpus is in
//! `corpus_tests.rs`.

use proptest::prelude::*;

use super::*;

fn classifier() -> SqlClassifier {
    SqlClassifier::new(SqlOptions::default())
}

fn classes(sql: &[u8]) -> ClassSet {
    classifier().classify(sql, &SqlContext::default()).classes()
}

fn set(cs: &[Class]) -> ClassSet {
    cs.iter().copied().collect()
}

#[test]
fn text_that_is_not_utf8_is_unparsed_but_keeps_its_key_words() {
    let c = classes(b"DELETE FROM t WHERE a = '\xff\xfe'");
    assert!(c.contains(Class::Unparsed));
    assert!(c.contains(Class::Write));
    let c = classes(b"SELECT '\xc3'; DROP TABLE t");
    assert!(c.is_superset(set(&[Class::Unparsed, Class::Destructive])));
}

#[test]
fn a_nul_byte_makes_text_unparsed() {
    let c = classes(b"SELECT 1\0; DROP TABLE t");
    assert!(c.is_superset(set(&[Class::Unparsed, Class::Destructive])));
}

#[test]
fn empty_and_comment_only_text_is_session() {
    assert!(classes(b"").is_empty());
    assert_eq!(
        classes(b"  -- nothing\n /* here */ ;"),
        ClassSet::of(Class::Session)
    );
    assert_eq!(classes(b"/* never closed"), ClassSet::of(Class::Unparsed));
}

#[test]
fn non_ascii_whitespace_is_part_of_a_name_as_the_server_reads_it() {
    // U+00A0 is an identifier character for the server: this names the table
    // "t\u{a0}where" and has no WHERE clause.
    let a = classifier().classify(
        "DELETE FROM t\u{a0}WHERE id = 1".as_bytes(),
        &SqlContext::default(),
    );
    let c = a.classes();
    assert!(c.contains(Class::BulkWrite), "{c:?}");
    assert!(!a.statements[0].has_where, "{:?}", a.statements[0]);
}

#[test]
fn bulk_writes_are_writes_too() {
    for sql in [
        "DELETE FROM t",
        "UPDATE t SET a = 1",
        "TRUNCATE t",
        "DELETE FROM t WHERE 1=1",
    ] {
        let c = classes(sql.as_bytes());
        assert!(
            c.contains(Class::BulkWrite) && c.contains(Class::Write),
            "{sql}: {c:?}"
        );
    }
    let narrow = classes(b"DELETE FROM t WHERE id = 1");
    assert!(
        narrow.contains(Class::Write) && !narrow.contains(Class::BulkWrite),
        "{narrow:?}"
    );
}

#[test]
fn search_path_qualifies_names_and_changes_are_reported() {
    let sp = vec!["\"$user\"".to_owned(), "app".to_owned()];
    let sp_user = vec!["$user".to_owned(), "app".to_owned()];
    let k = classifier();
    let a = k.classify(
        b"SELECT * FROM t JOIN other.u ON true",
        &SqlContext {
            search_path: &sp_user,
        },
    );
    assert_eq!(a.classification().objects, ["app.t", "other.u"]);
    let a = k.classify(b"SELECT * FROM t", &SqlContext { search_path: &sp });
    assert_eq!(a.classification().objects, ["\"$user\".t"]);
    let a = k.classify(b"SET LOCAL search_path TO x, \"Y\"", &SqlContext::default());
    assert_eq!(
        a.search_path,
        Some(SearchPathChange {
            schemas: vec!["x".into(), "Y".into()],
            local: true
        })
    );
    let a = k.classify(
        b"RESET search_path; SELECT * FROM t",
        &SqlContext {
            search_path: &sp_user,
        },
    );
    assert_eq!(a.search_path.as_ref().map(|c| c.schemas.len()), Some(0));
    assert_eq!(a.classification().objects, ["public.t"]);
    let a = k.classify(
        b"SELECT set_config('search_path', 'a, \"B\"', true)",
        &SqlContext::default(),
    );
    assert_eq!(
        a.search_path,
        Some(SearchPathChange {
            schemas: vec!["a".into(), "B".into()],
            local: true
        })
    );
}

#[test]
fn statements_report_tag_functions_and_where() {
    let a = classifier().classify(
        b"SELECT lower(name) FROM t WHERE id = 1; UPDATE t SET a = 1; DELETE FROM t WHERE CURRENT OF c",
        &SqlContext::default(),
    );
    let s = &a.statements;
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].tag, s[0].has_where, s[0].functions.as_slice()),
        ("SELECT", true, &["lower".to_owned()][..])
    );
    assert_eq!((s[1].tag, s[1].has_where), ("UPDATE", false));
    assert_eq!(
        (s[2].tag, s[2].has_where, s[2].parsed),
        ("DELETE", true, true)
    );
    assert!(a.parsed);
}

#[test]
fn extra_admin_functions_and_protected_settings_extend_the_lists() {
    let k = SqlClassifier::new(SqlOptions {
        extra_admin_functions: vec!["ops.purge_everything".into()],
        extra_protected_settings: vec!["myapp.tenant*".into()],
        ..SqlOptions::default()
    });
    let ctx = SqlContext::default();
    assert!(
        k.classify(b"SELECT Purge_Everything()", &ctx)
            .classes()
            .contains(Class::Admin)
    );
    assert!(
        k.classify(b"SET myapp.tenant_id = '7'", &ctx)
            .classes()
            .contains(Class::Admin)
    );
    assert!(
        !k.classify(b"SET myapp.theme = 'dark'", &ctx)
            .classes()
            .contains(Class::Admin)
    );
    assert!(!classes(b"SELECT purge_everything()").contains(Class::Admin));
}

#[test]
fn size_budget_keeps_the_parser_out_but_not_the_key_words() {
    let k = SqlClassifier::new(SqlOptions {
        max_bytes: 64,
        ..SqlOptions::default()
    });
    let sql = format!("SELECT {} FROM t; DROP TABLE t", "a, ".repeat(40) + "b");
    let a = k.classify(sql.as_bytes(), &SqlContext::default());
    assert!(a.budget_exceeded);
    assert!(!a.parsed);
    assert!(
        a.classes()
            .is_superset(set(&[Class::Read, Class::Destructive, Class::Unparsed]))
    );
}

#[test]
fn deep_nesting_is_read_from_tokens_in_bounded_time() {
    let k = classifier();
    let ctx = SqlContext::default();
    let parens = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let a = k.classify(parens.as_bytes(), &ctx);
    assert!(a.budget_exceeded);
    assert_eq!(a.classes(), set(&[Class::Read, Class::Unparsed]));

    let nots = format!("SELECT {}true", "NOT ".repeat(10_000));
    let a = k.classify(nots.as_bytes(), &ctx);
    assert!(a.budget_exceeded);
    assert_eq!(a.classes(), set(&[Class::Read, Class::Unparsed]));

    let chain = format!("DELETE FROM t WHERE {}", vec!["a = 1"; 20_000].join(" OR "));
    let a = k.classify(chain.as_bytes(), &ctx);
    assert!(a.budget_exceeded);
    assert!(a.classes().contains(Class::Write));

    let dots = format!("SELECT {}", vec!["a"; 200_000].join("."));
    assert!(k.classify(dots.as_bytes(), &ctx).budget_exceeded);

    let brackets = format!("SELECT ARRAY{}1{}", "[".repeat(50_000), "]".repeat(50_000));
    assert!(k.classify(brackets.as_bytes(), &ctx).budget_exceeded);
}

#[test]
fn huge_in_lists_parse() {
    let list = format!(
        "SELECT * FROM t WHERE id IN ({})",
        vec!["1"; 20_000].join(",")
    );
    let a = classifier().classify(list.as_bytes(), &SqlContext::default());
    assert!(a.parsed && !a.budget_exceeded);
    assert_eq!(a.classes(), ClassSet::of(Class::Read));
}

#[test]
fn long_dollar_tags_stay_out_of_the_parser() {
    let tag = "a".repeat(10_000);
    let sql = format!("SELECT ${tag}${}${tag}$", "x".repeat(10_000));
    let a = classifier().classify(sql.as_bytes(), &SqlContext::default());
    assert_eq!(a.classes(), set(&[Class::Read, Class::Unparsed]));
}

#[test]
fn long_continuation_chains_do_not_recurse() {
    let sql = format!("SELECT 'a'{}", "\n'b'".repeat(100_000));
    let c = classes(sql.as_bytes());
    assert!(c.contains(Class::Read));
}

#[test]
fn nested_dynamic_sql_is_followed_to_a_fixed_depth() {
    let c = classes(b"SELECT query_to_xml('SELECT query_to_xml(''TRUNCATE t'', true, true, '''')', true, true, '')");
    assert!(c.is_superset(set(&[
        Class::Procedural,
        Class::BulkWrite,
        Class::Destructive
    ])));
    assert!(!c.contains(Class::Unparsed));
}

#[test]
fn redaction_removes_passwords_only() {
    assert_eq!(
        redact_secrets("CREATE ROLE a LOGIN PASSWORD 'hunter2' VALID UNTIL '2030-01-01'"),
        "CREATE ROLE a LOGIN PASSWORD '***' VALID UNTIL '2030-01-01'"
    );
    assert_eq!(
        redact_secrets("ALTER USER a WITH ENCRYPTED PASSWORD E'x\\'y'"),
        "ALTER USER a WITH ENCRYPTED PASSWORD '***'"
    );
    assert_eq!(
        redact_secrets("SELECT dblink_connect('host=db user=u password=s3cret dbname=x')"),
        "SELECT dblink_connect('host=db user=u password=*** dbname=x')"
    );
    assert_eq!(
        redact_secrets("CREATE USER MAPPING FOR me SERVER s OPTIONS (user 'u', password 'p')"),
        "CREATE USER MAPPING FOR me SERVER s OPTIONS (user 'u', password '***')"
    );
    assert_eq!(
        redact_secrets("SELECT * FROM dblink('postgresql://u:pw@db/x', 'select 1') AS t(a int)"),
        "SELECT * FROM dblink('postgresql://u:***@db/x', 'select 1') AS t(a int)"
    );
    let plain = "SELECT password_hash FROM users WHERE name = 'password'";
    assert!(matches!(
        redact_secrets(plain),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn redaction_prefilter_keeps_every_spelling() {
    // The quick check before lexing must not miss a keyword in mixed case or a URI.
    assert_eq!(
        redact_secrets("alter role a PaSsWoRd 'x'"),
        "alter role a PaSsWoRd '***'"
    );
    assert_eq!(
        redact_secrets("SELECT dblink_connect('PASSWORD=s3cret')"),
        "SELECT dblink_connect('PASSWORD=***')"
    );
    assert_eq!(
        redact_secrets("SELECT dblink('postgres://u:pw@h/x', 'select 1')"),
        "SELECT dblink('postgres://u:***@h/x', 'select 1')"
    );
    assert!(matches!(
        redact_secrets("SELECT abalance FROM pgbench_accounts WHERE aid = 42"),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn cache_serves_repeats_and_respects_bounds() {
    let k = classifier();
    let mut cache = ClassifierCache::new(2, 64);
    let ctx = SqlContext::default();
    let a = cache.get_or_classify(&k, b"SELECT 1", &ctx);
    let b = cache.get_or_classify(&k, b"SELECT 1", &ctx);
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 1 });
    cache.get_or_classify(&k, b"SELECT 2", &ctx);
    cache.get_or_classify(&k, b"SELECT 3", &ctx);
    assert!(cache.len() <= 2);
    let long = format!("SELECT {}", "1 + ".repeat(30) + "1");
    cache.get_or_classify(&k, long.as_bytes(), &ctx);
    assert!(!cache.is_empty());
    assert!(cache.len() <= 2);
    // Another search path: unqualified names mean other tables.
    let sp = vec!["app".to_owned()];
    let c = cache.get_or_classify(&k, b"SELECT * FROM t", &SqlContext { search_path: &sp });
    assert_eq!(c.classification().objects, ["app.t"]);
    let d = cache.get_or_classify(&k, b"SELECT * FROM t", &ctx);
    assert_eq!(d.classification().objects, ["public.t"]);
}

fn statement() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "SELECT a FROM t WHERE b = 1",
        "DELETE FROM t",
        "UPDATE t SET a = 1 WHERE id = 2",
        "INSERT INTO t VALUES (1, 'x')",
        "DROP TABLE t",
        "GRANT SELECT ON t TO u",
        "SET ROLE admin",
        "SET search_path TO app",
        "BEGIN",
        "DO $$ BEGIN END $$",
        "SELECT pg_read_file('/etc/passwd')",
        "ALTER SYSTEM SET log_statement = 'none'",
        "COPY t TO STDOUT",
        "TRUNCATE t",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "EXPLAIN ANALYZE UPDATE t SET a = 1",
        "CREATE TABLE x (a int)",
        "SELECT 'DROP TABLE t; --'",
        "SELEC nonsense",
        "VACUUM FULL t",
    ])
}

/// Rewrites the whitespace between tokens and the case of key words, keeping literals.
fn reshape(sql: &str, seps: &[&'static str], upper: &[bool]) -> String {
    let toks = lexer::lex(sql).toks;
    let mut out = String::new();
    for (i, t) in toks.iter().enumerate() {
        if i > 0 {
            out.push_str(seps[i % seps.len()]);
        }
        let text = t.text(sql);
        if t.kind == lexer::Kind::Ident {
            if upper[i % upper.len()] {
                out.push_str(&text.to_ascii_uppercase());
            } else {
                out.push_str(&text.to_ascii_lowercase());
            }
        } else {
            out.push_str(text);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn whitespace_comments_and_case_never_change_classes(
        s in statement(),
        seps in prop::collection::vec(prop::sample::select(vec![" ", "  ", "\t", "\n", " /* x */ ", "/**/", " -- c\n", "\r\n", " /* a /* nested */ b */ "]), 1..6),
        upper in prop::collection::vec(any::<bool>(), 1..6),
    ) {
        let k = classifier();
        let ctx = SqlContext::default();
        let a = k.classify(s.as_bytes(), &ctx).classification();
        let reshaped = reshape(s, &seps, &upper);
        let b = k.classify(reshaped.as_bytes(), &ctx).classification();
        prop_assert_eq!(a.classes, b.classes, "{} vs {}", s, reshaped);
        prop_assert_eq!(a.objects, b.objects);
    }

    #[test]
    fn a_script_carries_the_classes_of_its_parts(a in statement(), b in statement()) {
        let k = classifier();
        let ctx = SqlContext::default();
        let ca = k.classify(a.as_bytes(), &ctx).classes();
        let cb = k.classify(b.as_bytes(), &ctx).classes();
        let script = format!("{a}; {b}");
        let cab = k.classify(script.as_bytes(), &ctx).classes();
        prop_assert!(cab.is_superset(ca | cb), "{}: {:?} vs {:?} | {:?}", script, cab, ca, cb);
    }

    #[test]
    fn any_bytes_classify_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let a = classifier().classify(&bytes, &SqlContext::default());
        prop_assert!(bytes.is_empty() || !a.classes().is_empty());
    }

    #[test]
    fn sql_shaped_noise_classifies_without_panic(
        parts in prop::collection::vec(prop::sample::select(vec![
            "SELECT", "DELETE", "FROM", "t", "(", ")", "[", "]", "'", "\"", "$$", "$a$", "E'", "U&'", "U&\"",
            "--", "/*", "*/", ";", ",", "::", "NOT", "AND", "1", "\\", "WITH", "AS", "\n", "\r", " ", "X'", "B'",
            "$1", "UESCAPE", "CURRENT", "OF", "WHERE", "COPY", "STDIN", "EXPLAIN", "ANALYZE",
        ]), 0..64),
    ) {
        let sql: String = parts.concat();
        let a = classifier().classify(sql.as_bytes(), &SqlContext::default());
        prop_assert!(sql.is_empty() || !a.classes().is_empty());
    }
}

fn simple_statement() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec![
        "t",
        "app.t",
        "\"T\"",
        "pg_settings",
        "u1_0",
        "a.b.c",
        "where",
        "\"select\"",
        "only",
    ]);
    let value = prop::sample::select(vec![
        "$1",
        "1",
        "'x'",
        "true",
        "null",
        "current_timestamp",
        "-1",
        "E'x'",
        "now()",
        "id",
    ]);
    let op = prop::sample::select(vec!["=", "<>", "<", ">=", "IS", "IS NOT", "+", "LIKE"]);
    let cond = (name.clone(), op, value.clone()).prop_map(|(n, o, v)| {
        if o.starts_with("IS") {
            format!("{n} {o} NULL")
        } else {
            format!("{n} {o} {v}")
        }
    });
    let conds = prop::collection::vec(cond, 0..3).prop_map(|c| {
        if c.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", c.join(" AND "))
        }
    });
    let shape = prop::sample::select(vec!["select", "update", "delete", "insert"]);
    (shape, name.clone(), name, value, conds, any::<bool>()).prop_map(
        |(shape, table, col, v, w, extra)| match shape {
            "select" => format!(
                "SELECT {col}, x AS y FROM {table}{w}{}",
                if extra {
                    " ORDER BY x DESC LIMIT $2 FOR UPDATE"
                } else {
                    ""
                }
            ),
            "update" => format!(
                "UPDATE {table} SET {col} = {col} + {v}{w}{}",
                if extra { " RETURNING *" } else { "" }
            ),
            "delete" => format!("DELETE FROM {table}{w}"),
            _ => format!(
                "INSERT INTO {table} ({col}, x) VALUES ({v}, $1){}",
                if extra { " RETURNING id" } else { "" }
            ),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_path_agrees_with_the_parser(sql in simple_statement()) {
        let fast = classifier();
        let full = classifier().without_fast_path();
        let ctx = SqlContext::default();
        let a = fast.classify(sql.as_bytes(), &ctx);
        let b = full.classify(sql.as_bytes(), &ctx);
        prop_assert_eq!(a, b, "{}", sql);
    }
}

#[test]
fn many_ctes_stay_linear() {
    let mut sql = String::from("WITH c0 AS (SELECT * FROM t)");
    for i in 1..3000 {
        sql.push_str(&format!(", c{i} AS (SELECT * FROM c{})", i - 1));
    }
    sql.push_str(" SELECT * FROM c2999, secrets");
    let a = classifier().classify(sql.as_bytes(), &SqlContext::default());
    assert_eq!(a.classification().objects, ["public.t", "public.secrets"]);
}
