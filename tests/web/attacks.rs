//! The attack suite every shipped web configuration is run against (nginx, Apache with the CGI
//! and with mod_proxy_fcgi, lighttpd, the systemd units). The cluster is the one of
//! `tests/web.rs`: `n2` (127.0.0.2) and `n3` (127.0.0.3) on a DHCP network, 127.0.0.1 the
//! admin network; 127.0.1.5 is outside every allowed network. The attackers are `n3` and
//! 127.0.1.5, and what they want is `n2`'s kickstart (any line only `n2`'s has), the build's
//! `KEYS`, `MANIFEST.private` or the console and power daemons' files (the IPMI password), or a
//! change of `n2`'s next boot.
//!
//! Each family of tricks of the review is here: encodings, dot segments, trailing slashes and
//! path-info; forwarded and spoofed headers; other methods; oversized URLs, headers and
//! bodies; slow and idle clients; and, where the configuration has a FastCGI socket,
//! malformed FastCGI records sent to it directly. After every family the legitimate host is
//! still answered, byte for byte.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::common::fastcgi::{pair, record};

/// One shipped configuration under attack.
pub struct Target<'a> {
    /// The URL the tree and the endpoints are under, e.g. `http://127.0.0.1:PORT/install/rocks`.
    pub base: String,
    /// `n2`'s kickstart, as `kickstart --host n2` prints it.
    pub n2: Vec<u8>,
    /// `n3`'s kickstart.
    pub n3: Vec<u8>,
    /// Files of the tree that are never served: the build's input keys (`TREE/KEYS`), the
    /// private manifest, and the console and power daemons' files (the IPMI password).
    pub guarded: Vec<Vec<u8>>,
    /// The responder's FastCGI socket, when the configuration has one.
    pub socket: Option<&'a Path>,
    /// The configuration has `--privileged-port` on.
    pub privileged: bool,
    /// `n2`'s next boot, from the database.
    pub boot_of_n2: &'a dyn Fn() -> String,
}

/// The response of one request: status (0: no HTTP answer) and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A request with curl from `from` (and from a privileged source port when `root`), `path`
/// sent as it is (no dot-segment folding, no globbing).
pub fn request(from: &str, root: bool, method: &str, url: &str, extra: &[&str]) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-g", "--path-as-is", "--max-time", "20", "--interface", from, "-o", "-", "-w", "\n%{http_code}"]);
    if root {
        cmd.args(["--local-port", "600-1023"]);
    }
    match method {
        "GET" => {}
        "HEAD" => {
            cmd.arg("-I");
        }
        "POST" => {
            cmd.args(["-X", "POST", "-d", ""]);
        }
        m => {
            cmd.args(["-X", m]);
        }
    }
    cmd.args(extra).arg(url);
    let out = cmd.output().unwrap();
    let mut body = out.stdout;
    let pos = body.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let status = std::str::from_utf8(&body[(pos + 1).min(body.len())..]).unwrap_or("0").trim().parse().unwrap_or(0);
    body.truncate(pos);
    Answer { status, body }
}

