use super::*;
use crate::facts::hosts::HostSpec;
use crate::facts::testutil::{assert_unchanged, temp_db};

fn winner(db: &Db, host: &str, key: &str) -> (String, Scope) {
    let a = db.host_attrs(host).unwrap().into_iter().find(|a| a.key == key).unwrap();
    (a.value, a.scope)
}

#[test]
fn precedence_at_all_five_scopes() {
    let (_dir, mut db) = temp_db();
    db.add_host(&HostSpec { rack: 2, ..HostSpec::new("compute-2-0", "compute") }).unwrap();
    db.add_host(&HostSpec { rack: 2, ..HostSpec::new("login-2-0", "login") }).unwrap();
    let layers = [
        (Target::Global, Scope::Global),
        (Target::Os("linux".into()), Scope::Os),
        (Target::Appliance("compute".into()), Scope::Appliance),
        (Target::Rack(2), Scope::Rack),
        (Target::Host("compute-2-0".into()), Scope::Host),
    ];
    for (i, (target, scope)) in layers.iter().enumerate() {
        db.set_attr(target, "x", scope.as_str(), false).unwrap();
        assert_eq!(winner(&db, "compute-2-0", "x"), (scope.as_str().to_string(), *scope), "after setting {} layers", i + 1);
    }
    assert_eq!(winner(&db, "login-2-0", "x"), ("rack".into(), Scope::Rack), "other host, same rack");
    for i in (1..layers.len()).rev() {
        assert!(db.unset_attr(&layers[i].0, "x").unwrap());
        let below = layers[i - 1].1;
        assert_eq!(winner(&db, "compute-2-0", "x"), (below.as_str().to_string(), below), "after unsetting {:?}", layers[i].0);
    }
    assert!(!db.unset_attr(&Target::Rack(2), "x").unwrap(), "already unset");
    let sorted: Vec<String> = db.host_attrs("compute-2-0").unwrap().into_iter().map(|a| a.key).collect();
    assert!(sorted.windows(2).all(|w| w[0] < w[1]), "sorted by key");
}

#[test]
fn builtins_beat_stored_values_but_not_host_scope() {
    let (_dir, mut db) = temp_db();
    let spec =
        HostSpec { mac: Some("52:54:00:00:00:01".into()), ip: Some("10.1.255.254".into()), ..HostSpec::new("compute-0-0", "compute") };
    db.add_host(&spec).unwrap();
    // A value that can never win is refused, with the command that changes the fact ...
    let e = assert_unchanged(&mut db, |db| db.set_attr(&Target::Appliance("compute".into()), "arch", "i386", false));
    assert_eq!(e.code(), "facts::shadowed-by-builtin");
    assert!(e.help().contains("host set NAME --arch"), "{}", e.help());
    // ... and one stored anyway (by an older version) loses.
    db.conn.execute("INSERT INTO attributes (scope, target, key, value) VALUES ('appliance', 'compute', 'arch', 'i386')", []).unwrap();
    assert_eq!(winner(&db, "compute-0-0", "arch"), ("x86_64".into(), Scope::Builtin));
    let e = assert_unchanged(&mut db, |db| db.set_attr(&Target::Global, "Kickstart_PrivateDNSDomain", "cluster.lan", false));
    assert!(e.help().contains("network set private --zone"), "{}", e.help());
    db.set_attr(&Target::Host("compute-0-0".into()), "arch", "aarch64", false).unwrap();
    assert_eq!(winner(&db, "compute-0-0", "arch"), ("aarch64".into(), Scope::Host));
    let m = db.attrs_map("compute-0-0").unwrap();
    let get = |k: &str| m.get(k).map(String::as_str);
    assert_eq!(get("membership"), Some("Compute"));
    assert_eq!(get("hostaddr"), Some("10.1.255.254"));
    assert_eq!(get("ksmac"), Some("52:54:00:00:00:01"));
    assert_eq!(get("rack"), Some("0"));
    assert_eq!(get("Kickstart_PrivateAddress"), Some("10.1.1.1"));
    assert_eq!(get("Kickstart_PrivateNetwork"), Some("10.1.0.0"));
    assert_eq!(get("Kickstart_PrivateNetmask"), Some("255.255.0.0"));
    assert_eq!(get("Kickstart_PrivateNetmaskCIDR"), Some("16"));
    assert_eq!(get("Kickstart_PrivateBroadcast"), Some("10.1.255.255"));
    assert_eq!(get("Kickstart_PrivateDNSDomain"), Some("local"));
    assert_eq!(get("Kickstart_PrivateMTU"), Some("1500"));
}

#[test]
fn secrets_keep_their_flag_and_are_redacted() {
    let (_dir, mut db) = temp_db();
    db.add_host(&HostSpec::new("compute-0-0", "compute")).unwrap();
    db.set_attr(&Target::Global, "Kickstart_PrivateRootPassword", "$6$hash", true).unwrap();
    let a = db.host_attrs("compute-0-0").unwrap().into_iter().find(|a| a.key == "Kickstart_PrivateRootPassword").unwrap();
    assert!(a.secret);
    assert_eq!(a.value, "$6$hash");
    assert_eq!(a.redacted(), REDACTED);
    let stored = db.attrs(Some(&Target::Global)).unwrap();
    assert_eq!(stored[0].redacted(), "********");
    assert_eq!(db.attrs_map("compute-0-0").unwrap()["hostname"], "compute-0-0");
}

