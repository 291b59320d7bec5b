//! A lexer that follows PostgreSQL's own (`scan.l`) where it matters for security: what is
//! code and what is data (strings, quoted identifiers, comments), and where statements end.
//!
//! sqlparser's tokenizer feeds sqlparser's parser; this lexer is the reference it is checked
//! against, the source of the lexical fallback, and the input of the nesting budget. It never
//! allocates beyond its token and region vectors and runs in one linear pass.

use std::borrow::Cow;

/// The flavour of a string constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrKind {
    /// `'…'` (standard-conforming: backslash is an ordinary character).
    Plain,
    /// `E'…'`: backslash escapes.
    Escape,
    /// `B'…'`: bit string.
    Bit,
    /// `X'…'`: hexadecimal bit string.
    Hex,
    /// `N'…'`: national character string.
    National,
    /// `U&'…'`: Unicode escapes.
    Unicode,
    /// `$tag$…$tag$`.
    Dollar,
}

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An unquoted identifier or key word.
    Ident,
    /// `"…"`.
    QuotedIdent,
    /// `U&"…"`.
    UnicodeIdent,
    /// A string constant.
    Str(StrKind),
    /// A numeric constant.
    Number,
    /// `$1`.
    Param,
    /// A run of operator characters.
    Op,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `,`.
    Comma,
    /// `;`.
    Semi,
    /// `.`.
    Dot,
    /// `:` or `::`.
    Colon,
    /// Any other single character (a syntax error for the server).
    Other,
}

/// One token: its kind and its byte span in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
}

impl Tok {
    /// The token's source text.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start as usize..self.end as usize)
            .unwrap_or("")
    }

    /// Whether this is an unquoted identifier equal to the (lower-case ASCII) key word `kw`.
    pub fn is_kw(&self, src: &str, kw: &str) -> bool {
        self.kind == Kind::Ident && self.text(src).eq_ignore_ascii_case(kw)
    }

    /// Whether this is a string constant of any kind.
    pub fn is_str(&self) -> bool {
        matches!(self.kind, Kind::Str(_))
    }

    /// Whether this names something (an identifier of any form).
    pub fn is_name(&self) -> bool {
        matches!(
            self.kind,
            Kind::Ident | Kind::QuotedIdent | Kind::UnicodeIdent
        )
    }
}

/// Why the lexer stopped early; the server rejects such text as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LexError {
    /// A string, quoted identifier, dollar quote or comment runs to the end of the text.
    Unterminated,
    /// `""`: a zero-length quoted identifier.
    EmptyIdent,
}

/// The lexer's output.
#[derive(Debug, Default)]
pub(crate) struct Lexed {
    /// Code tokens, comments and whitespace left out.
    pub toks: Vec<Tok>,
    /// Byte spans of everything that is data or comment: each string segment (from its
    /// opening quote), each quoted identifier, each comment.
    pub regions: Vec<(u32, u32)>,
    /// Set when the text ends inside a literal or comment.
    pub error: Option<LexError>,
    /// The longest dollar-quote tag seen, in bytes.
    pub longest_tag: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_dolq_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'!'
            | b'@'
            | b'#'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'<'
            | b'>'
            | b'='
    )
}

/// Lexes `src` as PostgreSQL does with `standard_conforming_strings = on`.
pub(crate) fn lex(src: &str) -> Lexed {
    let mut lx = Lexer {
        b: src.as_bytes(),
        i: 0,
        out: Lexed::default(),
    };
    lx.run();
    lx.out
}

struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
    out: Lexed,
}

