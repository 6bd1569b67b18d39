//! `<file>` elements -> shell that writes the file at install time, the way Rocks'
//! generator wrote it (so Rocks frameworks give the scripts their authors expect).

use std::fmt::Write as _;

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
    /// RCS blocks are on: ownership is set there, not after the write.
    pub rcs: bool,
    /// Mark the heredoc's text for [`crate::kickstart::template`] (symbolic expansion).
    pub mark_heredoc: bool,
}

/// The shell for one `<file>`.
///
/// The file's content is the element's text without the newline that usually follows the
/// start tag: `<file name="/etc/x">\nline\n</file>` writes exactly `line\n`. Returns where in
/// `out` the text was copied as it is (a heredoc), if it was.
pub fn file_shell(f: &FileWrite<'_>, style: ShellStyle, out: &mut String) -> Option<usize> {
    let mut copied = None;
    let gt = if f.append { ">>" } else { ">" };
    let quoted = quote(f.name);
    let name = quoted.as_ref();
    if let Some(expr) = f.expr {
        let _ = writeln!(out, "{expr} {gt} {name}");
    }
    match f.text {
        None | Some("") => {
            let _ = writeln!(out, "touch {name}");
        }
        Some(text) if f.pipe => {
            let text = text.trim();
            match f.src {
                Some(src) => {
                    let _ = writeln!(out, "cat {src} | ({text}) > {name}");
                }
                None => {
                    let tmp = format!("{name}.rocks-compile-tmp");
                    let _ = writeln!(out, "cat {name} | ({text}) > {tmp}\nmv {tmp} {name}");
                }
            }
        }
        Some(text) => {
            let delim = heredoc_delimiter(text);
            if f.expanded {
                let _ = write!(out, "cat {gt} {name} << {delim}");
            } else {
                let _ = write!(out, "cat {gt} {name} << '{delim}'");
            }
            if !text.starts_with('\n') {
                out.push('\n');
            }
            if style.mark_heredoc {
                out.push(crate::kickstart::template::DOC);
            }
            copied = Some(out.len());
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
            if style.mark_heredoc {
                out.push(crate::kickstart::template::DOC_END);
            }
            out.push_str(&delim);
            out.push('\n');
        }
    }
    if let Some(perms) = f.perms {
        let _ = writeln!(out, "chmod {perms} {name}");
    }
    if let (Some(owner), false) = (f.owner, style.rcs) {
        let _ = writeln!(out, "chown {owner} {name}");
    }
    if style.var_rocks_copy {
        let _ = writeln!(out, "dn=$(dirname {name})\nmkdir -p /var/rocks/$dn \n/bin/cp -p {name} /var/rocks/$dn");
    }
    copied
}

/// Can `c` stand unquoted in a shell word? (`$`, `{`, `}` and `~` are left to the shell, as
/// Rocks left them; template markers stand for values checked when they are substituted.)
pub fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '/' | '.' | '_' | '-' | '+' | ':' | ',' | '@' | '%' | '=' | '$' | '~' | '{' | '}')
        || crate::kickstart::template::is_marker(c)
}

/// A path as one shell word: unchanged when every character is plain, else single-quoted.
pub fn quote(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.is_empty() && s.chars().all(is_plain) { s.into() } else { format!("'{}'", s.replace('\'', "'\\''")).into() }
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

/// Rocks' RCS prologue of a `<file>`: the check-out block the first time a path is seen
/// (`first`), then `chown` of the file and its `,v` when an owner is known.
pub fn rcs_begin(name: &str, owner: Option<&str>, first: bool, out: &mut String) {
    out.push('\n');
    if !first && owner.is_none() {
        return;
    }
    let (dir, base) = match name.rfind('/') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (".", name),
    };
    let rcs_dir = quote(&format!("{dir}/RCS")).into_owned();
    let rcs_file = quote(&format!("{dir}/RCS/{base},v")).into_owned();
    let quoted = quote(name);
    let name = quoted.as_ref();
    if first {
        let _ = writeln!(
            out,
            "if [ ! -f {rcs_file} ]; then\n\tif [ ! -f {name} ]; then\n\t\ttouch {name};\n\tfi\n\tif [ ! -d {rcs_dir} ]; then\n\t\tmkdir -m 700 {rcs_dir}\n\t\tchown 0:0 {rcs_dir}\n\tfi;\n\techo \"original\" | /opt/rocks/bin/ci {name};\n\t/opt/rocks/bin/co -f -l {name};\nfi"
        );
    }
    if let Some(owner) = owner {
        let _ = writeln!(out, "chown {owner} {name}\nchown {owner} {rcs_file}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: Option<&str>) -> FileWrite<'_> {
        FileWrite { name: "/etc/x", append: false, pipe: false, perms: None, owner: None, expr: None, src: None, expanded: false, text }
    }

    #[test]
    fn heredoc_never_collides() {
        let mut s = String::new();
        file_shell(&w(Some("a\nEOF\nEOF_1\n")), ShellStyle::default(), &mut s);
        assert_eq!(s, "cat > /etc/x << 'EOF_2'\na\nEOF\nEOF_1\nEOF_2\n");
    }

    #[test]
    fn leading_newline_is_not_content() {
        let mut s = String::new();
        file_shell(&w(Some("\nline")), ShellStyle::default(), &mut s);
        assert_eq!(s, "cat > /etc/x << 'EOF'\nline\nEOF\n");
    }

    #[test]
    fn odd_names_are_quoted() {
        let mut s = String::new();
        let mut f = w(Some("x\n"));
        f.name = "/etc/my file's.conf";
        file_shell(&f, ShellStyle::default(), &mut s);
        assert_eq!(s, "cat > '/etc/my file'\\''s.conf' << 'EOF'\nx\nEOF\n");
        assert_eq!(quote("/etc/$x/a.conf"), "/etc/$x/a.conf");
    }

    #[test]
    fn empty_file_is_touched() {
        let mut s = String::new();
        let mut f = w(None);
        f.perms = Some("0600");
        f.owner = Some("root:root");
        file_shell(&f, ShellStyle::default(), &mut s);
        assert_eq!(s, "touch /etc/x\nchmod 0600 /etc/x\nchown root:root /etc/x\n");
    }

    #[test]
    fn rcs_block_once() {
        let mut s = String::new();
        rcs_begin("/etc/motd", None, true, &mut s);
        assert!(s.starts_with("\nif [ ! -f /etc/RCS/motd,v ]; then\n"));
        let mut t = String::new();
        rcs_begin("/etc/motd", Some("root"), false, &mut t);
        assert_eq!(t, "\nchown root /etc/motd\nchown root /etc/RCS/motd,v\n");
    }
}
