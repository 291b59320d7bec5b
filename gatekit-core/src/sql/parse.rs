//! Running sqlparser within a budget, and only where its reading of the text agrees with
//! the server's.
//!
//! Before the parser sees a statement: the text must lex the same way under sqlparser's
//! tokenizer and under [`super::lexer`] (same strings, quoted identifiers and comments, at the
//! same places: a disagreement is exactly what a bypass would exploit), its nesting must stay
//! within `max_depth`, and its operator chains within a fixed length (a chain of `AND`, `||`
//! or `UNION` nests the tree one level per operator, and the tree is walked and dropped
//! recursively).

use std::panic::{AssertUnwindSafe, catch_unwind};

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use super::lexer::{Kind, Lexed, Tok, locations};

static DIALECT: PostgreSqlDialect = PostgreSqlDialect {};

/// Longest operator chain (operators and operator key words between commas, summed over the
/// enclosing brackets) handed to the parser.
pub(crate) const MAX_CHAIN: usize = 1000;

/// Longest dollar-quote tag handed to sqlparser's tokenizer, whose search for the closing tag
/// costs the tag's length per character.
const MAX_TAG: usize = 64;

/// sqlparser's tokens for `src`, split into statements, when its tokenizer reads the text as
/// the server does. `None` when it fails, panics, or disagrees with `lexed`.
pub(crate) fn statements(src: &str, lexed: &Lexed) -> Option<Vec<Vec<TokenWithSpan>>> {
    if lexed.longest_tag > MAX_TAG || longest_sqlparser_tag(src) > MAX_TAG {
        return None;
    }
    let tokens = catch_unwind(AssertUnwindSafe(|| {
        Tokenizer::new(&DIALECT, src).tokenize_with_location()
    }))
    .ok()?
    .ok()?;
    if !regions_agree(src, &tokens, lexed) {
        return None;
    }
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut code = false;
    for t in tokens {
        if t.token == Token::SemiColon {
            if code {
                out.push(std::mem::take(&mut cur));
            } else {
                cur.clear();
            }
            code = false;
            continue;
        }
        code |= !matches!(t.token, Token::Whitespace(_));
        cur.push(t);
    }
    if code {
        out.push(cur);
    }
    Some(out)
}

/// The longest run of characters sqlparser takes as a dollar-quote tag after any `$`.
fn longest_sqlparser_tag(src: &str) -> usize {
    let mut longest = 0;
    let mut run: Option<usize> = None;
    for ch in src.chars() {
        match run {
            Some(n) if ch.is_alphanumeric() || ch == '_' => run = Some(n + 1),
            _ => {
                if let Some(n) = run {
                    longest = longest.max(n);
                }
                run = (ch == '$').then_some(0);
            }
        }
    }
    longest.max(run.unwrap_or(0))
}

/// Whether both tokenizers put strings, quoted identifiers and comments at the same places.
fn regions_agree(src: &str, tokens: &[TokenWithSpan], lexed: &Lexed) -> bool {
    let mut theirs = Vec::with_capacity(lexed.regions.len());
    for t in tokens {
        let prefix = match &t.token {
            Token::SingleQuotedString(_) | Token::DollarQuotedString(_) => 0,
            Token::EscapedStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_) => 1,
            Token::UnicodeStringLiteral(_) => 2,
            Token::Word(w) if w.quote_style.is_some() => 0,
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => 0,
            Token::Whitespace(_) => continue,
            Token::Word(_)
            | Token::Number(..)
            | Token::Placeholder(_)
            | Token::Char(_)
            | Token::EOF => continue,
            t if is_data_token(t) => return false,
            _ => continue,
        };
        let s = t.span.start;
        let e = t.span.end;
        theirs.push(((s.line, s.column + prefix), (e.line, e.column)));
    }
    if theirs.len() != lexed.regions.len() {
        return false;
    }
    let mut offsets = Vec::with_capacity(lexed.regions.len() * 2);
    for (s, e) in &lexed.regions {
        offsets.push(*s);
        offsets.push(*e);
    }
    if offsets.windows(2).any(|w| w[0] > w[1]) {
        return false;
    }
    let locs = locations(src, &offsets);
    theirs
        .iter()
        .zip(locs.chunks(2))
        .all(|(t, mine)| mine.len() == 2 && t.0 == mine[0] && t.1 == mine[1])
}

/// Tokens that carry text as data and that the PostgreSQL dialect should never produce.
fn is_data_token(t: &Token) -> bool {
    matches!(
        t,
        Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::CopyData { .. }
    )
}

/// Key words that chain operands like an operator.
fn is_chain_word(src: &str, t: &Tok) -> bool {
    let n = (t.end - t.start) as usize;
    if t.kind != Kind::Ident || !(2..=9).contains(&n) {
        return false;
    }
    const WORDS: &[&str] = &[
        "and",
        "or",
        "not",
        "is",
        "in",
        "like",
        "ilike",
        "similar",
        "between",
        "collate",
        "at",
        "operator",
        "union",
        "intersect",
        "except",
        "escape",
        "isnull",
        "notnull",
        "overlaps",
        "case",
        "when",
    ];
    let text = t.text(src);
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(text))
}

