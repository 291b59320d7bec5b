//! COPY OUT data, field by field: the text, CSV and binary formats taken apart, each field
//! handed to a masking callback, and the row put back together in the same format.
//!
//! Every function returns `None` when no field changed (the caller forwards the original
//! bytes) and never reads past the message: a field count that differs from the
//! columns' makes every field of that row NULL (`mismatch` is set), which keeps the
//! framing intact without guessing which field is which.

use std::borrow::Cow;

use super::mask::Cell;

/// How COPY OUT data is laid out, from the COPY statement's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum CopyFormat {
    /// Tab-separated (or `delimiter`), backslash escapes, `null` for NULL.
    Text {
        /// The field separator.
        delimiter: u8,
        /// The text standing for NULL (`\N`).
        null: Box<[u8]>,
        /// Whether the first row is a header line.
        header: bool,
    },
    /// Comma-separated (or `delimiter`) with `quote`d fields; `escape` precedes a quote or
    /// an escape inside quotes; an unquoted `null` is NULL.
    Csv {
        /// The field separator.
        delimiter: u8,
        /// The quote character.
        quote: u8,
        /// The escape character (the quote itself by default).
        escape: u8,
        /// The text standing for NULL (empty).
        null: Box<[u8]>,
        /// Whether the first row is a header line.
        header: bool,
    },
    /// PostgreSQL's binary COPY format.
    Binary,
}

impl CopyFormat {
    /// The defaults of text (`binary == false`) or binary COPY.
    pub fn default_for(binary: bool) -> CopyFormat {
        if binary {
            CopyFormat::Binary
        } else {
            CopyFormat::Text {
                delimiter: b'\t',
                null: (*b"\\N").into(),
                header: false,
            }
        }
    }

    /// Whether the first CopyData message is a header line.
    pub fn header(&self) -> bool {
        matches!(
            self,
            CopyFormat::Text { header: true, .. } | CopyFormat::Csv { header: true, .. }
        )
    }
}

/// Rewrites one CopyData body; `cell(i, value)` masks field `i` (never called for NULLs).
pub(super) fn mask_copy_data(
    format: &CopyFormat,
    body: &[u8],
    columns: usize,
    mismatch: &mut bool,
    cell: &mut dyn FnMut(usize, &[u8]) -> Cell,
) -> Result<Option<Vec<u8>>, &'static str> {
    match format {
        CopyFormat::Text {
            delimiter, null, ..
        } => Ok(text_rows(body, *delimiter, null, columns, mismatch, cell)),
        CopyFormat::Csv {
            delimiter,
            quote,
            escape,
            null,
            ..
        } => {
            let csv = Csv {
                delimiter: *delimiter,
                quote: *quote,
                escape: *escape,
                null,
            };
            Ok(csv.rows(body, columns, mismatch, cell))
        }
        CopyFormat::Binary => binary_tuples(body, columns, mismatch, cell),
    }
}

/// Text format: rows end at a raw newline (a newline in a value is escaped as `\n`).
fn text_rows(
    body: &[u8],
    delimiter: u8,
    null: &[u8],
    columns: usize,
    mismatch: &mut bool,
    cell: &mut dyn FnMut(usize, &[u8]) -> Cell,
) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut done = 0;
    let mut line_start = 0;
    while line_start < body.len() {
        let line_end = body
            .get(line_start..)
            .and_then(|r| memchr::memchr(b'\n', r))
            .map_or(body.len(), |p| line_start + p);
        let line = body.get(line_start..line_end).unwrap_or_default();
        if let Some(new) = text_row(line, delimiter, null, columns, mismatch, cell) {
            let o = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 16));
            o.extend_from_slice(body.get(done..line_start).unwrap_or_default());
            o.extend_from_slice(&new);
            done = line_end;
        }
        line_start = line_end + 1;
    }
    let mut o = out?;
    o.extend_from_slice(body.get(done..).unwrap_or_default());
    Some(o)
}

/// The raw fields of a text line: split at delimiters not preceded by a backslash.
fn text_fields(line: &[u8], delimiter: u8) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        if b == b'\\' {
            i += 2;
            continue;
        }
        if b == delimiter {
            fields.push(line.get(start..i).unwrap_or_default());
            start = i + 1;
        }
        i += 1;
    }
    fields.push(line.get(start..).unwrap_or_default());
    fields
}

