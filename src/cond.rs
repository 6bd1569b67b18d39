//! Rocks conditions: the `cond="..."` expressions and the `arch=`, `os=`,
//! `release=` lists found on elements and edges of NPACI Rocks (and Stacki)
//! node and graph XML.
//!
//! The original tool handed `cond` text to Python's `eval`.  Here the text is
//! parsed once into a small expression tree ([`Cond`]) that understands the
//! subset of Python the corpus uses, and the tree is evaluated against a
//! host's attributes (string key/value pairs) as often as needed.
//!
//! # Grammar
//!
//! ```text
//! cond       := or_expr | (empty or whitespace only: always true)
//! or_expr    := and_expr ("or" and_expr)*
//! and_expr   := not_expr ("and" not_expr)*
//! not_expr   := "not" not_expr | comparison
//! comparison := primary [ cmp_op primary
//!                       | "is" ["not"] ("None" | "True" | "False")
//!                       | ["not"] "in" sequence ]
//! cmp_op     := "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! sequence   := "[" [or_expr ("," or_expr)* [","]] "]"
//!             | "(" [or_expr "," [or_expr ("," or_expr)* [","]]] ")"
//! primary    := name | string | ["-"] number | "True" | "False" | "None"
//!             | "(" or_expr ")"
//! name       := ident ("." ident)*        (a dotted name is one attribute)
//! ```
//!
//! Chained comparisons (`a < b < c`) are rejected with an error.
//!
//! # Semantics
//!
//! * An attribute's string is converted as Rocks' `cond.py` did
//!   ([`Value::from_attr`]); an undefined attribute is `None`.
//! * `and`/`or` yield operand values as Python does; `not` yields a bool.
//! * `==`/`!=` compare numbers (bool, int, float) numerically, strings with
//!   strings, and `None` only equals `None`; any other mix is unequal.
//! * `<`, `<=`, `>`, `>=` order numbers numerically and strings by code point.
//!   Every other pairing (e.g. `None < 5`, `'a' < 5`, `None <= None`) is
//!   *false*: Python 2 would have ordered them arbitrarily and Python 3 raises
//!   `TypeError`; false is the conservative answer.
//! * `is` / `is not` test identity with `None`, `True` or `False`.
//! * `x in [...]` uses the `==` rules above.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

/// Deepest nesting of parentheses / `not` / lists accepted by the parser.
const MAX_DEPTH: usize = 100;

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// A value as a Rocks condition sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Value {
    /// Convert a raw attribute string the way Rocks' `cond.py` did:
    /// case-insensitively `on`/`true`/`yes`/`y` become `True` and
    /// `off`/`false`/`no`/`n` become `False`; otherwise the text is read as an
    /// integer, else as a float, else it stays a string.  Like Python's
    /// `int()`/`float()`, the numeric readings ignore surrounding whitespace;
    /// an integer too large for `i64` is read as a float.
    pub fn from_attr(s: &str) -> Value {
        V::from_attr(s).to_value()
    }

    /// Python truthiness: `None`, `False`, `0`, `0.0` and `""` are false.
    pub fn truthy(&self) -> bool {
        self.as_v().truthy()
    }

    fn as_v(&self) -> V<'_> {
        match self {
            Value::None => V::None,
            Value::Bool(b) => V::Bool(*b),
            Value::Int(i) => V::Int(*i),
            Value::Float(f) => V::Float(*f),
            Value::Str(s) => V::Str(s),
        }
    }
}

impl fmt::Display for Value {
    /// Python literal syntax (`None`, `True`, `7`, `6.2`, `'text'`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write_float(f, *x),
            Value::Str(s) => write_str_lit(f, s),
        }
    }
}

/// Borrowed value used during evaluation, so that attribute strings and
/// string literals are compared without being copied.
#[derive(Debug, Clone, Copy)]
enum V<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

#[derive(Debug, Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl<'a> V<'a> {
    fn from_attr(s: &'a str) -> V<'a> {
        const TRUE_WORDS: [&str; 4] = ["on", "true", "yes", "y"];
        const FALSE_WORDS: [&str; 4] = ["off", "false", "no", "n"];
        if TRUE_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
            return V::Bool(true);
        }
        if FALSE_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
            return V::Bool(false);
        }
        let t = s.trim();
        if let Ok(i) = t.parse::<i64>() {
            return V::Int(i);
        }
        if let Ok(x) = t.parse::<f64>() {
            return V::Float(x);
        }
        V::Str(s)
    }

    fn to_value(self) -> Value {
        match self {
            V::None => Value::None,
            V::Bool(b) => Value::Bool(b),
            V::Int(i) => Value::Int(i),
            V::Float(x) => Value::Float(x),
            V::Str(s) => Value::Str(s.to_owned()),
        }
    }

    fn truthy(self) -> bool {
        match self {
            V::None => false,
            V::Bool(b) => b,
            V::Int(i) => i != 0,
            // NaN is truthy in Python (nan != 0).
            V::Float(x) => x != 0.0,
            V::Str(s) => !s.is_empty(),
        }
    }

    fn num(self) -> Option<Num> {
        match self {
            V::Bool(b) => Some(Num::I(i64::from(b))),
            V::Int(i) => Some(Num::I(i)),
            V::Float(x) => Some(Num::F(x)),
            V::None | V::Str(_) => None,
        }
    }

    /// Python `==` restricted to the types conditions produce.
    fn py_eq(self, other: V<'_>) -> bool {
        match (self, other) {
            (V::None, V::None) => true,
            (V::Str(a), V::Str(b)) => a == b,
            (a, b) => match (a.num(), b.num()) {
                (Some(x), Some(y)) => num_cmp(x, y) == Some(Ordering::Equal),
                _ => false,
            },
        }
    }

    /// Ordering for `<`, `<=`, `>`, `>=`; `None` when the pair is not ordered.
    fn py_cmp(self, other: V<'_>) -> Option<Ordering> {
        match (self, other) {
            (V::Str(a), V::Str(b)) => Some(a.cmp(b)),
            (a, b) => num_cmp(a.num()?, b.num()?),
        }
    }
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y),
        (Num::I(x), Num::F(y)) => int_float_cmp(x, y),
        (Num::F(x), Num::I(y)) => int_float_cmp(y, x).map(Ordering::reverse),
    }
}

