//! The resident FastCGI responder. It loads a [`State`] once and answers every request from
//! it; a watcher reloads it when the database or a framework file changes (or on `SIGHUP`, or
//! after `boot-done`/`reinstall` changed the database). A new state is loaded beside the old
//! one and swapped in only when whole, so no request is answered from a half-loaded state;
//! requests in flight finish on the state they started with. A reload that fails is logged
//! and the old state stays.
//!
//! It listens on a Unix socket (`--socket`), a TCP address (`--listen`), or a listening
//! socket it was handed: systemd's (`LISTEN_FDS`, fd 3) or fd 0 (lighttpd's `bin-path`,
//! Apache's mod_fcgid, spawn-fcgi). `SIGTERM`/`SIGINT` stop accepting, let requests in flight
//! finish, and remove the socket file it created.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_fastcgi::{RequestResult, Requests};

use super::{Config, LoadError, Request, State, Watch};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A Unix socket at this path, created with `mode` (and `group`, when given).
    Unix {
        path: PathBuf,
        mode: u32,
        group: Option<String>,
    },
    Tcp(SocketAddr),
    /// The listening socket the process was started with: systemd's fd 3 (when `LISTEN_FDS`
    /// and `LISTEN_PID` say so), else fd 0.
    Inherited,
}

/// How the responder runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often the inputs are checked for changes.
    pub reload_interval: Duration,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// How long a connection may wait between requests (or for the rest of one) before it
    /// is closed.
    pub idle: Duration,
}

/// Why the responder stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot load: {0}")]
    Load(LoadError),
    #[error("{0}")]
    Io(String),
    /// A TCP socket without `FCGI_WEB_SERVER_ADDRS`: any peer that reaches it could claim
    /// any host's address (a FastCGI peer sets `REMOTE_ADDR` itself).
    #[error("{0}")]
    OpenTcp(String),
}

struct Shared {
    cfg: Config,
    state: RwLock<Arc<State>>,
    reload: Notify,
    idle: Duration,
}

impl Shared {
    fn current(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// Serve until `SIGTERM` or `SIGINT`. Fails before serving when the first load fails.
pub fn serve(cfg: Config, listen: Listen, opts: Options) -> Result<(), ServeError> {
    let web_servers = Arc::new(web_servers()?);
    if let (Listen::Tcp(addr), true) = (&listen, web_servers.is_empty()) {
        return Err(open_tcp(&addr.to_string()));
    }
    let watcher = Watch::new(&cfg);
    let state = State::load(&cfg, true).map_err(ServeError::Load)?;
    let (n, bytes) = state.cached();
    eprintln!("rocks-compile: loaded {} hosts ({n} kickstarts ready, {} MB)", state.hosts(), bytes >> 20);
    for w in &state.warnings {
        eprintln!("rocks-compile: warning: {w}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        // Compiles and database writes run here: no more of them at once than cores.
        .max_blocking_threads(opts.threads.max(2))
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        let (listener, created) = bind(&listen)?;
        if matches!(listener, Listener::Tcp(_)) && web_servers.is_empty() {
            return Err(open_tcp("the TCP socket it was started with"));
        }
        let shared = Arc::new(Shared { cfg, state: RwLock::new(Arc::new(state)), reload: Notify::new(), idle: opts.idle });
        tokio::spawn(watch(shared.clone(), opts.reload_interval, watcher));
        let result = accept_until_stopped(listener, shared, web_servers).await;
        if let Some(path) = created {
            let _ = std::fs::remove_file(path);
        }
        result
    })
}

/// Bind (or adopt) the listening socket; also the socket file to remove at the end.
fn bind(listen: &Listen) -> Result<(Listener, Option<PathBuf>), ServeError> {
    let io_err = |what: String| move |e: io::Error| ServeError::Io(format!("{what}: {e}"));
    match listen {
        Listen::Unix { path, mode, group } => {
            remove_stale_socket(path)?;
            let l = tokio::net::UnixListener::bind(path).map_err(io_err(format!("cannot listen on `{}`", path.display())))?;
            set_owner_and_mode(path, *mode, group.as_deref())?;
            Ok((Listener::Unix(l), Some(path.clone())))
        }
        Listen::Tcp(addr) => {
            let std = std::net::TcpListener::bind(addr).map_err(io_err(format!("cannot listen on {addr}")))?;
            std.set_nonblocking(true).map_err(io_err(format!("cannot listen on {addr}")))?;
            Ok((Listener::Tcp(tokio::net::TcpListener::from_std(std).map_err(io_err(format!("cannot listen on {addr}")))?), None))
        }
        Listen::Inherited => Ok((inherited()?, None)),
    }
}

/// The listening socket we were started with.
fn inherited() -> Result<Listener, ServeError> {
    let systemd = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id())
        && std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n >= 1);
    let fd: RawFd = if systemd { 3 } else { 0 };
    // SAFETY: fstat and getsockname only read the descriptor's metadata.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(ServeError::Io(
            "no listening socket: give --socket PATH or --listen ADDR:PORT, or start under a web server or systemd socket that passes one"
                .into(),
        ));
    }
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    if unsafe { libc::getsockname(fd, (&raw mut addr).cast(), &mut len) } != 0 {
        return Err(ServeError::Io(format!("fd {fd} is not a usable socket: {}", io::Error::last_os_error())));
    }
    let err = |e: io::Error| ServeError::Io(format!("cannot use the socket on fd {fd}: {e}"));
    if addr.ss_family as libc::c_int == libc::AF_UNIX {
        // SAFETY: fd is a socket we own from here on (nothing else in the process uses it).
        let std = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        std.set_nonblocking(true).map_err(err)?;
        Ok(Listener::Unix(tokio::net::UnixListener::from_std(std).map_err(err)?))
    } else {
        // SAFETY: as above.
        let std = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        std.set_nonblocking(true).map_err(err)?;
        Ok(Listener::Tcp(tokio::net::TcpListener::from_std(std).map_err(err)?))
    }
}

