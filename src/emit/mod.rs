//! Output kinds. Each file computes a typed context from resolved data and renders it with
//! the shared minijinja environment of [`crate::render`]; none of them writes files.

pub mod dhcpd;
pub mod dns;
mod expand;
pub mod genders;
pub mod hosts;
pub mod kea;
pub mod kickstart;
pub mod pbs;
pub mod provenance;
pub mod pxe;
pub mod sge;
pub mod shell;
pub mod slurm;
pub mod template;

use crate::diag::Diagnostic;
use crate::span::Span;

/// `&name;` in text names an undefined attribute: it expands to nothing (as in Rocks).
pub fn undefined_entity(name: &str, span: Span) -> Diagnostic {
    Diagnostic::warning("entity::undefined", format!("attribute `{name}` is not defined; `&{name};` expands to nothing"))
        .label(span, "undefined attribute")
        .help(format!("define it, e.g. `--attr {name}=VALUE`, or in the cluster database"))
}

/// `&name;` in an XML attribute value names an undefined attribute: an error.
pub fn undefined_entity_in_attribute(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        "entity::undefined-in-attribute",
        format!("attribute `{name}` is not defined, and `&{name};` is used in an XML attribute value"),
    )
    .label(span, "used here")
    .help(format!("define `{name}`; unlike text, an attribute value cannot fall back to empty"))
}
