//! The box's temporary root: the cluster made with the command line, the files the
//! frontend's kickstart writes (their distribution paths moved under the root), the boot
//! files, and the box's `systemctl`, `rndc` and `grub2-mknetdir`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::boot::Logs;
use super::common::lab::{DEBIAN_INSTALLER, Firmware, LDLINUX, Netns, PXELINUX};
use super::common::{ok, text};
use super::{DB, Host, INSTALL_TREE, TREE, Tools};

/// Absolute paths of the distribution that the frontend's files name and that move under
/// the root with them.
const MOVED: [&str; 6] = ["/etc/", "/run/", "/var/named/", "/var/spool/", "/var/log/", "/tftpboot/"];
/// The files of the frontend's kickstart that its services read.
const FRONTEND_FILES: [&str; 11] = [
    "/etc/named.conf",
    "/etc/systemd/system/dhcpd.service.d/50-rocks-compile.conf",
    "/etc/systemd/system/tftp.service.d/50-rocks-compile.conf",
    "/etc/rocks-compile/tftpd.map",
    "/etc/nginx/conf.d/rocks-compile.conf",
    "/etc/systemd/system/rocks-compile-fastcgi.socket",
    "/etc/systemd/system/rocks-compile-fastcgi.service",
    "/etc/slurm/slurm.conf",
    "/etc/slurm/cgroup.conf",
    "/etc/rocks-compile/services.toml",
    "/usr/local/sbin/cluster-boot-files",
];

