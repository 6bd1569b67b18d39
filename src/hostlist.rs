//! Hostlist compression (`compute-0-0,compute-0-1,compute-0-2` -> `compute-0-[0-2]`) and
//! expansion, in the dialect Slurm, pdsh, python-hostlist and ClusterShell share.
//!
//! [`compress`] only writes forms that all of them read, Slurm 22.05 being the strictest:
//! - only a name's *trailing* number is ranged (`compute-0-[0-3],compute-1-[0-1]`); a name
//!   with anything after its last digit (`node1-ib`, `n1.local`) stays as it is, because
//!   Slurm 22.05 rejects suffixes after a range (`node[1-2]-ib`);
//! - names without digits, made only of digits, or whose trailing number has more than
//!   18 digits stay as they are;
//! - zero-padding is kept: a range `a-b` is written only when `a` and `b` have the same
//!   width (`n[001-010]`, `n[08-11]`) or neither is zero-padded (`n[9-10]`), so every tool
//!   expands it to the same names (ClusterShell rejects `n[09-100]`);
//! - no range holds more than [`MAX_RANGE`] hosts (Slurm: `Too many hosts in range`).
//!
//! [`compress`] sorts (see [`order`]); [`compress_ordered`] keeps the given sequence, for
//! lists paired position by position (Slurm's `NodeName=` with `NodeAddr=`). [`expand`] reads
//! the common dialect back. Host names never contain `[`, `]` or `,`; names that do are not
//! supported.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Write;

/// Most hosts one range may hold: Slurm 22.05 rejects `n[0-65536]`.
pub const MAX_RANGE: u64 = 65_536;

/// Longest trailing number put into a range; longer ones stay literal.
const MAX_DIGITS: usize = 18;

/// Most names [`expand`] produces from one expression.
const MAX_EXPANSION: usize = 10_000_000;

/// Compress host names into a hostlist expression: duplicates dropped, names in the
/// deterministic order of [`sorted`] (so `compress(x) == compress_ordered(&sorted(x))`).
pub fn compress<S: AsRef<str>>(names: &[S]) -> String {
    compress_ordered(&sorted(names.iter().map(|s| s.as_ref())))
}

/// Compress a sequence of names into an expression that expands to exactly that sequence,
/// order and repetitions included (for lists that pair up position by position, like Slurm's
/// `NodeName=` and `NodeAddr=`). Only consecutive ascending numbers form ranges:
/// `10.1.0.3,10.1.0.2` becomes `10.1.0.[3,2]`.
pub fn compress_ordered<S: AsRef<str>>(names: &[S]) -> String {
    let mut out = String::new();
    let mut group: Option<(&str, Vec<Run>)> = None;
    for name in names {
        let name = name.as_ref();
        match split(name) {
            None => {
                flush(&mut out, group.take());
                push_term(&mut out, name);
            }
            Some((prefix, num)) => {
                if let Some((p, runs)) = &mut group
                    && *p == prefix
                {
                    let last = runs.last_mut().expect("a group has a run");
                    if !last.extend(num) {
                        runs.push(Run::new(num));
                    }
                    continue;
                }
                flush(&mut out, group.replace((prefix, vec![Run::new(num)])));
            }
        }
    }
    flush(&mut out, group);
    out
}

/// Sort and de-duplicate names into the order [`compress`] lists them (see [`order`]).
pub fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let names: Vec<&str> = names.into_iter().collect();
    let mut out: Vec<&str> = order(&names).into_iter().map(|i| names[i]).collect();
    out.dedup();
    out
}

