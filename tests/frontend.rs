//! The frontend serves its own cluster: the files its kickstart writes point every service at
//! the tree `build` writes, in one layout, and they are the shipped examples.

mod common;

use std::path::Path;
use std::process::Command;

use common::{file_body, ok, text};

fn bin(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rocks-compile"));
    c.env("ROCKS_COMPILE_DB", db).env("NO_COLOR", "1");
    c
}

fn run(db: &Path, args: &[&str]) -> String {
    text(&ok(bin(db).args(args)).stdout)
}

/// A cluster on 10.77.0.0/24 with its frontend and one compute host; the tree built.
fn cluster(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let db = dir.join("cluster.db");
    run(&db, &["init", "--network", "10.77.0.0/24"]);
    run(&db, &["host", "add", "cluster", "--appliance", "frontend", "--ip", "10.77.0.1", "--mac", "52:54:00:77:00:01"]);
    run(&db, &["host", "add", "compute-0-0", "--appliance", "compute", "--mac", "52:54:00:77:00:02"]);
    let tree = dir.join("tree");
    ok(bin(&db).args(["build", "--allow-default-password", "--out"]).arg(&tree));
    (db, tree)
}

const TREE: &str = "/var/lib/rocks-compile/tree";

#[test]
fn the_frontends_services_read_the_tree_build_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, tree) = cluster(dir.path());
    let ks = std::fs::read_to_string(tree.join("kickstart/cluster.ks")).unwrap();
    // dhcpd reads the tree's dhcpd.conf on the private interface.
    let dhcpd = file_body(&ks, "/etc/systemd/system/dhcpd.service.d/50-rocks-compile.conf");
    assert!(
        dhcpd.contains(&format!("ExecStart=/usr/sbin/dhcpd -f -cf {TREE}/dhcp/dhcpd.conf -user dhcpd -group dhcpd --no-pid eth0\n")),
        "{dhcpd}"
    );
    // named includes the tree's zones, from the tree's dns/ folder.
    let named = file_body(&ks, "/etc/named.conf");
    assert!(
        named.contains(&format!("directory \"{TREE}/dns\";")) && named.contains(&format!("include \"{TREE}/dns/named.conf\";")),
        "{named}"
    );
    assert!(named.contains("listen-on port 53 { 127.0.0.1; 10.77.0.1; };") && named.contains("10.77.0.0/24;"), "{named}");
    // TFTP serves the tree's tftp/, where build writes the PXE files: each name is looked up
    // in the current tree (a map), not in a chroot into the generation it started in.
    let tftp = file_body(&ks, "/etc/systemd/system/tftp.service.d/50-rocks-compile.conf");
    assert!(tftp.contains(&format!("ExecStart=/usr/sbin/in.tftpd -m /etc/rocks-compile/tftpd.map {TREE}/tftp\n")), "{tftp}");
    let map = file_body(&ks, "/etc/rocks-compile/tftpd.map");
    assert!(map.contains(&format!("\nr ^/*(.*) {TREE}/tftp/\\1\n")) && !tftp.contains(" -s "), "{map}");
    assert!(tree.join("tftp/pxelinux.cfg/01-52-54-00-77-00-02").is_file());
    // The boot loader and kernels go where the PXE files and dhcpd.conf point.
    let boot_files = file_body(&ks, "/usr/local/sbin/cluster-boot-files");
    let pxe = std::fs::read_to_string(tree.join("tftp/pxelinux.cfg/01-52-54-00-77-00-02")).unwrap();
    assert!(pxe.contains("images/rocky-9/vmlinuz") && boot_files.contains("$tftp/images/$name/$f"), "{pxe}");
    let dhcpd_conf = std::fs::read_to_string(tree.join("dhcp/dhcpd.conf")).unwrap();
    assert!(dhcpd_conf.contains("filename \"grub/x86_64-efi/core.efi\";") && boot_files.contains("--subdir=grub"), "UEFI loader");
    assert!(dhcpd_conf.contains("filename \"pxelinux.0\";") && boot_files.contains("\"$tftp/$f\""), "BIOS loader");
    // One distribution path: the PXE files' inst.repo= is the compute kickstart's url.
    let compute = std::fs::read_to_string(tree.join("kickstart/compute-0-0.ks")).unwrap();
    assert!(pxe.contains("inst.repo=http://10.77.0.1/install/distributions/rocky-9 "), "{pxe}");
    assert!(compute.contains("\nurl --url=http://10.77.0.1/install/distributions/rocky-9\n"), "the kickstart installs from the same tree");
    assert!(boot_files.contains("dists=/export/rocks/install/distributions"));
    // Nothing serves what is gone.
    for gone in ["kickstart.cgi", "shimx64", "dnsmasq", "10.1."] {
        assert!(!ks.contains(gone), "the frontend's kickstart still names {gone}");
    }
    let _ = db;
}

