//! The resident FastCGI responder as a process of the built binary, talked to over its Unix
//! socket with FastCGI records written by hand: how it stops (idle keep-alive connections
//! closed at once, requests in flight answered, a bounded exit), how a new instance takes
//! the socket path over from a running one without a moment in which nothing answers, which
//! socket files it removes, and how it reads a `PARAMS` stream cut anywhere between records.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fastcgi::{answer, exchange, pair, params, request, request_in};
use common::served::{BIN, Cluster, Proc, wait_for};
use common::text;

/// `/health` over a new connection to `sock`: the body of the answer (`ok: N hosts`).
fn health(sock: &Path) -> String {
    health_on(&mut connect(sock), 1)
}

/// `/health` on the open connection `s` (kept open), as request `id`: the body of the answer.
fn health_on(s: &mut UnixStream, id: u16) -> String {
    s.write_all(&request(id, true, &params("GET", "/health", "127.0.0.1"))).unwrap();
    let answer = text(&answer(s, id).unwrap());
    assert!(answer.contains("Status: 200"), "{answer}");
    answer.lines().last().unwrap_or_default().to_string()
}

/// The parameters of `/health`, and `name` set to `value`.
fn health_with(name: &str, value: &str) -> Vec<u8> {
    [params("GET", "/health", "127.0.0.1"), pair(name, value)].concat()
}

fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Whether the responder closed `s` (it reads end of file).
fn closed(s: &mut UnixStream) -> bool {
    matches!(s.read(&mut [0u8; 1]), Ok(0))
}

/// The inode of the socket file at `path` (0: none).
fn inode(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).map(|m| m.ino()).unwrap_or(0)
}

/// A responder on `run/fastcgi.sock` that does not reload, its log in `log`: listening
/// there when this returns (it took the path over from any instance before it).
fn instance(c: &Cluster, log: &str) -> (Proc, PathBuf) {
    let sock = c.path("run/fastcgi.sock");
    let before = inode(&sock);
    let proc = c.responder(&sock, log, &["--reload-interval", "86400"]);
    wait_for(|| inode(&sock) != 0 && inode(&sock) != before, &format!("the socket of the instance logging to {log}"));
    (proc, sock)
}

/// A host more in the database, which a responder started before it does not see (it does
/// not reload): `/health` tells two instances apart.
fn add_host(c: &Cluster) {
    c.rc(&["host", "add", "n4", "--appliance", "compute", "--mac", "52:54:00:aa:00:04", "--ip", "127.0.0.4", "--network", "lo"]);
}