/// The order [`compress`] lists names in, as indices into `names` (duplicates kept, next to
/// each other): by prefix in natural order (`c-2-` before `c-10-`; a name without a trailing
/// number counts as its own prefix), then numbers of one width together, ascending. Plain
/// numbers join the zero-padded ones of their width when the prefix has any (`n[08-11]`).
pub fn order(names: &[&str]) -> Vec<usize> {
    let parts: Vec<Option<(&str, Num<'_>)>> = names.iter().map(|n| split(n)).collect();
    // Zero-padded widths present per prefix (bit `w` set for width `w`).
    let mut padded: HashMap<&str, u32> = HashMap::new();
    for (prefix, num) in parts.iter().flatten() {
        if num.padded() {
            *padded.entry(prefix).or_default() |= 1 << num.digits.len();
        }
    }
    // Natural order is costly to compare: rank the few distinct prefixes once.
    let mut rank: HashMap<&str, u32> = HashMap::new();
    for (name, part) in names.iter().zip(&parts) {
        rank.entry(part.map_or(name, |(prefix, _)| prefix)).or_default();
    }
    let mut distinct: Vec<&str> = rank.keys().copied().collect();
    distinct.sort_unstable_by(|a, b| natural_cmp(a, b));
    for (i, k) in distinct.into_iter().enumerate() {
        rank.insert(k, i as u32);
    }
    let mut keyed: Vec<(u32, u8, usize, u64, usize)> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| match part {
            None => (rank[names[i]], 0, 0, 0, i),
            Some((prefix, num)) => {
                let width = num.digits.len();
                let joins = num.padded() || padded.get(prefix).is_some_and(|m| m & (1 << width) != 0);
                (rank[prefix], 1, if joins { width } else { 0 }, num.value, i)
            }
        })
        .collect();
    // (prefix, kind, width class, value) names one string; the index only orders duplicates.
    keyed.sort_unstable();
    keyed.into_iter().map(|k| k.4).collect()
}

/// Expand a hostlist expression into names, in the order written: `n[1-2]x[3-4]` gives
/// `n1x3 n1x4 n2x3 n2x4`; a range `a-b` is written with the width of `a`. The empty
/// expression names no host.
pub fn expand(expr: &str) -> Result<Vec<String>, HostlistError> {
    let err = |reason: &str| HostlistError { expr: expr.to_string(), reason: reason.to_string() };
    let mut out = Vec::new();
    if expr.is_empty() {
        return Ok(out);
    }
    for term in split_terms(expr).map_err(&err)? {
        let mut names = vec![String::new()];
        let mut rest = term;
        while !rest.is_empty() {
            let (literal, bracket, after) = match rest.find('[') {
                None => (rest, None, ""),
                Some(open) => {
                    let close = rest[open..].find(']').ok_or_else(|| err("`[` without `]`"))? + open;
                    (&rest[..open], Some(&rest[open + 1..close]), &rest[close + 1..])
                }
            };
            if literal.contains(']') {
                return Err(err("`]` without `[`"));
            }
            names.iter_mut().for_each(|n| n.push_str(literal));
            if let Some(ranges) = bracket {
                let values = expand_ranges(ranges).map_err(|r| err(&r))?;
                if names.len().saturating_mul(values.len()) > MAX_EXPANSION {
                    return Err(err("too many names"));
                }
                names = names.iter().flat_map(|n| values.iter().map(move |v| format!("{n}{v}"))).collect();
            }
            rest = after;
        }
        if names.iter().any(|n| n.is_empty()) {
            return Err(err("empty name"));
        }
        out.extend(names);
        if out.len() > MAX_EXPANSION {
            return Err(err("too many names"));
        }
    }
    Ok(out)
}

/// A hostlist expression that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hostlist `{expr}`: {reason}")]
pub struct HostlistError {
    pub expr: String,
    pub reason: String,
}

/// Compare names in natural order: runs of digits by value (then by width), the rest bytewise.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = a.split_at(a.iter().position(|c| !c.is_ascii_digit()).unwrap_or(a.len()));
                let (db, rb) = b.split_at(b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len()));
                let trim = |d: &[u8]| d.len() - d.iter().take_while(|&&c| c == b'0').count();
                let (ta, tb) = (&da[da.len() - trim(da)..], &db[db.len() - trim(db)..]);
                let ord = ta.len().cmp(&tb.len()).then(ta.cmp(tb)).then(da.len().cmp(&db.len()));
                if ord != Ordering::Equal {
                    return ord;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

/// A name's trailing number.
#[derive(Debug, Clone, Copy)]
struct Num<'a> {
    digits: &'a str,
    value: u64,
}

impl Num<'_> {
    /// Written with leading zeros (`007`), so of fixed width.
    fn padded(&self) -> bool {
        self.digits.len() > 1 && self.digits.starts_with('0')
    }
}

/// Consecutive ascending numbers that one range `a-b` writes.
#[derive(Debug)]
struct Run<'a> {
    first: Num<'a>,
    last: Num<'a>,
}

