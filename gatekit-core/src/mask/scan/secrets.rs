//! Secrets anchored on a keyword: password assignments, `Authorization`/`Bearer` credentials,
//! AWS access key ids, JWTs and PEM private key blocks.
//!
//! A keyword is located by aho-corasick (long inputs) or a bigram table (short ones); the
//! checks here then parse what follows it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::hay::{Check, Hay, NeedMore, Span, is_word};

/// The longest value taken from a `password=…` assignment.
const PASSWORD_MAX: usize = 512;
/// The longest bearer or authorization credential.
const CREDENTIAL_MAX: usize = 4096;
/// The longest JWT segment.
const JWT_SEGMENT_MAX: usize = 8192;
/// The longest PEM private key block.
pub(crate) const PEM_MAX: usize = 16 * 1024;
/// Spaces allowed around a separator.
const GAP_MAX: usize = 8;

/// Keywords of password assignments, longest first (`passphrase` before `pwd`).
const PASSWORD_WORDS: &[&[u8]] = &[b"passphrase", b"password", b"passwd", b"pwd"];

/// Prefixes of AWS access key ids (`AKIA…`, temporary `ASIA…`, and the other unique-id kinds).
pub(crate) const AWS_PREFIXES: &[&[u8; 4]] = &[
    b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AIPA", b"ANPA", b"ANVA", b"AROA",
    b"APKA", b"ASCA",
];

/// Values that name no secret: placeholders, flags, references.
const PLACEHOLDERS: &[&[u8]] = &[
    b"null",
    b"none",
    b"nil",
    b"undefined",
    b"true",
    b"false",
    b"yes",
    b"no",
    b"on",
    b"off",
    b"required",
    b"optional",
    b"empty",
    b"hidden",
    b"redacted",
    b"masked",
    b"unset",
];

#[inline]
const fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The end of up to [`GAP_MAX`] spaces or tabs from `i`.
fn skip_spaces(h: &Hay<'_>, i: usize) -> Result<usize, NeedMore> {
    h.run(i, GAP_MAX, is_space)
}

/// A value after `password=`, `password: `, `"password": "…"`, `PASSWORD '…'`,
/// `--password …`, where the keyword starts at `k`.
pub(crate) fn password(h: &Hay<'_>, k: usize) -> Check {
    let mut keyword = None;
    for word in PASSWORD_WORDS {
        if h.word_at(k, word)? {
            keyword = Some(word.len());
            break;
        }
    }
    let Some(len) = keyword else {
        return Ok(None);
    };
    let mut i = k + len;
    // `passwords`, `password_hash`, `pwdx`: a different identifier.
    if h.is(i, is_word)? {
        return Ok(None);
    }
    // The closing quote of a key, `"password": …`, and of an index, `$cfg['password'] = …`.
    if matches!(h.at(i)?, Some(b'"' | b'\'')) {
        i += 1;
        if h.at(i)? == Some(b']') {
            i += 1;
        }
    }
    let after_key = skip_spaces(h, i)?;
    let flag = k >= 2 && h.bytes.get(k - 2..k) == Some(b"--");
    i = match (h.at(after_key)?, h.at(after_key + 1)?) {
        // `password::text` is a cast, `password==` a comparison.
        (Some(b':'), Some(b':')) | (Some(b'='), Some(b'=' | b'~')) => return Ok(None),
        (Some(b':'), Some(b'=')) | (Some(b'='), Some(b'>')) => after_key + 2,
        (Some(b':' | b'='), _) => after_key + 1,
        // SQL: `PASSWORD 'secret'`.
        (Some(b'\'' | b'"'), _) if after_key > i => after_key,
        // `--password secret`.
        (Some(b), _) if flag && after_key > i && !is_space(b) => after_key,
        _ => return Ok(None),
    };
    let i = skip_spaces(h, i)?;
    let value = match h.at(i)? {
        Some(q @ (b'"' | b'\'' | b'`')) => match quoted(h, i + 1, q)? {
            Some(v) => v,
            None => return Ok(None),
        },
        Some(_) => {
            let end = h.run(i, PASSWORD_MAX, |b| {
                !b.is_ascii_whitespace() && !matches!(b, b',' | b';' | b'&' | b'"' | b'\'' | b'}')
            })?;
            if end - i > PASSWORD_MAX {
                return Ok(None);
            }
            Span::new(i, end)
        }
        None => return Ok(None),
    };
    let text = h.bytes.get(value.start..value.end).unwrap_or_default();
    if text.is_empty() || is_placeholder(text) {
        return Ok(None);
    }
    Ok(Some(value))
}

