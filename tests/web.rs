//! The web responder behind real web servers on 127.0.0.1: nginx with `fastcgi_pass` to the
//! resident FastCGI responder, Apache running it as a CGI script, lighttpd spawning it with
//! the listening socket on fd 0, Apache with mod_proxy_fcgi, and systemd-style socket
//! activation. Every server is configured from the files in `examples/web/` and
//! `examples/systemd/`, with only paths and ports replaced, and each such configuration is
//! run through the attack suite of `web/attacks.rs`. Requests come from several loopback addresses (`curl --interface`), which
//! is how the identity rules are proven: the example cluster gets hosts `n2` (127.0.0.2) and
//! `n3` (127.0.0.3) on a network `lo` (127.0.0.0/24) that its DHCP serves, and 127.0.0.1 is
//! the admin network.

#[path = "web/attacks.rs"]
mod attacks;
mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fastcgi::{BEGIN_REQUEST, PARAMS, STDIN, begin, exchange, params, record, request};
use common::served::{BIN, Cluster, Proc, manifest, wait_for};

impl Cluster {
    /// An example file with the installed paths replaced by this cluster's.
    fn example(&self, file: &str, port: u16) -> String {
        std::fs::read_to_string(manifest(file))
            .unwrap()
            .replace("/usr/local/bin/rocks-compile", BIN)
            .replace("/var/lib/rocks-compile", self.dir.path().to_str().unwrap())
            .replace("/run/rocks-compile", self.path("run").to_str().unwrap())
            .replace("/usr/lib/cgi-bin", self.path("cgi-bin").to_str().unwrap())
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
    }

    /// The attack suite against the configuration at `base`.
    fn attack(&self, base: &str, socket: Option<&Path>, privileged: bool) {
        let boot = || {
            let hosts: serde_json::Value = serde_json::from_str(&self.rc(&["host", "list", "--json"])).unwrap();
            hosts.as_array().unwrap().iter().find(|h| h["name"] == "n2").unwrap()["boot"].as_str().unwrap().to_string()
        };
        attacks::Target {
            base: base.to_string(),
            n2: self.kickstart("n2", &[]),
            n3: self.kickstart("n3", &[]),
            guarded: self.guarded().into_iter().map(|(_, bytes)| bytes).collect(),
            socket,
            privileged,
            boot_of_n2: &boot,
        }
        .run();
    }

    /// Apache 2.4 (event MPM, as root dropping to `www-data`) with `example` included, the
    /// modules of `modules` loaded and the lines `extra`. The database and the tree are made
    /// writable for it.
    fn apache(&self, example: &str, modules: &[&str], extra: &str) -> Option<(Proc, u16)> {
        let apache = common::tool("apache2")?;
        let port = free_port();
        // Apache's user must reach the database and the tree (and write them for boot-done).
        Command::new("chmod").args(["-R", "a+rwX"]).arg(self.dir.path()).status().unwrap();
        let d = self.path("apache");
        std::fs::create_dir_all(&d).unwrap();
        let ds = d.to_str().unwrap();
        let mut conf = format!(
            "ServerRoot /usr/lib/apache2\nServerName localhost\nListen 127.0.0.1:{port}\nPidFile {ds}/apache2.pid\n\
             ErrorLog {ds}/error.log\nDefaultRuntimeDir {ds}\nMutex file:{ds} default\nUser www-data\nGroup www-data\n\
             TypesConfig /etc/mime.types\n"
        );
        for m in ["mpm_event", "authz_core", "alias", "mime", "xsendfile"].iter().chain(modules) {
            conf.push_str(&format!("LoadModule {m}_module modules/mod_{m}.so\n"));
        }
        conf.push_str(&format!("{extra}\nInclude {ds}/rocks-compile.conf\n"));
        std::fs::write(d.join("apache2.conf"), conf).unwrap();
        std::fs::write(d.join("rocks-compile.conf"), self.example(example, port)).unwrap();
        let check = Command::new(&apache).args(["-t", "-f"]).arg(d.join("apache2.conf")).output().unwrap();
        assert!(check.status.success(), "apache2 -t: {}", String::from_utf8_lossy(&check.stderr));
        let child = Command::new(&apache).args(["-DFOREGROUND", "-f"]).arg(d.join("apache2.conf")).stderr(Stdio::null()).spawn().unwrap();
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "apache2");
        Some((Proc(child), port))
    }

    /// nginx with `examples/web/nginx.conf` (the responder's socket and the tree replaced).
    fn nginx(&self) -> Option<(Proc, u16)> {
        let nginx = common::tool("nginx")?;
        let port = free_port();
        let conf = self.path("nginx");
        std::fs::create_dir_all(conf.join("tmp")).unwrap();
        std::fs::copy("/etc/nginx/fastcgi_params", conf.join("fastcgi_params")).unwrap();
        std::fs::write(conf.join("site.conf"), self.example("examples/web/nginx.conf", port)).unwrap();
        let d = conf.to_str().unwrap();
        std::fs::write(
            conf.join("nginx.conf"),
            format!(
                "daemon off;\nworker_processes 2;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/body;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
                 proxy_temp_path {d}/tmp/proxy;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  include {d}/site.conf;\n}}\n"
            ),
        )
        .unwrap();
        let child =
            Command::new(nginx).args(["-p", &format!("{d}/"), "-c", &format!("{d}/nginx.conf")]).stderr(Stdio::null()).spawn().unwrap();
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "nginx");
        Some((Proc(child), port))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP request with curl from the source address `from`: (status, body).
