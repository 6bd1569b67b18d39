//! The console and power daemons' files (`console/conman.conf`, `console/conserver.cf`,
//! `power/powerman.conf`) read by the real daemons: `conserver -S` checks its file's syntax,
//! `conmand` starts on its file and keeps running, `powermand` starts on its file and
//! answers `nodes` with every host that has a usable BMC. Also: the files are made only for
//! a cluster with BMCs, the password is only in the files that must hold it (mode 0640),
//! and a host with a BMC but no credentials is left out and reported; `console_serial` puts
//! the kernel console on the port serial-over-LAN reads.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "pw-Console-7";

use common::rc_in as run;

/// Run and require success.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Two racks of hosts; every host but `compute-1-1` (no IPMI user) has a usable BMC,
/// `compute-0-1`'s on port 6230.
fn cluster(dir: &Path) {
    for (name, rack) in [("compute-0-0", "0"), ("compute-0-1", "0"), ("compute-1-0", "1"), ("compute-1-1", "1")] {
        ok(dir, &["host", "add", name, "--appliance", "compute", "--rack", rack]);
    }
    ok(dir, &["network", "add", "mgmt", "10.2.0.0/24"]);
    for (name, ip) in
        [("compute-0-0", "10.2.0.10"), ("compute-0-1", "10.2.0.11"), ("compute-1-0", "10.2.0.20"), ("compute-1-1", "10.2.0.21")]
    {
        ok(dir, &["interface", "add", name, "bmc", "--ip", ip, "--network", "mgmt"]);
    }
    ok(dir, &["attr", "set", "ipmi_user", "admin"]);
    ok(dir, &["attr", "set", "ipmi_user", "", "--host", "compute-1-1"]);
    ok(dir, &["attr", "set", "ipmi_port", "6230", "--host", "compute-0-1"]);
    common::set_secret(&dir.join("cluster.db"), "ipmi_password", PASSWORD);
}

/// Build the tree `out` of the cluster in `dir`; what the build reported.
fn build(dir: &Path) -> (PathBuf, String) {
    let stderr = ok(dir, &["build", "--out", "out", "--only", "console,powerman"]);
    (dir.join("out"), stderr)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn files_hold_every_usable_bmc_and_report_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    cluster(tmp.path());
    let (out, stderr) = build(tmp.path());
    assert!(stderr.contains("build::bmc-without-credentials") && stderr.contains("compute-1-1"), "{stderr}");
    let conman = std::fs::read_to_string(out.join("console/conman.conf")).unwrap();
    let conserver = std::fs::read_to_string(out.join("console/conserver.cf")).unwrap();
    let powerman = std::fs::read_to_string(out.join("power/powerman.conf")).unwrap();
    assert!(
        conman.contains(&format!("console name=\"compute-0-0\" dev=\"ipmi:10.2.0.10\" ipmiopts=\"U:admin,P:{PASSWORD},C:3\"")),
        "{conman}"
    );
    assert!(conman.contains("# compute-0-1: no console, its BMC listens on port 6230"), "{conman}");
    // conserver's ipmitool reads the password from a file build writes beside conserver.cf.
    assert!(conserver.contains("-p 6230 -U admin -f /var/lib/rocks-compile/tree/console/ipmi-password-0 sol activate;"), "{conserver}");
    assert!(!conserver.contains(PASSWORD), "{conserver}");
    assert_eq!(std::fs::read_to_string(out.join("console/ipmi-password-0")).unwrap(), format!("{PASSWORD}\n"));
    assert_eq!(mode(&out.join("console/ipmi-password-0")), 0o640);
    assert!(
        powerman.contains("-h 10.2.0.10,10.2.0.11:6230,10.2.0.20 ") && powerman.contains("node \"compute-0-1\" \"ipmi0\" \"10.2.0.11\"\n"),
        "{powerman}"
    );
    // ipmipower reads the credentials from a file of the device's own: never an argument.
    assert!(!powerman.contains(PASSWORD), "{powerman}");
    assert!(
        powerman.contains("/usr/sbin/ipmipower --config-file=/var/lib/rocks-compile/tree/power/ipmipower-ipmi0.conf -h "),
        "{powerman}"
    );
    let settings = std::fs::read_to_string(out.join("power/ipmipower-ipmi0.conf")).unwrap();
    assert!(settings.contains(&format!("\nusername admin\npassword {PASSWORD}\n")), "{settings}");
    assert_eq!(mode(&out.join("power/ipmipower-ipmi0.conf")), 0o640);
    for text in [&conman, &conserver, &powerman] {
        assert!(!text.contains("compute-1-1\""), "{text}");
    }
    assert_eq!(mode(&out.join("console/conman.conf")), 0o640);
    assert_eq!(mode(&out.join("power/powerman.conf")), 0o640);
    assert_eq!(mode(&out.join("console/conserver.cf")), 0o644);
}

