//! The condition parser (recursive descent over the lexer's tokens) and its
//! error type, [`CondError`].

use std::fmt;

use super::Cond;
use super::expr::{Expr, junction};
use super::lex::{Tok, Token, lex};
use super::value::Value;

/// Deepest nesting of parentheses / `not` / lists accepted by the parser.
const MAX_DEPTH: usize = 100;

/// A syntax error in a condition: a byte range inside the condition text and a
/// lowercase message in the style of rustc.
#[derive(Debug, Clone, PartialEq)]
pub struct CondError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

impl CondError {
    pub(super) fn new(start: usize, end: usize, message: impl Into<String>) -> CondError {
        CondError { start, end, message: message.into() }
    }

    /// The same error with its range moved by `offset` bytes, e.g. to point
    /// into the file the condition text was taken from.
    pub fn shifted(self, offset: usize) -> CondError {
        CondError { start: self.start + offset, end: self.end + offset, message: self.message }
    }
}

impl fmt::Display for CondError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CondError {}

pub(super) struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

type PResult<T> = Result<T, CondError>;

impl<'s> Parser<'s> {
    pub(super) fn new(src: &'s str) -> Parser<'s> {
        Parser { src, toks: lex(src), pos: 0, depth: 0 }
    }

    /// The current token, or the lexical error found at this point.
    fn peek(&self) -> PResult<&Token> {
        let t = &self.toks[self.pos];
        match &t.tok {
            Tok::Error(e) => Err(e.clone()),
            _ => Ok(t),
        }
    }

    fn peek_tok(&self) -> PResult<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn peek2_tok(&self) -> Option<&Tok> {
        self.toks.get(self.pos + 1).map(|t| &t.tok)
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    fn describe(&self, t: &Token) -> String {
        match t.tok {
            Tok::Eof => "end of condition".to_owned(),
            Tok::Str(_) => "string literal".to_owned(),
            _ => format!("`{}`", &self.src[t.start..t.end]),
        }
    }

    /// "expected {what}, found {current token}" at the current token.
    fn expected(&self, what: &str) -> CondError {
        match self.peek() {
            Ok(t) => CondError::new(t.start, t.end, format!("expected {what}, found {}", self.describe(t))),
            Err(e) => e,
        }
    }

    fn expected_expr(&self) -> CondError {
        match self.peek() {
            Ok(t) if t.tok == Tok::Eof => CondError::new(t.start, t.end, "unexpected end of condition"),
            _ => self.expected("expression"),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek()?;
            return Err(CondError::new(t.start, t.end, "condition nests too deeply"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    pub(super) fn parse_all(mut self) -> PResult<Cond> {
        if self.peek_tok()? == &Tok::Eof {
            return Ok(Cond::always());
        }
        let expr = self.parse_or()?;
        let t = self.peek()?;
        match t.tok {
            Tok::Eof => Ok(Cond { expr }),
            Tok::RParen | Tok::RBracket => Err(CondError::new(t.start, t.end, format!("unmatched {}", self.describe(t)))),
            _ => Err(self.expected("end of condition")),
        }
    }

    fn parse_or(&mut self) -> PResult<Expr> {
        self.enter()?;
        let mut items = vec![self.parse_and()?];
        while self.peek_tok()? == &Tok::Or {
            self.advance();
            items.push(self.parse_and()?);
        }
        self.leave();
        Ok(junction(items, false))
    }

    fn parse_and(&mut self) -> PResult<Expr> {
        let mut items = vec![self.parse_not()?];
        while self.peek_tok()? == &Tok::And {
            self.advance();
            items.push(self.parse_not()?);
        }
        Ok(junction(items, true))
    }

    fn parse_not(&mut self) -> PResult<Expr> {
        if self.peek_tok()? != &Tok::Not {
            return self.parse_comparison();
        }
        self.advance();
        self.enter()?;
        let inner = self.parse_not()?;
        self.leave();
        Ok(Expr::Not(Box::new(inner)))
    }

    fn parse_comparison(&mut self) -> PResult<Expr> {
        let lhs = self.parse_primary()?;
        let expr = match self.peek_tok()?.clone() {
            Tok::Op(op) => {
                self.advance();
                let rhs = self.parse_primary()?;
                Expr::Cmp(op, Box::new(lhs), Box::new(rhs))
            }
            Tok::Is => {
                self.advance();
                let negated = self.peek_tok()? == &Tok::Not;
                if negated {
                    self.advance();
                }
                let target = match self.peek_tok()? {
                    Tok::None => Value::None,
                    Tok::True => Value::Bool(true),
                    Tok::False => Value::Bool(false),
                    _ => return Err(self.expected("`None`, `True` or `False`")),
                };
                self.advance();
                Expr::Is { expr: Box::new(lhs), target, negated }
            }
            Tok::In => {
                self.advance();
                let items = self.parse_sequence()?;
                Expr::In { expr: Box::new(lhs), items, negated: false }
            }
            Tok::Not => {
                self.advance();
                if self.peek_tok()? != &Tok::In {
                    return Err(self.expected("`in` after `not`"));
                }
                self.advance();
                let items = self.parse_sequence()?;
                Expr::In { expr: Box::new(lhs), items, negated: true }
            }
            _ => return Ok(lhs),
        };
        let chained = match self.peek_tok()? {
            Tok::Op(_) | Tok::Is | Tok::In => true,
            Tok::Not => self.peek2_tok() == Some(&Tok::In),
            _ => false,
        };
        if chained {
            let t = self.peek()?;
            return Err(CondError::new(t.start, t.end, "chained comparisons are not supported"));
        }
        Ok(expr)
    }

    /// The `[...]` list or `(...)` tuple after `in`.
    fn parse_sequence(&mut self) -> PResult<Vec<Expr>> {
        let (close, tuple) = match self.peek_tok()? {
            Tok::LBracket => (Tok::RBracket, false),
            Tok::LParen => (Tok::RParen, true),
            _ => return Err(self.expected("`[` or `(` after `in`")),
        };
        self.advance();
        self.enter()?;
        let mut items = Vec::new();
        let mut saw_comma = false;
        loop {
            if self.peek_tok()? == &close {
                self.advance();
                break;
            }
            items.push(self.parse_or()?);
            let tok = self.peek_tok()?;
            if tok == &Tok::Comma {
                saw_comma = true;
                self.advance();
            } else if tok == &close {
                if tuple && !saw_comma {
                    return Err(self.expected("`,` (a one-item tuple needs a trailing comma)"));
                }
                self.advance();
                break;
            } else if tuple {
                return Err(self.expected("`)` or `,`"));
            } else {
                return Err(self.expected("`]` or `,`"));
            }
        }
        self.leave();
        Ok(items)
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let expr = match self.peek_tok()?.clone() {
            Tok::Name(n) => Expr::Name(n),
            Tok::Str(s) => Expr::Lit(Value::Str(s)),
            Tok::Int(i) => Expr::Lit(Value::Int(i)),
            Tok::Float(x) => Expr::Lit(Value::Float(x)),
            Tok::True => Expr::Lit(Value::Bool(true)),
            Tok::False => Expr::Lit(Value::Bool(false)),
            Tok::None => Expr::Lit(Value::None),
            Tok::Minus => {
                self.advance();
                match *self.peek_tok()? {
                    Tok::Int(i) => Expr::Lit(Value::Int(-i)),
                    Tok::Float(x) => Expr::Lit(Value::Float(-x)),
                    _ => return Err(self.expected("number after `-`")),
                }
            }
            Tok::LParen => {
                self.advance();
                let inner = self.parse_or()?;
                if self.peek_tok()? != &Tok::RParen {
                    return Err(self.expected("`)`"));
                }
                inner
            }
            _ => return Err(self.expected_expr()),
        };
        self.advance();
        Ok(expr)
    }
}