impl Lexer<'_> {
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    fn push(&mut self, kind: Kind, start: usize) {
        self.out.toks.push(Tok {
            kind,
            start: start as u32,
            end: self.i as u32,
        });
    }

    fn region(&mut self, start: usize, end: usize) {
        self.out.regions.push((start as u32, end as u32));
    }

    fn fail(&mut self, e: LexError) {
        self.out.error = Some(e);
        self.i = self.b.len();
    }

    fn run(&mut self) {
        while self.i < self.b.len() {
            let c = self.b[self.i];
            let n = self.at(self.i + 1);
            let start = self.i;
            match c {
                c if is_space(c) => self.i += 1,
                b'-' if n == b'-' => self.line_comment(),
                b'/' if n == b'*' => self.block_comment(),
                b'\'' => self.string(start, start, StrKind::Plain),
                b'e' | b'E' if n == b'\'' => self.string(start, start + 1, StrKind::Escape),
                b'b' | b'B' if n == b'\'' => self.string(start, start + 1, StrKind::Bit),
                b'x' | b'X' if n == b'\'' => self.string(start, start + 1, StrKind::Hex),
                b'n' | b'N' if n == b'\'' => self.string(start, start + 1, StrKind::National),
                b'u' | b'U' if n == b'&' && self.at(self.i + 2) == b'\'' => {
                    self.string(start, start + 2, StrKind::Unicode)
                }
                b'u' | b'U' if n == b'&' && self.at(self.i + 2) == b'"' => {
                    self.quoted_ident(start, start + 2, Kind::UnicodeIdent)
                }
                b'"' => self.quoted_ident(start, start, Kind::QuotedIdent),
                b'$' if n.is_ascii_digit() => {
                    self.i += 1;
                    while self.at(self.i).is_ascii_digit() {
                        self.i += 1;
                    }
                    self.push(Kind::Param, start);
                }
                b'$' => self.dollar(start),
                c if is_ident_start(c) => {
                    while self.i < self.b.len() && is_ident_cont(self.b[self.i]) {
                        self.i += 1;
                    }
                    self.push(Kind::Ident, start);
                }
                c if c.is_ascii_digit() || (c == b'.' && n.is_ascii_digit()) => self.number(start),
                b'(' => self.single(Kind::LParen),
                b')' => self.single(Kind::RParen),
                b'[' => self.single(Kind::LBracket),
                b']' => self.single(Kind::RBracket),
                b',' => self.single(Kind::Comma),
                b';' => self.single(Kind::Semi),
                b'.' => {
                    self.i += if n == b'.' { 2 } else { 1 };
                    self.push(Kind::Dot, start);
                }
                b':' => {
                    self.i += if n == b':' || n == b'=' { 2 } else { 1 };
                    self.push(Kind::Colon, start);
                }
                c if is_op_char(c) => {
                    // An operator ends where a comment starts (`+--x` is `+` and a comment).
                    while self.i < self.b.len() && is_op_char(self.b[self.i]) {
                        let here = self.b[self.i];
                        let next = self.at(self.i + 1);
                        if self.i > start
                            && ((here == b'-' && next == b'-') || (here == b'/' && next == b'*'))
                        {
                            break;
                        }
                        self.i += 1;
                    }
                    self.push(Kind::Op, start);
                }
                _ => {
                    // ASCII only here: bytes >= 0x80 start identifiers.
                    self.i += 1;
                    self.push(Kind::Other, start);
                }
            }
        }
    }

    fn single(&mut self, kind: Kind) {
        let start = self.i;
        self.i += 1;
        self.push(kind, start);
    }

    fn line_comment(&mut self) {
        let start = self.i;
        while self.i < self.b.len() && !matches!(self.b[self.i], b'\n' | b'\r') {
            self.i += 1;
        }
        self.region(start, self.i);
    }

    fn block_comment(&mut self) {
        let start = self.i;
        self.i += 2;
        let mut depth = 1usize;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            let n = self.at(self.i + 1);
            if c == b'/' && n == b'*' {
                depth += 1;
                self.i += 2;
            } else if c == b'*' && n == b'/' {
                depth -= 1;
                self.i += 2;
                if depth == 0 {
                    self.region(start, self.i);
                    return;
                }
            } else {
                self.i += 1;
            }
        }
        self.region(start, self.i);
        self.fail(LexError::Unterminated);
    }

    /// A quoted string starting at `start` (its prefix) with the quote at `quote`, followed by
    /// any continuation segments (`'a'` newline `'b'`), which keep the first segment's rules.
    /// Each segment is its own token, so that an argument counts as a single literal only
    /// when it is one.
    fn string(&mut self, start: usize, quote: usize, kind: StrKind) {
        let backslash = kind == StrKind::Escape;
        let doubled = !matches!(kind, StrKind::Bit | StrKind::Hex);
        let mut tok_start = start;
        let mut seg = quote;
        loop {
            self.i = seg + 1;
            loop {
                let Some(&c) = self.b.get(self.i) else {
                    self.region(seg, self.b.len());
                    self.i = self.b.len();
                    self.push(Kind::Str(kind), tok_start);
                    self.fail(LexError::Unterminated);
                    return;
                };
                if backslash && c == b'\\' {
                    self.i += 2;
                } else if c == b'\'' {
                    if doubled && self.at(self.i + 1) == b'\'' {
                        self.i += 2;
                    } else {
                        self.i += 1;
                        break;
                    }
                } else {
                    self.i += 1;
                }
            }
            self.i = self.i.min(self.b.len());
            self.region(seg, self.i);
            self.push(Kind::Str(kind), tok_start);
            match self.continuation() {
                Some(next) => {
                    seg = next;
                    tok_start = next;
                }
                None => return,
            }
        }
    }

    /// After a closing quote: whitespace holding a newline (line comments allowed after it)
    /// and then a quote continue the literal. Returns the next quote's position and records
    /// the comments passed over.
    fn continuation(&mut self) -> Option<usize> {
        let mut j = self.i;
        let mut newline = false;
        let mut saw_comment = false;
        while j < self.b.len() {
            match self.b[j] {
                b' ' | b'\t' | 0x0c | 0x0b => j += 1,
                b'\n' | b'\r' => {
                    newline = true;
                    j += 1;
                }
                b'-' if newline && self.at(j + 1) == b'-' => {
                    saw_comment = true;
                    while j < self.b.len() && !matches!(self.b[j], b'\n' | b'\r') {
                        j += 1;
                    }
                }
                b'\'' if newline => {
                    if saw_comment {
                        let mut k = self.i;
                        while k < j {
                            if self.b[k] == b'-' && self.at(k + 1) == b'-' {
                                let s = k;
                                while k < j && !matches!(self.b[k], b'\n' | b'\r') {
                                    k += 1;
                                }
                                self.region(s, k);
                            } else {
                                k += 1;
                            }
                        }
                    }
                    return Some(j);
                }
                _ => return None,
            }
        }
        None
    }

    fn quoted_ident(&mut self, start: usize, quote: usize, kind: Kind) {
        self.i = quote + 1;
        loop {
            let Some(&c) = self.b.get(self.i) else {
                self.region(quote, self.i);
                self.push(kind, start);
                self.fail(LexError::Unterminated);
                return;
            };
            self.i += 1;
            if c == b'"' {
                if self.at(self.i) == b'"' {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        self.region(quote, self.i);
        self.push(kind, start);
        if self.i - quote == 2 {
            self.fail(LexError::EmptyIdent);
        }
    }

    fn dollar(&mut self, start: usize) {
        let mut j = start + 1;
        if j < self.b.len() && is_ident_start(self.b[j]) {
            while j < self.b.len() && is_dolq_cont(self.b[j]) {
                j += 1;
            }
        }
        if self.at(j) != b'$' {
            // Not a delimiter: a lone `$`, as the server reads it.
            self.i = start + 1;
            self.push(Kind::Other, start);
            return;
        }
        let delim_end = j + 1;
        let delim = &self.b[start..delim_end];
        self.out.longest_tag = self.out.longest_tag.max(delim.len() - 2);
        let rest = &self.b[delim_end..];
        match find(rest, delim) {
            Some(k) => {
                self.i = delim_end + k + delim.len();
                self.region(start, self.i);
                self.push(Kind::Str(StrKind::Dollar), start);
            }
            None => {
                self.i = self.b.len();
                self.region(start, self.i);
                self.push(Kind::Str(StrKind::Dollar), start);
                self.fail(LexError::Unterminated);
            }
        }
    }

    fn number(&mut self, start: usize) {
        let c = self.b[self.i];
        if c == b'0' && matches!(self.at(self.i + 1), b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
            self.i += 2;
            while self.at(self.i).is_ascii_hexdigit() || self.at(self.i) == b'_' {
                self.i += 1;
            }
            self.push(Kind::Number, start);
            return;
        }
        while self.at(self.i).is_ascii_digit() || self.at(self.i) == b'_' {
            self.i += 1;
        }
        if self.at(self.i) == b'.' && self.at(self.i + 1) != b'.' {
            self.i += 1;
            while self.at(self.i).is_ascii_digit() || self.at(self.i) == b'_' {
                self.i += 1;
            }
        }
        if matches!(self.at(self.i), b'e' | b'E') {
            let mut j = self.i + 1;
            if matches!(self.at(j), b'+' | b'-') {
                j += 1;
            }
            if self.at(j).is_ascii_digit() {
                self.i = j;
                while self.at(self.i).is_ascii_digit() {
                    self.i += 1;
                }
            }
        }
        self.push(Kind::Number, start);
    }
}

/// Position of `needle` in `hay` (linear: the standard library's two-way search).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    // Both come from a `&str` and the needle starts and ends with ASCII `$`, so the
    // conversions only fail on a cut in the middle of a character, which cannot happen.
    let hay = std::str::from_utf8(hay).ok()?;
    let needle = std::str::from_utf8(needle).ok()?;
    hay.find(needle)
}

/// Line and column (1-based; columns count characters; only `\n` starts a line) of each
/// sorted byte offset, in one pass: the location scheme of sqlparser's spans.
pub(crate) fn locations(src: &str, offsets: &[u32]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut line = 1u64;
    let mut col = 1u64;
    let mut pos = 0usize;
    let mut chars = src.char_indices().peekable();
    for &off in offsets {
        let off = off as usize;
        if off < pos {
            // Offsets must be sorted; an unsorted list is a caller bug, reported as a
            // location that matches nothing.
            out.push((0, 0));
            continue;
        }
        while let Some(&(i, ch)) = chars.peek() {
            if i >= off {
                break;
            }
            chars.next();
            if ch == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        pos = off;
        out.push((line, col));
    }
    out
}

/// The name a name token stands for: unquoted identifiers fold to lower case (ASCII only, as
/// the server does for UTF-8), quoted ones keep their case. `None` for a malformed `U&"…"`.
pub(crate) fn ident_value<'a>(src: &'a str, toks: &[Tok], i: usize) -> Option<Cow<'a, str>> {
    let t = toks.get(i)?;
    let text = t.text(src);
    match t.kind {
        Kind::Ident => {
            if text.bytes().any(|b| b.is_ascii_uppercase()) {
                Some(Cow::Owned(text.to_ascii_lowercase()))
            } else {
                Some(Cow::Borrowed(text))
            }
        }
        Kind::QuotedIdent => Some(undouble(text.get(1..text.len().saturating_sub(1))?, '"')),
        Kind::UnicodeIdent => {
            let inner = undouble(text.get(3..text.len().saturating_sub(1))?, '"');
            let esc = uescape(src, toks, i)?;
            decode_unicode(&inner, esc).map(Cow::Owned)
        }
        _ => None,
    }
}