/// The temporary root that the frontend's paths lie under.
pub(super) struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    /// A new root, readable by everyone (in.tftpd, dhcpd and slurmctld drop privileges).
    pub(super) fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Root { dir }
    }

    /// `abs` under the root.
    pub(super) fn path(&self, abs: &str) -> PathBuf {
        self.dir.path().join(abs.trim_start_matches('/'))
    }

    pub(super) fn tree(&self) -> PathBuf {
        self.path(TREE)
    }

    /// `text` with each absolute path that starts with one of [`MOVED`] under the root.
    pub(super) fn under(&self, text: &str) -> String {
        let root = self.dir.path().display().to_string();
        let mut out = String::with_capacity(text.len());
        let mut prev: Option<char> = None;
        for (i, c) in text.char_indices() {
            let rest = &text[i..];
            let boundary = prev.is_none_or(|p| !(p.is_ascii_alphanumeric() || "_./-~$".contains(p)));
            if boundary && !rest.starts_with(&root) && MOVED.iter().any(|m| rest.starts_with(m)) {
                out.push_str(&root);
            }
            out.push(c);
            prev = Some(c);
        }
        out
    }

    pub(super) fn under_all(&self, words: &[String]) -> Vec<String> {
        words.iter().map(|w| self.under(w)).collect()
    }

    pub(super) fn write_file(&self, path: &Path, body: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }

    /// `rocks-compile ARGS` on the root's database.
    pub(super) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rocks-compile"));
        c.env("ROCKS_COMPILE_DB", self.path(DB)).env("NO_COLOR", "1").args(args);
        c
    }

    /// `rocks-compile ARGS`, which must succeed: what it printed.
    pub(super) fn rc(&self, args: &[&str]) -> String {
        text(&ok(&mut self.command(args)).stdout)
    }

    /// `build --out TREE ARGS`; with `box_path`, the box's commands come first on `PATH`.
    pub(super) fn build(&self, args: &[&str], box_path: bool) -> Output {
        let tree = self.tree().display().to_string();
        let mut cmd = self.command(&["build", "--allow-default-password", "--out", &tree]);
        cmd.args(args);
        if box_path {
            cmd.env("PATH", self.box_path());
        }
        cmd.output().unwrap()
    }

    /// The cluster on 10.77.0.0/24: `frontend` and `computes` (with the addresses `host add`
    /// allocates; those that boot install with `d-i`, and a BIOS one is forced to pxelinux,
    /// since QEMU's NIC ROM is iPXE).
    pub(super) fn make_cluster(&self, frontend: &Host, computes: &[(&str, &str, Option<Firmware>)]) -> Vec<Host> {
        fs::create_dir_all(self.path(DB).parent().unwrap()).unwrap();
        self.rc(&["init", "--network", "10.77.0.0/24"]);
        for (key, path) in [("RocksCompile_TreeDir", TREE), ("RocksCompile_DB", DB), ("Kickstart_InstallTreeDir", INSTALL_TREE)] {
            self.rc(&["attr", "set", key, &self.path(path).display().to_string()]);
        }
        self.rc(&["host", "add", &frontend.name, "--appliance", "frontend", "--ip", &frontend.ip, "--mac", &frontend.mac]);
        // The installer where the default `install` action boots it from.
        let args = "auto=true priority=critical console=ttyS0 url={ks_url} DEBIAN_FRONTEND=text";
        self.rc(&[
            "bootaction",
            "add",
            "d-i",
            "--kernel",
            "images/{distribution}/vmlinuz",
            "--initrd",
            "images/{distribution}/initrd.img",
            "--args",
            args,
        ]);
        let mut hosts = Vec::new();
        for &(name, mac, firmware) in computes {
            let added: serde_json::Value =
                serde_json::from_str(&self.rc(&["host", "add", name, "--appliance", "compute", "--mac", mac, "--json"])).unwrap();
            let ip = added["ip"].as_str().unwrap_or_else(|| panic!("{added}")).to_string();
            assert!(ip.starts_with("10.77.0."), "{added}");
            if let Some(firmware) = firmware {
                self.rc(&["host", "set", name, "--install-action", "d-i"]);
                if firmware == Firmware::Bios {
                    self.rc(&["attr", "set", "--host", name, "pxe_loader", "pxelinux"]);
                }
            }
            hosts.push(Host { name: name.into(), mac: mac.into(), ip, firmware });
        }
        hosts
    }

    /// Write the frontend's files under the root, their paths moved there; run the
    /// kickstart's `forwarders` line on named.conf and give named the test's control channel.
    pub(super) fn install_frontend_files(&self, files: &BTreeMap<String, String>, ks: &str, tools: &Tools) {
        for name in FRONTEND_FILES {
            let body = files.get(name).unwrap_or_else(|| panic!("the frontend's kickstart writes no {name}"));
            self.write_file(&self.path(name), &self.under(body));
        }
        // The lines after named.conf that fill in its forwarders, as the %post runs them.
        let start = ks.lines().position(|l| l.starts_with("fw=$(")).expect("the forwarders line");
        let fragment: Vec<&str> = ks.lines().skip(start).take(2).collect();
        assert!(fragment[1].starts_with("sed -i \"s|forwarders { };|"), "{fragment:?}");
        ok(Command::new("sh").arg("-ec").arg(self.under(&fragment.join("\n"))));
        let named_conf = self.path("/etc/named.conf");
        assert!(fs::read_to_string(&named_conf).unwrap().contains("forwarders { 192.0.2.53; };"));
        // The control channel: Rocky's named has one by default, with /etc/rndc.key.
        let key = self.path("/etc/rndc.key");
        ok(Command::new(&tools.rndc_confgen).args(["-a", "-c"]).arg(&key));
        let mut conf = fs::read_to_string(&named_conf).unwrap();
        conf += &format!(
            "\n// the test's control channel (Rocky's named has it by default, with /etc/rndc.key)\ninclude \"{}\";\ncontrols {{ inet 127.0.0.1 port 953 allow {{ 127.0.0.1; }} keys {{ \"rndc-key\"; }}; }};\n",
            key.display()
        );
        fs::write(&named_conf, conf).unwrap();
        for d in ["/var/named/data", "/var/named/dynamic", "/run/named", "/var/lib/dhcpd"] {
            fs::create_dir_all(self.path(d)).unwrap();
        }
    }

    /// The boot loaders where Rocky's syslinux-tftpboot puts them (`/tftpboot`), the
    /// installer in the distribution's tree, and the kickstart's `cluster-boot-files` run to
    /// put them into the tree.
    pub(super) fn add_boot_files(&self, tools: &Tools) {
        let di = Path::new(DEBIAN_INSTALLER);
        let images = self.path(&format!("{INSTALL_TREE}/distributions/rocky-9/images/pxeboot"));
        for (from, to) in [
            (PathBuf::from(PXELINUX), self.path("/tftpboot/pxelinux.0")),
            (PathBuf::from(LDLINUX), self.path("/tftpboot/ldlinux.c32")),
            (di.join("linux"), images.join("vmlinuz")),
            (di.join("initrd.gz"), images.join("initrd.img")),
        ] {
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
            }
        }
        let shim =
            format!("#!/bin/sh\n# Rocky's name of grub-mknetdir (frontend in a box)\nexec {} \"$@\"\n", tools.grub_mknetdir.display());
        self.write_script("/bin/grub2-mknetdir", &shim);
        let mut run = Command::new("bash");
        run.arg(self.path("/usr/local/sbin/cluster-boot-files")).env("PATH", self.box_path());
        ok(&mut run);
        for f in ["pxelinux.0", "ldlinux.c32", "grub/x86_64-efi/core.efi", "images/rocky-9/vmlinuz", "images/rocky-9/initrd.img"] {
            assert!(self.tree().join("tftp").join(f).is_file(), "cluster-boot-files did not install tftp/{f}");
        }
    }

    /// `PATH` with the box's commands first.
    fn box_path(&self) -> std::ffi::OsString {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(std::iter::once(self.path("/bin")).chain(std::env::split_paths(&path))).unwrap()
    }

    fn write_script(&self, abs: &str, body: &str) {
        let path = self.path(abs);
        self.write_file(&path, body);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The box's `rndc` (the namespace's named, the test's key) and `systemctl` (dhcpd as its
    /// drop-in runs it; named's reload; cluster-files is only recorded).
    pub(super) fn write_shims(&self, tools: &Tools, ns: &Netns, files: &BTreeMap<String, String>) {
        let exec_ns = format!("{} netns exec {}", tools.ip.display(), ns.name);
        let rndc = format!(
            "#!/bin/sh\n# rndc of the frontend in a box\nexec {exec_ns} {} -k {} \"$@\"\n",
            tools.rndc.display(),
            self.path("/etc/rndc.key").display()
        );
        self.write_script("/bin/rndc", &rndc);

        let mut dhcpd = exec_start(&files["/etc/systemd/system/dhcpd.service.d/50-rocks-compile.conf"]);
        assert!(dhcpd[1] == "-f" && Path::new(&dhcpd[0]).is_file(), "the dhcpd unit runs {dhcpd:?}");
        // Logs on standard error, the lease file under the root, Debian's unprivileged user.
        let leases = self.path("/var/lib/dhcpd/dhcpd.leases");
        fs::write(&leases, "").unwrap();
        let nobody = id("nobody").expect("user nobody");
        std::os::unix::fs::chown(leases.parent().unwrap(), Some(nobody.0), Some(nobody.1)).unwrap();
        std::os::unix::fs::chown(&leases, Some(nobody.0), Some(nobody.1)).unwrap();
        dhcpd.splice(1..1, ["-d".to_string(), "-lf".into(), leases.display().to_string()]);
        for w in dhcpd.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect::<Vec<_>>() {
            assert!(!(w.0 == "-user" || w.0 == "-group") || w.1 == "dhcpd", "{dhcpd:?}");
        }
        let dhcpd: Vec<String> = dhcpd
            .iter()
            .enumerate()
            .map(|(i, w)| match (i > 0).then(|| dhcpd[i - 1].as_str()) {
                Some("-user") => "nobody".into(),
                Some("-group") => "nogroup".into(),
                _ => self.under(w),
            })
            .collect();
        let quoted: Vec<String> = dhcpd.iter().map(|w| format!("'{}'", w.replace('\'', r"'\''"))).collect();
        let systemctl = format!(
            r#"#!/bin/sh
# systemctl of the frontend in a box: the services of network namespace {ns}
echo "$*" >> {calls}
pidfile={run}/dhcpd.pid
running() {{
    [ -f "$pidfile" ] && pid=$(cat "$pidfile") && [ -d /proc/$pid ] && ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status
}}
start_dhcpd() {{
    setsid {exec_ns} {dhcpd} >> {log}/dhcpd.log 2>&1 < /dev/null &
    echo $! > "$pidfile"
}}
stop_dhcpd() {{
    if running; then
        kill "$pid"
        i=0
        while running && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    rm -f "$pidfile"
}}
case "$*" in
    "start dhcpd") running || start_dhcpd ;;
    "restart dhcpd") stop_dhcpd; start_dhcpd ;;
    "stop dhcpd") stop_dhcpd ;;
    "reload-or-restart named") exec {rndc} reload ;;
    # the frontend's cluster-files would install the tree's node lines for slurmctld
    "start cluster-files.service") ;;
    *) echo "systemctl $*: not in this box" >&2; exit 1 ;;