#[test]
fn sigterm_closes_idle_connections_at_once_and_answers_requests_in_flight() {
    let Some(flock) = common::tool("flock") else { return };
    let c = Cluster::new();
    let (mut proc, sock) = c.fastcgi(&[]);
    // An idle keep-alive connection, as nginx keeps them (`keepalive`, `fastcgi_keep_conn on`).
    let mut idle = connect(&sock);
    assert!(health_on(&mut idle, 1).starts_with("ok: "));
    // A request half sent when the signal comes...
    let whole = request(1, true, &params("GET", "/health", "127.0.0.1"));
    let mut half_sent = connect(&sock);
    half_sent.write_all(&whole[..20]).unwrap();
    // ... and one being answered: boot-done waits for the tree's lock, which a build holds.
    let mut holder = Command::new(flock).arg(c.path(".tree.lock")).args(["sleep", "1.5"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut answering = connect(&sock);
    answering.write_all(&request(1, true, &params("POST", "/boot-done", "127.0.0.2"))).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let stopped = Instant::now();
    proc.terminate();
    assert!(closed(&mut idle), "the idle connection is closed");
    assert!(stopped.elapsed() < Duration::from_secs(1), "at once ({:?})", stopped.elapsed());
    wait_for(|| UnixStream::connect(&sock).is_err(), "the end of accepting");
    half_sent.write_all(&whole[20..]).unwrap();
    let body = text(&answer(&mut half_sent, 1).unwrap());
    assert!(body.contains("Status: 200") && body.contains("ok: "), "the request begun before the signal is answered: {body}");
    assert!(closed(&mut half_sent), "and its connection closed after the answer");
    let body = text(&answer(&mut answering, 1).unwrap());
    assert!(body.contains("n2: next boot os"), "the request being answered is answered: {body}");
    assert!(proc.exits_within(Duration::from_secs(4)), "the responder exits within its grace time");
    assert!(!sock.exists(), "its own socket file is removed");
    let _ = holder.wait();
    assert!(!c.log("fastcgi.log").contains("panicked"), "{}", c.log("fastcgi.log"));
}

#[test]
fn a_new_instance_takes_the_socket_path_over_and_the_old_one_leaves_it() {
    let c = Cluster::new();
    let (mut old, sock) = instance(&c, "old.log");
    let mut kept = connect(&sock);
    let old_says = health_on(&mut kept, 1);
    add_host(&c);
    let (mut new, _) = instance(&c, "new.log");
    let new_inode = inode(&sock);
    assert!(c.log("new.log").contains("took over"), "{}", c.log("new.log"));
    let new_says = health(&sock);
    assert!(new_says != old_says, "new connections reach the new instance ({old_says} / {new_says})");
    assert_eq!(health_on(&mut kept, 2), old_says, "the old instance keeps serving the connection it has");
    assert_eq!(std::fs::metadata(&sock).unwrap().mode() & 0o777, 0o666, "the socket file has its mode");

    old.terminate();
    assert!(old.exits_within(Duration::from_secs(3)), "the old instance exits");
    assert!(closed(&mut kept));
    assert_eq!(inode(&sock), new_inode, "the new instance's socket file stays");
    assert_eq!(health(&sock), new_says);
    let leftovers: Vec<_> = std::fs::read_dir(c.path("run")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["fastcgi.sock"], "no temporary socket is left behind");
    new.terminate();
    assert!(new.exits_within(Duration::from_secs(3)));
    assert!(!sock.exists(), "the last instance removes its own socket file");
}

#[test]
fn no_request_fails_while_a_new_instance_replaces_the_old_one() {
    let c = Cluster::new();
    let (mut old, sock) = instance(&c, "old.log");
    let old_says = health(&sock);
    add_host(&c);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (sock, stop, answers) = (sock.clone(), stop.clone(), answers.clone());
            std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    // A new connection per request, as nginx without keep-alive.
                    let got = UnixStream::connect(&sock).and_then(|mut s| {
                        s.set_read_timeout(Some(Duration::from_secs(10)))?;
                        s.write_all(&request(1, false, &params("GET", "/health", "127.0.0.1")))?;
                        let body = text(&answer(&mut s, 1)?);
                        Ok(body.lines().last().unwrap_or_default().to_string())
                    });
                    answers.lock().unwrap().push(got.map_err(|e| e.to_string()));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (new, _) = instance(&c, "new.log");
    std::thread::sleep(Duration::from_millis(300));
    old.terminate();
    assert!(old.exits_within(Duration::from_secs(3)), "the old instance exits");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let answers = answers.lock().unwrap();
    let failed: Vec<_> = answers.iter().filter(|a| a.is_err()).collect();
    assert!(failed.is_empty(), "{} of {} requests failed: {:?}", failed.len(), answers.len(), &failed[..failed.len().min(5)]);
    let by_old = answers.iter().filter(|a| a.as_deref() == Ok(old_says.as_str())).count();
    let by_new = answers.iter().filter(|a| a.as_ref().is_ok_and(|s| *s != old_says && s.starts_with("ok: "))).count();
    assert!(by_old > 0 && by_new > 0 && by_old + by_new == answers.len(), "{by_old} by the old, {by_new} by the new, of {}", answers.len());
    assert!(sock.exists());
    new.terminate();
}

#[test]
fn a_stale_socket_is_replaced_and_sockets_it_was_handed_are_left_in_place() {
    let c = Cluster::new();
    // A socket file nobody listens on any more.
    let sock = c.path("run/stale.sock");
    drop(UnixListener::bind(&sock).unwrap());
    let _replaced = c.responder(&sock, "stale.log", &[]);
    wait_for(|| UnixStream::connect(&sock).is_ok(), "the responder on the stale socket's path");
    assert!(health(&sock).starts_with("ok: "));

    // lighttpd's way: the listening socket on fd 0.
    let sock = c.path("run/fd0.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut on_fd0 = Proc(
        Command::new(BIN)
            .arg("--db")
            .arg(c.db())
            .args(["fastcgi", "--prefix", "/install/rocks"])
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
            .stderr(Stdio::from(std::fs::File::create(c.path("fd0.log")).unwrap()))
            .spawn()
            .unwrap(),
    );
    assert!(health(&sock).starts_with("ok: "));
    on_fd0.terminate();
    assert!(on_fd0.exits_within(Duration::from_secs(3)));
    assert!(sock.exists(), "the socket on fd 0 is not the responder's to remove");

    // systemd's way: `LISTEN_FDS`.
    let Some(activate) = common::tool("systemd-socket-activate") else { return };
    let sock = c.path("run/systemd.sock");
    let mut activated = Proc(
        Command::new(activate)
            .arg("-l")
            .arg(&sock)
            .arg(BIN)
            .arg("--db")
            .arg(c.db())
            .args(["fastcgi", "--prefix", "/install/rocks"])
            .stderr(Stdio::from(std::fs::File::create(c.path("systemd.log")).unwrap()))
            .spawn()
            .unwrap(),
    );
    wait_for(|| sock.exists(), "the activation socket");
    assert!(health(&sock).starts_with("ok: "));
    activated.terminate();
    assert!(activated.exits_within(Duration::from_secs(3)));
    assert!(sock.exists(), "systemd's socket is not the responder's to remove");
}

#[test]
fn a_name_value_pair_split_over_params_records_is_answered() {
    let c = Cluster::new();
    let (_proc, sock) = c.fastcgi(&[]);
    // A value of 128 bytes or more has a four-byte length: cuts fall inside it too.
    let pairs = health_with("HTTP_USER_AGENT", &"a".repeat(300));
    let mut s = connect(&sock);
    for cut in 1..pairs.len() {
        // Cut at `cut`, and the rest cut again in its middle: three records.
        let (first, rest) = pairs.split_at(cut);
        let (second, third) = rest.split_at(rest.len() / 2);
        s.write_all(&request_in(1, true, &[first, second, third])).unwrap();
        let body = text(&answer(&mut s, 1).unwrap_or_else(|e| panic!("cut at {cut}: {e}\n{}", c.log("fastcgi.log"))));
        assert!(body.contains("Status: 200") && body.contains("ok: "), "cut at {cut}: {body}");
    }
}

#[test]
fn oversize_params_are_refused_without_a_panic() {
    let c = Cluster::new();
    let (_proc, sock) = c.fastcgi(&[]);
    let pairs = health_with("HTTP_COOKIE", &"c".repeat(70_000));
    let req = request_in(1, false, &pairs.chunks(60_000).collect::<Vec<_>>());
    let answer = text(&exchange(&sock, &req));
    assert!(!answer.contains("Status: 200"), "{answer}");
    let log = c.log("fastcgi.log");
    assert!(log.contains("parameters over") && !log.contains("panicked"), "{log}");
    assert!(health(&sock).starts_with("ok: "), "the responder still answers");
}
