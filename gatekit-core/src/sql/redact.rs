//! Password literals taken out of statement text before it is recorded.

use std::borrow::Cow;

use super::lexer::{Kind, lex};

/// What a redacted secret is replaced with.
const MASK: &str = "***";

/// `sql` with secrets replaced by `***`: the literal after `PASSWORD` (role statements, user
/// mappings, server options) and the password in connection strings inside literals
/// (`password=…` as dblink takes it, `postgresql://user:…@host`). Text without secrets is
/// returned as is, without copying.
pub fn redact_secrets(sql: &str) -> Cow<'_, str> {
    // Every secret this finds sits after the word `password` or inside a `://` URI: text
    // with neither is returned without lexing it.
    if !may_hold_secret(sql) {
        return Cow::Borrowed(sql);
    }
    let lexed = lex(sql);
    let toks = &lexed.toks;
    // Byte spans to replace, in order.
    let mut cuts: Vec<(usize, usize, bool)> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if !t.is_str() {
            continue;
        }
        let after_password = i > 0
            && (toks[i - 1].is_kw(sql, "password")
                || (toks[i - 1].kind == Kind::QuotedIdent
                    && toks[i - 1].text(sql).eq_ignore_ascii_case("\"password\"")));
        if after_password {
            cuts.push((t.start as usize, t.end as usize, true));
            continue;
        }
        let text = t.text(sql);
        for (s, e) in conninfo_passwords(text) {
            cuts.push((t.start as usize + s, t.start as usize + e, false));
        }
    }
    if cuts.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut pos = 0;
    for (s, e, whole) in cuts {
        if s < pos {
            continue;
        }
        out.push_str(sql.get(pos..s).unwrap_or(""));
        out.push_str(if whole { "'***'" } else { MASK });
        pos = e;
    }
    out.push_str(sql.get(pos..).unwrap_or(""));
    Cow::Owned(out)
}

/// Whether `sql` contains `password` (in any ASCII case) or `://`.
fn may_hold_secret(sql: &str) -> bool {
    let b = sql.as_bytes();
    memchr::memchr3_iter(b':', b'p', b'P', b).any(|i| match b.get(i) {
        Some(b':') => b.get(i..i + 3) == Some(b"://"),
        _ => b
            .get(i..i + "password".len())
            .is_some_and(|w| w.eq_ignore_ascii_case(b"password")),
    })
}

/// Spans (within a literal's text) of passwords in `key=value` connection strings and in
/// `scheme://user:password@host` URIs.
fn conninfo_passwords(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(k) = lower.get(from..).and_then(|l| l.find("password")) {
        let key_start = from + k;
        let mut j = key_start + "password".len();
        from = j;
        let word_start = key_start == 0
            || !bytes[key_start - 1].is_ascii_alphanumeric() && bytes[key_start - 1] != b'_';
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if !word_start || bytes.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let v_start = j;
        // A conninfo value: up to whitespace, or a quoted value (quotes doubled or
        // backslash-escaped inside the SQL literal).
        if bytes.get(j) == Some(&b'\'') || bytes.get(j) == Some(&b'\\') {
            j += 1;
            while j < bytes.len() && bytes[j] != b' ' {
                j += 1;
            }
        } else {
            while j < bytes.len() && !matches!(bytes[j], b' ' | b'\'' | b'\t' | b'\n') {
                j += 1;
            }
        }
        if j > v_start {
            out.push((v_start, j));
        }
        from = j.max(from);
    }
    // URIs: scheme://user:password@host
    let mut from = 0;
    while let Some(k) = text.get(from..).and_then(|t| t.find("://")) {
        let auth_start = from + k + 3;
        from = auth_start;
        let auth_end = text[auth_start..]
            .find(['/', '?', ' ', '\''])
            .map_or(text.len(), |e| auth_start + e);
        let auth = &text[auth_start..auth_end];
        if let (Some(colon), Some(at)) = (auth.find(':'), auth.rfind('@'))
            && colon < at
        {
            out.push((auth_start + colon + 1, auth_start + at));
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod prefilter_tests {
    use proptest::prelude::*;

    use super::may_hold_secret;

    proptest! {
        #[test]
        fn the_prefilter_finds_what_a_plain_search_finds(s in "([pP][aA][sS][sS][wW][oO][rR][dD]|[pP][aA][sS][sS]|:/|/|:|[a-z ]){0,12}") {
            let plain = s.contains("://")
                || s.as_bytes()
                    .windows(8)
                    .any(|w| w.eq_ignore_ascii_case(b"password"));
            prop_assert_eq!(may_hold_secret(&s), plain);
        }
    }
}