/// The inside of a quoted value starting at `i`, up to the closing `q` (backslash escapes
/// honoured) or the end of the line; `None` when that is more than [`PASSWORD_MAX`] bytes
/// away (a blob, not a password).
fn quoted(h: &Hay<'_>, i: usize, q: u8) -> Result<Option<Span>, NeedMore> {
    let mut j = i;
    while j - i <= PASSWORD_MAX {
        match h.at(j)? {
            None | Some(b'\n' | b'\r') => return Ok(Some(Span::new(i, j.min(h.len())))),
            Some(b'\\') => j += 2,
            Some(b) if b == q => return Ok(Some(Span::new(i, j))),
            Some(_) => j += 1,
        }
    }
    Ok(None)
}

fn is_placeholder(v: &[u8]) -> bool {
    PLACEHOLDERS.iter().any(|p| v.eq_ignore_ascii_case(p))
        // Masked already (`********`, `***ter2`).
        || v.contains(&b'*')
        || v.first() == Some(&b'<') && v.last() == Some(&b'>')
        || v.starts_with(b"${")
        || v.starts_with(b"{{")
        || v.starts_with(b"%(")
        || v == b"%s"
        || v == b"?"
        || v.first() == Some(&b'$') && v.get(1).is_some_and(|b| b.is_ascii_alphanumeric())
        || v.first() == Some(&b':') && v.get(1).is_some_and(|b| b.is_ascii_alphabetic())
}

#[inline]
const fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'-')
}

/// Whether a credential without a scheme in front looks like one: long enough and not a
/// plain word.
fn looks_like_credential(v: &[u8]) -> bool {
    v.len() >= 8 && v.iter().any(|b| !b.is_ascii_alphabetic())
}

/// A token after `Bearer ` at `k`.
pub(crate) fn bearer(h: &Hay<'_>, k: usize) -> Check {
    if !h.word_at(k, b"bearer")? || h.before(k).is_some_and(|b| b.is_ascii_alphabetic()) {
        return Ok(None);
    }
    let i = k + 6;
    if !h.is(i, is_space)? {
        return Ok(None);
    }
    let start = skip_spaces(h, i)?;
    let end = h.run(start, CREDENTIAL_MAX, is_token68)?;
    let end = h.run(end, 2, |b| b == b'=')?;
    let token = h.bytes.get(start..end).unwrap_or_default();
    if end - start > CREDENTIAL_MAX + 3 || !looks_like_credential(token) || is_placeholder(token) {
        return Ok(None);
    }
    if h.is(end, |b| b == b'=' || is_word(b))? {
        return Ok(None);
    }
    Ok(Some(Span::new(start, end)))
}

/// The credential of an `Authorization` header or field at `k` (after its scheme word, if
/// any): `Authorization: Basic dXNlcjpwYXNz`, `"authorization": "token ghp_…"`.
pub(crate) fn authorization(h: &Hay<'_>, k: usize) -> Check {
    if !h.word_at(k, b"authorization")? {
        return Ok(None);
    }
    let mut i = k + 13;
    if h.is(i, is_word)? {
        return Ok(None);
    }
    if matches!(h.at(i)?, Some(b'"' | b'\'')) {
        i += 1;
    }
    i = skip_spaces(h, i)?;
    if !matches!(h.at(i)?, Some(b':' | b'=')) {
        return Ok(None);
    }
    i = skip_spaces(h, i + 1)?;
    if matches!(h.at(i)?, Some(b'"' | b'\'')) {
        i += 1;
    }
    // An optional scheme: a word followed by a space.
    let word_end = h.run(i, 16, |b| b.is_ascii_alphanumeric() || b == b'-')?;
    let has_scheme = word_end > i && word_end - i <= 16 && h.is(word_end, is_space)?;
    let start = if has_scheme {
        skip_spaces(h, word_end)?
    } else {
        i
    };
    let end = h.run(start, CREDENTIAL_MAX, |b| {
        !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b',')
    })?;
    let credential = h.bytes.get(start..end).unwrap_or_default();
    let plausible = if has_scheme {
        credential.len() >= 4
    } else {
        looks_like_credential(credential)
    };
    if end - start > CREDENTIAL_MAX || !plausible || is_placeholder(credential) {
        return Ok(None);
    }
    Ok(Some(Span::new(start, end)))
}

