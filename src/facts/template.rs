//! The naming-policy mini-language of appliances: `{appliance}-{rack}-{rank}`,
//! `r{rack:02}n{rank:02}`, `10.5.{rack}.{rank}`.
//!
//! A template is literal text with placeholders `{name}` or `{name:0N}` (zero-padded to N
//! digits; numbers only). Names: `appliance`, `rack`, `rank`. `{{` and `}}` are literal braces.

use std::fmt::Write as _;

/// A parsed naming template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// The values a template is rendered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateVars<'a> {
    pub appliance: &'a str,
    pub rack: u32,
    pub rank: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var { var: Var, width: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Appliance,
    Rack,
    Rank,
}

impl Template {
    /// Parse `text`; the error says what is wrong in words.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err("unmatched `}` (write `}}` for a literal brace)".into()),
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => return Err(format!("unclosed placeholder `{{{inner}`")),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(parse_placeholder(&inner)?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { source: text.to_string(), parts })
    }

    /// The text the template was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `{rank}` appears (a naming policy without it would give every host one name).
    pub fn uses_rank(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var { var: Var::Rank, .. }))
    }

    /// Fill in the placeholders.
    pub fn render(&self, vars: &TemplateVars<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var { var: Var::Appliance, .. } => out.push_str(vars.appliance),
                Part::Var { var: Var::Rack, width } => write!(out, "{:0width$}", vars.rack).unwrap_or(()),
                Part::Var { var: Var::Rank, width } => write!(out, "{:0width$}", vars.rank).unwrap_or(()),
            }
        }
        out
    }
}

fn parse_placeholder(inner: &str) -> Result<Part, String> {
    let (name, spec) = match inner.split_once(':') {
        Some((n, s)) => (n.trim(), Some(s.trim())),
        None => (inner.trim(), None),
    };
    let var = match name {
        "appliance" => Var::Appliance,
        "rack" => Var::Rack,
        "rank" => Var::Rank,
        other => return Err(format!("unknown placeholder `{{{other}}}` (use appliance, rack or rank)")),
    };
    let width = match spec {
        None => 0,
        Some(s) => {
            let digits = s
                .strip_prefix('0')
                .filter(|d| !d.is_empty())
                .ok_or_else(|| format!("bad format `{s}` in `{{{inner}}}` (write `:0N`, e.g. `:02`)"))?;
            digits.parse::<usize>().ok().filter(|w| *w <= 20).ok_or_else(|| format!("bad width `{digits}` in `{{{inner}}}`"))?
        }
    };
    if var == Var::Appliance && width > 0 {
        return Err("zero padding applies to numbers, not `{appliance}`".into());
    }
    Ok(Part::Var { var, width })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, appliance: &str, rack: u32, rank: u32) -> String {
        Template::parse(t).unwrap().render(&TemplateVars { appliance, rack, rank })
    }

    #[test]
    fn rocks_and_fellowship_policies() {
        assert_eq!(render("{appliance}-{rack}-{rank}", "compute", 0, 12), "compute-0-12");
        assert_eq!(render("r{rack:02}n{rank:02}", "compute", 3, 7), "r03n07");
        assert_eq!(render("r{rack:02}n{rank:02}", "compute", 3, 123), "r03n123");
        assert_eq!(render("10.5.{rack}.{rank}", "compute", 3, 7), "10.5.3.7");
        assert_eq!(render("{{x}}-{rank}", "c", 0, 1), "{x}-1");
    }

    #[test]
    fn errors_are_explained() {
        for bad in ["{host}", "{rank", "rank}", "{rank:2}", "{rank:0x}", "{appliance:03}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        assert!(!Template::parse("{appliance}-{rack}").unwrap().uses_rank());
        assert!(Template::parse("n{rank:03}").unwrap().uses_rank());
    }
}
