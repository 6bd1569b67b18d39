//! Kickstarts shared by many hosts: rendered once with symbolic entity references, then
//! instantiated per host by substituting attribute values.
//!
//! References and the few places where a host's values could change the shape of the text
//! are marked with private-use characters, so substitution is one linear scan:
//! - `TEXT name END` / `ATTR name END`: `&name;` in text or in an XML attribute value;
//! - `FLOOR ... TRIM`: trailing white space before `TRIM` is removed, but not before `FLOOR`
//!   (a script body or command line is right-trimmed after substitution, exactly as a
//!   per-host compile trims it);
//! - `DOC ... DOC_END delimiter`: the text of a heredoc; if a substituted line equals its
//!   delimiter, the host is compiled alone instead (the delimiter must then change).

use std::collections::BTreeMap;

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use crate::span::Span;

const TEXT: char = '\u{E000}';
const END: char = '\u{E001}';
const ATTR: char = '\u{E002}';
/// Start of a trimmed region.
pub const FLOOR: char = '\u{E003}';
/// End of a trimmed region: trailing white space before it goes.
pub const TRIM: char = '\u{E004}';
/// Start of a heredoc's text.
pub const DOC: char = '\u{E005}';
/// End of a heredoc's text; the delimiter line follows.
pub const DOC_END: char = '\u{E006}';

/// Is `c` one of the marker characters (which real text must not contain)?
pub fn is_marker(c: char) -> bool {
    ('\u{E000}'..='\u{E006}').contains(&c)
}

/// The symbolic reference for `&name;` in text.
pub fn text_ref(name: &str) -> String {
    format!("{TEXT}{name}{END}")
}

/// The symbolic reference for `&name;` inside an XML attribute value.
pub fn attr_ref(name: &str) -> String {
    format!("{ATTR}{name}{END}")
}

/// The text without its references and markers: what every host's text has in common.
pub fn literal_part(t: &str) -> String {
    let mut out = String::new();
    let mut in_ref = false;
    for c in t.chars() {
        match c {
            TEXT | ATTR => in_ref = true,
            END => in_ref = false,
            c if is_marker(c) => {}
            c if !in_ref => out.push(c),
            _ => {}
        }
    }
    out
}

/// A rendered kickstart with symbolic references.
#[derive(Debug, Clone)]
pub struct Template {
    pub text: String,
    /// Every name referenced: where first, and whether inside an XML attribute value.
    pub uses: BTreeMap<String, (Span, bool)>,
}

/// The result of instantiating a template for one host.
#[derive(Debug, Clone)]
pub enum Instance {
    /// The host's text (`None` after an error) and its diagnostics.
    Text(Option<String>, Vec<Diagnostic>),
    /// The host's values change the text's shape: compile it alone.
    Alone,
}

impl Template {
    /// The text for one host. Undefined names expand to nothing with a warning in text, and
    /// are an error inside XML attribute values.
    pub fn instantiate(&self, attrs: &Attrs) -> Instance {
        let mut diags = Vec::new();
        for (name, (span, in_attr)) in &self.uses {
            match attrs.get(name) {
                Some(v) if v.contains('\n') || v.chars().any(is_marker) => return Instance::Alone,
                Some(_) => {}
                None if *in_attr => diags.push(super::undefined_entity_in_attribute(name, *span)),
                None => diags.push(super::undefined_entity(name, *span)),
            }
        }
        if crate::diag::has_errors(&diags) {
            return Instance::Text(None, diags);
        }
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut floor = 0;
        let mut doc_start = None;
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find(is_marker) {
            out.push_str(&rest[..i]);
            let c = rest[i..].chars().next().expect("found a marker");
            rest = &rest[i + c.len_utf8()..];
            match c {
                TEXT | ATTR => {
                    let end = rest.find(END).unwrap_or(rest.len());
                    if let Some(v) = attrs.get(&rest[..end]) {
                        // Attribute values end up in shell words (file names): one that would
                        // need quoting changes the text's shape.
                        if c == ATTR && !v.chars().all(crate::kickstart::shell::is_plain) {
                            return Instance::Alone;
                        }
                        out.push_str(v);
                    }
                    rest = rest.get(end + END.len_utf8()..).unwrap_or("");
                }
                FLOOR => floor = out.len(),
                TRIM => {
                    let keep = out[floor..].trim_end_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']).len();
                    out.truncate(floor + keep);
                }
                DOC => doc_start = Some(out.len()),
                DOC_END => {
                    let delim = rest.split('\n').next().unwrap_or("");
                    if let Some(start) = doc_start.take()
                        && out[start..].lines().any(|l| l == delim)
                    {
                        return Instance::Alone;
                    }
                }
                _ => {}
            }
        }
        out.push_str(rest);
        Instance::Text(Some(out), diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SourceId;

    fn t(text: String, names: &[&str]) -> Template {
        let span = Span::new(SourceId(0), 0, 1);
        Template { text, uses: names.iter().map(|n| (n.to_string(), (span, false))).collect() }
    }

    #[test]
    fn substitutes_and_reports() {
        let tpl = t(format!("a {} b {}\n", text_ref("x"), text_ref("y")), &["x", "y"]);
        let attrs = Attrs::from([("x".to_string(), "1".to_string())]);
        let Instance::Text(Some(s), d) = tpl.instantiate(&attrs) else { panic!() };
        assert_eq!(s, "a 1 b \n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "entity::undefined");
    }

    #[test]
    fn trims_after_substitution_but_not_past_the_floor() {
        let tpl = t(format!("%post\n{FLOOR}echo {}{TRIM}\n%end\n", text_ref("x")), &["x"]);
        let empty = Attrs::from([("x".to_string(), String::new())]);
        let Instance::Text(Some(s), _) = tpl.instantiate(&empty) else { panic!() };
        assert_eq!(s, "%post\necho\n%end\n");
        let tpl = t(format!("%post\n{FLOOR}{}{TRIM}\n%end\n", text_ref("x")), &["x"]);
        let Instance::Text(Some(s), _) = tpl.instantiate(&empty) else { panic!() };
        assert_eq!(s, "%post\n\n%end\n");
    }

    #[test]
    fn a_value_that_would_end_a_heredoc_compiles_alone() {
        let tpl = t(format!("cat > f << 'EOF'\n{DOC}{}\n{DOC_END}EOF\n", text_ref("x")), &["x"]);
        let ok = Attrs::from([("x".to_string(), "EOFX".to_string())]);
        assert!(matches!(tpl.instantiate(&ok), Instance::Text(Some(_), _)));
        let bad = Attrs::from([("x".to_string(), "EOF".to_string())]);
        assert!(matches!(tpl.instantiate(&bad), Instance::Alone));
        let newline = Attrs::from([("x".to_string(), "a\nb".to_string())]);
        assert!(matches!(tpl.instantiate(&newline), Instance::Alone));
    }
}