fn curl(from: &str, method: &str, url: &str, headers: &[&str]) -> (u16, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-g", "--interface", from, "-X", method, "-o", "-", "-w", "\n%{http_code}", url]);
    if method == "POST" {
        // As `wget --post-data=` or `curl -d ''`: an empty body with its length.
        cmd.args(["-d", ""]);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    let mut body = out.stdout;
    let pos = body.iter().rposition(|&b| b == b'\n').unwrap();
    let status = std::str::from_utf8(&body[pos + 1..]).unwrap().parse().unwrap();
    body.truncate(pos);
    (status, body)
}

fn get(from: &str, url: &str) -> (u16, Vec<u8>) {
    curl(from, "GET", url, &[])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What the web server serves from the tree itself: never a host's kickstart, the build's
/// keys, the private manifest nor the console and power daemons' files (the IPMI password),
/// whatever the path looks like (trailing slash, path-info, encoded slash, dot segments),
/// from outside the allowed networks or from another host.
fn check_the_tree_guards_the_responders_files(c: &Cluster, base: &str) {
    let secret = c.kickstart("n2", &[]);
    let guarded = c.guarded();
    // Every file of the tree that holds a secret (listed `-  -  MODE  KIND  PATH` in the
    // public manifest) is one the shipped configurations deny: a new kind of secret file
    // must be denied there too (and added to the paths below).
    let manifest = std::fs::read_to_string(c.tree().join("MANIFEST")).unwrap();
    for line in manifest.lines().filter(|l| l.starts_with("-  -  ")) {
        let path = line.rsplit("  ").next().unwrap();
        let denied =
            ["kickstart/", "console/", "power/"].iter().any(|d| path.starts_with(d)) || ["KEYS", "MANIFEST.private"].contains(&path);
        assert!(denied, "{path} holds a secret but no shipped web configuration denies it: {line}");
    }
    for path in [
        "kickstart/n2.ks/",
        "kickstart/n2.ks/x",
        "kickstart%2fn2.ks",
        "kickstart/n2.ks/.",
        "kickstart/./n2.ks/",
        "kickstart/",
        "KEYS",
        "./KEYS",
        "kickstart//n2.ks",
        "MANIFEST.private",
        "./MANIFEST.private",
        "MANIFEST%2eprivate",
        "console/conman.conf",
        "console/ipmi-password-0",
        "./console/ipmi-password-0",
        "console%2fipmi-password-0",
        "console/",
        "power/powerman.conf",
        "power/ipmipower-ipmi0.conf",
        "power/./ipmipower-ipmi0.conf",
        "power%2fipmipower-ipmi0.conf",
        "power/",
    ] {
        for from in ["127.0.1.5", "127.0.0.3"] {
            let out = Command::new("curl")
                .args(["-s", "-g", "--path-as-is", "--interface", from, "-o", "-", "-w", "\n%{http_code}"])
                .arg(format!("{base}/{path}"))
                .output()
                .unwrap();
            let body = &out.stdout;
            let found = |needle: &[u8]| {
                let n = needle.len().min(64);
                n >= 16 && body.windows(n).any(|w| w == &needle[..n])
            };
            assert!(!found(&secret), "{from} got n2's kickstart at {path}: {}", text(body));
            for (name, bytes) in &guarded {
                assert!(!found(bytes), "{from} got {name} at {path}: {}", text(body));
            }
            assert!(
                !body.windows(common::served::IPMI_PASSWORD.len()).any(|w| w == common::served::IPMI_PASSWORD.as_bytes()),
                "{from} got the IPMI password at {path}"
            );
        }
    }
}

/// The web server sends the tree's own file (X-Accel-Redirect or X-Sendfile), not bytes the
/// responder made: a line added to the file is served, for `/kickstart` and the `inst.ks=`
/// URL alike. The file is put back afterwards.
fn check_the_kickstart_comes_from_the_tree(c: &Cluster, base: &str) {
    let file = c.tree().join("kickstart/n2.ks");
    let before = std::fs::read(&file).unwrap();
    // As a build replaces files: a new inode at the path (a web server may cache a path's
    // file for a second).
    let replace = |bytes: &[u8]| {
        let tmp = c.tree().join("kickstart/.n2.ks.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    let mut marked = before.clone();
    marked.extend_from_slice(b"# sent from the tree\n");
    replace(&marked);
    for url in [format!("{base}/kickstart"), format!("{base}/kickstart/n2.ks")] {
        wait_for(|| get("127.0.0.2", &url) == (200, marked.clone()), &format!("the tree's new file at {url}"));
    }
    replace(&before);
    wait_for(|| get("127.0.0.2", &format!("{base}/kickstart")) == (200, before.clone()), "the tree's file put back");
}

/// The identity rules every responder applies, checked through one base URL (`…/kickstart`
/// and friends below it).
fn check_identity_rules(c: &Cluster, base: &str) {
    let (s, body) = get("127.0.0.2", &format!("{base}/kickstart"));
    assert_eq!(s, 200, "{}", text(&body));
    assert!(body == c.kickstart("n2", &[]), "the served kickstart is byte-identical to `kickstart --host n2`");
    let (s, body) = get("127.0.0.3", &format!("{base}/kickstart?host=n3"));
    assert_eq!((s, body == c.kickstart("n3", &[])), (200, true));
    let (s, body) = get("127.0.0.3", &format!("{base}/kickstart?host=n2"));
    assert_eq!((s, text(&body).as_str()), (403, "a host may ask only for its own files\n"));
    assert_eq!(get("127.0.0.9", &format!("{base}/kickstart")), (404, b"no host has the address 127.0.0.9\n".to_vec()));
    let (s, body) = get("127.0.1.5", &format!("{base}/kickstart"));
    assert_eq!((s, text(&body).as_str()), (403, "127.0.1.5 is outside the networks allowed to ask\n"));
    for bad in ["?host=n2%00", "?host=..%2Fetc", "?mac=x", "?host=n2&host=n2"] {
        let (s, body) = get("127.0.0.2", &format!("{base}/kickstart{bad}"));
        assert_eq!(s, 400, "{bad}: {}", text(&body));
        // (lighttpd answers a NUL in a URL itself, with a page of its own.)
        if !bad.contains("%00") {
            assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 1, "one line: {}", text(&body));
        }
    }
    let (s, _) = curl("127.0.0.2", "POST", &format!("{base}/kickstart"), &[]);
    assert_eq!(s, 405);
    // anaconda's inst.ks.sendmac headers: the host's own MAC passes, another host's does not.
    let own = curl("127.0.0.2", "GET", &format!("{base}/kickstart"), &["X-RHN-Provisioning-MAC-0: eth0 52:54:00:aa:00:02"]);
    assert_eq!(own.0, 200);
    let other = curl("127.0.0.2", "GET", &format!("{base}/kickstart"), &["X-RHN-Provisioning-MAC-0: eth0 52:54:00:aa:00:03"]);
    assert_eq!(other.0, 403);
    let (s, body) = get("127.0.0.2", &format!("{base}/health"));
    assert_eq!((s, text(&body).starts_with("ok")), (200, true));
}

#[test]
fn nginx_fastcgi_answers_each_host_only_its_own_files() {
    let c = Cluster::new();
    let (_fcgi, _) = c.fastcgi(&[]);
    let Some((_nginx, port)) = c.nginx() else { return };
    let base = format!("http://127.0.0.1:{port}/install/rocks");
    check_identity_rules(&c, &base);
    check_the_tree_guards_the_responders_files(&c, &base);
    common::validate(&{
        let p = c.path("served.ks");
        std::fs::write(&p, get("127.0.0.2", &format!("{base}/kickstart")).1).unwrap();
        p
    });
    // The URL `build` writes into the PXE files works, for the host it names only.
    let (s, body) = get("127.0.0.2", &format!("{base}/kickstart/n2.ks"));
    assert_eq!((s, body == c.kickstart("n2", &[])), (200, true));
    assert_eq!(get("127.0.0.3", &format!("{base}/kickstart/n2.ks")).0, 403);
    // The admin network may name any host; it still gets 404 for a host that does not exist.
    let (s, body) = get("127.0.0.1", &format!("{base}/kickstart?host=compute-0-1"));
    assert_eq!((s, body == c.kickstart("compute-0-1", &[])), (200, true));
    assert_eq!(get("127.0.0.1", &format!("{base}/kickstart?host=nobody")).0, 404);
    // The rest of the tree is static, as build wrote it.
    let (s, body) = get("127.0.0.9", &format!("{base}/ipxe/boot.ipxe"));
    assert_eq!((s, body), (200, std::fs::read(c.tree().join("ipxe/boot.ipxe")).unwrap()));

    // The iPXE script is the host's own, and boot-done flips the database, the PXE files in
    // the tree and (after the reload) the iPXE script; reinstall flips them back.
    let pxe = c.tree().join("tftp/pxelinux.cfg/01-52-54-00-aa-00-02");
    let (s, ipxe) = get("127.0.0.2", &format!("{base}/ipxe"));
    assert_eq!((s, ipxe == std::fs::read(c.tree().join("ipxe/52-54-00-aa-00-02.ipxe")).unwrap()), (200, true));
    assert!(std::fs::read_to_string(&pxe).unwrap().contains("inst.ks=http://10.1.1.1/install/rocks/kickstart/n2.ks"));
    assert_eq!(get("127.0.0.2", &format!("{base}/boot-done")).0, 405, "boot-done changes state: POST only");
    let (s, body) = curl("127.0.0.2", "POST", &format!("{base}/boot-done"), &[]);
    assert_eq!((s, text(&body).as_str()), (200, "n2: next boot os\n"));
    assert!(c.rc(&["host", "list"]).lines().any(|l| l.starts_with("n2 ") && l.ends_with("os")), "{}", c.rc(&["host", "list"]));
    let text_now = std::fs::read_to_string(&pxe).unwrap();
    assert!(text_now.contains("LOCALBOOT") && !text_now.contains("inst.ks="), "{text_now}");
    let verify = Command::new(BIN).arg("verify").arg(c.tree()).output().unwrap();
    assert!(verify.status.success(), "the tree still matches its manifest: {}", String::from_utf8_lossy(&verify.stderr));
    wait_for(|| text(&get("127.0.0.2", &format!("{base}/ipxe")).1).contains("exit"), "the reload after boot-done");
    // n3's files did not move.
    assert!(std::fs::read_to_string(c.tree().join("tftp/pxelinux.cfg/01-52-54-00-aa-00-03")).unwrap().contains("inst.ks="));
    let (s, body) = curl("127.0.0.1", "POST", &format!("{base}/reinstall?host=n2"), &[]);
    assert_eq!((s, text(&body).as_str()), (200, "n2: next boot install\n"));
    assert!(std::fs::read_to_string(&pxe).unwrap().contains("inst.ks="));
    assert_eq!(curl("127.0.0.3", "POST", &format!("{base}/reinstall?host=n2"), &[]).0, 403);
    // Refusals are logged with the request's address; secrets never are.
    let log = c.log("fastcgi.log");
    assert!(log.contains("127.0.0.3 GET /install/rocks/kickstart: 403 n3 asked for the files of `n2`"), "{log}");
    assert!(!log.contains("$6$"), "no password hash in the log");
    // The FastCGI answer path (no --x-accel-redirect) under attack.
    c.attack(&base, Some(&c.path("run/fastcgi.sock")), false);
}

/// Apache runs the shipped CGI script with the shipped configuration: the endpoints are at
/// the URLs `build` writes, the script answers `X-Sendfile` and mod_xsendfile sends the tree's
/// file, and only root on a node may change its boot.
#[test]
fn apache_runs_the_cgi() {
    let c = Cluster::new();
    let cgi_dir = c.path("cgi-bin");
    std::fs::create_dir_all(&cgi_dir).unwrap();
    let script = cgi_dir.join("rocks-compile.cgi");
    std::fs::write(&script, c.example("examples/web/rocks-compile.cgi", 0)).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let d = c.path("apache");
    std::fs::create_dir_all(&d).unwrap();
    let Some((_apache, port)) = c.apache("examples/web/apache-cgi.conf", &["cgid"], &format!("ScriptSock {}/cgid.sock", d.display()))
    else {
        return;
    };
    let base = format!("http://127.0.0.1:{port}/install/rocks");
    check_identity_rules(&c, &base);
    check_the_tree_guards_the_responders_files(&c, &base);
    let (s, body) = get("127.0.0.2", &format!("{base}/kickstart/n2.ks"));
    assert_eq!((s, body == c.kickstart("n2", &[])), (200, true), "the inst.ks= URL");
    let (s, body) = get("127.0.0.9", &format!("{base}/ipxe/boot.ipxe"));
    assert_eq!((s, body), (200, std::fs::read(c.tree().join("ipxe/boot.ipxe")).unwrap()), "the tree is static");
    check_the_kickstart_comes_from_the_tree(&c, &base);
    c.attack(&base, None, true);
    let log = std::fs::read_to_string(d.join("error.log")).unwrap();
    assert!(log.contains("403 n3 asked for the files of `n2`"), "the CGI's log reaches the server's error log: {log}");
}

/// Apache with mod_proxy_fcgi in front of the resident responder, as `apache-fcgi.conf` ships.
#[test]
fn apache_proxies_to_the_resident_responder() {
    let c = Cluster::new();
    let (_fcgi, sock) = c.fastcgi(&["--x-sendfile", "--privileged-port"]);
    let Some((_apache, port)) = c.apache("examples/web/apache-fcgi.conf", &["proxy", "proxy_fcgi"], "") else { return };
    let base = format!("http://127.0.0.1:{port}/install/rocks");
    check_identity_rules(&c, &base);
    check_the_tree_guards_the_responders_files(&c, &base);
    let (s, body) = get("127.0.0.2", &format!("{base}/kickstart/n2.ks"));
    assert_eq!((s, body == c.kickstart("n2", &[])), (200, true), "the inst.ks= URL");
    check_the_kickstart_comes_from_the_tree(&c, &base);
    c.attack(&base, Some(&sock), true);
    assert!(!c.log("fastcgi.log").contains("panicked"), "{}", c.log("fastcgi.log"));
}

#[test]
fn lighttpd_spawns_the_responder_on_fd_0() {
    let c = Cluster::new();
    let Some(lighttpd) = common::tool("lighttpd") else { return };
    let port = free_port();
    let d = c.path("lighttpd");
    std::fs::create_dir_all(d.join("www")).unwrap();
    let ds = d.to_str().unwrap();
    let conf = format!(
        "server.modules = ()\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\nserver.document-root = \"{ds}/www\"\n\
         server.pid-file = \"{ds}/lighttpd.pid\"\nserver.errorlog = \"{ds}/error.log\"\ninclude \"{ds}/rocks-compile.conf\"\n"
    );
    std::fs::write(d.join("lighttpd.conf"), conf).unwrap();
    std::fs::write(d.join("rocks-compile.conf"), c.example("examples/web/lighttpd.conf", port)).unwrap();
    let check = Command::new(&lighttpd).args(["-tt", "-f"]).arg(d.join("lighttpd.conf")).output().unwrap();
    assert!(check.status.success(), "lighttpd -tt: {}", String::from_utf8_lossy(&check.stderr));
    let _l = Proc(Command::new(&lighttpd).args(["-D", "-f"]).arg(d.join("lighttpd.conf")).spawn().unwrap());
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "lighttpd");
    let base = format!("http://127.0.0.1:{port}/install/rocks");
    wait_for(|| get("127.0.0.2", &format!("{base}/health")).0 == 200, "the spawned responder");
    check_identity_rules(&c, &base);
    check_the_tree_guards_the_responders_files(&c, &base);
    // The URL `build` writes into `inst.ks=` (lighttpd splits it into SCRIPT_NAME and
    // PATH_INFO where the tree's kickstart/ folder ends).
    assert_eq!(get("127.0.0.2", &format!("{base}/kickstart/n2.ks")), (200, c.kickstart("n2", &[])), "inst.ks= answers");
    assert_eq!(get("127.0.0.2", &format!("{base}/kickstart/n3.ks")).0, 403, "and only to its own host");
    let (s, body) = get("127.0.0.9", &format!("{base}/ipxe/boot.ipxe"));
    assert_eq!((s, body), (200, std::fs::read(c.tree().join("ipxe/boot.ipxe")).unwrap()), "the tree is static");
    check_the_kickstart_comes_from_the_tree(&c, &base);
    let sock = c.path("run/lighttpd.sock-0");
    assert!(sock.exists(), "lighttpd's socket for the responder");
    c.attack(&base, Some(&sock), true);
}

#[test]
fn systemd_socket_activation_with_the_example_units() {
    let c = Cluster::new();
    let Some(activate) = common::tool("systemd-socket-activate") else { return };
    let socket_unit = c.example("examples/systemd/rocks-compile-fastcgi.socket", 0);
    let service_unit = c.example("examples/systemd/rocks-compile-fastcgi.service", 0);
    let listen = unit_value(&socket_unit, "ListenStream");
    let exec = unit_value(&service_unit, "ExecStart");
    assert!(service_unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    let args: Vec<&str> = exec.split_whitespace().collect();
    let _fcgi = Proc(
        Command::new(activate)
            .args(["-l", &listen])
            .args(&args)
            .args(["--admin", "127.0.0.1/32"])
            .stderr(Stdio::from(std::fs::File::create(c.path("fastcgi.log")).unwrap()))
            .spawn()
            .unwrap(),
    );
    wait_for(|| Path::new(&listen).exists(), "the activation socket");
    // nginx with the example configuration talks to the socket systemd would own.
    std::fs::set_permissions(&listen, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let Some((_nginx, port)) = c.nginx() else { return };
    let base = format!("http://127.0.0.1:{port}/install/rocks");
    check_identity_rules(&c, &base);
    check_the_tree_guards_the_responders_files(&c, &base);
    assert!(exec.contains("--x-accel-redirect"), "nginx sends the files: {exec}");
    check_the_kickstart_comes_from_the_tree(&c, &base);
    c.attack(&base, Some(Path::new(&listen)), true);
    assert!(!c.log("fastcgi.log").contains("panicked"), "{}", c.log("fastcgi.log"));
}

/// `Key=value` of a unit file.
fn unit_value(unit: &str, key: &str) -> String {
    unit.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key}= in {unit}")).to_string()
}

/// Background load from 127.0.0.2: batches of 20 requests (one curl, one connection) until
/// `stop`, counting 200s and keeping every other status.
fn load(url: &str, stop: &AtomicBool, ok: &AtomicUsize, failed: &Mutex<Vec<String>>) {
    while !stop.load(Ordering::Relaxed) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "--interface", "127.0.0.2", "-w", "%{http_code}\n"]);
        for _ in 0..20 {
            cmd.args(["-o", "/dev/null", url]);
        }
        let out = cmd.output().unwrap();
        for code in BufReader::new(&out.stdout[..]).lines() {
            let code = code.unwrap();
            if code == "200" {
                ok.fetch_add(1, Ordering::Relaxed);
            } else {
                failed.lock().unwrap().push(code);
            }
        }
    }
}