impl<'a> Run<'a> {
    fn new(num: Num<'a>) -> Run<'a> {
        Run { first: num, last: num }
    }

    /// Add `num` when the range `first-num` (written with `first`'s width) lists exactly this
    /// run plus `num`, every tool reads it the same way, and Slurm's size limit holds.
    fn extend(&mut self, num: Num<'a>) -> bool {
        let width = self.first.digits.len();
        let natural = num.value.checked_ilog10().map_or(1, |l| l as usize + 1);
        let fits = num.digits.len() == width.max(natural) && (!self.first.padded() || num.digits.len() == width);
        let ok = self.last.value.checked_add(1) == Some(num.value) && fits && num.value - self.first.value < MAX_RANGE;
        if ok {
            self.last = num;
        }
        ok
    }
}

/// `prefix` + trailing number, or `None` when the name stays literal.
fn split(name: &str) -> Option<(&str, Num<'_>)> {
    let start = name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, digits) = name.split_at(start);
    if prefix.is_empty() || digits.is_empty() || digits.len() > MAX_DIGITS {
        return None;
    }
    Some((prefix, Num { digits, value: digits.parse().ok()? }))
}

/// Write one group of runs sharing a prefix: a bare name for a single number, else brackets.
fn flush(out: &mut String, group: Option<(&str, Vec<Run>)>) {
    let Some((prefix, runs)) = group else { return };
    if let [run] = &runs[..]
        && run.first.value == run.last.value
    {
        push_term(out, prefix);
        out.push_str(run.first.digits);
        return;
    }
    push_term(out, prefix);
    out.push('[');
    for (i, run) in runs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(run.first.digits);
        if run.last.value != run.first.value {
            out.push('-');
            out.push_str(run.last.digits);
        }
    }
    out.push(']');
}

/// Start a new comma-separated term.
fn push_term(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(text);
}

/// Split at commas outside brackets; nested brackets and empty terms are errors.
fn split_terms(expr: &str) -> Result<Vec<&str>, &'static str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in expr.char_indices() {
        match c {
            '[' if depth == 1 => return Err("nested `[`"),
            '[' => depth = 1,
            ']' if depth == 0 => return Err("`]` without `[`"),
            ']' => depth = 0,
            ',' if depth == 0 => {
                terms.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("`[` without `]`");
    }
    terms.push(&expr[start..]);
    if terms.iter().any(|t| t.is_empty()) {
        return Err("empty name");
    }
    Ok(terms)
}