/// Exact comparison of an integer with a float (no rounding of the integer).
fn int_float_cmp(i: i64, f: f64) -> Option<Ordering> {
    // 2^63: every i64 is below it and at or above its negation.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return None;
    }
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // In range, so the conversion is exact.
    match i.cmp(&(whole as i64)) {
        Ordering::Equal => 0.0.partial_cmp(&(f - whole)),
        other => Some(other),
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A syntax error in a condition: a byte range inside the condition text and a
/// lowercase message in the style of rustc.
#[derive(Debug, Clone, PartialEq)]
pub struct CondError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

impl CondError {
    fn new(start: usize, end: usize, message: impl Into<String>) -> CondError {
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

// ---------------------------------------------------------------------------
// Expression tree
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Lit(Value),
    Name(String),
    Not(Box<Expr>),
    /// Two or more operands; never directly contains another `And`.
    And(Vec<Expr>),
    /// Two or more operands; never directly contains another `Or`.
    Or(Vec<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `expr is [not] target` where target is `None`, `True` or `False`.
    Is {
        expr: Box<Expr>,
        target: Value,
        negated: bool,
    },
    /// `expr [not] in [items]`
    In {
        expr: Box<Expr>,
        items: Vec<Expr>,
        negated: bool,
    },
}

impl Expr {
    fn is_atom(&self) -> bool {
        matches!(self, Expr::Lit(_) | Expr::Name(_))
    }

    fn eval<'x, 'e: 'x, 'a: 'x>(&'e self, lookup: &dyn Fn(&str) -> Option<&'a str>) -> V<'x> {
        match self {
            Expr::Lit(v) => v.as_v(),
            Expr::Name(n) => lookup(n).map_or(V::None, V::from_attr),
            Expr::Not(e) => V::Bool(!e.eval(lookup).truthy()),
            Expr::And(es) => {
                let mut last = V::Bool(true);
                for e in es {
                    last = e.eval(lookup);
                    if !last.truthy() {
                        break;
                    }
                }
                last
            }
            Expr::Or(es) => {
                let mut last = V::Bool(false);
                for e in es {
                    last = e.eval(lookup);
                    if last.truthy() {
                        break;
                    }
                }
                last
            }
            Expr::Cmp(op, l, r) => {
                let (a, b) = (l.eval(lookup), r.eval(lookup));
                V::Bool(match op {
                    CmpOp::Eq => a.py_eq(b),
                    CmpOp::Ne => !a.py_eq(b),
                    CmpOp::Lt => a.py_cmp(b) == Some(Ordering::Less),
                    CmpOp::Le => matches!(a.py_cmp(b), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => a.py_cmp(b) == Some(Ordering::Greater),
                    CmpOp::Ge => {
                        matches!(a.py_cmp(b), Some(Ordering::Greater | Ordering::Equal))
                    }
                })
            }
            Expr::Is { expr, target, negated } => {
                let same = match (expr.eval(lookup), target) {
                    (V::None, Value::None) => true,
                    (V::Bool(a), Value::Bool(b)) => a == *b,
                    _ => false,
                };
                V::Bool(same != *negated)
            }
            Expr::In { expr, items, negated } => {
                let a = expr.eval(lookup);
                let found = items.iter().any(|item| a.py_eq(item.eval(lookup)));
                V::Bool(found != *negated)
            }
        }
    }

    fn collect_names<'e>(&'e self, out: &mut BTreeSet<&'e str>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Name(n) => {
                out.insert(n);
            }
            Expr::Not(e) => e.collect_names(out),
            Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| e.collect_names(out)),
            Expr::Cmp(_, l, r) => {
                l.collect_names(out);
                r.collect_names(out);
            }
            Expr::Is { expr, .. } => expr.collect_names(out),
            Expr::In { expr, items, .. } => {
                expr.collect_names(out);
                items.iter().for_each(|e| e.collect_names(out));
            }
        }
    }
}

