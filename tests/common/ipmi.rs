//! A simulated BMC for the power tests: OpenIPMI's `ipmi_sim` serving IPMI over LAN on
//! `addr:port` for the user `admin` with a password, whose power-on runs a command of the
//! test's (set up as `../shared/validators.md` says works with ipmi_sim 1.0.13).

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Start `ipmi_sim` with its files in `dir` (`lan.conf`, `cmds`, `state/`, its output in
/// `sim.log`): LAN on `addr:port`, the guest's serial (QEMU `ipmi-bmc-extern`) on 127.0.0.1
/// `serial`, `startcmd` run by `power on`; with `sol`, its serial-over-LAN carries the TCP
/// port 127.0.0.1:`sol` (which the simulator connects to while a SOL session is active,
/// retrying until something listens: a QEMU `-serial tcp:...,server=on`).
pub fn start_sim(
    ipmi_sim: &Path,
    dir: &Path,
    (addr, port): (&str, u16),
    serial: u16,
    sol: Option<u16>,
    startcmd: &str,
    password: &str,
) -> Child {
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let auths = "none md2 md5 straight";
    let sol = sol.map(|p| format!("  sol \"tcp:127.0.0.1:{p}\" 115200\n")).unwrap_or_default();
    let lan = format!(
        "name \"bmc1\"\nset_working_mc 0x20\n  startlan 1\n    addr {addr} {port}\n    priv_limit admin\n\
         \x20   allowed_auths_callback {auths}\n    allowed_auths_user {auths}\n\
         \x20   allowed_auths_operator {auths}\n    allowed_auths_admin {auths}\n\
         \x20   guid a123456789abcdefa123456789abcdef\n  endlan\n  serial 15 127.0.0.1 {serial} codec VM\n{sol}\
         \x20 startcmd \"{startcmd}\"\n  startnow false\n  user 2 true \"admin\" \"{password}\" admin 10 {auths}\n"
    );
    std::fs::write(dir.join("lan.conf"), lan).unwrap();
    std::fs::write(dir.join("cmds"), "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n").unwrap();
    let log = std::fs::File::create(dir.join("sim.log")).unwrap();
    Command::new(ipmi_sim)
        .arg("-c")
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("cmds"))
        .args(["-n", "-p", "-s"])
        .arg(dir.join("state"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}