esac
"#,
            ns = ns.name,
            calls = self.path("/run/systemctl.calls").display(),
            run = self.path("/run").display(),
            log = self.path("/log").display(),
            dhcpd = quoted.join(" "),
            rndc = self.path("/bin/rndc").display(),
        );
        self.write_script("/bin/systemctl", &systemctl);
    }
}

/// The words of the last `ExecStart=` with a command in a unit.
pub(super) fn exec_start(unit: &str) -> Vec<String> {
    let line = unit.lines().filter_map(|l| l.strip_prefix("ExecStart=")).rfind(|c| !c.trim().is_empty());
    line.unwrap_or_else(|| panic!("no ExecStart in\n{unit}")).split_whitespace().map(str::to_string).collect()
}

/// Every file a kickstart writes (`cat > NAME << 'DELIM'`, and `cat >> NAME` appending to it).
pub(super) fn written_files(ks: &str) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut lines = ks.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("cat >> ").or_else(|| line.strip_prefix("cat > ")) else { continue };
        let Some((name, delim)) = rest.split_once(" << ") else { continue };
        let delim = delim.trim_matches('\'');
        let body: String = lines.by_ref().take_while(|l| *l != delim).map(|l| format!("{l}\n")).collect();
        let file = files.entry(name.to_string()).or_default();
        if line.starts_with("cat > ") {
            file.clear();
        }
        file.push_str(&body);
    }
    files
}

/// A main nginx.conf as the distribution's (the `http` block includes `conf.d/*.conf`), in
/// one foreground process, with its logs and temporary files under the root and the access
/// log as `<client> "<request>" <status> <bytes> "<user agent>"`.
pub(super) fn nginx_main_conf(root: &Root) -> String {
    let run = root.path("/run").display().to_string();
    let log = root.path("/log").display().to_string();
    let conf_d = root.path("/etc/nginx/conf.d").display().to_string();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {run}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format boot '$remote_addr \"$request\" $status $body_bytes_sent \"$http_user_agent\"';
    access_log {log}/{access} boot;
    client_body_temp_path {run}/nginx-body;
    proxy_temp_path {run}/nginx-proxy;
    fastcgi_temp_path {run}/nginx-fastcgi;
    uwsgi_temp_path {run}/nginx-uwsgi;
    scgi_temp_path {run}/nginx-scgi;
    include {conf_d}/*.conf;
}}
",
        access = Logs::ACCESS,
    )
}

/// `uid` and `gid` of `user`.
pub(super) fn id(user: &str) -> Option<(u32, u32)> {
    let get = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg(user).output().ok()?;
        text(&out.stdout).trim().parse().ok()
    };
    Some((get("-u")?, get("-g")?))
}