/// [`load`] by four threads until finished.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<Mutex<Vec<String>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(url: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..4)
            .map(|_| {
                let (url, stop, ok, failed) = (url.to_string(), stop.clone(), ok.clone(), failed.clone());
                std::thread::spawn(move || load(&url, &stop, &ok, &failed))
            })
            .collect();
        Load { stop, ok, failed, workers }
    }

    /// Stop: how many requests got a 200, and every other status.
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.join().unwrap();
        }
        (self.ok.load(Ordering::Relaxed), std::mem::take(&mut *self.failed.lock().unwrap()))
    }
}

/// The shipped nginx configuration keeps connections to the responder alive (`keepalive`,
/// `fastcgi_keep_conn on`). A new instance takes the socket over while the old one holds
/// those connections, and the old one is stopped: it exits at once, and no request fails.
#[test]
fn the_responder_is_replaced_behind_nginx_without_a_failed_request() {
    let c = Cluster::new();
    let (mut old, sock) = c.fastcgi(&[]);
    let Some((_nginx, port)) = c.nginx() else { return };
    let load = Load::start(&format!("http://127.0.0.1:{port}/install/rocks/kickstart"));
    std::thread::sleep(Duration::from_millis(500));
    let _new = c.responder(&sock, "fastcgi-new.log", &[]);
    wait_for(|| c.log("fastcgi-new.log").contains("took over"), "the new instance");
    std::thread::sleep(Duration::from_millis(500));
    old.terminate();
    assert!(old.exits_within(Duration::from_secs(3)), "the old instance exits while nginx keeps connections to it");
    std::thread::sleep(Duration::from_millis(500));
    let (ok, failed) = load.finish();
    assert!(failed.is_empty(), "{} of {} requests failed: {:?}", failed.len(), ok + failed.len(), &failed[..failed.len().min(10)]);
    assert!(ok > 100, "the load ran ({ok} requests)");
    assert!(sock.exists(), "the new instance's socket stays");
}