#[test]
fn no_files_without_bmcs() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["host", "add", "compute-0-0", "--appliance", "compute"]);
    let (out, _) = build(tmp.path());
    assert!(!out.join("console").exists() && !out.join("power").exists());
}

#[test]
fn conserver_checks_its_file() {
    let Some(conserver) = common::tool("conserver") else { return };
    let tmp = tempfile::tempdir().unwrap();
    cluster(tmp.path());
    let (out, _) = build(tmp.path());
    let check = Command::new(conserver).arg("-S").arg("-C").arg(out.join("console/conserver.cf")).output().unwrap();
    let text = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success() && !text.contains("ERROR") && !text.contains("WARNING"), "{text}");
}

#[test]
fn conmand_starts_on_its_file() {
    let Some(conmand) = common::tool("conmand") else { return };
    let tmp = tempfile::tempdir().unwrap();
    cluster(tmp.path());
    // Rack 1's BMCs need FreeIPMI workarounds (ConMan's `W:`); the logs go to `logs/`.
    ok(tmp.path(), &["attr", "set", "ipmi_workarounds", "opensesspriv solpayloadsize", "--rack", "1"]);
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    ok(tmp.path(), &["attr", "set", "console_log_dir", logs.to_str().unwrap()]);
    let (out, _) = build(tmp.path());
    let conf = std::fs::read_to_string(out.join("console/conman.conf")).unwrap();
    assert!(conf.contains(",C:3,W:opensesspriv,W:solpayloadsize\"") && conf.contains("server loopback=on\n"), "{conf}");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let mut child = Command::new(conmand)
        .current_dir(tmp.path())
        .args(["-F", "-p", &port, "-c"])
        .arg(out.join("console/conman.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(running, "conmand stopped: {err}");
    assert!(!err.contains("ERROR") && err.contains("for 2 consoles"), "{err}");
    // It opened each console's log in the directory of `console_log_dir`.
    for host in ["compute-0-0", "compute-1-0"] {
        assert!(logs.join(format!("{host}.log")).exists(), "no log of {host} in {}: {err}", logs.display());
    }
}

#[test]
fn powermand_serves_every_host() {
    let Some(powermand) = common::tool("powermand") else { return };
    let tmp = tempfile::tempdir().unwrap();
    cluster(tmp.path());
    let (out, _) = build(tmp.path());
    let mut child = Command::new(powermand)
        .args(["-f", "-s", "-1", "-c"])
        .arg(out.join("power/powerman.conf"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The daemon hangs up on a client whose input ends before it answered.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"nodes\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    stdin.write_all(b"quit\r\n").unwrap();
    drop(stdin);
    let done = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr));
    assert!(done.status.success(), "{text}");
    assert!(String::from_utf8_lossy(&done.stdout).contains("306 compute-0-[0-1],compute-1-0"), "{text}");
}

/// `console_serial` puts the console on the port serial-over-LAN reads, last, on the
/// installed kernel's command line (the kickstart's bootloader line, which ksvalidator
/// accepts) and on the installer's (the PXE files); without it nothing changes.
#[test]
fn the_kernel_console_follows_console_serial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["host", "add", "compute-0-0", "--appliance", "compute", "--mac", "52:54:00:00:00:0a"]);
    let pxe = |tree: &str| std::fs::read_to_string(dir.join(tree).join("tftp/pxelinux.cfg/01-52-54-00-00-00-0a")).unwrap();
    let bootloader = |tree: &str| {
        let ks = std::fs::read_to_string(dir.join(tree).join("kickstart/compute-0-0.ks")).unwrap();
        ks.lines().find(|l| l.starts_with("bootloader ")).unwrap().to_string()
    };
    ok(dir, &["build", "--allow-default-password", "--only", "kickstart,pxe", "--out", "plain"]);
    assert!(!pxe("plain").contains("ttyS1"), "{}", pxe("plain"));
    assert_eq!(bootloader("plain"), "bootloader --location=mbr --timeout=5 --append=\"console=tty0 console=ttyS0,115200n8\"");
    ok(dir, &["attr", "set", "console_serial", "ttyS1,115200"]);
    ok(dir, &["build", "--allow-default-password", "--only", "kickstart,pxe", "--out", "serial"]);
    let append = pxe("serial").lines().find(|l| l.trim_start().starts_with("APPEND ")).unwrap().to_string();
    assert!(append.ends_with(" console=ttyS1,115200"), "{append}");
    assert_eq!(
        bootloader("serial"),
        "bootloader --location=mbr --timeout=5 --append=\"console=tty0 console=ttyS0,115200n8 console=ttyS1,115200\""
    );
    common::validate(&dir.join("serial/kickstart/compute-0-0.ks"));
}
