//! Unit tests for conditions: parsing, evaluation, display and errors.

use super::*;
use expect_test::expect;

fn parse(text: &str) -> Cond {
    Cond::parse(text).unwrap_or_else(|e| panic!("{text:?} failed to parse: {e:?}"))
}

fn eval_with(text: &str, attrs: &[(&str, &str)]) -> bool {
    let cond = parse(text);
    cond.eval(&|name| attrs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
}

fn err(text: &str) -> (usize, usize, String) {
    match Cond::parse(text) {
        Ok(c) => panic!("{text:?} parsed unexpectedly as {c}"),
        Err(e) => (e.start, e.end, e.message),
    }
}

fn e(start: usize, end: usize, msg: &str) -> (usize, usize, String) {
    (start, end, msg.to_owned())
}

#[test]
fn empty_and_whitespace_are_always() {
    for text in ["", "   ", "\t\n "] {
        let c = parse(text);
        assert!(c.is_always());
        assert_eq!(c, Cond::always());
        assert!(c.eval(&|_| None));
    }
    assert_eq!(Cond::always().to_string(), "True");
    assert!(Cond::default().is_always());
    assert!(!parse("x").is_always());
}

#[test]
fn attribute_conversion() {
    assert_eq!(Value::from_attr("yes"), Value::Bool(true));
    assert_eq!(Value::from_attr("Y"), Value::Bool(true));
    assert_eq!(Value::from_attr("On"), Value::Bool(true));
    assert_eq!(Value::from_attr("TRUE"), Value::Bool(true));
    assert_eq!(Value::from_attr("no"), Value::Bool(false));
    assert_eq!(Value::from_attr("N"), Value::Bool(false));
    assert_eq!(Value::from_attr("OFF"), Value::Bool(false));
    assert_eq!(Value::from_attr("false"), Value::Bool(false));
    assert_eq!(Value::from_attr("7"), Value::Int(7));
    assert_eq!(Value::from_attr(" 7 "), Value::Int(7));
    assert_eq!(Value::from_attr("-3"), Value::Int(-3));
    assert_eq!(Value::from_attr("7.0"), Value::Float(7.0));
    assert_eq!(Value::from_attr("6.2"), Value::Float(6.2));
    assert_eq!(Value::from_attr("99999999999999999999"), Value::Float(1e20));
    assert_eq!(Value::from_attr("x86_64"), Value::Str("x86_64".into()));
    assert_eq!(Value::from_attr("yes please"), Value::Str("yes please".into()));
    assert_eq!(Value::from_attr(""), Value::Str(String::new()));
}

#[test]
fn truthiness() {
    assert!(!Value::None.truthy());
    assert!(!Value::Bool(false).truthy());
    assert!(!Value::Int(0).truthy());
    assert!(!Value::Float(0.0).truthy());
    assert!(!Value::Str(String::new()).truthy());
    assert!(Value::Bool(true).truthy());
    assert!(Value::Int(-1).truthy());
    assert!(Value::Float(0.5).truthy());
    assert!(Value::Str("0x".into()).truthy());
    // Converted first: "0" and "no" are false, "" is false.
    assert!(!eval_with("a", &[("a", "0")]));
    assert!(!eval_with("a", &[("a", "no")]));
    assert!(!eval_with("a", &[("a", "")]));
    assert!(!eval_with("a", &[("a", "0.0")]));
    assert!(eval_with("a", &[("a", "yes")]));
    assert!(eval_with("a", &[("a", "anything")]));
}

#[test]
fn bare_names_and_not() {
    assert!(eval_with("x11", &[("x11", "true")]));
    assert!(!eval_with("x11", &[("x11", "off")]));
    assert!(!eval_with("x11", &[]));
    assert!(eval_with("not x11", &[]));
    assert!(eval_with("not x11", &[("x11", "n")]));
    assert!(!eval_with("not x11", &[("x11", "yes")]));
    assert!(eval_with("not not x11", &[("x11", "yes")]));
}

#[test]
fn precedence() {
    // or < and < not < comparison
    let c = parse("a or b and c");
    expect![[r#"a or (b and c)"#]].assert_eq(&c.to_string());
    assert!(eval_with("a or b and c", &[("a", "yes")]));
    assert!(!eval_with("a or b and c", &[("b", "yes")]));
    assert!(eval_with("(a or b) and c", &[("b", "yes"), ("c", "1")]));
    assert!(!eval_with("(a or b) and c", &[("a", "yes")]));
    // not binds tighter than and, looser than ==
    assert!(eval_with("not a == 1 and b", &[("a", "2"), ("b", "y")]));
    assert!(!eval_with("not a == 1 and b", &[("a", "1"), ("b", "y")]));
    expect![[r#"not (a == 1) and b"#]].assert_eq(&parse("not a == 1 and b").to_string());
    expect![[r#"a == 1 or (b and (c != 'x'))"#]].assert_eq(&parse("(a == 1) or (b and c != 'x')").to_string());
    expect![[r#"a or (b and c) or d"#]].assert_eq(&parse("a or b and c or d").to_string());
    // Flattening of same-kind operators.
    assert_eq!(parse("a and (b and c)"), parse("a and b and c"));
    assert_eq!(parse("(a or b) or c"), parse("a or b or c"));
}

#[test]
fn and_or_return_operands() {
    let lookup = |name: &str| match name {
        "a" => Some("7"),
        "s" => Some("text"),
        _ => None,
    };
    assert_eq!(parse("a and s").eval_value(&lookup), Value::Str("text".into()));
    assert_eq!(parse("z and s").eval_value(&lookup), Value::None);
    assert_eq!(parse("z or a").eval_value(&lookup), Value::Int(7));
    assert_eq!(parse("a or s").eval_value(&lookup), Value::Int(7));
    assert_eq!(parse("not z").eval_value(&lookup), Value::Bool(true));
    assert_eq!(parse("(z or a) == 7").eval_value(&lookup), Value::Bool(true));
}

#[test]
fn numeric_comparisons() {
    let c = "rocks_version_major >= 6";
    assert!(eval_with(c, &[("rocks_version_major", "7")]));
    assert!(eval_with(c, &[("rocks_version_major", "6")]));
    assert!(!eval_with(c, &[("rocks_version_major", "5")]));
    assert!(!eval_with(c, &[]));
    assert!(eval_with("version >= 7", &[("version", "7.0")]));
    assert!(!eval_with("version >= 7", &[("version", "6.2")]));
    assert!(eval_with("version == 7", &[("version", "7.0")]));
    assert!(eval_with("version < 6.5", &[("version", "6.2")]));
    assert!(eval_with("version > 6.2", &[("version", "7")]));
    assert!(eval_with("version <= 6.2", &[("version", "6.2")]));
    assert!(eval_with("x == -1", &[("x", "-1")]));
    assert!(eval_with("x > -1.5", &[("x", "-1")]));
    assert!(eval_with("rocks_version_major==6", &[("rocks_version_major", "6")]));
    assert!(eval_with("a <> 5", &[("a", "6")]));
    // Python: True == 1, False == 0
    assert!(eval_with("flag == 1", &[("flag", "yes")]));
    assert!(eval_with("flag == 0", &[("flag", "no")]));
    assert!(eval_with("flag == True", &[("flag", "on")]));
    assert!(eval_with("1 == True", &[]));
    assert!(eval_with("flag < 2", &[("flag", "yes")]));
    // Exact int/float comparison.
    assert!(!eval_with("9007199254740993 == 9007199254740992.0", &[]));
    assert!(eval_with("9007199254740992 == 9007199254740992.0", &[]));
    assert!(eval_with("3 < 3.5", &[]));
    assert!(eval_with("-3 > -3.5", &[]));
    assert!(eval_with("9223372036854775807 < 1e19", &[]));
    assert!(eval_with("a != a", &[("a", "nan")]));
    assert!(!eval_with("a == a", &[("a", "nan")]));
}

#[test]
fn string_and_mixed_comparisons() {
    assert!(eval_with("appliance != 'devel-server'", &[("appliance", "compute")]));
    assert!(!eval_with("appliance != 'devel-server'", &[("appliance", "devel-server")]));
    assert!(eval_with("appliance != 'devel-server'", &[]));
    assert!(eval_with("arch == \"x86_64\"", &[("arch", "x86_64")]));
    assert!(eval_with("os.version == '7.x'", &[("os.version", "7.x")]));
    assert!(eval_with("a < 'b'", &[("a", "abc")]));
    assert!(eval_with("'b' >= a", &[("a", "abc")]));
    assert!(!eval_with("a > 'b'", &[("a", "abc")]));
    // String vs number: unequal, unordered.
    assert!(!eval_with("a == '7'", &[("a", "7")]));
    assert!(eval_with("a != '7'", &[("a", "7")]));
    assert!(!eval_with("a < 5", &[("a", "abc")]));
    assert!(!eval_with("a >= 5", &[("a", "abc")]));
    // None vs int: unordered, unequal.
    assert!(!eval_with("a < 5", &[]));
    assert!(!eval_with("a >= 5", &[]));
    assert!(!eval_with("a == 0", &[]));
    assert!(eval_with("a != 0", &[]));
    assert!(eval_with("a == None", &[]));
    assert!(!eval_with("a <= None", &[]));
    // Escapes.
    assert!(eval_with(r"a == 'it\'s'", &[("a", "it's")]));
    assert!(eval_with(r#"a == "say \"hi\"""#, &[("a", "say \"hi\"")]));
    assert!(eval_with(r"a == 'back\\slash'", &[("a", r"back\slash")]));
    assert!(eval_with(r"a == 'c:\dir'", &[("a", r"c:\dir")]));
    assert!(eval_with("a == 'ünï'", &[("a", "ünï")]));
}

#[test]
fn is_none() {
    assert!(eval_with("Bootloader is None", &[]));
    assert!(!eval_with("Bootloader is None", &[("Bootloader", "grub")]));
    assert!(!eval_with("Bootloader is None", &[("Bootloader", "")]));
    assert!(eval_with("Bootloader is not None", &[("Bootloader", "grub")]));
    assert!(!eval_with("Bootloader is not None", &[]));
    let c = "rocks_version_major >= 6 and Bootloader is None";
    assert!(eval_with(c, &[("rocks_version_major", "7")]));
    assert!(!eval_with(c, &[("rocks_version_major", "7"), ("Bootloader", "x")]));
    assert!(!eval_with(c, &[("rocks_version_major", "5")]));
    assert!(eval_with("flag is True", &[("flag", "yes")]));
    assert!(!eval_with("flag is True", &[("flag", "1")]));
    assert!(eval_with("flag is not False", &[("flag", "1")]));
}

#[test]
fn membership() {
    let c = "x in ['a', 'b']";
    assert!(eval_with(c, &[("x", "a")]));
    assert!(eval_with(c, &[("x", "b")]));
    assert!(!eval_with(c, &[("x", "c")]));
    assert!(!eval_with(c, &[]));
    assert!(eval_with("x not in ['a', 'b']", &[("x", "c")]));
    assert!(!eval_with("x not in ['a', 'b']", &[("x", "a")]));
    assert!(eval_with("x in ('a', 'b')", &[("x", "b")]));
    assert!(eval_with("x in ('a',)", &[("x", "a")]));
    assert!(eval_with("x in [6, 7,]", &[("x", "7.0")]));
    assert!(!eval_with("x in []", &[("x", "a")]));
    assert!(!eval_with("x in ()", &[("x", "a")]));
    assert!(eval_with("x in [y, 'z']", &[("x", "q"), ("y", "q")]));
    assert!(eval_with("x in [None]", &[]));
    assert!(eval_with("not x in ['a']", &[("x", "b")]));
}

#[test]
fn leading_space_and_corpus_examples() {
    assert!(eval_with(" version >= 7", &[("version", "7")]));
    assert!(!eval_with(" version >= 7", &[("version", "6")]));
    assert!(eval_with("not (version >= 7)", &[("version", "6.2")]));
    let c = "rocks_version_major == 7 and not UseTracker";
    assert!(eval_with(c, &[("rocks_version_major", "7")]));
    assert!(!eval_with(c, &[("rocks_version_major", "7"), ("UseTracker", "yes")]));
    assert!(eval_with(c, &[("rocks_version_major", "7"), ("UseTracker", "no")]));
    assert!(!eval_with(c, &[("rocks_version_major", "6")]));
    let c = "img_storage_part_zfs_mirror and img_storage_vm and img_sync and vm_container_zpool";
    let all = [("img_storage_part_zfs_mirror", "true"), ("img_storage_vm", "yes"), ("img_sync", "on"), ("vm_container_zpool", "tank")];
    assert!(eval_with(c, &all));
    assert!(!eval_with(c, &all[..3]));
}

#[test]
fn rocks_combination() {
    let c = Cond::rocks(Some("i386,x86_64"), Some("linux"), None, Some(parse("x11")));
    expect![[r#"(arch == 'i386' or arch == 'x86_64') and (os == 'linux') and x11"#]].assert_eq(&c.to_string());
    let host = |arch: &'static str, os: &'static str, x11: &'static str| {
        move |name: &str| match name {
            "arch" => Some(arch),
            "os" => Some(os),
            "x11" => Some(x11),
            _ => None,
        }
    };
    assert!(c.eval(&host("x86_64", "linux", "yes")));
    assert!(c.eval(&host("i386", "linux", "yes")));
    assert!(!c.eval(&host("ia64", "linux", "yes")));
    assert!(!c.eval(&host("x86_64", "sunos", "yes")));
    assert!(!c.eval(&host("x86_64", "linux", "no")));
    assert_eq!(c.names(), ["arch", "os", "x11"]);

    let c = Cond::rocks(Some(" x86_64 , "), None, Some(""), None);
    expect![[r#"arch == 'x86_64'"#]].assert_eq(&c.to_string());
    let c = Cond::rocks(Some("x86_64"), None, None, Some(parse("x11")));
    expect![[r#"(arch == 'x86_64') and x11"#]].assert_eq(&c.to_string());
    let c = Cond::rocks(None, None, Some("7.0"), Some(parse("a or b")));
    expect![[r#"(release == '7.0') and (a or b)"#]].assert_eq(&c.to_string());

    assert!(Cond::rocks(None, None, None, None).is_always());
    assert!(Cond::rocks(Some(" , "), Some(""), None, Some(Cond::always())).is_always());
    let x = parse("x11 or kvm");
    assert_eq!(Cond::rocks(None, None, None, Some(x.clone())), x);
}

#[test]
fn and_identity() {
    let x = parse("a == 1");
    assert_eq!(Cond::always().and(x.clone()), x);
    assert_eq!(x.clone().and(Cond::always()), x);
    let y = parse("b or c").and(parse("d and e")).and(parse("f"));
    expect![[r#"(b or c) and d and e and f"#]].assert_eq(&y.to_string());
    assert_eq!(y, parse("(b or c) and d and e and f"));
}

#[test]
fn names_are_sorted_and_deduplicated() {
    let c = parse("zeta == 1 or (alpha and not zeta) or os.version in [beta, 'x'] or g is None");
    assert_eq!(c.names(), ["alpha", "beta", "g", "os.version", "zeta"]);
    assert!(Cond::always().names().is_empty());
    assert!(parse("1 == 1").names().is_empty());
}

#[test]
fn display_round_trip() {
    let cases = [
        "rocks_version_major == 7 and not UseTracker",
        "rocks_version_major >= 6 and Bootloader is None",
        "Bootloader is not None",
        " version >= 7",
        "not (version >= 7)",
        "a or b and c or not d",
        "not (a or b)",
        "not not a",
        "x not in ['a', \"b\", 3, 4.5, -2, None, True]",
        "x in ('a',)",
        "(a or b) == (c and d)",
        "(not a) in [b or c, d and e]",
        "a == 'it\\'s \\\\ \"q\" \\n \\d'",
        "v > 1e-7 and v < 1e300 and w == 1e999",
        "os.version <= '7'",
        "flag is not True",
        "(a == 1) is False",
        "True",
        "None",
        "-0.5",
    ];
    for text in cases {
        let c = parse(text);
        let shown = c.to_string();
        let again = parse(&shown);
        assert_eq!(again, c, "{text:?} displayed as {shown:?}");
        assert_eq!(again.to_string(), shown);
    }
    expect![[r#"(rocks_version_major == 7) and not UseTracker"#]]
        .assert_eq(&parse("rocks_version_major == 7 and not UseTracker").to_string());
    expect![[r#"x not in ['a', 'b', 3, 4.5, -2, None, True]"#]]
        .assert_eq(&parse("x not in ('a', \"b\", 3, 4.5, -2, None, True,)").to_string());
    expect![[r#"(not a) in [b or c, d and e]"#]].assert_eq(&parse("(not a) in [b or c, d and e]").to_string());
    expect![[r#"a != 5"#]].assert_eq(&parse("a <> 5").to_string());
}

#[test]
fn syntax_errors() {
    assert_eq!(err("x in ['a', 'b')"), e(14, 15, "expected `]` or `,`, found `)`"));
    assert_eq!(err("x in ('a' 'b')"), e(10, 13, "expected `)` or `,`, found string literal"));
    assert_eq!(err("x in ('a')"), e(9, 10, "expected `,` (a one-item tuple needs a trailing comma), found `)`"));
    assert_eq!(err("x in ['a'"), e(9, 9, "expected `]` or `,`, found end of condition"));
    assert_eq!(err("x in y"), e(5, 6, "expected `[` or `(` after `in`, found `y`"));
    assert_eq!(err("a == 'abc"), e(5, 9, "unterminated string literal"));
    assert_eq!(err("a == 'abc\\'"), e(5, 11, "unterminated string literal"));
    assert_eq!(err("a and"), e(5, 5, "unexpected end of condition"));
    assert_eq!(err("a == "), e(5, 5, "unexpected end of condition"));
    assert_eq!(err("not"), e(3, 3, "unexpected end of condition"));
    assert_eq!(err("(a or b"), e(7, 7, "expected `)`, found end of condition"));
    assert_eq!(err("a or b)"), e(6, 7, "unmatched `)`"));
    assert_eq!(err("a b"), e(2, 3, "expected end of condition, found `b`"));
    assert_eq!(err("a == )"), e(5, 6, "expected expression, found `)`"));
    assert_eq!(err("a = 1"), e(2, 3, "unexpected `=`, use `==` to compare"));
    assert_eq!(err("a == 1 @"), e(7, 8, "unexpected character `@`"));
    assert_eq!(err("a == é"), e(5, 7, "unexpected character `é`"));
    assert_eq!(err("a ! b"), e(2, 3, "unexpected character `!`"));
    assert_eq!(err("a + 1"), e(2, 3, "unexpected character `+`"));
    assert_eq!(err("1 < a < 3"), e(6, 7, "chained comparisons are not supported"));
    assert_eq!(err("a == b is None"), e(7, 9, "chained comparisons are not supported"));
    assert_eq!(err("a == b not in [1]"), e(7, 10, "chained comparisons are not supported"));
    assert_eq!(err("a is 5"), e(5, 6, "expected `None`, `True` or `False`, found `5`"));
    assert_eq!(err("a not b"), e(6, 7, "expected `in` after `not`, found `b`"));
    assert_eq!(err("os."), e(2, 3, "expected identifier after `.`"));
    assert_eq!(err("a == 7abc"), e(5, 9, "invalid numeric literal"));
    assert_eq!(err("a == 1.2.3"), e(5, 10, "invalid numeric literal"));
    assert_eq!(err("a == 1e"), e(5, 7, "invalid numeric literal"));
    assert_eq!(err("a == 007"), e(5, 8, "leading zeros in integer literals are not allowed"));
    assert_eq!(err("a == 99999999999999999999"), e(5, 25, "integer literal is too large"));
    assert_eq!(err("a == -b"), e(6, 7, "expected number after `-`, found `b`"));
    assert_eq!(err("a == not b"), e(5, 8, "expected expression, found `not`"));
    assert_eq!(err("x in [,]"), e(6, 7, "expected expression, found `,`"));
    // Earlier syntax errors win over later lexical errors.
    assert_eq!(err("a b 'open"), e(2, 3, "expected end of condition, found `b`"));
    // Deep nesting is an error, not a stack overflow.
    let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
    assert_eq!(err(&deep).2, "condition nests too deeply");
    let deep = format!("{}a", "not ".repeat(500));
    assert_eq!(err(&deep).2, "condition nests too deeply");
}

#[test]
fn numbers_parse() {
    assert_eq!(parse("6.2"), Cond { expr: Expr::Lit(Value::Float(6.2)) });
    assert_eq!(parse(".5"), Cond { expr: Expr::Lit(Value::Float(0.5)) });
    assert_eq!(parse("5."), Cond { expr: Expr::Lit(Value::Float(5.0)) });
    assert_eq!(parse("1.e3"), Cond { expr: Expr::Lit(Value::Float(1000.0)) });
    assert_eq!(parse("0"), Cond { expr: Expr::Lit(Value::Int(0)) });
    assert_eq!(parse("00"), Cond { expr: Expr::Lit(Value::Int(0)) });
    assert_eq!(parse("- 7"), Cond { expr: Expr::Lit(Value::Int(-7)) });
}

#[test]
fn error_shift_and_display() {
    let e = Cond::parse("a and").unwrap_err().shifted(10);
    assert_eq!((e.start, e.end), (15, 15));
    assert_eq!(e.to_string(), "unexpected end of condition");
    let c: Cond = "x11".parse().unwrap();
    assert_eq!(c.names(), ["x11"]);
}

// -- corpus --------------------------------------------------------------

const CORPUS: &str = "/work/shared/rocks-corpus/rocks";

fn xml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "xml") {
            out.push(path);
        }
    }
}

fn unescape_xml(s: &str) -> String {
    s.replace("&gt;", ">").replace("&lt;", "<").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Values of every `cond="..."` / `cond='...'` attribute in the text.
fn cond_attrs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find("cond") {
        let at = from + found;
        from = at + 4;
        let preceded_ok = at > 0 && b[at - 1].is_ascii_whitespace();
        let rest = text[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if !preceded_ok {
            continue;
        }
        if let Some(len) = rest[1..].find(quote) {
            out.push(unescape_xml(&rest[1..1 + len]));
        }
    }
    out
}

#[test]
fn corpus_conditions_all_parse() {
    let root = std::path::Path::new(CORPUS);
    if !root.is_dir() {
        eprintln!("!!!!!!!! corpus {CORPUS} not found: SKIPPING corpus_conditions_all_parse !!!!!!!!");
        return;
    }
    let mut files = Vec::new();
    xml_files(root, &mut files);
    files.sort();
    let mut count = 0;
    let mut failures = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for cond in cond_attrs(&text) {
            count += 1;
            match Cond::parse(&cond) {
                Ok(c) => {
                    // The normalised form must read back identically.
                    assert_eq!(parse(&c.to_string()), c, "{cond:?}");
                }
                Err(e) => failures.push(format!("{}: {cond:?}: {e:?}", file.display())),
            }
        }
    }
    assert!(failures.is_empty(), "conditions failed to parse:\n{}", failures.join("\n"));
    assert!(count > 100, "only {count} conditions found under {CORPUS}");
    eprintln!("{count} corpus conditions parsed from {} files", files.len());
}

#[test]
fn cond_attr_scanner() {
    let text = r#"<edge from="a" to="b" cond="x &gt;= 7"/><x second_cond="no" cond = 'y'>"#;
    assert_eq!(cond_attrs(text), ["x >= 7", "y"]);
}
