//! Unified diffs for `build --diff`, with secret attribute values never shown.
//!
//! The new text's secrets are known (the database's secret values) and replaced by
//! [`REDACTED`]. The old text may hold a secret that has since changed, whose value the
//! database no longer has; it sits on the line that now holds the new secret. So every old
//! line that the diff pairs with a new line holding a secret is masked too: the words that
//! differ from the new line (or, when the lines do not split alike, the whole line), and
//! marked `(secret changed)` so that a change of a secret alone still shows as a change.

use similar::{DiffOp, TextDiff};

use crate::facts::REDACTED;

/// A unified diff from `old` to `new` (labelled `a/PATH`, `b/PATH`) with `secrets` masked.
pub fn redacted_diff(path: &str, old: &str, new: &str, secrets: &[&str]) -> String {
    let has_secret = |line: &str| secrets.iter().any(|s| !s.is_empty() && line.contains(s));
    let redact = |t: &str| secrets.iter().filter(|s| !s.is_empty()).fold(t.to_string(), |t, s| t.replace(s, REDACTED));
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let mut masked: Vec<String> = old_lines.iter().map(|l| redact(l)).collect();
    let raw = TextDiff::from_lines(old, new);
    for op in raw.ops() {
        if let DiffOp::Replace { old_index, old_len, new_index, new_len } = *op {
            let news = &new_lines[new_index..new_index + new_len];
            if !news.iter().any(|l| has_secret(l)) {
                continue;
            }
            for k in 0..old_len {
                let paired = (old_len == new_len).then(|| news[k]);
                masked[old_index + k] = mask_line(old_lines[old_index + k], paired.map(&redact).as_deref());
            }
        }
    }
    let old_masked: String = masked.concat();
    let new_masked = redact(new);
    TextDiff::from_lines(&old_masked, &new_masked)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// The mark on an old line whose secret was masked.
const CHANGED: &str = "  (secret changed)";

/// Mask the words of `old` that differ from the (already redacted) `new` line it pairs with;
/// without a pairing line, or when the two do not have the same words, the whole line.
fn mask_line(old: &str, new: Option<&str>) -> String {
    let end = if old.ends_with('\n') { "\n" } else { "" };
    let o: Vec<&str> = old.split_whitespace().collect();
    match new.map(|n| n.split_whitespace().collect::<Vec<_>>()) {
        Some(n) if n.len() == o.len() => {
            let indent: String = old.chars().take_while(|c| c.is_whitespace() && *c != '\n').collect();
            let words: Vec<&str> = o.iter().zip(&n).map(|(a, b)| if a == b { *a } else { REDACTED }).collect();
            format!("{indent}{}{CHANGED}{end}", words.join(" "))
        }
        _ => format!("{REDACTED}{CHANGED}{end}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_new_secrets_are_masked() {
        let old = "lang en_US\nrootpw --iscrypted $6$old$hash\nreboot\n";
        let new = "lang en_US\nrootpw --iscrypted $6$new$hash\nreboot\n";
        let d = redacted_diff("a.ks", old, new, &["$6$new$hash"]);
        assert!(!d.contains("$6$old$hash") && !d.contains("$6$new$hash"), "{d}");
        assert!(d.contains("-rootpw --iscrypted ********  (secret changed)\n") && d.contains("+rootpw --iscrypted ********\n"), "{d}");
        // A line that changed shape is masked whole.
        let new2 = "lang en_US\nrootpw --lock --iscrypted $6$new$hash\nreboot\n";
        let d = redacted_diff("a.ks", old, new2, &["$6$new$hash"]);
        assert!(!d.contains("$6$old$hash") && d.contains("-********  (secret changed)\n"), "{d}");
        // Lines without secrets are shown as they are.
        let d = redacted_diff("a.ks", "x 1\n", "x 2\n", &["$6$new$hash"]);
        assert!(d.contains("-x 1\n+x 2\n"), "{d}");
    }
}