/// An AWS access key id at `k`: a known prefix and 16 more uppercase letters or digits.
pub(crate) fn aws_access_key(h: &Hay<'_>, k: usize) -> Check {
    if h.before(k).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let mut prefixed = false;
    for prefix in AWS_PREFIXES {
        if h.lit_at(k, *prefix)? {
            prefixed = true;
            break;
        }
    }
    if !prefixed {
        return Ok(None);
    }
    let end = h.run(k + 4, 16, |b| b.is_ascii_uppercase() || b.is_ascii_digit())?;
    if end - (k + 4) != 16 || h.is(end, |b| b.is_ascii_alphanumeric())? {
        return Ok(None);
    }
    Ok(Some(Span::new(k, end)))
}

#[inline]
const fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A JSON Web Token at `k`: `eyJ…` header, payload and signature segments, the header
/// decoding to a JSON object that names its `alg`.
pub(crate) fn jwt(h: &Hay<'_>, k: usize) -> Check {
    if !h.lit_at(k, b"eyJ")? || h.before(k).is_some_and(is_base64url) {
        return Ok(None);
    }
    let header_end = h.run(k, JWT_SEGMENT_MAX, is_base64url)?;
    if header_end - k < 10 || header_end - k > JWT_SEGMENT_MAX || h.at(header_end)? != Some(b'.') {
        return Ok(None);
    }
    let payload_end = h.run(header_end + 1, JWT_SEGMENT_MAX, is_base64url)?;
    let payload = payload_end - (header_end + 1);
    if !(2..=JWT_SEGMENT_MAX).contains(&payload) || h.at(payload_end)? != Some(b'.') {
        return Ok(None);
    }
    let end = h.run(payload_end + 1, JWT_SEGMENT_MAX, is_base64url)?;
    if end - (payload_end + 1) > JWT_SEGMENT_MAX {
        return Ok(None);
    }
    let header = h.bytes.get(k..header_end).unwrap_or_default();
    let mut decoded = [0u8; JWT_SEGMENT_MAX];
    let Ok(n) = URL_SAFE_NO_PAD.decode_slice(header, &mut decoded) else {
        return Ok(None);
    };
    let json = decoded.get(..n).unwrap_or_default();
    if json.first() != Some(&b'{') || !json.windows(5).any(|w| w == b"\"alg\"") {
        return Ok(None);
    }
    Ok(Some(Span::new(k, end)))
}

/// Labels of PEM blocks that hold a private key end with one of these.
const PEM_PRIVATE_SUFFIXES: &[&[u8]] = &[b"PRIVATE KEY", b"PRIVATE KEY BLOCK"];

