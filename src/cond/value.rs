//! Condition values: the public [`Value`] and the borrowed form used while
//! evaluating, with Python's equality and ordering rules.

use std::cmp::Ordering;

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

    pub(super) fn as_v(&self) -> V<'_> {
        match self {
            Value::None => V::None,
            Value::Bool(b) => V::Bool(*b),
            Value::Int(i) => V::Int(*i),
            Value::Float(f) => V::Float(*f),
            Value::Str(s) => V::Str(s),
        }
    }
}

/// Borrowed value used during evaluation, so that attribute strings and
/// string literals are compared without being copied.
#[derive(Debug, Clone, Copy)]
pub(super) enum V<'a> {
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
    pub(super) fn from_attr(s: &'a str) -> V<'a> {
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

    pub(super) fn to_value(self) -> Value {
        match self {
            V::None => Value::None,
            V::Bool(b) => Value::Bool(b),
            V::Int(i) => Value::Int(i),
            V::Float(x) => Value::Float(x),
            V::Str(s) => Value::Str(s.to_owned()),
        }
    }

    pub(super) fn truthy(self) -> bool {
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
    pub(super) fn py_eq(self, other: V<'_>) -> bool {
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
    pub(super) fn py_cmp(self, other: V<'_>) -> Option<Ordering> {
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