#[test]
fn reloads_under_load_without_a_failed_request() {
    let c = Cluster::new();
    // A framework of our own that the test edits: the built-in one, copied.
    let fw = c.path("framework");
    std::fs::create_dir_all(&fw).unwrap();
    for sub in ["nodes", "graphs"] {
        assert!(Command::new("cp").arg("-r").arg(manifest(sub)).arg(fw.join(sub)).status().unwrap().success());
    }
    let fwarg = fw.to_str().unwrap().to_string();
    let (fcgi, _) = c.fastcgi(&["--framework", &fwarg]);
    let Some((_nginx, port)) = c.nginx() else { return };
    let url = format!("http://127.0.0.1:{port}/install/rocks/kickstart");
    let before = get("127.0.0.2", &url).1;
    assert_eq!(before, c.kickstart("n2", &["--framework", &fwarg]));
    let load = Load::start(&url);
    std::thread::sleep(Duration::from_millis(500));
    // A database change, then a framework change, while the load runs.
    c.rc(&["attr", "set", "Kickstart_Timezone", "Europe/Berlin"]);
    wait_for(|| text(&get("127.0.0.2", &url).1).contains("timezone Europe/Berlin"), "the database change");
    let node = fw.join("nodes/base.xml");
    let mut xml = std::fs::read_to_string(&node).unwrap();
    let at = xml.rfind("</kickstart>").unwrap();
    xml.insert_str(at, "<post>echo framework-changed-under-load</post>\n");
    let tmp = fw.join("nodes/.base.xml.tmp");
    std::fs::write(&tmp, xml).unwrap();
    std::fs::rename(&tmp, &node).unwrap();
    wait_for(|| text(&get("127.0.0.2", &url).1).contains("framework-changed-under-load"), "the framework change");
    std::thread::sleep(Duration::from_millis(500));
    let (ok, failed) = load.finish();
    assert!(failed.is_empty(), "{} requests failed during the reloads: {:?}", failed.len(), &failed[..failed.len().min(10)]);
    assert!(ok > 100, "the load ran ({ok} requests)");
    let after = get("127.0.0.2", &url).1;
    assert_eq!(after, c.kickstart("n2", &["--framework", &fwarg]), "the new content is served afterwards");
    // SIGHUP reloads even when nothing changed.
    let reloads = c.log("fastcgi.log").matches("reloaded").count();
    unsafe { libc::kill(fcgi.0.id() as i32, libc::SIGHUP) };
    wait_for(|| c.log("fastcgi.log").matches("reloaded").count() > reloads, "the reload on SIGHUP");
    // A broken framework file is not loaded: the previous state keeps answering.
    std::fs::write(fw.join("nodes/broken.xml"), "<kickstart><post>").unwrap();
    std::fs::write(fw.join("graphs/default/broken.xml"), "<graph><edge from=\"compute\" to=\"broken\"/></graph>").unwrap();
    wait_for(|| c.log("fastcgi.log").contains("reload failed"), "the failed reload");
    assert_eq!(get("127.0.0.2", &url), (200, after));
}