#[test]
fn bad_attributes_change_nothing() {
    let (_dir, mut db) = temp_db();
    let cases = [
        (Target::Host("nope".into()), "k", "facts::unknown-host"),
        (Target::Appliance("nope".into()), "k", "facts::unknown-appliance"),
        (Target::Global, "bad key", "facts::bad-value"),
        (Target::Global, "", "facts::bad-value"),
    ];
    for (target, key, code) in cases {
        let e = assert_unchanged(&mut db, |db| db.set_attr(&target, key, "v", false));
        assert_eq!(e.code(), code, "{target:?} {key}: {e}");
    }
    assert_eq!(Target::parse("cluster", None).unwrap_err().code(), "facts::bad-value");
    assert_eq!(Target::parse("rack", Some("x")).unwrap_err().code(), "facts::bad-value");
    assert_eq!(Target::parse("rack", Some("4")).unwrap(), Target::Rack(4));
    assert_eq!(db.host_attrs("nope").unwrap_err().code(), "facts::unknown-host");
}

#[test]
fn every_scope_and_builtin_reaches_its_host() {
    let (_dir, mut db) = temp_db();
    db.add_host(&HostSpec { rack: 2, mac: Some("52:54:00:00:00:09".into()), ..HostSpec::new("compute-2-0", "compute") }).unwrap();
    db.add_host(&HostSpec { rack: 3, ..HostSpec::new("compute-3-0", "compute") }).unwrap();
    db.add_host(&HostSpec { rack: 2, ..HostSpec::new("login-2-0", "login") }).unwrap();
    db.add_host(&HostSpec { ip: Some("10.1.1.1".into()), ..HostSpec::new("fe", "frontend") }).unwrap();
    db.set_attr(&Target::Global, "x", "global", false).unwrap();
    db.set_attr(&Target::Os("linux".into()), "y", "os", false).unwrap();
    db.set_attr(&Target::Appliance("compute".into()), "x", "appliance", false).unwrap();
    db.set_attr(&Target::Rack(2), "z", "rack", false).unwrap();
    db.set_attr(&Target::Host("compute-2-0".into()), "x", "host", true).unwrap();
    db.set_attr(&Target::Host("compute-2-0".into()), "hostname", "override", false).unwrap();
    db.conn.execute("INSERT INTO attributes (scope, target, key, value) VALUES ('global', '', 'rack', 'stored-rack-loses')", []).unwrap();
    let attrs = |name: &str| db.attrs_map(name).unwrap();
    assert_eq!(attrs("compute-2-0")["x"], "host");
    assert_eq!(attrs("compute-2-0")["z"], "rack");
    assert_eq!(attrs("compute-2-0")["hostname"], "override");
    assert_eq!(attrs("compute-3-0")["x"], "appliance");
    assert_eq!(attrs("compute-3-0")["y"], "os");
    assert_eq!(attrs("compute-3-0")["rack"], "3");
    assert_eq!(attrs("login-2-0")["x"], "global");
    assert_eq!(attrs("login-2-0")["Kickstart_PrivateAddress"], "10.1.1.1");
    assert!(matches!(db.attrs_map("nope"), Err(FactsError::UnknownHost(_))));
}

#[test]
fn a_secret_stays_secret_when_its_value_changes() {
    let (_dir, mut db) = temp_db();
    db.set_attr(&Target::Global, "pw", "one", true).unwrap();
    db.set_attr(&Target::Global, "pw", "two", false).unwrap();
    let a = db.attrs(Some(&Target::Global)).unwrap().into_iter().find(|a| a.key == "pw").unwrap();
    assert!(a.secret);
    assert_eq!(a.value, "two");
    assert_eq!(a.redacted(), REDACTED);
}

#[test]
fn every_builtin_is_in_the_one_list() {
    let (_dir, mut db) = temp_db();
    let spec =
        HostSpec { mac: Some("52:54:00:00:00:01".into()), ip: Some("10.1.255.254".into()), ..HostSpec::new("compute-0-0", "compute") };
    db.add_host(&spec).unwrap();
    let builtins: Vec<String> =
        db.host_attrs("compute-0-0").unwrap().into_iter().filter(|a| a.scope == Scope::Builtin).map(|a| a.key).collect();
    let mut listed: Vec<&str> = crate::resolver::builtin::HOST_BUILTIN.iter().chain(crate::resolver::builtin::NETWORK_BUILTIN).chain(crate::resolver::builtin::SERVER_BUILTIN).copied().collect();
    listed.sort_unstable();
    // The seeded `private` network has a gateway but no frontend: the address is the gateway.
    assert_eq!(builtins, listed);
}