/// The value of a string constant token. `None` when it is malformed.
pub(crate) fn str_value<'a>(src: &'a str, toks: &[Tok], i: usize) -> Option<Cow<'a, str>> {
    let t = toks.get(i)?;
    let text = t.text(src);
    let Kind::Str(kind) = t.kind else {
        return None;
    };
    // Continuation segments have no prefix: the body starts after the first quote.
    let body = |_: usize| {
        let q = text.find('\'')?;
        text.get(q + 1..text.len().saturating_sub(1))
    };
    match kind {
        StrKind::Plain => Some(undouble(body(0)?, '\'')),
        StrKind::National => Some(undouble(body(1)?, '\'')),
        StrKind::Bit | StrKind::Hex => body(1).map(Cow::Borrowed),
        StrKind::Escape => decode_escape(body(1)?).map(Cow::Owned),
        StrKind::Unicode => {
            let inner = undouble(body(2)?, '\'');
            let esc = uescape(src, toks, i)?;
            decode_unicode(&inner, esc).map(Cow::Owned)
        }
        StrKind::Dollar => {
            let tag_end = text.get(1..)?.find('$')? + 2;
            text.get(tag_end..text.len().checked_sub(tag_end)?)
                .map(Cow::Borrowed)
        }
    }
}

fn undouble(s: &str, q: char) -> Cow<'_, str> {
    let pair: [u8; 2] = [q as u8, q as u8];
    if s.as_bytes().windows(2).any(|w| w == pair) {
        let mut d = [0u8; 4];
        let one = q.encode_utf8(&mut d);
        let two = format!("{one}{one}");
        Cow::Owned(s.replace(&two, one))
    } else {
        Cow::Borrowed(s)
    }
}