#[test]
fn a_thousand_concurrent_requests_all_succeed() {
    let c = Cluster::new();
    let (_fcgi, _) = c.fastcgi(&[]);
    let Some((_nginx, port)) = c.nginx() else { return };
    let url = format!("http://127.0.0.1:{port}/install/rocks/kickstart");
    let expected = c.kickstart("n2", &[]);
    // Four curls with 250 parallel transfers each: 1,000 requests in flight at once.
    let mut children = Vec::new();
    for _ in 0..4 {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "--interface",
            "127.0.0.2",
            "--parallel",
            "--parallel-immediate",
            "--parallel-max",
            "250",
            "-w",
            "%{http_code} %{size_download}\n",
        ]);
        for _ in 0..250 {
            cmd.args(["-o", "/dev/null", &url]);
        }
        children.push(cmd.stdout(Stdio::piped()).spawn().unwrap());
    }
    let mut codes = Vec::new();
    for ch in children {
        let mut out = String::new();
        ch.stdout.unwrap().read_to_string(&mut out).unwrap();
        codes.extend(out.lines().map(str::to_string));
    }
    assert_eq!(codes.len(), 1000);
    let want = format!("200 {}", expected.len());
    let bad: Vec<&String> = codes.iter().filter(|c| **c != want).collect();
    assert!(bad.is_empty(), "{} of 1000 failed, e.g. {:?}", bad.len(), &bad[..bad.len().min(5)]);
}

