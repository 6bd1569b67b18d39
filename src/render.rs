//! The minijinja environment shared by every output kind: strict undefined, no
//! auto-escaping, trailing newlines kept, `{##` comments (shell's `${#x}` is common).

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Templates compiled into the binary: (name, source).
const TEMPLATES: &[(&str, &str)] = &[
    ("kickstart.ks.j2", include_str!("kickstart/kickstart.ks.j2")),
    ("dhcpd.conf.j2", include_str!("emit/templates/dhcpd.conf.j2")),
    ("hosts.j2", include_str!("emit/templates/hosts.j2")),
    ("zone.j2", include_str!("emit/templates/zone.j2")),
    ("named.conf.j2", include_str!("emit/templates/named.conf.j2")),
    ("pxelinux.cfg.j2", include_str!("emit/templates/pxelinux.cfg.j2")),
    ("grub.cfg.j2", include_str!("emit/templates/grub.cfg.j2")),
    ("host.ipxe.j2", include_str!("emit/templates/host.ipxe.j2")),
    ("boot.ipxe.j2", include_str!("emit/templates/boot.ipxe.j2")),
    ("slurm-nodes.conf.j2", include_str!("emit/templates/slurm-nodes.conf.j2")),
    ("pbs-nodes.j2", include_str!("emit/templates/pbs-nodes.j2")),
    ("sge-hostgroup.j2", include_str!("emit/templates/sge-hostgroup.j2")),
    ("genders.j2", include_str!("emit/templates/genders.j2")),
    ("nagios-hosts.cfg.j2", include_str!("emit/templates/nagios-hosts.cfg.j2")),
    ("gmond.conf.j2", include_str!("emit/templates/gmond.conf.j2")),
    ("gmetad.conf.j2", include_str!("emit/templates/gmetad.conf.j2")),
    ("conman.conf.j2", include_str!("emit/templates/conman.conf.j2")),
    ("conserver.cf.j2", include_str!("emit/templates/conserver.cf.j2")),
    ("powerman.conf.j2", include_str!("emit/templates/powerman.conf.j2")),
];

/// The process-wide environment, built on first use; templates compile on first use too.
pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = SyntaxConfig::builder()
            .comment_delimiters("{##", "##}")
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("valid delimiters");
        env.set_syntax(syntax);
        // Each template is compiled when first used: one run renders one or two kinds.
        env.set_loader(|name| Ok(TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, src)| src.to_string())));
        env
    })
}

/// Render a built-in template with a serialisable context.
pub fn render<T: serde::Serialize>(template: &str, ctx: &T) -> Result<String, minijinja::Error> {
    env().get_template(template)?.render(minijinja::value::Value::from(minijinja::value::Serde(ctx)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_template_compiles() {
        for (name, _) in super::TEMPLATES {
            super::env().get_template(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