/// A socket file left by a responder that is gone is removed; one that answers is an error.
fn remove_stale_socket(path: &std::path::Path) -> Result<(), ServeError> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::Io(format!("another responder is listening on `{}`", path.display())));
            }
            std::fs::remove_file(path).map_err(|e| ServeError::Io(format!("cannot remove the stale socket `{}`: {e}", path.display())))
        }
        Ok(_) => Err(ServeError::Io(format!("`{}` exists and is not a socket", path.display()))),
        Err(_) => Ok(()),
    }
}

fn set_owner_and_mode(path: &std::path::Path, mode: u32, group: Option<&str>) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(group) = group {
        let name = std::ffi::CString::new(group).map_err(|_| ServeError::Io(format!("bad group name {group:?}")))?;
        // SAFETY: getgrnam returns a pointer into static storage or null; read at once.
        let gr = unsafe { libc::getgrnam(name.as_ptr()) };
        if gr.is_null() {
            return Err(ServeError::Io(format!("no group named `{group}`")));
        }
        let gid = unsafe { (*gr).gr_gid };
        std::os::unix::fs::lchown(path, None, Some(gid))
            .map_err(|e| ServeError::Io(format!("cannot give `{}` to group `{group}`: {e}", path.display())))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ServeError::Io(format!("cannot set the mode of `{}`: {e}", path.display())))
}

