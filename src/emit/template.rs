//! Kickstarts shared by many hosts: rendered once with symbolic entity references, then
//! instantiated per host by substituting attribute values.
//!
//! A reference is a private-use character, the attribute name, and an end character, so
//! substitution is one linear scan of the rendered text and never confuses real text.

use std::collections::BTreeMap;

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use crate::span::Span;

const TEXT: char = '\u{E000}';
const ATTR: char = '\u{E002}';
const END: char = '\u{E001}';

/// The symbolic reference for `&name;` in text.
pub fn text_ref(name: &str) -> String {
    format!("{TEXT}{name}{END}")
}

/// The symbolic reference for `&name;` inside an XML attribute value.
pub fn attr_ref(name: &str) -> String {
    format!("{ATTR}{name}{END}")
}

/// A rendered kickstart with symbolic references.
#[derive(Debug, Clone)]
pub struct Template {
    pub text: String,
    /// Every name referenced: where first, and whether inside an XML attribute value.
    pub uses: BTreeMap<String, (Span, bool)>,
}

impl Template {
    /// The text for one host. Undefined names expand to nothing with a warning in text, and
    /// are an error inside XML attribute values (`None` is returned then).
    pub fn instantiate(&self, attrs: &Attrs) -> (Option<String>, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        for (name, (span, in_attr)) in &self.uses {
            if attrs.contains_key(name) {
                continue;
            }
            if *in_attr {
                diags.push(
                    Diagnostic::error(
                        "entity::undefined-in-attribute",
                        format!("attribute `{name}` is not defined, and `&{name};` is used in an XML attribute value"),
                    )
                    .label(*span, "used here")
                    .help(format!("define `{name}`; unlike text, an attribute value cannot fall back to empty")),
                );
            } else {
                diags.push(
                    Diagnostic::warning("entity::undefined", format!("attribute `{name}` is not defined; `&{name};` expands to nothing"))
                        .label(*span, "undefined attribute")
                        .help(format!("define it, e.g. `--attr {name}=VALUE`, or in the cluster database")),
                );
            }
        }
        if crate::diag::has_errors(&diags) {
            return (None, diags);
        }
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find([TEXT, ATTR]) {
            out.push_str(&rest[..i]);
            let after = &rest[i + TEXT.len_utf8()..];
            let end = after.find(END).expect("every reference is closed");
            if let Some(v) = attrs.get(&after[..end]) {
                out.push_str(v);
            }
            rest = &after[end + END.len_utf8()..];
        }
        out.push_str(rest);
        (Some(out), diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SourceId;

    #[test]
    fn substitutes_and_reports() {
        let span = Span::new(SourceId(0), 0, 1);
        let t = Template {
            text: format!("a {} b {}\n", text_ref("x"), text_ref("y")),
            uses: BTreeMap::from([("x".to_string(), (span, false)), ("y".to_string(), (span, false))]),
        };
        let attrs = Attrs::from([("x".to_string(), "1".to_string())]);
        let (s, d) = t.instantiate(&attrs);
        assert_eq!(s.unwrap(), "a 1 b \n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "entity::undefined");
    }
}