#[test]
fn cgi_answers_from_the_environment_alone() {
    // No web server: the CGI/1.1 contract itself (status line, headers, one-line errors).
    let c = Cluster::new();
    let run = |vars: &[(&str, &str)]| {
        let out = Command::new(BIN).arg("--db").arg(c.db()).arg("cgi").env_clear().envs(vars.iter().copied()).output().unwrap();
        assert!(out.status.success());
        (text(&out.stdout), text(&out.stderr))
    };
    let (out, _) = run(&[("REQUEST_METHOD", "HEAD"), ("PATH_INFO", "/kickstart"), ("REMOTE_ADDR", "127.0.0.2")]);
    let len = c.kickstart("n2", &[]).len();
    assert_eq!(
        out,
        format!("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\nCache-Control: no-store\r\n\r\n")
    );
    let (out, log) = run(&[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/kickstart")]);
    assert!(out.starts_with("Status: 500 "), "no REMOTE_ADDR is the server's fault: {out}");
    assert!(log.contains("REMOTE_ADDR"), "{log}");
    let (out, _) = run(&[("REQUEST_METHOD", "DELETE"), ("PATH_INFO", "/boot-done"), ("REMOTE_ADDR", "127.0.0.2")]);
    assert!(out.starts_with("Status: 405 ") && out.contains("Allow: POST\r\n"), "{out}");
    let (out, _) = run(&[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/kickstart"), ("REMOTE_ADDR", "127.0.0.2"), ("REMOTE_PORT", "40000")]);
    assert!(out.starts_with("Status: 200 "));
    // The privileged-port rule: the installer of a host whose next boot is `install` may
    // fetch its kickstart from any port; boot-done, and the kickstart of an installed host,
    // need a port below 1024.
    let privileged = |method: &str, path: &str, port: &str| {
        let out = Command::new(BIN)
            .arg("--db")
            .arg(c.db())
            .args(["cgi", "--privileged-port"])
            .env_clear()
            .envs([("REQUEST_METHOD", method), ("PATH_INFO", path), ("REMOTE_ADDR", "127.0.0.2"), ("REMOTE_PORT", port)])
            .output()
            .unwrap();
        text(&out.stdout).split(' ').nth(1).unwrap().to_string()
    };
    assert_eq!(privileged("GET", "/kickstart", "40000"), "200", "the installer's fetch");
    assert_eq!(privileged("POST", "/boot-done", "40000"), "403");
    assert_eq!(privileged("POST", "/boot-done", "600"), "200");
    assert_eq!(privileged("GET", "/kickstart", "40000"), "403", "an installed host's kickstart, to a user");
    assert_eq!(privileged("GET", "/kickstart", "1023"), "200", "to root");
    assert_eq!(privileged("GET", "/ipxe", "40000"), "200", "iPXE firmware picks its own port");
    assert_eq!(privileged("POST", "/reinstall", "40000"), "403");
    assert_eq!(privileged("POST", "/reinstall", "700"), "200");
    // `--tree` given relative: X-Sendfile still names the file by its absolute path, which a
    // web server in another directory can open.
    let out = Command::new(BIN)
        .current_dir(c.dir.path())
        .arg("--db")
        .arg(c.db())
        .args(["cgi", "--tree", "tree", "--x-sendfile"])
        .env_clear()
        .envs([("REQUEST_METHOD", "GET"), ("PATH_INFO", "/kickstart"), ("REMOTE_ADDR", "127.0.0.2")])
        .output()
        .unwrap();
    let sent = format!("X-Sendfile: {}\r\n", c.tree().join("kickstart/n2.ks").display());
    assert!(text(&out.stdout).starts_with("Status: 200 ") && text(&out.stdout).contains(&sent), "{}", text(&out.stdout));
    // A kickstart that does not compile is a 500 with one line, never a partial file.
    let broken = c.path("broken");
    std::fs::create_dir_all(broken.join("nodes")).unwrap();
    std::fs::write(broken.join("nodes/base.xml"), "<kickstart><package>&undefined-entity</kickstart>").unwrap();
    let out = Command::new(BIN)
        .arg("--db")
        .arg(c.db())
        .args(["cgi", "--framework", &manifest("."), "--framework", broken.to_str().unwrap()])
        .env_clear()
        .envs([("REQUEST_METHOD", "GET"), ("PATH_INFO", "/kickstart"), ("REMOTE_ADDR", "127.0.0.2")])
        .output()
        .unwrap();
    let body = text(&out.stdout);
    assert!(body.starts_with("Status: 500 "), "{body}");
    assert_eq!(body.split("\r\n\r\n").nth(1).unwrap(), "the kickstart of `n2` did not compile\n");
    assert!(text(&out.stderr).contains("base.xml"), "the diagnostic goes to the log: {}", text(&out.stderr));
}

/// The cluster-wide files a kickstart names, fetched by the kickstart's own `cluster-files`
/// script from nginx serving the built tree with the example configuration: each file is
/// installed as the manifest lists it and reloaded once; a served file that does not match
/// the manifest (here: cut short, as by a partial transfer) and servers that do not answer
/// fail loudly and replace nothing; the fallback server stands in for a dead primary.
#[test]
fn cluster_files_are_fetched_and_checked_against_the_manifest() {
    let c = Cluster::new();
    let Some((nginx, port)) = c.nginx() else { return };
    let ks = String::from_utf8(c.kickstart("cluster", &[])).unwrap();
    // A host installed from the frontend fetches them in a %post that stops the install on failure.
    let compute = String::from_utf8(c.kickstart("compute-0-0", &[])).unwrap();
    let run_at = compute.find("\n/usr/local/sbin/cluster-files\n").expect("the compute kickstart runs cluster-files");
    let section = compute[..run_at].rsplit("\n%post").next().unwrap();
    assert!(section.lines().next().unwrap().contains("--erroronfail"), "{section}");

    let node = c.path("node");
    let lists = node.join("cluster-files.d");
    std::fs::create_dir_all(&lists).unwrap();
    let script = node.join("cluster-files");
    std::fs::write(&script, common::file_body(&ks, "/usr/local/sbin/cluster-files")).unwrap();
    // The frontend's lists, each local path moved under `node/` and each reload recorded.
    let mut wanted = Vec::new();
    for l in ks.lines() {
        let Some(name) = l.strip_prefix("cat > /etc/rocks-compile/cluster-files.d/").and_then(|r| r.split(' ').next()) else { continue };
        let body = common::file_body(&ks, &format!("/etc/rocks-compile/cluster-files.d/{name}"));
        let mut out = String::new();
        for line in body.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = format!("{}{}", node.display(), f[1]);
            out.push_str(&format!("{} {dest} {} echo {name} >> {}/reloads\n", f[0], f[2], node.display()));
            wanted.push((f[0].to_string(), PathBuf::from(dest), u32::from_str_radix(f[2], 8).unwrap()));
        }
        std::fs::write(lists.join(name), out).unwrap();
    }
    wanted.sort();
    let paths: Vec<&str> = wanted.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(paths, ["cluster/networks", "hosts", "scheduler/clustershell.yaml", "scheduler/slurm-nodes.conf"], "{ks}");
    let dead = free_port();
    let base = |p: u16| format!("http://127.0.0.1:{p}/install/rocks");
    let sync = |primary: u16, fallback: u16| {
        let conf = node.join("conf");
        std::fs::write(&conf, format!("primary={}\nfallback={}\n", base(primary), base(fallback))).unwrap();
        let out = Command::new("sh")
            .arg(&script)
            .env("CLUSTER_FILES_CONF", &conf)
            .env("CLUSTER_FILES_DIR", &lists)
            .env("TMPDIR", &node)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let reloads = || std::fs::read_to_string(node.join("reloads")).unwrap_or_default().lines().count();

    let (code, err) = sync(port, dead);
    assert_eq!(code, Some(0), "{err}");
    for (path, dest, mode) in &wanted {
        assert_eq!(std::fs::read(dest).unwrap(), std::fs::read(c.tree().join(path)).unwrap(), "{path}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dest).unwrap().permissions().mode() & 0o7777, *mode, "{path}");
    }
    assert_eq!(reloads(), 4, "one reload per file fetched");
    // Nothing changed: nothing is fetched, nothing reloaded.
    assert_eq!(sync(port, dead).0, Some(0));
    assert_eq!(reloads(), 4);
    // A reload that fails (its daemon is not up yet) is tried again at the next run, and a
    // mode changed in a list is applied.
    let copy = node.join("etc/hosts-copy");
    let extra = |mode: &str| {
        let line = format!("hosts {} {mode} test -f {n}/up && echo extra >> {n}/reloads\n", copy.display(), n = node.display());
        std::fs::write(lists.join("extra"), line).unwrap();
    };
    extra("0600");
    let (code, err) = sync(port, dead);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("tried again at the next run"), "{err}");
    assert_eq!(reloads(), 4);
    std::fs::write(node.join("up"), "").unwrap();
    assert_eq!(sync(port, dead).0, Some(0));
    assert_eq!(reloads(), 5, "the reload that was due ran");
    assert_eq!(sync(port, dead).0, Some(0));
    assert_eq!(reloads(), 5, "and only once");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o7777, 0o600);
    extra("0640");
    assert_eq!(sync(port, dead).0, Some(0));
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o7777, 0o640);
    std::fs::remove_file(lists.join("extra")).unwrap();

    // A file holding a secret is listed without its sha256: no host fetches it.
    let (before, secret_dest) = (reloads(), node.join("etc/keys"));
    std::fs::write(lists.join("secret"), format!("KEYS {} 0600\n", secret_dest.display())).unwrap();
    let (code, err) = sync(port, dead);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("KEYS holds a secret: the manifest of") && !secret_dest.exists(), "{err}");
    std::fs::remove_file(lists.join("secret")).unwrap();
    assert_eq!(reloads(), before, "the other files were current");
    let base_reloads = reloads();

    // A served file that does not match the manifest: the install fails, the file stays as it was.
    let (path, dest, _) = &wanted[3];
    let served = c.tree().join(path);
    let whole = std::fs::read(&served).unwrap();
    std::fs::write(&served, &whole[..whole.len() / 2]).unwrap();
    std::fs::remove_file(dest).unwrap();
    let (code, err) = sync(port, dead);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does not match the manifest") && err.contains("not current"), "{err}");
    assert!(!dest.exists(), "a file that does not match is never installed");
    std::fs::write(&served, &whole).unwrap();

    // A dead primary: the fallback serves.
    let (code, err) = sync(dead, port);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("no manifest from") && dest.exists(), "{err}");
    assert_eq!(reloads(), base_reloads + 1);

    // No server answers: the install fails loudly.
    drop(nginx);
    std::fs::remove_file(dest).unwrap();
    let (code, err) = sync(port, dead);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the cluster-wide files are not current"), "{err}");
    assert!(!dest.exists());
    // A host that needs none of them needs no server either.
    for e in std::fs::read_dir(&lists).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    assert_eq!(sync(port, dead), (Some(0), String::new()));
}

