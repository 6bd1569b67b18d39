//! Attributes: the key/value facts about a host that entities and conditions read.

use std::collections::BTreeMap;

/// A host's attributes, sorted by name.
pub type Attrs = BTreeMap<String, String>;

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
/// files hold (`{'hostname': 'compute-0-0', ...}`).
pub fn parse_python_dict(text: &str) -> Result<Attrs, AttrsError> {
    let mut out = Attrs::new();
    let mut strings = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                let mut s = String::new();
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = text[i..].chars().next().expect("in bounds");
                    s.push(ch);
                    i += ch.len_utf8();
                }
                if i >= b.len() {
                    return Err(AttrsError { message: "unterminated string".into(), range: Some((text.len(), text.len())) });
                }
                strings.push(s);
                i += 1;
            }
            _ => i += 1,
        }
    }
    if strings.len() % 2 != 0 {
        return Err(AttrsError { message: "expected `'key': 'value'` pairs".into(), range: None });
    }
    for pair in strings.chunks(2) {
        out.insert(pair[0].clone(), pair[1].clone());
    }
    Ok(out)
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
        let p = parse_python_dict("{ 'a': 'b', \"c\": 'it\\'s' }").unwrap();
        assert_eq!(p["c"], "it's");
        assert!(parse_attrs("x = [1]", false).is_err());
    }
}
