//! `<file>` elements -> shell that writes the file at install time.

/// A `<file>` with every attribute resolved for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite<'a> {
    pub name: &'a str,
    pub append: bool,
    pub pipe: bool,
    pub perms: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub expr: Option<&'a str>,
    pub src: Option<&'a str>,
    pub expanded: bool,
    /// `None`: the element had no content.
    pub text: Option<&'a str>,
}

/// Shell options: how faithful to Rocks 7 the generated lines are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShellStyle {
    /// Keep a copy of every written file under `/var/rocks` (Rocks 7).
    pub var_rocks_copy: bool,
}

/// The shell for one `<file>`.
pub fn file_shell(f: &FileWrite<'_>, style: ShellStyle, out: &mut String) {
    let redirect = if f.append { ">>" } else { ">" };
    if let Some(expr) = f.expr {
        out.push_str(&format!("{expr} {redirect} {}\n", f.name));
    } else if f.pipe {
        let text = f.text.unwrap_or("").trim();
        match f.src {
            Some(src) => out.push_str(&format!("cat {src} | ({text}) > {}\n", f.name)),
            None => out.push_str(&format!(
                "cat {name} | ({text}) > {name}.rocks-compile.tmp; mv {name}.rocks-compile.tmp {name}\n",
                name = f.name
            )),
        }
    } else {
        match f.text {
            None => out.push_str(&format!("touch {}\n", f.name)),
            Some(text) => {
                let delim = heredoc_delimiter(text);
                if f.expanded {
                    out.push_str(&format!("cat {redirect} {} << {delim}\n", f.name));
                } else {
                    out.push_str(&format!("cat {redirect} {} << '{delim}'\n", f.name));
                }
                out.push_str(text);
                if !text.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&delim);
                out.push('\n');
            }
        }
    }
    if let Some(perms) = f.perms {
        out.push_str(&format!("chmod {perms} {}\n", f.name));
    }
    if let Some(owner) = f.owner {
        out.push_str(&format!("chown {owner} {}\n", f.name));
    }
    if style.var_rocks_copy {
        out.push_str(&format!("dn=$(dirname {})\nmkdir -p /var/rocks/$dn \n/bin/cp -p {} /var/rocks/$dn\n", f.name, f.name));
    }
}

/// `EOF`, or `EOF_1`, `EOF_2`, ... when a line of the text would end the heredoc early.
pub fn heredoc_delimiter(text: &str) -> String {
    let mut delim = "EOF".to_string();
    let mut n = 0;
    while text.lines().any(|l| l == delim) {
        n += 1;
        delim = format!("EOF_{n}");
    }
    delim
}

/// Rocks' RCS check-out block, emitted before the first `<file>` for a path.
pub fn rcs_begin(name: &str, owner: Option<&str>, out: &mut String) {
    let (dir, base) = match name.rfind('/') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (".", name),
    };
    out.push_str(&format!(
        "if [ ! -f {dir}/RCS/{base},v ]; then\n\tif [ ! -f {name} ]; then\n\t\ttouch {name};\n\tfi\n\tif [ ! -d {dir}/RCS ]; then\n\t\tmkdir -m 700 {dir}/RCS\n\t\tchown 0:0 {dir}/RCS\n\tfi;\n\techo \"original\" | /opt/rocks/bin/ci {name};\n\t/opt/rocks/bin/co -f -l {name};\nfi\n"
    ));
    if let Some(owner) = owner {
        out.push_str(&format!("chown {owner} {name}\nchown {owner} {dir}/RCS/{base},v\n"));
    }
}

/// Rocks' final RCS check-in for a tracked file.
pub fn rcs_end(name: &str, owner: Option<&str>, perms: Option<&str>, out: &mut String) {
    out.push_str(&format!("echo \"rocks\" | /opt/rocks/bin/ci {name};\n/opt/rocks/bin/co -f -l {name};\n"));
    if let Some(owner) = owner {
        out.push_str(&format!("chown {owner} {name}\n"));
    }
    if let Some(perms) = perms {
        out.push_str(&format!("chmod {perms} {name}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w<'a>(text: Option<&'a str>) -> FileWrite<'a> {
        FileWrite { name: "/etc/x", append: false, pipe: false, perms: None, owner: None, expr: None, src: None, expanded: false, text }
    }

    #[test]
    fn heredoc_never_collides() {
        let mut s = String::new();
        file_shell(&w(Some("a\nEOF\nEOF_1\n")), ShellStyle::default(), &mut s);
        assert_eq!(s, "cat > /etc/x << 'EOF_2'\na\nEOF\nEOF_1\nEOF_2\n");
    }

    #[test]
    fn empty_file_is_touched() {
        let mut s = String::new();
        let mut f = w(None);
        f.perms = Some("0600");
        file_shell(&f, ShellStyle::default(), &mut s);
        assert_eq!(s, "touch /etc/x\nchmod 0600 /etc/x\n");
    }
}