/// `fastcgi --listen` on TCP without `FCGI_WEB_SERVER_ADDRS` would let anyone who reaches the
/// port claim any host's address: it refuses to start, as it does for a list with a word that
/// is not an address; with the web server named it serves.
#[test]
fn fastcgi_on_tcp_serves_only_the_web_servers_named() {
    let c = Cluster::new();
    let port = free_port();
    let run = |env: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--db").arg(c.db()).args(["fastcgi", "--listen", &format!("127.0.0.1:{port}")]).env("NO_COLOR", "1");
        match env {
            Some(v) => cmd.env("FCGI_WEB_SERVER_ADDRS", v),
            None => cmd.env_remove("FCGI_WEB_SERVER_ADDRS"),
        };
        cmd
    };
    for (env, says) in [
        (None, "without FCGI_WEB_SERVER_ADDRS"),
        (Some(""), "without FCGI_WEB_SERVER_ADDRS"),
        (Some("127.0.0.1,web"), "`web` is not an IP address"),
    ] {
        let mut child = run(env).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{env:?}: the responder started serving on TCP with no web server named");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(!status.success() && err.contains("serve::listen") && err.contains(says), "{env:?}: {err}");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens");
    }
    let _served = Proc(run(Some("127.0.0.1")).stderr(Stdio::null()).spawn().unwrap());
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "the responder on TCP");
}