/// Whether a statement's nesting and operator chains stay within the budget.
pub(crate) fn within_budget(src: &str, toks: &[Tok], max_depth: usize) -> bool {
    let mut levels: Vec<usize> = vec![0];
    let mut weight = 0usize;
    for t in toks {
        match t.kind {
            Kind::LParen | Kind::LBracket => {
                if levels.len() > max_depth {
                    return false;
                }
                levels.push(0);
            }
            Kind::RParen | Kind::RBracket => {
                if levels.len() > 1
                    && let Some(c) = levels.pop()
                {
                    weight -= c;
                }
            }
            Kind::Comma => {
                if let Some(top) = levels.last_mut() {
                    weight -= *top;
                    *top = 0;
                }
            }
            Kind::Op | Kind::Colon | Kind::Dot => {
                if let Some(top) = levels.last_mut() {
                    *top += 1;
                    weight += 1;
                }
            }
            Kind::Ident if is_chain_word(src, t) => {
                if let Some(top) = levels.last_mut() {
                    *top += 1;
                    weight += 1;
                }
            }
            _ => {}
        }
        if weight > MAX_CHAIN {
            return false;
        }
    }
    true
}

/// Parses one statement's tokens; `None` unless they hold exactly one statement.
pub(crate) fn parse_one(tokens: Vec<TokenWithSpan>, recursion_limit: usize) -> Option<Statement> {
    let parsed = catch_unwind(AssertUnwindSafe(move || {
        Parser::new(&DIALECT)
            .with_recursion_limit(recursion_limit)
            .with_tokens_with_locations(tokens)
            .parse_statements()
    }))
    .ok()?
    .ok()?;
    let mut it = parsed.into_iter();
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// For `UPDATE`/`DELETE … WHERE CURRENT OF cursor`, which sqlparser does not parse: the
/// tokens without that clause, to be parsed with the `WHERE` taken as present.
pub(crate) fn strip_current_of(src: &str, toks: &[Tok], tokens: &mut Vec<TokenWithSpan>) -> bool {
    let n = toks.len();
    let dml = toks
        .first()
        .is_some_and(|t| t.is_kw(src, "update") || t.is_kw(src, "delete"));
    if !dml
        || n < 5
        || !toks[n - 4].is_kw(src, "where")
        || !toks[n - 3].is_kw(src, "current")
        || !toks[n - 2].is_kw(src, "of")
        || !toks[n - 1].is_name()
    {
        return false;
    }
    let Some(cut) = tokens.iter().rposition(|t| matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("where")))
    else {
        return false;
    };
    tokens.truncate(cut);
    true
}

fn is_string_token(t: &Token) -> bool {
    matches!(
        t,
        Token::SingleQuotedString(_)
            | Token::EscapedStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
    )
}

/// Narrow rewrites of legitimate PostgreSQL that sqlparser does not parse, on its tokens
/// (their values do not matter for classification; the reference lexer's tokens, which the
/// function checks read, are left alone):
/// - `'a'` newline `'b'`: the continuation segments are dropped;
/// - `U&'…' UESCAPE '!'`: the `UESCAPE` clause is dropped.
pub(crate) fn normalize(tokens: &mut Vec<TokenWithSpan>) {
    let mut keep = vec![true; tokens.len()];
    let mut last_code: Option<usize> = None;
    let mut newline_since = false;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].token {
            Token::Whitespace(w) => {
                newline_since |= matches!(w, Whitespace::Newline);
            }
            t => {
                let prev = last_code.map(|p| &tokens[p].token);
                if is_string_token(t) && newline_since && prev.is_some_and(is_string_token) {
                    keep[i] = false;
                } else if matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("uescape"))
                    && matches!(prev, Some(Token::UnicodeStringLiteral(_)))
                {
                    keep[i] = false;
                    if let Some(j) = (i + 1..tokens.len())
                        .find(|&j| !matches!(tokens[j].token, Token::Whitespace(_)))
                    {
                        keep[j] = false;
                        i = j;
                    }
                } else {
                    last_code = Some(i);
                }
                newline_since = false;
            }
        }
        i += 1;
    }
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut k = keep.into_iter();
    tokens.retain(|_| k.next().unwrap_or(true));
}

/// Every statement of `src` parsed, for readers outside the classifier that need the tree
/// (the PostgreSQL session's COPY reader): only when both lexers agree on the text, each
/// statement stays within `max_depth` and the operator-chain budget, and none uses a
/// Unicode-escaped name. `None` otherwise: the caller fails closed.
pub(crate) fn checked_statements(src: &str, max_depth: usize) -> Option<Vec<Statement>> {
    let lexed = super::lexer::lex(src);
    if lexed.error.is_some() {
        return None;
    }
    let ranges: Vec<&[Tok]> = lexed
        .toks
        .split(|t| t.kind == Kind::Semi)
        .filter(|s| !s.is_empty())
        .collect();
    let theirs = statements(src, &lexed)?;
    if theirs.len() != ranges.len() {
        return None;
    }
    let limit = (max_depth * 2).max(50);
    let mut out = Vec::with_capacity(ranges.len());
    for (toks, tokens) in ranges.into_iter().zip(theirs) {
        if toks.iter().any(|t| t.kind == Kind::UnicodeIdent) || !within_budget(src, toks, max_depth)
        {
            return None;
        }
        out.push(parse_one(tokens, limit)?);
    }
    Some(out)
}