/// A PEM private key block at `k`, from `-----BEGIN … PRIVATE KEY-----` through the matching
/// `-----END …-----`; without an end line within [`PEM_MAX`] bytes, through the base64 body.
pub(crate) fn private_key(h: &Hay<'_>, k: usize) -> Check {
    if !h.lit_at(k, b"-----BEGIN ")? {
        return Ok(None);
    }
    let label_start = k + 11;
    let label_end = h.run(label_start, 40, |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' '
    })?;
    let label = h.bytes.get(label_start..label_end).unwrap_or_default();
    if label.len() > 40
        || !PEM_PRIVATE_SUFFIXES.iter().any(|s| label.ends_with(s))
        || !h.lit_at(label_end, b"-----")?
    {
        return Ok(None);
    }
    let body = label_end + 5;
    let limit = k + PEM_MAX;
    let mut window = h.bytes.get(body..h.len().min(limit)).unwrap_or_default();
    // Look for the end line up to the next block's start, so every byte is searched once
    // however many headers there are.
    let mut next_block = false;
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(window.get(from..).unwrap_or_default(), b"-----") {
        let dashes = body + from + at;
        if h.lit_at(dashes, b"-----END ")? {
            let tail = dashes + 9 + label.len();
            if tail + 5 <= limit && h.lit_at(dashes + 9, label)? && h.lit_at(tail, b"-----")? {
                return Ok(Some(Span::new(k, tail + 5)));
            }
        } else if h.lit_at(dashes, b"-----BEGIN ")? {
            window = window.get(..from + at).unwrap_or_default();
            next_block = true;
            break;
        }
        from += at + 1;
    }
    if !next_block && !h.eof && h.len() < limit {
        return Err(NeedMore);
    }
    // No end line: the header and the base64 body after it, as far as the input, the limit
    // or the next block goes.
    let is_body = |b: &u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'+' | b'/' | b'=' | b'\r' | b'\n' | b':' | b',' | b'-' | b' '
            )
    };
    let mut end = body
        + window
            .iter()
            .position(|b| !is_body(b))
            .unwrap_or(window.len());
    while end > body && h.bytes.get(end - 1).is_some_and(u8::is_ascii_whitespace) {
        end -= 1;
    }
    Ok(Some(Span::new(k, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mask::scan::hay::first_match as find;

    #[test]
    fn password_assignments() {
        let f = |s| find(password, s);
        assert_eq!(f("password=hunter2 next").as_deref(), Some("hunter2"));
        assert_eq!(
            f("{\"password\": \"p@ss w\\\"rd\"}").as_deref(),
            Some("p@ss w\\\"rd")
        );
        assert_eq!(f("PGPASSWORD=s3cret psql").as_deref(), Some("s3cret"));
        assert_eq!(
            f("ALTER ROLE app PASSWORD 'Tr0ub4dor'").as_deref(),
            Some("Tr0ub4dor")
        );
        assert_eq!(f("db.password: swordfish").as_deref(), Some("swordfish"));
        assert_eq!(f("--password hunter2").as_deref(), Some("hunter2"));
        assert_eq!(f("?user=a&pwd=xyz123&x=1").as_deref(), Some("xyz123"));
        assert_eq!(f("password reset for alice"), None);
        assert_eq!(f("Password: "), None);
        assert_eq!(f("password_hash=abc"), None);
        assert_eq!(f("password=${DB_PASSWORD}"), None);
        assert_eq!(f("password: ********"), None);
        assert_eq!(f("password = null"), None);
        assert_eq!(f("WHERE password::text = $1"), None);
        let blob = "A".repeat(PASSWORD_MAX + 1);
        assert_eq!(
            find(password, &format!("pwd={blob}")),
            None,
            "a blob, not a password"
        );
        assert_eq!(find(password, &format!("pwd=\"{blob}\"")), None);
    }

    #[test]
    fn bearer_and_authorization() {
        assert_eq!(
            find(authorization, "Authorization: Basic dXNlcjpwYXNz\r\n").as_deref(),
            Some("dXNlcjpwYXNz")
        );
        assert_eq!(
            find(bearer, "Authorization: Bearer abc.def-123_x").as_deref(),
            Some("abc.def-123_x")
        );
        assert_eq!(find(bearer, "the bearer token is invalid"), None);
        assert_eq!(find(bearer, "Bearer realm=\"api\""), None);
        assert_eq!(find(authorization, "authorization failed"), None);
    }

    #[test]
    fn aws_keys_and_jwts() {
        assert_eq!(
            find(aws_access_key, "key AKIAIOSFODNN7EXAMPLE,").as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE")
        );
        assert_eq!(find(aws_access_key, "AKIAIOSFODNN7EXAMPL"), None);
        assert_eq!(find(aws_access_key, "XAKIAIOSFODNN7EXAMPLE"), None);
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(
            find(jwt, &format!("token={token};")).as_deref(),
            Some(token)
        );
        assert_eq!(
            find(jwt, "eyJub3RhIjoiand0In0.eyJ4IjoxfQ.sig"),
            None,
            "no alg"
        );
    }

    #[test]
    fn pem_blocks() {
        let block = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----";
        assert_eq!(
            find(private_key, &format!("x\n{block}\ny")).as_deref(),
            Some(block)
        );
        assert_eq!(
            find(
                private_key,
                "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"
            ),
            None
        );
        let two = format!("{block}\n{block}");
        assert_eq!(
            find(private_key, &two).as_deref(),
            Some(block),
            "one block at a time"
        );
        let headless = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----BEGIN PRIVATE KEY-----\nBBBB";
        assert_eq!(
            find(private_key, headless).as_deref(),
            Some("-----BEGIN PRIVATE KEY-----\nAAAA"),
            "a block without an end line stops at the next one"
        );
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9";
        assert_eq!(
            find(private_key, &format!("{cut}\n\n")).as_deref(),
            Some(cut)
        );
        let h = Hay::new(cut.as_bytes(), false);
        assert_eq!(private_key(&h, 0), Err(NeedMore));
    }
}