fn text_row(
    line: &[u8],
    delimiter: u8,
    null: &[u8],
    columns: usize,
    mismatch: &mut bool,
    cell: &mut dyn FnMut(usize, &[u8]) -> Cell,
) -> Option<Vec<u8>> {
    let fields = text_fields(line, delimiter);
    let matches = fields.len() == columns;
    let mut changed = false;
    let mut cells = Vec::with_capacity(fields.len());
    for (i, raw) in fields.iter().enumerate() {
        let c = if *raw == null {
            Cell::Unchanged
        } else if !matches {
            Cell::Null
        } else {
            cell(i, &text_decode(raw))
        };
        changed |= !matches!(c, Cell::Unchanged);
        cells.push(c);
    }
    if !changed {
        return None;
    }
    *mismatch |= !matches;
    let mut out = Vec::with_capacity(line.len() + 16);
    for (i, (raw, c)) in fields.iter().zip(cells).enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        match c {
            Cell::Unchanged => out.extend_from_slice(raw),
            Cell::Null => out.extend_from_slice(null),
            Cell::Replace(v) => text_encode(&v, delimiter, &mut out),
        }
    }
    Some(out)
}

/// A text-format field's value (PostgreSQL's COPY FROM escapes).
pub(super) fn text_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&b'\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = raw.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        match e {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| char::from(*d).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// Appends a value escaped as PostgreSQL's COPY TO does.
pub(super) fn text_encode(value: &[u8], delimiter: u8, out: &mut Vec<u8>) {
    for &b in value {
        let esc = match b {
            b'\\' => b'\\',
            8 => b'b',
            12 => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            11 => b'v',
            d if d == delimiter => d,
            _ => {
                out.push(b);
                continue;
            }
        };
        out.push(b'\\');
        out.push(esc);
    }
}

/// CSV options of one COPY.
pub(super) struct Csv<'a> {
    pub delimiter: u8,
    pub quote: u8,
    pub escape: u8,
    pub null: &'a [u8],
}

/// One CSV field: its value, whether it was quoted, and its raw bytes.
struct CsvField<'a> {
    value: Cow<'a, [u8]>,
    quoted: bool,
    raw: &'a [u8],
}

impl Csv<'_> {
    fn rows(
        &self,
        body: &[u8],
        columns: usize,
        mismatch: &mut bool,
        cell: &mut dyn FnMut(usize, &[u8]) -> Cell,
    ) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut done = 0;
        let mut at = 0;
        while at < body.len() {
            let (fields, end, next) = self.record(body, at);
            if let Some(new) = self.row(&fields, columns, mismatch, cell) {
                let o = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 16));
                o.extend_from_slice(body.get(done..at).unwrap_or_default());
                o.extend_from_slice(&new);
                done = end;
            }
            at = next;
        }
        let mut o = out?;
        o.extend_from_slice(body.get(done..).unwrap_or_default());
        Some(o)
    }

    /// The fields of the record at `at`, where its content ends and where the next
    /// starts (after its newline).
    fn record<'b>(&self, body: &'b [u8], mut at: usize) -> (Vec<CsvField<'b>>, usize, usize) {
        let mut fields = Vec::new();
        loop {
            let start = at;
            let mut quoted = false;
            let mut in_quotes = false;
            let mut plain = true;
            let mut value = Vec::new();
            while let Some(&b) = body.get(at) {
                if in_quotes {
                    if b == self.escape
                        && body
                            .get(at + 1)
                            .is_some_and(|&n| n == self.quote || n == self.escape)
                        && (self.escape != self.quote || body.get(at + 1) == Some(&self.quote))
                    {
                        value.push(body.get(at + 1).copied().unwrap_or(b));
                        plain = false;
                        at += 2;
                        continue;
                    }
                    if b == self.quote {
                        in_quotes = false;
                        plain = false;
                        at += 1;
                        continue;
                    }
                    value.push(b);
                    at += 1;
                    continue;
                }
                if b == self.delimiter || b == b'\n' || b == b'\r' {
                    break;
                }
                if b == self.quote {
                    in_quotes = true;
                    quoted = true;
                    plain = false;
                    at += 1;
                    continue;
                }
                value.push(b);
                at += 1;
            }
            let raw = body.get(start..at).unwrap_or_default();
            let value = if plain {
                Cow::Borrowed(raw)
            } else {
                Cow::Owned(value)
            };
            fields.push(CsvField { value, quoted, raw });
            match body.get(at) {
                Some(&b) if b == self.delimiter => at += 1,
                Some(b'\r') => {
                    let next = if body.get(at + 1) == Some(&b'\n') {
                        at + 2
                    } else {
                        at + 1
                    };
                    return (fields, at, next);
                }
                Some(_) => return (fields, at, at + 1),
                None => return (fields, at, at),
            }
        }
    }

    fn row(
        &self,
        fields: &[CsvField<'_>],
        columns: usize,
        mismatch: &mut bool,
        cell: &mut dyn FnMut(usize, &[u8]) -> Cell,
    ) -> Option<Vec<u8>> {
        let matches = fields.len() == columns;
        let mut changed = false;
        let mut cells = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            let c = if !f.quoted && f.raw == self.null {
                Cell::Unchanged
            } else if !matches {
                Cell::Null
            } else {
                cell(i, &f.value)
            };
            changed |= !matches!(c, Cell::Unchanged);
            cells.push(c);
        }
        if !changed {
            return None;
        }
        *mismatch |= !matches;
        let mut out = Vec::new();
        for (i, (f, c)) in fields.iter().zip(cells).enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            match c {
                Cell::Unchanged => out.extend_from_slice(f.raw),
                Cell::Null => out.extend_from_slice(self.null),
                Cell::Replace(v) => self.quoted(&v, &mut out),
            }
        }
        Some(out)
    }

    /// Appends a value, always quoted (so no delimiter, newline or NULL text can confuse
    /// the reader).
    fn quoted(&self, value: &[u8], out: &mut Vec<u8>) {
        out.push(self.quote);
        for &b in value {
            if b == self.quote || b == self.escape {
                out.push(self.escape);
            }
            out.push(b);
        }
        out.push(self.quote);
    }
}

