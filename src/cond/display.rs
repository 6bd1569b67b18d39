//! Display: the normalised Python-like form of values and conditions.
//!
//! Parentheses rules, chosen for readability and so that the output parses
//! back to the same tree:
//! * operands of `and` are bare when they are names, literals or `not ...`,
//!   otherwise parenthesised: `(arch == 'x86_64') and x11`;
//! * operands of `or` are parenthesised only when they are `and`/`or`;
//! * the operand of `not` is bare when it is a name, literal or `not`;
//! * operands of comparisons are bare only when they are names or literals;
//! * `in` always prints a list: `x in ['a', 'b']`.

use std::fmt;

use super::Cond;
use super::expr::Expr;
use super::value::Value;

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

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)
    }
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
