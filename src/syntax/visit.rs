//! One traversal of node items: every condition, text segment and attribute value of an
//! [`Item`], in document order. Passes that look into node files (the names conditions read,
//! the attributes files use, whether hosts can share an expansion) implement [`Visitor`]
//! and override only what they need, so a new field is seen by all of them at once.

use super::{AttrText, EvalEl, FileEl, Item, ItemKind, Seg, Text};
use crate::cond::Cond;
use crate::span::Span;

/// Callbacks for [`walk_item`]. Every method has a default: `visit_*` methods that have
/// children walk them, leaf methods do nothing.
pub trait Visitor {
    /// A condition: an item's, or a `<file>`'s `os=`. `span` is the element it belongs to.
    fn cond(&mut self, _cond: &Cond, _span: Span) {}

    /// `&name;` in text.
    fn entity(&mut self, _name: &str, _span: Span) {}

    /// An XML attribute value that is substituted: `interpreter=`, `arg=`, the attributes of
    /// `<file>`, `<var val=>`.
    fn attr(&mut self, _value: &AttrText) {}

    /// A `<var>`. Its `val=` is passed to [`Visitor::attr`] first.
    fn var(&mut self, _name: &str, _span: Span) {}

    /// An `<include>` or `<sinclude>`.
    fn include(&mut self, _file: &str, _span: Span) {}

    /// A `<file>`; the default walks its condition, attributes and body.
    fn visit_file(&mut self, file: &FileEl) {
        walk_file(self, file);
    }

    /// An `<eval>`; the default walks its body.
    fn visit_eval(&mut self, eval: &EvalEl) {
        walk_text(self, &eval.body);
    }
}

/// Visit an item: its condition, then its content.
pub fn walk_item<V: Visitor + ?Sized>(v: &mut V, item: &Item) {
    v.cond(&item.cond, item.span);
    match &item.kind {
        ItemKind::Package { name, .. } => walk_text(v, name),
        ItemKind::Command { text, .. } => walk_text(v, text),
        ItemKind::Pre(s) | ItemKind::Post(s) => {
            for a in [&s.interpreter, &s.arg].into_iter().flatten() {
                v.attr(a);
            }
            walk_text(v, &s.body);
        }
        ItemKind::Boot { body, .. } | ItemKind::Debug { body } => walk_text(v, body),
    }
}

/// Visit every segment of a text.
pub fn walk_text<V: Visitor + ?Sized>(v: &mut V, text: &Text) {
    for seg in text {
        match seg {
            Seg::Lit(_) => {}
            Seg::Entity { name, span } => v.entity(name, *span),
            Seg::File(f) => v.visit_file(f),
            Seg::Eval(e) => v.visit_eval(e),
            Seg::Var { name, val, span, .. } => {
                if let Some(val) = val {
                    v.attr(val);
                }
                v.var(name, *span);
            }
            Seg::Include { file, span, .. } => v.include(file, *span),
        }
    }
}

/// Visit a `<file>`: its condition, its attribute values, then its body.
pub fn walk_file<V: Visitor + ?Sized>(v: &mut V, f: &FileEl) {
    v.cond(&f.cond, f.span);
    for a in [Some(&f.name), f.perms.as_ref(), f.owner.as_ref(), f.expr.as_ref(), f.src.as_ref()].into_iter().flatten() {
        v.attr(a);
    }
    if let Some(b) = &f.body {
        walk_text(v, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostic;
    use crate::span::SourceId;

    /// Records what it is shown, in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Visitor for Log {
        fn cond(&mut self, c: &Cond, _: Span) {
            self.0.extend(c.names().into_iter().map(|n| format!("cond {n}")));
        }
        fn entity(&mut self, name: &str, _: Span) {
            self.0.push(format!("entity {name}"));
        }
        fn attr(&mut self, a: &AttrText) {
            self.0.push(format!("attr {:?}", a.pieces));
        }
        fn var(&mut self, name: &str, _: Span) {
            self.0.push(format!("var {name}"));
        }
        fn include(&mut self, file: &str, _: Span) {
            self.0.push(format!("include {file}"));
        }
    }

    #[test]
    fn every_part_of_every_item_in_document_order() {
        let text = r#"<kickstart>
<package cond="a">&p;</package>
<main><timezone>&tz;</timezone></main>
<post interpreter="&i;" arg="--nochroot">
&x;<file name="&f;" os="linux" owner="o"><eval>&e;</eval></file><var name="v" val="&w;"/><include file="inc"/>
</post>
</kickstart>"#;
        let (root, mut d) = crate::xml::parse(SourceId(0), text);
        let node = super::super::node_file(&root.unwrap(), &mut d);
        assert_eq!(d, Vec::<Diagnostic>::new());
        let mut log = Log::default();
        for item in &node.items {
            walk_item(&mut log, item);
        }
        expect_test::expect![[r#"
            [
                "cond a",
                "entity p",
                "entity tz",
                "attr [Entity(\"i\")]",
                "attr [Text(\"--nochroot\")]",
                "entity x",
                "cond os",
                "attr [Entity(\"f\")]",
                "attr [Text(\"o\")]",
                "entity e",
                "attr [Entity(\"w\")]",
                "var v",
                "include inc",
            ]
        "#]]
        .assert_debug_eq(&log.0);
    }
}