#[test]
fn the_frontend_installs_the_shipped_web_server_and_systemd_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, tree) = cluster(dir.path());
    let ks = std::fs::read_to_string(tree.join("kickstart/cluster.ks")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    // The FastCGI units are the examples', with the database and tree of the layout and
    // nginx's group (Rocky's nginx runs as `nginx`).
    let service = std::fs::read_to_string(root.join("systemd/rocks-compile-fastcgi.service")).unwrap();
    assert_eq!(file_body(&ks, "/etc/systemd/system/rocks-compile-fastcgi.service"), service);
    let socket = std::fs::read_to_string(root.join("systemd/rocks-compile-fastcgi.socket")).unwrap();
    assert_eq!(
        file_body(&ks, "/etc/systemd/system/rocks-compile-fastcgi.socket"),
        socket.replace("SocketGroup=www-data", "SocketGroup=nginx")
    );
    // Every location of the nginx example is in the frontend's nginx configuration.
    let example = std::fs::read_to_string(root.join("web/nginx.conf")).unwrap();
    let conf = file_body(&ks, "/etc/nginx/conf.d/rocks-compile.conf");
    let mut blocks = 0;
    for block in example.split("\n\n").filter(|b| b.contains("location ")) {
        let block = block.trim_end_matches("\n}\n").trim_end_matches("\n}");
        assert!(conf.contains(block), "the frontend's nginx lacks\n{block}\nin\n{conf}");
        blocks += 1;
    }
    assert_eq!(blocks, 4, "{example}");
    assert!(conf.contains("alias /export/rocks/install/;") && conf.contains("allow 10.77.0.0/24;"), "{conf}");
}

/// The console and power daemons' drop-ins (node `console-server`) are units systemd takes
/// without a complaint (`systemd-analyze verify`, on a stand-in of the distribution's unit
/// as Rocky's EPEL packages ship it: a forking daemon with a pid file), and each runs its
/// daemon on the tree's file.
#[test]
fn the_console_and_power_drop_ins_are_valid_units() {
    let Some(analyze) = common::tool("systemd-analyze") else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    run(&db, &["init", "--network", "10.77.0.0/24"]);
    run(&db, &["host", "add", "cluster", "--appliance", "frontend", "--ip", "10.77.0.1", "--mac", "52:54:00:77:00:01"]);
    run(&db, &["attr", "set", "powerman", "yes"]);
    for (console, daemon, file) in [("conserver", "conserver", "console/conserver.cf"), ("conman", "conmand", "console/conman.conf")] {
        run(&db, &["attr", "set", "console_server", console]);
        let ks = run(&db, &["kickstart", "--host", "cluster", "--allow-default-password"]);
        let units = dir.path().join(format!("units-{console}"));
        for (unit, daemon, file) in [(console, daemon, file), ("powerman", "powermand", "power/powerman.conf")] {
            let drop_in = file_body(&ks, &format!("/etc/systemd/system/{unit}.service.d/50-rocks-compile.conf"));
            assert!(
                drop_in.contains(&format!("ExecStart=/usr/sbin/{daemon} ")) && drop_in.contains(&format!(" {TREE}/{file}\n")),
                "{drop_in}"
            );
            let d = units.join(format!("{unit}.service.d"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                units.join(format!("{unit}.service")),
                format!("[Unit]\nDescription={unit}\n\n[Service]\nType=forking\nPIDFile=/run/{unit}.pid\nExecStart=/usr/sbin/{daemon}\n\n[Install]\nWantedBy=multi-user.target\n"),
            )
            .unwrap();
            std::fs::write(d.join("50-rocks-compile.conf"), drop_in).unwrap();
            let out = Command::new(&analyze)
                .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
                .arg("verify")
                .arg(units.join(format!("{unit}.service")))
                .output()
                .unwrap();
            let said = text(&out.stdout) + &text(&out.stderr);
            assert!(out.status.success() && said.trim().is_empty(), "{unit} ({console}): {said}");
        }
    }
}
