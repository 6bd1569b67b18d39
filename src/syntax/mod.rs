//! Element tree -> Rocks node files and graph files. Knows Rocks tags, not graphs or hosts.
//!
//! Everything that depends on a host (attribute entities, conditions, `<eval>`) stays symbolic
//! here: entities are [`Seg::Entity`], conditions are parsed [`Cond`]s.

mod graph;
mod node;
pub mod visit;

pub use graph::graph_file;
pub use node::{body, node_file};
pub use visit::Visitor;

use crate::cond::Cond;
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::xml::{Attribute, Element, Piece};

/// A parsed `nodes/NAME.xml`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFile {
    /// `<kickstart roll="...">`, if given.
    pub roll: Option<String>,
    pub items: Vec<Item>,
    pub span: Span,
}

/// One element of a node file that contributes to the kickstart, with its condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub cond: Cond,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// `<package>`: `type="meta"` gives `@name`, `disable` gives `-name`.
    Package {
        name: Text,
        meta: bool,
        disable: bool,
    },
    /// A child of `<main>`: one kickstart command line.
    Command {
        command: String,
        text: Text,
    },
    Pre(Script),
    /// `<post>` and `<configure>`.
    Post(Script),
    /// `<boot order="pre|post">`: appended to `/etc/sysconfig/rocks-pre|post`.
    Boot {
        post: bool,
        body: Text,
    },
    /// `<debug>`: printed as comments.
    Debug {
        body: Text,
    },
}

/// The body and options of a `%pre` or `%post` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub interpreter: Option<AttrText>,
    /// Extra section arguments, e.g. `--nochroot`.
    pub arg: Option<AttrText>,
    pub body: Text,
    /// Came from `<configure>` (which gets no post-log markers).
    pub configure: bool,
}

/// Text with host-dependent parts left symbolic.
pub type Text = Vec<Seg>;

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Lit(String),
    /// `&name;`: the host's attribute `name` (empty, with a warning, when undefined).
    Entity {
        name: String,
        span: Span,
    },
    File(Box<FileEl>),
    Eval(Box<EvalEl>),
    /// Rocks 5.0 `<var name= val= ref=>`.
    Var {
        name: String,
        val: Option<AttrText>,
        reference: Option<String>,
        span: Span,
    },
    /// `<include file=>` / `<sinclude file=>`: a file from a framework's `include/` folder.
    Include {
        file: String,
        xml: bool,
        optional: bool,
        span: Span,
    },
}

/// An attribute value: literal text and entity references.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrText {
    pub pieces: Vec<Piece>,
    pub span: Span,
}

/// How a `<file>` writes its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    Create,
    Append,
    Pipe,
}

/// `<file name= mode= perms= owner= expr= vars= rcs=>`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEl {
    pub name: AttrText,
    pub mode: FileMode,
    pub perms: Option<AttrText>,
    pub owner: Option<AttrText>,
    pub expr: Option<AttrText>,
    pub src: Option<AttrText>,
    /// `vars="expanded"`: an unquoted heredoc, so the shell expands `$x` at install time.
    pub expanded: bool,
    /// `rcs="false"` turns RCS tracking off for this file.
    pub rcs: bool,
    /// Rocks checks only `os` on `<file>`.
    pub cond: Cond,
    /// `None` when the element has no content at all.
    pub body: Option<Text>,
    pub span: Span,
}

/// `<eval shell= mode=>`: run on the compiling machine only with `--allow-eval`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalEl {
    pub shell: String,
    /// `mode="xml"`: the output is markup, spliced in as node content.
    pub xml: bool,
    pub body: Text,
    pub span: Span,
}

/// A parsed `graphs/GRAPH/NAME.xml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphFile {
    pub roll: Option<String>,
    pub edges: Vec<EdgeDecl>,
    pub orders: Vec<OrderDecl>,
}

/// A node name as written in a graph file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub name: String,
    pub span: Span,
}

/// `from -> to`, taken when `cond` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeDecl {
    pub from: Name,
    pub to: Name,
    pub cond: Cond,
    pub span: Span,
}

/// `head` comes before `tail`. `span` is the `<order>` element.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDecl {
    pub head: Name,
    pub tail: Name,
    pub generator: Option<String>,
    pub span: Span,
}

/// Kickstart commands accepted as children of `<main>`.
pub const COMMANDS: &[&str] = &[
    "auth",
    "authconfig",
    "authselect",
    "autopart",
    "autostep",
    "bootloader",
    "btrfs",
    "cdrom",
    "clearpart",
    "cmdline",
    "device",
    "deviceprobe",
    "dmraid",
    "driverdisk",
    "eula",
    "fcoe",
    "firewall",
    "firstboot",
    "graphical",
    "group",
    "halt",
    "harddrive",
    "ignoredisk",
    "include",
    "install",
    "interactive",
    "iscsi",
    "iscsiname",
    "keyboard",
    "lang",
    "langsupport",
    "lilo",
    "lilocheck",
    "liveimg",
    "logging",
    "logvol",
    "mediacheck",
    "module",
    "monitor",
    "mouse",
    "multipath",
    "network",
    "nfs",
    "nvdimm",
    "ostreecontainer",
    "ostreesetup",
    "part",
    "partition",
    "poweroff",
    "raid",
    "realm",
    "reboot",
    "repo",
    "reqpart",
    "rescue",
    "rhsm",
    "rootpw",
    "selinux",
    "services",
    "shutdown",
    "skipx",
    "snapshot",
    "sshkey",
    "sshpw",
    "syspurpose",
    "text",
    "timesource",
    "timezone",
    "updates",
    "upgrade",
    "url",
    "user",
    "vnc",
    "volgroup",
    "xconfig",
    "zerombr",
    "zfcp",
    "zipl",
];

/// Elements Rocks files carry that do not contribute to a kickstart.
const IGNORED: &[&str] = &["description", "copyright", "changelog", "screen", "service", "ansible", "si_copyright"];

/// The condition of an element from `arch`, `os`, `release`, `cond` (and `phase`).
/// `None` when the condition does not parse (a diagnostic was pushed).
fn element_cond(el: &Element, diags: &mut Vec<Diagnostic>) -> Option<Cond> {
    let parsed = match el.attr("cond") {
        Some(a) => {
            let text = a.literal();
            match Cond::parse(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    // Offsets are into the unescaped value; they match the file when the value
                    // has no `&...;` escapes, otherwise the whole value is labelled.
                    let raw_len = a.value_span.len();
                    let span = if raw_len == text.len() { a.value_span.sub(e.start, e.end.max(e.start + 1)) } else { a.value_span };
                    diags.push(
                        Diagnostic::error("cond::syntax", format!("invalid condition: {}", e.message))
                            .label(span, e.message.clone())
                            .help("conditions are Python-like: `x11`, `not x11`, `rocks_version_major >= 7 and Bootloader is None`, `os in ['linux', 'redhat']`"),
                    );
                    return None;
                }
            }
        }
        None => None,
    };
    let arch = el.attr_str("arch");
    let os = el.attr_str("os");
    let release = el.attr_str("release");
    Some(Cond::rocks(arch.as_deref(), os.as_deref(), release.as_deref(), parsed))
}

fn attr_text(a: &Attribute) -> AttrText {
    AttrText { pieces: a.value.clone(), span: a.value_span }
}
