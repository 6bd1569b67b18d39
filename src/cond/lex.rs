//! The condition lexer: text to a list of spanned tokens.

use super::expr::CmpOp;
use super::parse::CondError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Name(String),
    Str(String),
    Int(i64),
    Float(f64),
    True,
    False,
    None,
    And,
    Or,
    Not,
    In,
    Is,
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Minus,
    Eof,
    /// A lexical error; always the last token.
    Error(CondError),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Split the whole text into tokens.  The list ends with `Eof`, or with
/// `Error` at the first lexical error (so the parser reports earlier syntax
/// errors first).
pub(super) fn lex(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
            i += 1;
        }
        if i == b.len() {
            toks.push(Token { tok: Tok::Eof, start: i, end: i });
            return toks;
        }
        let start = i;
        let at = |j: usize| b.get(j).copied();
        let result: Result<(Tok, usize), CondError> = match b[i] {
            b'(' => Ok((Tok::LParen, i + 1)),
            b')' => Ok((Tok::RParen, i + 1)),
            b'[' => Ok((Tok::LBracket, i + 1)),
            b']' => Ok((Tok::RBracket, i + 1)),
            b',' => Ok((Tok::Comma, i + 1)),
            b'-' => Ok((Tok::Minus, i + 1)),
            b'=' if at(i + 1) == Some(b'=') => Ok((Tok::Op(CmpOp::Eq), i + 2)),
            b'=' => Err(CondError::new(i, i + 1, "unexpected `=`, use `==` to compare")),
            b'!' if at(i + 1) == Some(b'=') => Ok((Tok::Op(CmpOp::Ne), i + 2)),
            b'<' if at(i + 1) == Some(b'=') => Ok((Tok::Op(CmpOp::Le), i + 2)),
            // Python 2 spelling of `!=`.
            b'<' if at(i + 1) == Some(b'>') => Ok((Tok::Op(CmpOp::Ne), i + 2)),
            b'<' => Ok((Tok::Op(CmpOp::Lt), i + 1)),
            b'>' if at(i + 1) == Some(b'=') => Ok((Tok::Op(CmpOp::Ge), i + 2)),
            b'>' => Ok((Tok::Op(CmpOp::Gt), i + 1)),
            b'\'' | b'"' => lex_string(src, i),
            b'0'..=b'9' => lex_number(src, i),
            b'.' if at(i + 1).is_some_and(|c| c.is_ascii_digit()) => lex_number(src, i),
            c if is_ident_start(c) => lex_name(src, i),
            _ => {
                let ch = src[i..].chars().next().expect("not at end");
                Err(CondError::new(i, i + ch.len_utf8(), format!("unexpected character `{ch}`")))
            }
        };
        match result {
            Ok((tok, end)) => {
                toks.push(Token { tok, start, end });
                i = end;
            }
            Err(e) => {
                let (start, end) = (e.start, e.end);
                toks.push(Token { tok: Tok::Error(e), start, end });
                return toks;
            }
        }
    }
}

fn lex_string(src: &str, start: usize) -> Result<(Tok, usize), CondError> {
    let quote = src.as_bytes()[start] as char;
    let unterminated = || CondError::new(start, src.len(), "unterminated string literal");
    let mut value = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        if c == quote {
            return Ok((Tok::Str(value), start + 1 + off + 1));
        }
        if c != '\\' {
            value.push(c);
            continue;
        }
        let (_, esc) = chars.next().ok_or_else(unterminated)?;
        match esc {
            '\\' | '\'' | '"' => value.push(esc),
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            // Backslash-newline continues the line, as in Python.
            '\n' => {}
            // Python keeps unknown escapes verbatim.
            other => {
                value.push('\\');
                value.push(other);
            }
        }
    }
    Err(unterminated())
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), CondError> {
    let b = src.as_bytes();
    let digits = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut i = digits(start);
    let mut is_float = false;
    if b.get(i) == Some(&b'.') {
        is_float = true;
        i = digits(i + 1);
    }
    let mut bad = false;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            i = digits(j);
        } else {
            bad = true;
        }
    }
    if bad || b.get(i).is_some_and(|&c| is_ident_continue(c) || c == b'.') {
        while b.get(i).is_some_and(|&c| is_ident_continue(c) || c == b'.') {
            i += 1;
        }
        return Err(CondError::new(start, i, "invalid numeric literal"));
    }
    let text = &src[start..i];
    if is_float {
        let x = text.parse::<f64>().map_err(|_| CondError::new(start, i, "invalid numeric literal"))?;
        return Ok((Tok::Float(x), i));
    }
    if text.len() > 1 && text.starts_with('0') && text.bytes().any(|c| c != b'0') {
        // Python 2 read these as octal, Python 3 rejects them.
        return Err(CondError::new(start, i, "leading zeros in integer literals are not allowed"));
    }
    let n = text.parse::<i64>().map_err(|_| CondError::new(start, i, "integer literal is too large"))?;
    Ok((Tok::Int(n), i))
}

fn lex_name(src: &str, start: usize) -> Result<(Tok, usize), CondError> {
    let b = src.as_bytes();
    let mut i = start + 1;
    while b.get(i).is_some_and(|&c| is_ident_continue(c)) {
        i += 1;
    }
    let mut dotted = false;
    while b.get(i) == Some(&b'.') {
        if !b.get(i + 1).is_some_and(|&c| is_ident_start(c)) {
            return Err(CondError::new(i, i + 1, "expected identifier after `.`"));
        }
        dotted = true;
        i += 2;
        while b.get(i).is_some_and(|&c| is_ident_continue(c)) {
            i += 1;
        }
    }
    let text = &src[start..i];
    let tok = match text {
        _ if dotted => Tok::Name(text.to_owned()),
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "in" => Tok::In,
        "is" => Tok::Is,
        "True" => Tok::True,
        "False" => Tok::False,
        "None" => Tok::None,
        _ => Tok::Name(text.to_owned()),
    };
    Ok((tok, i))
}
