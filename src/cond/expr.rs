//! The parsed expression tree behind a [`Cond`](super::Cond) and its
//! evaluation against a host's attributes.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::value::{V, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(super) fn as_str(self) -> &'static str {
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
pub(super) enum Expr {
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
    pub(super) fn is_atom(&self) -> bool {
        matches!(self, Expr::Lit(_) | Expr::Name(_))
    }

    pub(super) fn eval<'x, 'e: 'x, 'a: 'x>(&'e self, lookup: &dyn Fn(&str) -> Option<&'a str>) -> V<'x> {
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

    pub(super) fn collect_names<'e>(&'e self, out: &mut BTreeSet<&'e str>) {
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
pub(super) fn junction(items: Vec<Expr>, is_and: bool) -> Expr {
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