/// Build an `and`/`or` node, flattening nested nodes of the same kind (both
/// operators are associative, also for the values they return).
fn junction(items: Vec<Expr>, is_and: bool) -> Expr {
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::And(inner) if is_and => flat.extend(inner),
            Expr::Or(inner) if !is_and => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        flat.pop().expect("one item")
    } else if is_and {
        Expr::And(flat)
    } else {
        Expr::Or(flat)
    }
}

// ---------------------------------------------------------------------------
// Display (normalised Python-like form)
// ---------------------------------------------------------------------------
//
// Parentheses rules, chosen for readability and so that the output parses
// back to the same tree:
// * operands of `and` are bare when they are names, literals or `not ...`,
//   otherwise parenthesised: `(arch == 'x86_64') and x11`;
// * operands of `or` are parenthesised only when they are `and`/`or`;
// * the operand of `not` is bare when it is a name, literal or `not`;
// * operands of comparisons are bare only when they are names or literals;
// * `in` always prints a list: `x in ['a', 'b']`.

fn write_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if x.is_finite() {
        // `{:?}` keeps a `.0` or an exponent, so the text reads back as float.
        write!(f, "{x:?}")
    } else if x.is_nan() {
        // Not produced by the parser; printed for completeness.
        f.write_str("nan")
    } else if x > 0.0 {
        f.write_str("1e999")
    } else {
        f.write_str("-1e999")
    }
}

fn write_str_lit(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    f.write_char('\'')?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

fn write_paren(f: &mut fmt::Formatter<'_>, e: &Expr, paren: bool) -> fmt::Result {
    if paren { write!(f, "({e})") } else { write!(f, "{e}") }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Lit(v) => write!(f, "{v}"),
            Expr::Name(n) => f.write_str(n),
            Expr::Not(e) => {
                f.write_str("not ")?;
                write_paren(f, e, !(e.is_atom() || matches!(**e, Expr::Not(_))))
            }
            Expr::And(es) => {
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    write_paren(f, e, !(e.is_atom() || matches!(e, Expr::Not(_))))?;
                }
                Ok(())
            }
            Expr::Or(es) => {
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write_paren(f, e, matches!(e, Expr::And(_) | Expr::Or(_)))?;
                }
                Ok(())
            }
            Expr::Cmp(op, l, r) => {
                write_paren(f, l, !l.is_atom())?;
                write!(f, " {} ", op.as_str())?;
                write_paren(f, r, !r.is_atom())
            }
            Expr::Is { expr, target, negated } => {
                write_paren(f, expr, !expr.is_atom())?;
                f.write_str(if *negated { " is not " } else { " is " })?;
                write!(f, "{target}")
            }
            Expr::In { expr, items, negated } => {
                write_paren(f, expr, !expr.is_atom())?;
                f.write_str(if *negated { " not in [" } else { " in [" })?;
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Cond
// ---------------------------------------------------------------------------

/// A parsed condition.  [`Cond::always`] is the constant-true condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    expr: Expr,
}

impl Default for Cond {
    fn default() -> Cond {
        Cond::always()
    }
}

impl Cond {
    /// The condition that always holds (an absent or empty `cond`).
    pub fn always() -> Cond {
        Cond { expr: Expr::Lit(Value::Bool(true)) }
    }

    /// Parse condition text.  Empty or whitespace-only text is
    /// [`Cond::always`].  Error ranges are byte offsets into `text`.
    pub fn parse(text: &str) -> Result<Cond, CondError> {
        Parser::new(text).parse_all()
    }

    /// The Rocks element condition: each of the `arch`, `os` and `release`
    /// comma lists (items trimmed, empty items and empty lists ignored)
    /// becomes `key == 'a' or key == 'b'`; these and `cond` are ANDed.
    pub fn rocks(arch: Option<&str>, os: Option<&str>, release: Option<&str>, cond: Option<Cond>) -> Cond {
        let mut out = Cond::always();
        for (key, list) in [("arch", arch), ("os", os), ("release", release)] {
            let Some(list) = list else { continue };
            let items: Vec<Expr> = list
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Expr::Cmp(CmpOp::Eq, Box::new(Expr::Name(key.to_owned())), Box::new(Expr::Lit(Value::Str(item.to_owned())))))
                .collect();
            if !items.is_empty() {
                out = out.and(Cond { expr: junction(items, false) });
            }
        }
        match cond {
            Some(c) => out.and(c),
            None => out,
        }
    }

    /// Conjunction; [`Cond::always`] is the identity.
    pub fn and(self, other: Cond) -> Cond {
        if self.is_always() {
            return other;
        }
        if other.is_always() {
            return self;
        }
        Cond { expr: junction(vec![self.expr, other.expr], true) }
    }

    /// Whether this is the constant-true condition (also what `True` and an
    /// empty text parse to).
    pub fn is_always(&self) -> bool {
        matches!(self.expr, Expr::Lit(Value::Bool(true)))
    }

    /// Evaluate against a host; `lookup` returns an attribute's raw string,
    /// or `None` when the attribute is undefined.
    pub fn eval<'a>(&self, lookup: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        self.expr.eval(lookup).truthy()
    }

    /// Like [`Cond::eval`] but returns the Python value of the expression
    /// (`and`/`or` return operands), which helps when explaining a decision.
    pub fn eval_value<'a>(&self, lookup: &dyn Fn(&str) -> Option<&'a str>) -> Value {
        self.expr.eval(lookup).to_value()
    }

    /// Every attribute name the condition reads, deduplicated and sorted.
    pub fn names(&self) -> Vec<String> {
        let mut set = BTreeSet::new();
        self.expr.collect_names(&mut set);
        set.into_iter().map(str::to_owned).collect()
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)
    }
}

