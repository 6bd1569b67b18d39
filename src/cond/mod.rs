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

mod display;
mod expr;
mod lex;
mod parse;
#[cfg(test)]
mod tests;
mod value;

use std::collections::BTreeSet;

use expr::{CmpOp, Expr, junction};
use parse::Parser;

pub use parse::CondError;
pub use value::Value;

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

impl std::str::FromStr for Cond {
    type Err = CondError;

    fn from_str(s: &str) -> Result<Cond, CondError> {
        Cond::parse(s)
    }
}