/// `1-3,07` -> `1 2 3 07`: each item a number or `lo-hi`, written with the width of `lo`.
fn expand_ranges(ranges: &str) -> Result<Vec<String>, String> {
    let number = |s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) || s.len() > MAX_DIGITS {
            return Err(format!("`{s}` is not a number"));
        }
        s.parse().map_err(|_| format!("`{s}` is not a number"))
    };
    let mut out = Vec::new();
    for item in ranges.split(',') {
        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
        let (a, b) = (number(lo)?, number(hi)?);
        if a > b {
            return Err(format!("range `{item}` goes down"));
        }
        if (b - a) as usize >= MAX_EXPANSION || out.len() + ((b - a) as usize) >= MAX_EXPANSION {
            return Err("too many names".into());
        }
        let width = lo.len();
        for v in a..=b {
            let mut s = String::with_capacity(width);
            write!(s, "{v:0width$}").expect("writing to a String");
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn c(names: &[&str]) -> String {
        compress(names)
    }

    #[test]
    fn rocks_names_compress_on_the_last_number() {
        let names: Vec<String> = (0..4).map(|r| format!("compute-0-{r}")).chain((0..2).map(|r| format!("compute-1-{r}"))).collect();
        assert_eq!(compress(&names), "compute-0-[0-3],compute-1-[0-1]");
        assert_eq!(c(&["compute-0-2", "compute-0-0", "compute-0-1", "compute-0-0"]), "compute-0-[0-2]");
        assert_eq!(c(&["compute-10-0", "compute-2-0", "compute-2-1"]), "compute-2-[0-1],compute-10-0");
    }

    #[test]
    fn padding_is_kept_and_widths_do_not_mix() {
        let padded: Vec<String> = (1..=10).map(|i| format!("n{i:03}")).collect();
        assert_eq!(compress(&padded), "n[001-010]");
        assert_eq!(c(&["n9", "n10"]), "n[9-10]");
        assert_eq!(c(&["n09", "n10"]), "n[09-10]");
        assert_eq!(c(&["n08", "n09", "n10", "n11"]), "n[08-11]");
        assert_eq!(c(&["n1", "n01", "n001", "n2", "n02"]), "n[1-2,01-02,001]");
        // 100 is not written with width 2: `n[09-100]` would be read differently by ClusterShell.
        assert_eq!(c(&["n09", "n98", "n99", "n100"]), "n[100,09,98-99]");
        let hundred: Vec<String> = (1..=100).map(|i| format!("node{i:03}")).collect();
        assert_eq!(compress(&hundred), "node[001-100]");
    }

    #[test]
    fn literal_names_stand_alone() {
        assert_eq!(c(&["frontend", "n1-ib", "n2-ib", "n1.local", "12", "n1", "n2"]), "12,frontend,n[1-2],n1-ib,n1.local,n2-ib");
        assert_eq!(c(&["n1234567890123456789", "n1234567890123456790"]), "n1234567890123456789,n1234567890123456790");
        assert_eq!(c(&[]), "");
        assert_eq!(expand("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn ranges_stay_within_the_slurm_limit() {
        let names: Vec<String> = (0..70_000).map(|i| format!("n{i}")).collect();
        assert_eq!(compress(&names), "n[0-65535,65536-69999]");
        assert_eq!(expand("n[0-65535,65536-69999]").unwrap(), names);
    }

    #[test]
    fn ordered_compression_keeps_the_sequence() {
        let ips = ["10.1.255.254", "10.1.255.253", "10.1.255.1", "10.1.255.2", "10.1.254.9", "10.1.255.3"];
        let e = compress_ordered(&ips);
        assert_eq!(e, "10.1.255.[254,253,1-2],10.1.254.9,10.1.255.3");
        assert_eq!(expand(&e).unwrap(), ips);
        assert_eq!(compress_ordered(&["n1", "n1"]), "n[1,1]");
    }

    #[test]
    fn expansion_follows_the_dialect() {
        assert_eq!(expand("n[1-2]x[3-4],y").unwrap(), ["n1x3", "n1x4", "n2x3", "n2x4", "y"]);
        assert_eq!(expand("n[9-10,007]").unwrap(), ["n9", "n10", "n007"]);
        for bad in ["n[1-", "n]", "n[2-1]", "n[a]", "n[[1]]", "a,,b", "[1-2]x[", "n[1-99999999999]", "n[]"] {
            assert!(expand(bad).is_err(), "{bad} should not expand");
        }
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["c-10-1", "c-2-1", "c-2-01", "b", "c-2-", "c"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["b", "c", "c-2-", "c-2-1", "c-2-01", "c-10-1"]);
    }

    /// Names shaped like host names: prefixes with and without digits, padded and plain
    /// numbers of several widths close together, suffixes, names without digits.
    pub(crate) fn host_name() -> impl Strategy<Value = String> {
        let prefix = prop::sample::select(vec!["n", "node", "c-0-", "c-1-", "c-10-", "a.b", "gpu", "x1y"]);
        let suffix = prop::sample::select(vec!["", "", "", "-ib", ".local"]);
        (prefix, 0u64..130, 0usize..5, suffix, 0u8..10).prop_map(|(p, v, w, s, bare)| {
            if bare == 0 { format!("{p}{s}").replace(|c: char| c.is_ascii_digit(), "z") } else { format!("{p}{v:0w$}{s}") }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn expand_inverts_compress(names in prop::collection::vec(host_name(), 0..80)) {
            let e = compress(&names);
            let want: BTreeSet<&str> = names.iter().map(String::as_str).collect();
            let got = expand(&e).unwrap_or_else(|err| panic!("{err}"));
            prop_assert_eq!(got.len(), want.len(), "{}", e);
            prop_assert_eq!(got.iter().map(String::as_str).collect::<BTreeSet<_>>(), want, "{}", e);
            let mut shuffled = names.clone();
            shuffled.reverse();
            prop_assert_eq!(compress(&shuffled), e.clone());
            prop_assert!(e.split(',').all(|t| !t.contains(']') || t.ends_with(']')), "suffix after a range: {}", e);
        }

        #[test]
        fn expand_inverts_ordered_compress(names in prop::collection::vec(host_name(), 0..80)) {
            let e = compress_ordered(&names);
            let got = expand(&e).unwrap_or_else(|err| panic!("{err}"));
            prop_assert_eq!(got, names, "{}", e);
        }
    }
}