async fn accept_until_stopped(listener: Listener, shared: Arc<Shared>, web_servers: Arc<Vec<IpAddr>>) -> Result<(), ServeError> {
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
    // Every connection task holds a clone: the count says how many are live.
    let tracker = Arc::new(());
    // At most this many connections at once (well under the descriptor limit): the others
    // wait in the listen backlog until one ends, instead of taking the last descriptors.
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections()));
    loop {
        let slot = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            conn = accept(&listener, &web_servers) => match conn {
                Ok(Some(stream)) => {
                    let (shared, guard) = (shared.clone(), tracker.clone());
                    tokio::spawn(async move {
                        connection(stream, shared).await;
                        drop(guard);
                        drop(slot);
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("rocks-compile: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Let the requests in flight finish (each connection task holds a clone of the tracker).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while Arc::strong_count(&tracker) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal, ServeError> {
    tokio::signal::unix::signal(kind).map_err(|e| ServeError::Io(format!("cannot handle signals: {e}")))
}

/// A connected stream of either kind.
type Stream = Box<dyn AsyncStream>;
trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> AsyncStream for T {}

async fn accept(listener: &Listener, web_servers: &[IpAddr]) -> io::Result<Option<Stream>> {
    Ok(Some(match listener {
        Listener::Unix(l) => Box::new(l.accept().await?.0),
        Listener::Tcp(l) => {
            let (s, peer) = l.accept().await?;
            if !web_servers.iter().any(|a| a.to_canonical() == peer.ip().to_canonical()) {
                eprintln!("rocks-compile: refused a FastCGI connection from {peer} (not in FCGI_WEB_SERVER_ADDRS)");
                return Ok(None);
            }
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
    }))
}

/// `FCGI_WEB_SERVER_ADDRS` (the FastCGI convention): the only peers that may connect over
/// TCP. Unset or empty: none (a TCP socket is then refused at start, see [`serve`]); a word
/// that is not an address is an error, not a silent gap.
fn web_servers() -> Result<Vec<IpAddr>, ServeError> {
    let list = std::env::var("FCGI_WEB_SERVER_ADDRS").unwrap_or_default();
    list.split([',', ' '])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.parse::<IpAddr>().map_err(|_| ServeError::OpenTcp(format!("FCGI_WEB_SERVER_ADDRS: `{a}` is not an IP address"))))
        .collect()
}

fn open_tcp(on: &str) -> ServeError {
    ServeError::OpenTcp(format!(
        "refusing to serve on {on} without FCGI_WEB_SERVER_ADDRS: a FastCGI peer sets REMOTE_ADDR itself, so anyone who reaches the port could fetch any host's kickstart or change its boot action"
    ))
}

/// How many connections are served at once: half the descriptor limit, at most 1,024.
fn max_connections() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes the limit into `lim`, which lives for the call.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 { lim.rlim_cur } else { 1024 };
    usize::try_from(soft / 2).unwrap_or(1024).clamp(16, 1024)
}

async fn connection(stream: Stream, shared: Arc<Shared>) {
    let (r, w) = tokio::io::split(stream);
    // Malformed records end the connection with an error before the protocol crate sees them.
    let mut requests = Requests::new(super::records::Checked::new(r), w, 255, 16);
    loop {
        // An idle connection is closed (a client that opens connections and sends nothing
        // cannot hold them).
        let Ok(next) = tokio::time::timeout(shared.idle, requests.next()).await else { break };
        match next {
            Ok(Some(request)) => {
                let shared = shared.clone();
                let done = request
                    .process(|request| async move {
                        let vars: Vec<(String, String)> = request
                            .str_params_iter()
                            .map(|it| it.map(|(k, v)| (k.to_ascii_uppercase(), v.unwrap_or("").to_string())).collect())
                            .unwrap_or_default();
                        let state = shared.current();
                        let worker = shared.clone();
                        let req = Request::from_vars(
                            |n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()),
                            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        );
                        // What memory answers is answered here; only work that may wait (a
                        // lock, the database, a compile) goes to the blocking pool, so
                        // `/health` and cached kickstarts never queue behind it.
                        let answered = if state.may_block(&shared.cfg, &req) {
                            tokio::task::spawn_blocking(move || state.answer(&worker.cfg, &req)).await
                        } else {
                            Ok(state.answer(&shared.cfg, &req))
                        };
                        let response = match answered {
                            Ok(a) => {
                                if let Some(line) = &a.log {
                                    eprintln!("rocks-compile: {line}");
                                }
                                if a.changed {
                                    shared.reload.notify_one();
                                }
                                a.response
                            }
                            Err(e) => {
                                eprintln!("rocks-compile: a request failed: {e}");
                                super::Response::error(500, "internal error")
                            }
                        };
                        let mut out = request.get_stdout();
                        let sent = match out.write(&response.header()).await {
                            Ok(_) if !response.sent_body().is_empty() => out.write(response.sent_body()).await.map(|_| ()),
                            other => other.map(|_| ()),
                        };
                        if let Err(e) = sent
                            && !web_server_gone(&e)
                        {
                            eprintln!("rocks-compile: cannot send a response: {e}");
                        }
                        RequestResult::Complete(0)
                    })
                    .await;
                if let Err(e) = done {
                    if !web_server_gone(&e) {
                        eprintln!("rocks-compile: cannot finish a request: {e}");
                    }
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                if !web_server_gone(&e) {
                    eprintln!("rocks-compile: bad FastCGI stream: {e}");
                }
                break;
            }
        }
    }
}

/// The web server closed the connection (its client went away, or it is shutting down):
/// nothing worth logging.
fn web_server_gone(e: &tokio_fastcgi::Error) -> bool {
    matches!(e, tokio_fastcgi::Error::IoError(io) if matches!(io.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset))
}

/// Reload when the inputs change, on `SIGHUP`, or when asked.
async fn watch(shared: Arc<Shared>, every: Duration, watch: Watch) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("rocks-compile: SIGHUP will not reload: {e}");
            None
        }
    };
    let mut watch = Some(watch);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            _ = shared.reload.notified() => false,
            Some(_) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        // Look first, then load: a change made while loading is seen at the next look.
        let (w, changed) = {
            let (cfg, mut w) = (shared.cfg.clone(), watch.take().expect("the watch is put back after each look"));
            match tokio::task::spawn_blocking(move || {
                let c = w.changed(&cfg);
                (w, c)
            })
            .await
            {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("rocks-compile: cannot check the inputs: {e}");
                    (Watch::new(&shared.cfg), true)
                }
            }
        };
        watch = Some(w);
        if !(forced || changed) {
            continue;
        }
        let (cfg, old) = (shared.cfg.clone(), shared.current());
        match tokio::task::spawn_blocking(move || State::reload(&cfg, true, Some(&old))).await {
            Ok(Ok(state)) => {
                let hosts = state.hosts();
                for w in &state.warnings {
                    eprintln!("rocks-compile: warning: {w}");
                }
                *shared.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
                eprintln!("rocks-compile: reloaded ({hosts} hosts)");
            }
            Ok(Err(e)) => {
                eprintln!("rocks-compile: reload failed, still answering from the previous state: {e}");
                if !e.details.is_empty() {
                    eprint!("{}", e.details);
                }
            }
            Err(e) => eprintln!("rocks-compile: reload failed: {e}"),
        }
    }
}