impl std::str::FromStr for Cond {
    type Err = CondError;

    fn from_str(s: &str) -> Result<Cond, CondError> {
        Cond::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
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
fn lex(src: &str) -> Vec<Token> {
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

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

type PResult<T> = Result<T, CondError>;

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Parser<'s> {
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

    fn parse_all(mut self) -> PResult<Cond> {
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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn parse(text: &str) -> Cond {
        Cond::parse(text).unwrap_or_else(|e| panic!("{text:?} failed to parse: {e:?}"))
    }

    fn eval_with(text: &str, attrs: &[(&str, &str)]) -> bool {
        let cond = parse(text);
        cond.eval(&|name| attrs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    fn err(text: &str) -> (usize, usize, String) {
        match Cond::parse(text) {
            Ok(c) => panic!("{text:?} parsed unexpectedly as {c}"),
            Err(e) => (e.start, e.end, e.message),
        }
    }

    fn e(start: usize, end: usize, msg: &str) -> (usize, usize, String) {
        (start, end, msg.to_owned())
    }

    #[test]
    fn empty_and_whitespace_are_always() {
        for text in ["", "   ", "\t\n "] {
            let c = parse(text);
            assert!(c.is_always());
            assert_eq!(c, Cond::always());
            assert!(c.eval(&|_| None));
        }
        assert_eq!(Cond::always().to_string(), "True");
        assert!(Cond::default().is_always());
        assert!(!parse("x").is_always());
    }

    #[test]
    fn attribute_conversion() {
        assert_eq!(Value::from_attr("yes"), Value::Bool(true));
        assert_eq!(Value::from_attr("Y"), Value::Bool(true));
        assert_eq!(Value::from_attr("On"), Value::Bool(true));
        assert_eq!(Value::from_attr("TRUE"), Value::Bool(true));
        assert_eq!(Value::from_attr("no"), Value::Bool(false));
        assert_eq!(Value::from_attr("N"), Value::Bool(false));
        assert_eq!(Value::from_attr("OFF"), Value::Bool(false));
        assert_eq!(Value::from_attr("false"), Value::Bool(false));
        assert_eq!(Value::from_attr("7"), Value::Int(7));
        assert_eq!(Value::from_attr(" 7 "), Value::Int(7));
        assert_eq!(Value::from_attr("-3"), Value::Int(-3));
        assert_eq!(Value::from_attr("7.0"), Value::Float(7.0));
        assert_eq!(Value::from_attr("6.2"), Value::Float(6.2));
        assert_eq!(Value::from_attr("99999999999999999999"), Value::Float(1e20));
        assert_eq!(Value::from_attr("x86_64"), Value::Str("x86_64".into()));
        assert_eq!(Value::from_attr("yes please"), Value::Str("yes please".into()));
        assert_eq!(Value::from_attr(""), Value::Str(String::new()));
    }

    #[test]
    fn truthiness() {
        assert!(!Value::None.truthy());
        assert!(!Value::Bool(false).truthy());
        assert!(!Value::Int(0).truthy());
        assert!(!Value::Float(0.0).truthy());
        assert!(!Value::Str(String::new()).truthy());
        assert!(Value::Bool(true).truthy());
        assert!(Value::Int(-1).truthy());
        assert!(Value::Float(0.5).truthy());
        assert!(Value::Str("0x".into()).truthy());
        // Converted first: "0" and "no" are false, "" is false.
        assert!(!eval_with("a", &[("a", "0")]));
        assert!(!eval_with("a", &[("a", "no")]));
        assert!(!eval_with("a", &[("a", "")]));
        assert!(!eval_with("a", &[("a", "0.0")]));
        assert!(eval_with("a", &[("a", "yes")]));
        assert!(eval_with("a", &[("a", "anything")]));
    }

    #[test]
    fn bare_names_and_not() {
        assert!(eval_with("x11", &[("x11", "true")]));
        assert!(!eval_with("x11", &[("x11", "off")]));
        assert!(!eval_with("x11", &[]));
        assert!(eval_with("not x11", &[]));
        assert!(eval_with("not x11", &[("x11", "n")]));
        assert!(!eval_with("not x11", &[("x11", "yes")]));
        assert!(eval_with("not not x11", &[("x11", "yes")]));
    }

    #[test]
    fn precedence() {
        // or < and < not < comparison
        let c = parse("a or b and c");
        expect![[r#"a or (b and c)"#]].assert_eq(&c.to_string());
        assert!(eval_with("a or b and c", &[("a", "yes")]));
        assert!(!eval_with("a or b and c", &[("b", "yes")]));
        assert!(eval_with("(a or b) and c", &[("b", "yes"), ("c", "1")]));
        assert!(!eval_with("(a or b) and c", &[("a", "yes")]));
        // not binds tighter than and, looser than ==
        assert!(eval_with("not a == 1 and b", &[("a", "2"), ("b", "y")]));
        assert!(!eval_with("not a == 1 and b", &[("a", "1"), ("b", "y")]));
        expect![[r#"not (a == 1) and b"#]].assert_eq(&parse("not a == 1 and b").to_string());
        expect![[r#"a == 1 or (b and (c != 'x'))"#]].assert_eq(&parse("(a == 1) or (b and c != 'x')").to_string());
        expect![[r#"a or (b and c) or d"#]].assert_eq(&parse("a or b and c or d").to_string());
        // Flattening of same-kind operators.
        assert_eq!(parse("a and (b and c)"), parse("a and b and c"));
        assert_eq!(parse("(a or b) or c"), parse("a or b or c"));
    }

    #[test]
    fn and_or_return_operands() {
        let lookup = |name: &str| match name {
            "a" => Some("7"),
            "s" => Some("text"),
            _ => None,
        };
        assert_eq!(parse("a and s").eval_value(&lookup), Value::Str("text".into()));
        assert_eq!(parse("z and s").eval_value(&lookup), Value::None);
        assert_eq!(parse("z or a").eval_value(&lookup), Value::Int(7));
        assert_eq!(parse("a or s").eval_value(&lookup), Value::Int(7));
        assert_eq!(parse("not z").eval_value(&lookup), Value::Bool(true));
        assert_eq!(parse("(z or a) == 7").eval_value(&lookup), Value::Bool(true));
    }

    #[test]
    fn numeric_comparisons() {
        let c = "rocks_version_major >= 6";
        assert!(eval_with(c, &[("rocks_version_major", "7")]));
        assert!(eval_with(c, &[("rocks_version_major", "6")]));
        assert!(!eval_with(c, &[("rocks_version_major", "5")]));
        assert!(!eval_with(c, &[]));
        assert!(eval_with("version >= 7", &[("version", "7.0")]));
        assert!(!eval_with("version >= 7", &[("version", "6.2")]));
        assert!(eval_with("version == 7", &[("version", "7.0")]));
        assert!(eval_with("version < 6.5", &[("version", "6.2")]));
        assert!(eval_with("version > 6.2", &[("version", "7")]));
        assert!(eval_with("version <= 6.2", &[("version", "6.2")]));
        assert!(eval_with("x == -1", &[("x", "-1")]));
        assert!(eval_with("x > -1.5", &[("x", "-1")]));
        assert!(eval_with("rocks_version_major==6", &[("rocks_version_major", "6")]));
        assert!(eval_with("a <> 5", &[("a", "6")]));
        // Python: True == 1, False == 0
        assert!(eval_with("flag == 1", &[("flag", "yes")]));
        assert!(eval_with("flag == 0", &[("flag", "no")]));
        assert!(eval_with("flag == True", &[("flag", "on")]));
        assert!(eval_with("1 == True", &[]));
        assert!(eval_with("flag < 2", &[("flag", "yes")]));
        // Exact int/float comparison.
        assert!(!eval_with("9007199254740993 == 9007199254740992.0", &[]));
        assert!(eval_with("9007199254740992 == 9007199254740992.0", &[]));
        assert!(eval_with("3 < 3.5", &[]));
        assert!(eval_with("-3 > -3.5", &[]));
        assert!(eval_with("9223372036854775807 < 1e19", &[]));
        assert!(eval_with("a != a", &[("a", "nan")]));
        assert!(!eval_with("a == a", &[("a", "nan")]));
    }

    #[test]
    fn string_and_mixed_comparisons() {
        assert!(eval_with("appliance != 'devel-server'", &[("appliance", "compute")]));
        assert!(!eval_with("appliance != 'devel-server'", &[("appliance", "devel-server")]));
        assert!(eval_with("appliance != 'devel-server'", &[]));
        assert!(eval_with("arch == \"x86_64\"", &[("arch", "x86_64")]));
        assert!(eval_with("os.version == '7.x'", &[("os.version", "7.x")]));
        assert!(eval_with("a < 'b'", &[("a", "abc")]));
        assert!(eval_with("'b' >= a", &[("a", "abc")]));
        assert!(!eval_with("a > 'b'", &[("a", "abc")]));
        // String vs number: unequal, unordered.
        assert!(!eval_with("a == '7'", &[("a", "7")]));
        assert!(eval_with("a != '7'", &[("a", "7")]));
        assert!(!eval_with("a < 5", &[("a", "abc")]));
        assert!(!eval_with("a >= 5", &[("a", "abc")]));
        // None vs int: unordered, unequal.
        assert!(!eval_with("a < 5", &[]));
        assert!(!eval_with("a >= 5", &[]));
        assert!(!eval_with("a == 0", &[]));
        assert!(eval_with("a != 0", &[]));
        assert!(eval_with("a == None", &[]));
        assert!(!eval_with("a <= None", &[]));
        // Escapes.
        assert!(eval_with(r"a == 'it\'s'", &[("a", "it's")]));
        assert!(eval_with(r#"a == "say \"hi\"""#, &[("a", "say \"hi\"")]));
        assert!(eval_with(r"a == 'back\\slash'", &[("a", r"back\slash")]));
        assert!(eval_with(r"a == 'c:\dir'", &[("a", r"c:\dir")]));
        assert!(eval_with("a == 'ünï'", &[("a", "ünï")]));
    }

    #[test]
    fn is_none() {
        assert!(eval_with("Bootloader is None", &[]));
        assert!(!eval_with("Bootloader is None", &[("Bootloader", "grub")]));
        assert!(!eval_with("Bootloader is None", &[("Bootloader", "")]));
        assert!(eval_with("Bootloader is not None", &[("Bootloader", "grub")]));
        assert!(!eval_with("Bootloader is not None", &[]));
        let c = "rocks_version_major >= 6 and Bootloader is None";
        assert!(eval_with(c, &[("rocks_version_major", "7")]));
        assert!(!eval_with(c, &[("rocks_version_major", "7"), ("Bootloader", "x")]));
        assert!(!eval_with(c, &[("rocks_version_major", "5")]));
        assert!(eval_with("flag is True", &[("flag", "yes")]));
        assert!(!eval_with("flag is True", &[("flag", "1")]));
        assert!(eval_with("flag is not False", &[("flag", "1")]));
    }

    #[test]
    fn membership() {
        let c = "x in ['a', 'b']";
        assert!(eval_with(c, &[("x", "a")]));
        assert!(eval_with(c, &[("x", "b")]));
        assert!(!eval_with(c, &[("x", "c")]));
        assert!(!eval_with(c, &[]));
        assert!(eval_with("x not in ['a', 'b']", &[("x", "c")]));
        assert!(!eval_with("x not in ['a', 'b']", &[("x", "a")]));
        assert!(eval_with("x in ('a', 'b')", &[("x", "b")]));
        assert!(eval_with("x in ('a',)", &[("x", "a")]));
        assert!(eval_with("x in [6, 7,]", &[("x", "7.0")]));
        assert!(!eval_with("x in []", &[("x", "a")]));
        assert!(!eval_with("x in ()", &[("x", "a")]));
        assert!(eval_with("x in [y, 'z']", &[("x", "q"), ("y", "q")]));
        assert!(eval_with("x in [None]", &[]));
        assert!(eval_with("not x in ['a']", &[("x", "b")]));
    }

    #[test]
    fn leading_space_and_corpus_examples() {
        assert!(eval_with(" version >= 7", &[("version", "7")]));
        assert!(!eval_with(" version >= 7", &[("version", "6")]));
        assert!(eval_with("not (version >= 7)", &[("version", "6.2")]));
        let c = "rocks_version_major == 7 and not UseTracker";
        assert!(eval_with(c, &[("rocks_version_major", "7")]));
        assert!(!eval_with(c, &[("rocks_version_major", "7"), ("UseTracker", "yes")]));
        assert!(eval_with(c, &[("rocks_version_major", "7"), ("UseTracker", "no")]));
        assert!(!eval_with(c, &[("rocks_version_major", "6")]));
        let c = "img_storage_part_zfs_mirror and img_storage_vm and img_sync and vm_container_zpool";
        let all = [("img_storage_part_zfs_mirror", "true"), ("img_storage_vm", "yes"), ("img_sync", "on"), ("vm_container_zpool", "tank")];
        assert!(eval_with(c, &all));
        assert!(!eval_with(c, &all[..3]));
    }

    #[test]
    fn rocks_combination() {
        let c = Cond::rocks(Some("i386,x86_64"), Some("linux"), None, Some(parse("x11")));
        expect![[r#"(arch == 'i386' or arch == 'x86_64') and (os == 'linux') and x11"#]].assert_eq(&c.to_string());
        let host = |arch: &'static str, os: &'static str, x11: &'static str| {
            move |name: &str| match name {
                "arch" => Some(arch),
                "os" => Some(os),
                "x11" => Some(x11),
                _ => None,
            }
        };
        assert!(c.eval(&host("x86_64", "linux", "yes")));
        assert!(c.eval(&host("i386", "linux", "yes")));
        assert!(!c.eval(&host("ia64", "linux", "yes")));
        assert!(!c.eval(&host("x86_64", "sunos", "yes")));
        assert!(!c.eval(&host("x86_64", "linux", "no")));
        assert_eq!(c.names(), ["arch", "os", "x11"]);

        let c = Cond::rocks(Some(" x86_64 , "), None, Some(""), None);
        expect![[r#"arch == 'x86_64'"#]].assert_eq(&c.to_string());
        let c = Cond::rocks(Some("x86_64"), None, None, Some(parse("x11")));
        expect![[r#"(arch == 'x86_64') and x11"#]].assert_eq(&c.to_string());
        let c = Cond::rocks(None, None, Some("7.0"), Some(parse("a or b")));
        expect![[r#"(release == '7.0') and (a or b)"#]].assert_eq(&c.to_string());

        assert!(Cond::rocks(None, None, None, None).is_always());
        assert!(Cond::rocks(Some(" , "), Some(""), None, Some(Cond::always())).is_always());
        let x = parse("x11 or kvm");
        assert_eq!(Cond::rocks(None, None, None, Some(x.clone())), x);
    }

    #[test]
    fn and_identity() {
        let x = parse("a == 1");
        assert_eq!(Cond::always().and(x.clone()), x);
        assert_eq!(x.clone().and(Cond::always()), x);
        let y = parse("b or c").and(parse("d and e")).and(parse("f"));
        expect![[r#"(b or c) and d and e and f"#]].assert_eq(&y.to_string());
        assert_eq!(y, parse("(b or c) and d and e and f"));
    }

    #[test]
    fn names_are_sorted_and_deduplicated() {
        let c = parse("zeta == 1 or (alpha and not zeta) or os.version in [beta, 'x'] or g is None");
        assert_eq!(c.names(), ["alpha", "beta", "g", "os.version", "zeta"]);
        assert!(Cond::always().names().is_empty());
        assert!(parse("1 == 1").names().is_empty());
    }

    #[test]
    fn display_round_trip() {
        let cases = [
            "rocks_version_major == 7 and not UseTracker",
            "rocks_version_major >= 6 and Bootloader is None",
            "Bootloader is not None",
            " version >= 7",
            "not (version >= 7)",
            "a or b and c or not d",
            "not (a or b)",
            "not not a",
            "x not in ['a', \"b\", 3, 4.5, -2, None, True]",
            "x in ('a',)",
            "(a or b) == (c and d)",
            "(not a) in [b or c, d and e]",
            "a == 'it\\'s \\\\ \"q\" \\n \\d'",
            "v > 1e-7 and v < 1e300 and w == 1e999",
            "os.version <= '7'",
            "flag is not True",
            "(a == 1) is False",
            "True",
            "None",
            "-0.5",
        ];
        for text in cases {
            let c = parse(text);
            let shown = c.to_string();
            let again = parse(&shown);
            assert_eq!(again, c, "{text:?} displayed as {shown:?}");
            assert_eq!(again.to_string(), shown);
        }
        expect![[r#"(rocks_version_major == 7) and not UseTracker"#]]
            .assert_eq(&parse("rocks_version_major == 7 and not UseTracker").to_string());
        expect![[r#"x not in ['a', 'b', 3, 4.5, -2, None, True]"#]]
            .assert_eq(&parse("x not in ('a', \"b\", 3, 4.5, -2, None, True,)").to_string());
        expect![[r#"(not a) in [b or c, d and e]"#]].assert_eq(&parse("(not a) in [b or c, d and e]").to_string());
        expect![[r#"a != 5"#]].assert_eq(&parse("a <> 5").to_string());
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("x in ['a', 'b')"), e(14, 15, "expected `]` or `,`, found `)`"));
        assert_eq!(err("x in ('a' 'b')"), e(10, 13, "expected `)` or `,`, found string literal"));
        assert_eq!(err("x in ('a')"), e(9, 10, "expected `,` (a one-item tuple needs a trailing comma), found `)`"));
        assert_eq!(err("x in ['a'"), e(9, 9, "expected `]` or `,`, found end of condition"));
        assert_eq!(err("x in y"), e(5, 6, "expected `[` or `(` after `in`, found `y`"));
        assert_eq!(err("a == 'abc"), e(5, 9, "unterminated string literal"));
        assert_eq!(err("a == 'abc\\'"), e(5, 11, "unterminated string literal"));
        assert_eq!(err("a and"), e(5, 5, "unexpected end of condition"));
        assert_eq!(err("a == "), e(5, 5, "unexpected end of condition"));
        assert_eq!(err("not"), e(3, 3, "unexpected end of condition"));
        assert_eq!(err("(a or b"), e(7, 7, "expected `)`, found end of condition"));
        assert_eq!(err("a or b)"), e(6, 7, "unmatched `)`"));
        assert_eq!(err("a b"), e(2, 3, "expected end of condition, found `b`"));
        assert_eq!(err("a == )"), e(5, 6, "expected expression, found `)`"));
        assert_eq!(err("a = 1"), e(2, 3, "unexpected `=`, use `==` to compare"));
        assert_eq!(err("a == 1 @"), e(7, 8, "unexpected character `@`"));
        assert_eq!(err("a == é"), e(5, 7, "unexpected character `é`"));
        assert_eq!(err("a ! b"), e(2, 3, "unexpected character `!`"));
        assert_eq!(err("a + 1"), e(2, 3, "unexpected character `+`"));
        assert_eq!(err("1 < a < 3"), e(6, 7, "chained comparisons are not supported"));
        assert_eq!(err("a == b is None"), e(7, 9, "chained comparisons are not supported"));
        assert_eq!(err("a == b not in [1]"), e(7, 10, "chained comparisons are not supported"));
        assert_eq!(err("a is 5"), e(5, 6, "expected `None`, `True` or `False`, found `5`"));
        assert_eq!(err("a not b"), e(6, 7, "expected `in` after `not`, found `b`"));
        assert_eq!(err("os."), e(2, 3, "expected identifier after `.`"));
        assert_eq!(err("a == 7abc"), e(5, 9, "invalid numeric literal"));
        assert_eq!(err("a == 1.2.3"), e(5, 10, "invalid numeric literal"));
        assert_eq!(err("a == 1e"), e(5, 7, "invalid numeric literal"));
        assert_eq!(err("a == 007"), e(5, 8, "leading zeros in integer literals are not allowed"));
        assert_eq!(err("a == 99999999999999999999"), e(5, 25, "integer literal is too large"));
        assert_eq!(err("a == -b"), e(6, 7, "expected number after `-`, found `b`"));
        assert_eq!(err("a == not b"), e(5, 8, "expected expression, found `not`"));
        assert_eq!(err("x in [,]"), e(6, 7, "expected expression, found `,`"));
        // Earlier syntax errors win over later lexical errors.
        assert_eq!(err("a b 'open"), e(2, 3, "expected end of condition, found `b`"));
        // Deep nesting is an error, not a stack overflow.
        let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(err(&deep).2, "condition nests too deeply");
        let deep = format!("{}a", "not ".repeat(500));
        assert_eq!(err(&deep).2, "condition nests too deeply");
    }

    #[test]
    fn numbers_parse() {
        assert_eq!(parse("6.2"), Cond { expr: Expr::Lit(Value::Float(6.2)) });
        assert_eq!(parse(".5"), Cond { expr: Expr::Lit(Value::Float(0.5)) });
        assert_eq!(parse("5."), Cond { expr: Expr::Lit(Value::Float(5.0)) });
        assert_eq!(parse("1.e3"), Cond { expr: Expr::Lit(Value::Float(1000.0)) });
        assert_eq!(parse("0"), Cond { expr: Expr::Lit(Value::Int(0)) });
        assert_eq!(parse("00"), Cond { expr: Expr::Lit(Value::Int(0)) });
        assert_eq!(parse("- 7"), Cond { expr: Expr::Lit(Value::Int(-7)) });
    }

    #[test]
    fn error_shift_and_display() {
        let e = Cond::parse("a and").unwrap_err().shifted(10);
        assert_eq!((e.start, e.end), (15, 15));
        assert_eq!(e.to_string(), "unexpected end of condition");
        let c: Cond = "x11".parse().unwrap();
        assert_eq!(c.names(), ["x11"]);
    }

    // -- corpus --------------------------------------------------------------

    const CORPUS: &str = "/work/shared/rocks-corpus/rocks";

    fn xml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                xml_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "xml") {
                out.push(path);
            }
        }
    }

    fn unescape_xml(s: &str) -> String {
        s.replace("&gt;", ">").replace("&lt;", "<").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
    }

    /// Values of every `cond="..."` / `cond='...'` attribute in the text.
    fn cond_attrs(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b = text.as_bytes();
        let mut from = 0;
        while let Some(found) = text[from..].find("cond") {
            let at = from + found;
            from = at + 4;
            let preceded_ok = at > 0 && b[at - 1].is_ascii_whitespace();
            let rest = text[from..].trim_start();
            let Some(rest) = rest.strip_prefix('=') else {
                continue;
            };
            let rest = rest.trim_start();
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if !preceded_ok {
                continue;
            }
            if let Some(len) = rest[1..].find(quote) {
                out.push(unescape_xml(&rest[1..1 + len]));
            }
        }
        out
    }

    #[test]
    fn corpus_conditions_all_parse() {
        let root = std::path::Path::new(CORPUS);
        if !root.is_dir() {
            eprintln!("!!!!!!!! corpus {CORPUS} not found: SKIPPING corpus_conditions_all_parse !!!!!!!!");
            return;
        }
        let mut files = Vec::new();
        xml_files(root, &mut files);
        files.sort();
        let mut count = 0;
        let mut failures = Vec::new();
        for file in &files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for cond in cond_attrs(&text) {
                count += 1;
                match Cond::parse(&cond) {
                    Ok(c) => {
                        // The normalised form must read back identically.
                        assert_eq!(parse(&c.to_string()), c, "{cond:?}");
                    }
                    Err(e) => failures.push(format!("{}: {cond:?}: {e:?}", file.display())),
                }
            }
        }
        assert!(failures.is_empty(), "conditions failed to parse:\n{}", failures.join("\n"));
        assert!(count > 100, "only {count} conditions found under {CORPUS}");
        eprintln!("{count} corpus conditions parsed from {} files", files.len());
    }

    #[test]
    fn cond_attr_scanner() {
        let text = r#"<edge from="a" to="b" cond="x &gt;= 7"/><x second_cond="no" cond = 'y'>"#;
        assert_eq!(cond_attrs(text), ["x >= 7", "y"]);
    }
}