#[test]
fn the_responder_never_dumps_core() {
    let c = Cluster::new();
    let (proc, _sock) = c.fastcgi(&[]);
    let pid = proc.0.id();
    // Core size 0, soft and hard limit: no core file, whatever the signal.
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap();
    assert_eq!(core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(), ["0", "0"], "{core}");
}

#[test]
fn a_line_break_in_a_request_cannot_forge_a_log_line() {
    let c = Cluster::new();
    let out = Command::new(BIN)
        .arg("--db")
        .arg(c.db())
        .args(["cgi", "--prefix", "/install/rocks"])
        .env_clear()
        .env("REQUEST_METHOD", "GET")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SCRIPT_NAME", "/install/rocks")
        .env("PATH_INFO", "/nope\nrocks-compile: 10.1.255.254 GET /kickstart: 200 forged")
        .env("REMOTE_ADDR", "10.9.9.9")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.lines().count(), 1, "one request, one log line:\n{log}");
    assert!(log.contains("/nope\\nrocks-compile"), "{log}");
}

#[test]
fn malformed_fastcgi_records_are_refused_without_a_panic() {
    let c = Cluster::new();
    let (_proc, sock) = c.fastcgi(&[]);
    for body in [&[][..], &[0][..]] {
        // BEGIN_REQUEST with a body of 0 or 1 bytes (it is 8).
        exchange(&sock, &record(BEGIN_REQUEST, 1, body));
    }
    exchange(&sock, &record(BEGIN_REQUEST, 0, &[0, 1, 0, 0, 0, 0, 0, 0]));
    // A well-formed request is still answered.
    let req = request(1, false, &params("GET", "/health", "127.0.0.1"));
    let answer = String::from_utf8_lossy(&exchange(&sock, &req)).into_owned();
    assert!(answer.contains("Status: 200"), "{answer}");
    let log = c.log("fastcgi.log");
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(log.matches("malformed FastCGI record").count(), 3, "{log}");
}

#[test]
fn concurrent_boot_done_and_reinstall_leave_the_database_and_the_pxe_files_in_agreement() {
    let c = Cluster::new();
    let pxe = c.tree().join("tftp/pxelinux.cfg/01-52-54-00-aa-00-02");
    for round in 0..3 {
        // 24 CGI processes at once, alternating boot-done and reinstall for one host.
        let children: Vec<std::process::Child> = (0..24)
            .map(|i| {
                Command::new(BIN)
                    .arg("--db")
                    .arg(c.db())
                    .args(["cgi", "--tree", c.tree().to_str().unwrap()])
                    .env_clear()
                    .env("REQUEST_METHOD", "POST")
                    .env("PATH_INFO", if i % 2 == 0 { "/boot-done" } else { "/reinstall" })
                    .env("REMOTE_ADDR", "127.0.0.2")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(text(&out.stdout).starts_with("Status: 200 "), "round {round}: {}", text(&out.stdout));
        }
        let boot = c.rc(&["host", "list", "--json"]);
        let hosts: serde_json::Value = serde_json::from_str(&boot).unwrap();
        let db_boot = hosts.as_array().unwrap().iter().find(|h| h["name"] == "n2").unwrap()["boot"].as_str().unwrap().to_string();
        let file = std::fs::read_to_string(&pxe).unwrap();
        let file_boot = if file.contains("boot=os") { "os" } else { "install" };
        assert_eq!(file_boot, db_boot, "round {round}: the PXE file says {file_boot}, the database {db_boot}:\n{file}");
        let v = Command::new(BIN).args(["verify", c.tree().to_str().unwrap()]).output().unwrap();
        assert!(v.status.success(), "{}", text(&v.stderr));
    }
}

#[test]
fn a_boot_change_that_cannot_get_the_trees_lock_is_a_503_with_retry_after() {
    let Some(flock) = common::tool("flock") else { return };
    let c = Cluster::new();
    let lock = c.path(".tree.lock");
    // A build holds the tree's lock for longer than a request may wait.
    let mut holder = Command::new(flock).arg(&lock).args(["sleep", "9"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = Command::new(BIN)
        .arg("--db")
        .arg(c.db())
        .args(["cgi", "--tree", c.tree().to_str().unwrap()])
        .env_clear()
        .env("REQUEST_METHOD", "POST")
        .env("PATH_INFO", "/boot-done")
        .env("REMOTE_ADDR", "127.0.0.2")
        .output()
        .unwrap();
    let still_held = holder.try_wait().unwrap().is_none();
    let _ = holder.kill();
    let _ = holder.wait();
    let answer = text(&out.stdout);
    assert!(still_held, "the lock was released before the request gave up");
    assert!(answer.starts_with("Status: 503 ") && answer.contains("Retry-After: "), "{answer}");
    // Nothing changed: the host still installs.
    assert!(std::fs::read_to_string(c.tree().join("tftp/pxelinux.cfg/01-52-54-00-aa-00-02")).unwrap().contains("boot=install"));
}

#[test]
fn idle_connections_and_large_bodies_are_cut_off() {
    use std::io::Read;
    let c = Cluster::new();
    let (_proc, sock) = c.fastcgi(&["--idle-timeout", "0.5"]);
    // A connection that sends nothing is closed.
    let mut idle = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    idle.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "the responder closed the idle connection");
    // A body beyond the bound ends the connection before it is held in memory.
    let mut req = begin(1, false);
    req.extend(record(PARAMS, 1, &params("POST", "/boot-done", "127.0.0.2")));
    req.extend(record(PARAMS, 1, &[]));
    for _ in 0..3 {
        req.extend(record(STDIN, 1, &[b'x'; 60_000]));
    }
    let answer = exchange(&sock, &req);
    assert!(!String::from_utf8_lossy(&answer).contains("Status: 200"), "the request was answered");
    assert!(c.log("fastcgi.log").contains("request body over"), "{}", c.log("fastcgi.log"));
    let hosts = c.rc(&["host", "list", "--json"]);
    assert!(hosts.contains("\"install\""), "boot-done did not happen");
}