/// The escape character of a `U&` literal: `\` or the one given by a following
/// `UESCAPE 'c'`.
fn uescape(src: &str, toks: &[Tok], i: usize) -> Option<char> {
    match (toks.get(i + 1), toks.get(i + 2)) {
        (Some(k), Some(s)) if k.is_kw(src, "uescape") && s.kind == Kind::Str(StrKind::Plain) => {
            let v = s.text(src);
            let inner = v.get(1..v.len().saturating_sub(1))?;
            let mut it = inner.chars();
            let c = it.next()?;
            if it.next().is_some()
                || c.is_ascii_hexdigit()
                || matches!(c, '+' | '\'' | '"')
                || c.is_whitespace()
            {
                return None;
            }
            Some(c)
        }
        _ => Some('\\'),
    }
}

fn decode_unicode(s: &str, esc: char) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != esc {
            out.push(c);
            continue;
        }
        match it.peek() {
            Some(&n) if n == esc => {
                it.next();
                out.push(esc);
            }
            Some('+') => {
                it.next();
                out.push(hex_char(&mut it, 6)?);
            }
            _ => out.push(hex_char(&mut it, 4)?),
        }
    }
    Some(out)
}

fn hex_char(it: &mut impl Iterator<Item = char>, n: usize) -> Option<char> {
    let mut v = 0u32;
    for _ in 0..n {
        v = v * 16 + it.next()?.to_digit(16)?;
    }
    char::from_u32(v)
}

fn decode_escape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                // `''` inside E'…'
                it.next();
                out.push('\'');
            }
            '\\' => match it.next()? {
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'x' => {
                    let mut v = 0u32;
                    let mut k = 0;
                    while k < 2 {
                        match it.peek().and_then(|c| c.to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                it.next();
                                k += 1;
                            }
                            None => break,
                        }
                    }
                    if k == 0 {
                        out.push('x');
                    } else {
                        out.push(char::from_u32(v)?);
                    }
                }
                'u' => out.push(hex_char(&mut it, 4)?),
                'U' => out.push(hex_char(&mut it, 8)?),
                d @ '0'..='7' => {
                    let mut v = d.to_digit(8)?;
                    for _ in 0..2 {
                        match it.peek().and_then(|c| c.to_digit(8)) {
                            Some(x) => {
                                v = v * 8 + x;
                                it.next();
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(v)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    Some(out)
}
