//! Attributes: the key/value facts about a host that entities and conditions read.

use std::collections::BTreeMap;

/// A host's attributes, sorted by name.
pub type Attrs = BTreeMap<String, String>;

/// The attribute holding root's password (a SHA-512 crypt hash).
pub const ROOT_PASSWORD: &str = "Kickstart_PrivateRootPassword";

/// The built-in framework's default [`ROOT_PASSWORD`]: the hash of a password printed in
/// its `attributes.toml`, so a kickstart that still has it is warned about (and `build`
/// refuses it unless told otherwise).
pub const DEFAULT_ROOT_PASSWORD_HASH: &str =
    "$6$GkN8WAw1DLw5kR89$Y69z8K2XMpRI1jCgIE2B63y.CSIbQVtavwGwmeAv2baz0jCfr89HDGqZw9pkhdsmHwf/WcUtQq.0W3og60evw/";

/// Whether `attrs` compile root's password from the public default hash.
pub fn has_default_password(attrs: &Attrs) -> bool {
    attrs.get(ROOT_PASSWORD).is_some_and(|v| v == DEFAULT_ROOT_PASSWORD_HASH)
}

/// Where attribute values came from, for messages: name -> scope (`global`, `host`,
/// `--attrs site.json`, `built-in`, ...). Names missing from it are described by
/// [`crate::resolver::builtin::origin_of`].
pub type Origins = BTreeMap<String, String>;

/// The words of an attribute value that lists several (user names, flags), separated by
/// commas or blanks.
pub fn words(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty())
}

/// Rocks' membership name of an appliance: `compute` -> `Compute`.
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Why an attributes file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrsError {
    pub message: String,
    /// Byte range of the problem in the file, when known.
    pub range: Option<(usize, usize)>,
}

/// Parse a JSON object or a TOML table of string values (TOML may use an `[attributes]`
/// table). Numbers and booleans are accepted and turned into their text.
pub fn parse_attrs(text: &str, json: bool) -> Result<Attrs, AttrsError> {
    if json {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| AttrsError {
            message: format!("invalid JSON: {e}"),
            range: line_col_offset(text, e.line(), e.column()).map(|o| (o, o + 1)),
        })?;
        let serde_json::Value::Object(map) = v else {
            return Err(AttrsError { message: "expected a JSON object of attribute names to values".into(), range: None });
        };
        map.into_iter().map(|(k, v)| Ok((k.clone(), json_scalar(&k, v)?))).collect()
    } else {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| AttrsError {
            message: format!("invalid TOML: {}", e.message()),
            range: e.span().map(|r| (r.start, r.end)),
        })?;
        if let Some(toml::Value::Table(inner)) = table.remove("attributes") {
            table.extend(inner);
        }
        table.remove("appliances");
        table.into_iter().map(|(k, v)| Ok((k.clone(), toml_scalar(&k, v)?))).collect()
    }
}

fn json_scalar(k: &str, v: serde_json::Value) -> Result<String, AttrsError> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(AttrsError { message: format!("attribute `{k}` must be a string, number or boolean"), range: None }),
    }
}

fn toml_scalar(k: &str, v: toml::Value) -> Result<String, AttrsError> {
    match v {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(AttrsError { message: format!("attribute `{k}` must be a string, number or boolean"), range: None }),
    }
}

fn line_col_offset(text: &str, line: usize, col: usize) -> Option<usize> {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    Some((start + col.saturating_sub(1)).min(text.len()))
}

/// Parse a Python dict literal of string keys and string values, as Rocks' `*.attrs.py`
/// files hold (`{'hostname': 'compute-0-0', ...}`); `#` comments are allowed.
pub fn parse_python_dict(text: &str) -> Result<Attrs, AttrsError> {
    let mut p = PyDict { text, i: 0 };
    let mut out = Attrs::new();
    p.ws();
    p.expect('{')?;
    loop {
        p.ws();
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(':')?;
        p.ws();
        let value = p.string()?;
        out.insert(key, value);
        p.ws();
        if p.eat(',') {
            continue;
        }
        p.ws();
        p.expect('}')?;
        break;
    }
    p.ws();
    if p.i < text.len() {
        return Err(p.error("unexpected text after the closing `}`"));
    }
    Ok(out)
}

struct PyDict<'a> {
    text: &'a str,
    i: usize,
}

impl PyDict<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.i..].chars().next()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.i += c.len_utf8();
            } else if c == '#' {
                self.i = self.text[self.i..].find('\n').map_or(self.text.len(), |n| self.i + n);
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), AttrsError> {
        if self.eat(c) { Ok(()) } else { Err(self.error(&format!("expected `{c}`"))) }
    }

    fn error(&self, message: &str) -> AttrsError {
        let end = self.text[self.i..].chars().next().map_or(self.i, |c| self.i + c.len_utf8());
        AttrsError { message: format!("{message} (a Python dict of strings, `{{'name': 'value', ...}}`)"), range: Some((self.i, end)) }
    }

    fn string(&mut self) -> Result<String, AttrsError> {
        let q = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a quoted string")),
        };
        self.i += 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else { return Err(self.error("unterminated string")) };
            self.i += c.len_utf8();
            match c {
                c if c == q => return Ok(s),
                '\\' => {
                    let Some(e) = self.peek() else { return Err(self.error("unterminated string")) };
                    self.i += e.len_utf8();
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        other => other,
                    });
                }
                '\n' => return Err(self.error("newline in a string")),
                c => s.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let a = parse_attrs("{\"a\": \"1\", \"b\": 2, \"c\": true}", true).unwrap();
        assert_eq!(a["b"], "2");
        assert_eq!(a["c"], "true");
        let t = parse_attrs("x = \"y\"\n[attributes]\nz = 3\n", false).unwrap();
        assert_eq!(t["x"], "y");
        assert_eq!(t["z"], "3");
        let p = parse_python_dict("# attrs\n{ 'a': 'b', \"c\": 'it\\'s',\n 'n': 'x\\ny', }\n").unwrap();
        assert_eq!(p["c"], "it's");
        assert_eq!(p["n"], "x\ny");
        for bad in ["", "{", "[1]", "{'a' 'b'}", "{'a': 1}", "{'a': 'b'} x"] {
            assert!(parse_python_dict(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(parse_attrs("x = [1]", false).is_err());
    }
}