impl Target<'_> {
    /// The lines of `n2`'s kickstart that `n3`'s does not have (its name, its address, ...).
    fn n2_only(&self) -> Vec<Vec<u8>> {
        let n3: std::collections::HashSet<&[u8]> = self.n3.split(|&b| b == b'\n').collect();
        self.n2.split(|&b| b == b'\n').filter(|l| l.len() >= 12 && !n3.contains(l)).map(<[u8]>::to_vec).collect()
    }

    /// Whether `body` holds anything of `n2`'s own or the keys.
    fn leaks(&self, body: &[u8]) -> bool {
        let window = |needle: &[u8]| !needle.is_empty() && body.windows(needle.len()).any(|w| w == needle);
        self.n2_only().iter().any(|l| window(l)) || self.guarded.iter().any(|g| g.len() >= 16 && window(&g[..16]))
    }

    fn assert_no_leak(&self, what: &str, a: &Answer) {
        assert!(!self.leaks(&a.body), "{what}: {} with n2's files: {}", a.status, String::from_utf8_lossy(&a.body));
        assert!(a.status != 200 || !a.body.is_empty() || what.contains("HEAD"), "{what}: an empty 200");
    }

    /// `n2` is still answered its own kickstart, and its next boot is still `install`.
    fn assert_intact(&self, after: &str) {
        assert_eq!((self.boot_of_n2)(), "install", "after {after}: n2's next boot changed");
        let a = request("127.0.0.2", false, "GET", &format!("{}/kickstart", self.base), &[]);
        assert!(a.status == 200 && a.body == self.n2, "after {after}: n2 got {}: {}", a.status, String::from_utf8_lossy(&a.body));
    }

    /// The whole suite.
    #[allow(clippy::type_complexity)]
    pub fn run(&self) {
        assert!(self.n2_only().len() >= 2, "the two hosts' kickstarts differ");
        let families: [(&str, fn(&Self)); 7] = [
            ("paths", Self::paths),
            ("headers", Self::headers),
            ("methods", Self::methods),
            ("sizes", Self::sizes),
            ("slow and idle clients", Self::slow_and_idle_clients),
            ("FastCGI records", Self::fastcgi_records),
            ("privileged ports", Self::privileged_ports),
        ];
        for (name, family) in families {
            let start = Instant::now();
            family(self);
            eprintln!("attack suite on {}: {name} held ({:.1?})", self.base, start.elapsed());
        }
    }

    /// Encodings, dot segments, trailing slashes, path-info, case, the internal location.
    fn paths(&self) {
        const PATHS: &[&str] = &[
            "kickstart/n2.ks",
            "kickstart/n2.ks/",
            "kickstart/n2.ks/x",
            "kickstart/n2.ks/.",
            "kickstart/n2.ks%2f",
            "kickstart%2fn2.ks",
            "kickstart%2Fn2.ks",
            "kickstart%252fn2.ks",
            "%6bickstart/n2.ks",
            "kickstart/%6e2.ks",
            "kickstart/n2%2eks",
            "kickstart/n2.ks%00",
            "kickstart/n2.ks%20",
            "kickstart/n2.ks%0a",
            "kickstart/n2.ks;x",
            "kickstart;x/n2.ks",
            "kickstart/./n2.ks",
            "kickstart//n2.ks",
            "./kickstart/n2.ks",
            "x/../kickstart/n2.ks",
            "kickstart/x/../n2.ks",
            "kickstart/n3.ks/../n2.ks",
            "kickstart/%2e%2e/kickstart/n2.ks",
            "kickstart/%c0%afn2.ks",
            "kickstart%5cn2.ks",
            "kickstart/N2.ks",
            "KICKSTART/n2.ks",
            "kickstart/n2.KS",
            "kickstart/n2.ks~",
            "kickstart/n2.ks.bak",
            "kickstart/.n2.ks",
            "kickstart/n2.ks::$DATA",
            "kickstart/",
            "kickstart?host=n2",
            "kickstart/n2.ks?host=n2",
            "kickstart?host=N2",
            "kickstart?host=n2%00",
            "kickstart?host=n2&host=n3",
            "kickstart?HOST=n2",
            "ipxe?host=n2",
            "../rocks-internal/kickstart/n2.ks",
            "../rocks-internal/kickstart/n2.ks/",
            "%2e%2e/rocks-internal/kickstart/n2.ks",
            "../rocks/kickstart/n2.ks",
            "KEYS",
            "./KEYS",
            "KEYS/",
            "%4bEYS",
            "keys",
            "MANIFEST.private",
            "./MANIFEST.private",
            "MANIFEST%2eprivate",
            "MANIFEST.private/",
            "manifest.private",
            "console/conman.conf",
            "console/conserver.cf/../conman.conf",
            "console/ipmi-password-0",
            "console/ipmi-password-0/",
            "console//ipmi-password-0",
            "console%2fipmi-password-0",
            "%63onsole/ipmi-password-0",
            "CONSOLE/ipmi-password-0",
            "console/",
            "power/powerman.conf",
            "power/ipmipower-ipmi0.conf",
            "./power/ipmipower-ipmi0.conf",
            "power%2fipmipower-ipmi0.conf",
            "power/ipmipower-ipmi0.conf::$DATA",
            "power/",
        ];
        for from in ["127.0.0.3", "127.0.1.5"] {
            for path in PATHS {
                for method in ["GET", "HEAD"] {
                    let a = request(from, false, method, &format!("{}/{path}", self.base), &[]);
                    self.assert_no_leak(&format!("{method} {path} from {from}"), &a);
                }
            }
        }
        self.assert_intact("the path tricks");
    }

    /// Headers that name another client address or another host's MAC.
    fn headers(&self) {
        const SPOOFS: &[&str] = &[
            "X-Forwarded-For: 127.0.0.2",
            "X-Forwarded-For: 127.0.0.2, 127.0.0.2",
            "X-Real-IP: 127.0.0.2",
            "Forwarded: for=127.0.0.2",
            "Forwarded: for=\"[::ffff:127.0.0.2]\"",
            "Client-IP: 127.0.0.2",
            "X-Client-IP: 127.0.0.2",
            "True-Client-IP: 127.0.0.2",
            "X-Originating-IP: 127.0.0.2",
            "X-Cluster-Client-IP: 127.0.0.2",
            "Remote-Addr: 127.0.0.2",
            "X-Remote-Port: 80",
            "X-RHN-Provisioning-MAC-0: eth0 52:54:00:aa:00:02",
            "X-RHN-Provisioning-MAC-1: eth1 52:54:00:aa:00:02",
            "Host: 127.0.0.2",
            "Proxy: http://127.0.0.2/",
        ];
        for from in ["127.0.0.3", "127.0.1.5"] {
            for header in SPOOFS {
                let url = format!("{}/kickstart", self.base);
                let a = request(from, false, "GET", &url, &["-H", header]);
                self.assert_no_leak(&format!("{header} from {from}"), &a);
                if from == "127.0.0.3" && a.status == 200 {
                    assert_eq!(a.body, self.n3, "{header}: n3 gets its own kickstart or nothing");
                }
                let a = request(from, true, "POST", &format!("{}/reinstall", self.base), &["-H", header]);
                self.assert_no_leak(&format!("POST reinstall with {header} from {from}"), &a);
                let a = request(from, true, "POST", &format!("{}/boot-done?host=n2", self.base), &["-H", header]);
                assert_ne!(a.status, 200, "{header} from {from}: boot-done for n2");
            }
        }
        self.assert_intact("the spoofed headers");
    }

    /// Every other method, on every endpoint.
    fn methods(&self) {
        for from in ["127.0.0.3", "127.0.1.5"] {
            for path in ["kickstart", "kickstart/n2.ks", "boot-done?host=n2", "reinstall?host=n2", "ipxe?host=n2", "KEYS"] {
                for method in ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "MOVE", "FOO"] {
                    let a = request(from, true, method, &format!("{}/{path}", self.base), &["-d", "x"]);
                    self.assert_no_leak(&format!("{method} {path} from {from}"), &a);
                    assert!(a.status != 200 || !path.contains("host=n2"), "{method} {path} from {from}: 200");
                }
            }
        }
        self.assert_intact("the other methods");
    }

    /// A long URL, many and long headers, a large body: refused, and nothing else harmed.
    fn sizes(&self) {
        let long = "a".repeat(20_000);
        let a = request("127.0.0.3", false, "GET", &format!("{}/kickstart?host={long}", self.base), &[]);
        self.assert_no_leak("a 20 KB query", &a);
        let a = request("127.0.0.3", false, "GET", &format!("{}/kickstart/{long}.ks", self.base), &[]);
        self.assert_no_leak("a 20 KB path", &a);
        let header = format!("X-Pad: {}", "b".repeat(16_000));
        let a = request("127.0.0.3", false, "GET", &format!("{}/kickstart", self.base), &["-H", &header]);
        self.assert_no_leak("a 16 KB header", &a);
        let many: Vec<String> = (0..200).flat_map(|i| ["-H".to_string(), format!("X-Many-{i}: {}", "c".repeat(200))]).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let a = request("127.0.0.3", false, "GET", &format!("{}/kickstart", self.base), &many);
        self.assert_no_leak("200 headers", &a);
        // 8 MB of body to boot-done, from the host itself: no endpoint reads a body.
        let body = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(body.path(), vec![b'x'; 8 << 20]).unwrap();
        let data = format!("@{}", body.path().display());
        let a = request("127.0.0.2", true, "POST", &format!("{}/boot-done", self.base), &["--data-binary", &data]);
        assert_ne!(a.status, 200, "an 8 MB body to boot-done was accepted");
        self.assert_intact("the sizes");
    }

    /// 100 clients that send half a request and wait, plus 100 that send nothing: the host's
    /// own request is still answered.
    fn slow_and_idle_clients(&self) {
        let url = self.base.strip_prefix("http://").unwrap();
        let (authority, path) = url.split_once('/').unwrap();
        let mut held = Vec::new();
        for i in 0..200 {
            let Ok(mut s) = TcpStream::connect(authority) else { continue };
            if i % 2 == 0 {
                let _ = write!(s, "GET /{path}/kickstart HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            }
            held.push(s);
        }
        let start = Instant::now();
        self.assert_intact("200 slow and idle clients");
        assert!(start.elapsed() < Duration::from_secs(15), "the host waited {:?} behind slow clients", start.elapsed());
        if let Some(sock) = self.socket {
            // The same against the responder's own socket.
            let direct: Vec<_> = (0..200).filter_map(|_| std::os::unix::net::UnixStream::connect(sock).ok()).collect();
            self.assert_intact("200 idle FastCGI connections");
            drop(direct);
        }
        drop(held);
    }

    /// Malformed FastCGI records straight to the responder's socket: each connection is
    /// refused or answered, and the responder keeps serving.
    fn fastcgi_records(&self) {
        let Some(sock) = self.socket else { return };
        let begin = record(1, 1, &[0, 1, 0, 0, 0, 0, 0, 0]);
        let params = |pairs: &[u8]| [begin.clone(), record(4, 1, pairs), record(4, 1, &[]), record(5, 1, &[])].concat();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("BEGIN_REQUEST with no body", record(1, 1, &[])),
            ("BEGIN_REQUEST with 1 byte", record(1, 1, &[0])),
            ("request id 0", record(1, 0, &[0, 1, 0, 0, 0, 0, 0, 0])),
            ("version 2", {
                let mut r = begin.clone();
                r[0] = 2;
                r
            }),
            ("unknown role", record(1, 1, &[0, 9, 0, 0, 0, 0, 0, 0])),
            ("unknown record type", [begin.clone(), record(42, 1, b"x")].concat()),
            ("a pair longer than its record", params(&[4, 100, b'A', b'B', b'C', b'D', b'x'])),
            ("a four-byte length of 2 GB", params(&[0x8f, 0xff, 0xff, 0xff, 1, b'x'])),
            ("PARAMS without BEGIN_REQUEST", [record(4, 7, &pair("REQUEST_METHOD", "GET")), record(4, 7, &[])].concat()),
            (
                "STDIN over 64 KiB",
                [params(&pair("REQUEST_METHOD", "POST")), record(5, 1, &[b'x'; 65_000]), record(5, 1, &[b'x'; 2_000])].concat(),
            ),
            ("ABORT_REQUEST for an unknown id", record(2, 9, &[])),
            ("a header cut short", vec![1, 1, 0]),
            (
                "a spoofed REMOTE_ADDR on a truncated stream",
                [begin.clone(), record(4, 1, &[pair("REMOTE_ADDR", "127.0.0.2"), pair("REQUEST_METHOD", "GET")].concat())].concat(),
            ),
        ];
        for (what, bytes) in cases {
            let answer = send_all_of(sock, &bytes);
            let answer = String::from_utf8_lossy(&answer);
            assert!(!answer.contains("Status: 200"), "{what}: answered 200: {answer}");
        }
        self.assert_intact("the malformed FastCGI records");
    }

    /// With `--privileged-port`: a user's request from an ordinary port may neither change
    /// the boot nor, once installed, fetch the kickstart; root's may.
    fn privileged_ports(&self) {
        if !self.privileged {
            return;
        }
        let base = &self.base;
        let a = request("127.0.0.2", false, "POST", &format!("{base}/boot-done"), &[]);
        assert_eq!(a.status, 403, "boot-done from an unprivileged port: {}", String::from_utf8_lossy(&a.body));
        assert_eq!((self.boot_of_n2)(), "install");
        let a = request("127.0.0.2", true, "POST", &format!("{base}/boot-done"), &[]);
        assert_eq!((a.status, String::from_utf8_lossy(&a.body).as_ref()), (200, "n2: next boot os\n"));
        let refused = || {
            let a = request("127.0.0.2", false, "GET", &format!("{base}/kickstart"), &[]);
            self.assert_no_leak("an installed host's kickstart from an unprivileged port", &a);
            a.status == 403
        };
        // (A resident responder reloads after the change; a CGI reads it at once.)
        let deadline = Instant::now() + Duration::from_secs(20);
        while !refused() {
            assert!(Instant::now() < deadline, "an installed host's kickstart is still served to an unprivileged port");
            std::thread::sleep(Duration::from_millis(100));
        }
        let a = request("127.0.0.2", true, "GET", &format!("{base}/kickstart"), &[]);
        assert!(a.status == 200 && a.body == self.n2, "root on n2 gets its kickstart: {}", a.status);
        let a = request("127.0.0.2", false, "POST", &format!("{base}/reinstall"), &[]);
        assert_eq!(a.status, 403, "reinstall from an unprivileged port");
        let a = request("127.0.0.2", true, "POST", &format!("{base}/reinstall"), &[]);
        assert_eq!((a.status, String::from_utf8_lossy(&a.body).as_ref()), (200, "n2: next boot install\n"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while request("127.0.0.2", false, "GET", &format!("{base}/kickstart"), &[]).status != 200 {
            assert!(Instant::now() < deadline, "the installer's kickstart is refused again after reinstall");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.assert_intact("the privileged-port rule");
    }
}

/// Send `bytes` on a new connection to `sock`, say that nothing more comes (as a client that
/// sent a truncated stream and stopped), and read what the responder answers until it closes.
fn send_all_of(sock: &Path, bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}