const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Reads a big-endian i32 at `at`.
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(i32::from_be_bytes(s))
}

/// One binary COPY message (a tuple, the header and a tuple, or the trailer).
fn binary_tuples(
    body: &[u8],
    columns: usize,
    mismatch: &mut bool,
    cell: &mut dyn FnMut(usize, &[u8]) -> Cell,
) -> Result<Option<Vec<u8>>, &'static str> {
    let mut at = 0;
    if body.starts_with(BINARY_SIGNATURE) {
        let ext = i32_at(body, BINARY_SIGNATURE.len() + 4).ok_or("COPY header")?;
        let ext = usize::try_from(ext).map_err(|_| "COPY header extension length")?;
        at = BINARY_SIGNATURE.len() + 8 + ext;
        if at > body.len() {
            return Err("COPY header extension runs past the message");
        }
    }
    // Once a field changed: the new body, and how much of the old one is in it.
    let mut out: Option<(Vec<u8>, usize)> = None;
    while at < body.len() {
        let count = match body.get(at..at + 2) {
            Some(&[a, b]) => i16::from_be_bytes([a, b]),
            _ => return Err("binary COPY tuple truncated"),
        };
        at += 2;
        let count = usize::try_from(count).unwrap_or(0);
        let matches = count == columns;
        for i in 0..count {
            let field_at = at;
            let len = i32_at(body, at).ok_or("binary COPY field truncated")?;
            at += 4;
            if len < 0 {
                continue;
            }
            let end = at
                .checked_add(len as usize)
                .filter(|&e| e <= body.len())
                .ok_or("binary COPY field runs past the message")?;
            let value = body.get(at..end).unwrap_or_default();
            at = end;
            let c = if matches { cell(i, value) } else { Cell::Null };
            if matches!(c, Cell::Unchanged) {
                continue;
            }
            *mismatch |= !matches;
            let (o, copied) = out.get_or_insert_with(|| (Vec::with_capacity(body.len()), 0));
            o.extend_from_slice(body.get(*copied..field_at).unwrap_or_default());
            match c {
                Cell::Replace(v) => {
                    o.extend_from_slice(&i32::try_from(v.len()).unwrap_or(i32::MAX).to_be_bytes());
                    o.extend_from_slice(&v);
                }
                _ => o.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            *copied = at;
        }
    }
    Ok(out.map(|(mut o, copied)| {
        o.extend_from_slice(body.get(copied..).unwrap_or_default());
        o
    }))
}
