//! The resident FastCGI responder. It loads a [`State`] once and answers every request from
//! it; a watcher reloads it when the database or a framework file changes (or on `SIGHUP`, or
//! after `boot-done`/`reinstall` changed the database). A new state is loaded beside the old
//! one and swapped in only when whole, so no request is answered from a half-loaded state;
//! requests in flight finish on the state they started with. A reload that fails is logged
//! and the old state stays.
//!
//! It listens on a Unix socket (`--socket`), a TCP address (`--listen`), or a listening
//! socket it was handed: systemd's (`LISTEN_FDS`, fd 3) or fd 0 (lighttpd's `bin-path`,
//! Apache's mod_fcgid, spawn-fcgi).
//!
//! # Stopping
//!
//! On `SIGTERM` or `SIGINT` the responder stops accepting at once: its socket file is
//! removed (while it is still its own), the connections the kernel had queued already are
//! taken, and the listening socket is closed. A connection between requests, such as one a
//! web server keeps alive (nginx's `keepalive` with `fastcgi_keep_conn on`), is closed at
//! once; one with a request in flight (being answered, or only partly received) is closed
//! after that request is answered; a new connection gets its first request answered. Nothing
//! is waited for past [`GRACE`]; the process exits within 5 seconds of the signal. A web
//! server that finds a kept-alive connection closed opens a new one, which reaches the
//! instance now listening on the path, if there is one.
//!
//! # Restarting without a gap
//!
//! A new instance started on the same `--socket PATH` takes the path over while the old one
//! runs: it binds its socket beside the path (`PATH.new-PID`), gives it its group and mode,
//! and renames it over `PATH`, so the path never goes missing. New connections reach the new
//! instance; the old one serves the connections it has. Stop the old one after the new one
//! is up (`SIGTERM`): it closes its connections as above. An instance removes the socket file
//! when it ends only while `PATH` is still the socket it bound (same device and inode), so
//! the old one leaves the new one's in place; a socket it was handed (systemd's, fd 0) is
//! never removed. A stale socket file, which nobody listens on, is replaced the same way.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_fastcgi::{RequestResult, Requests};

use super::coalesce::Coalesced;
use super::listener::{Listener, SocketFile, Stream};
use super::records::{Checked, MAX_OPEN};
use super::{Config, LoadError, Request, State, Watch};

/// How long requests in flight may take to finish once the responder stops.
pub const GRACE: Duration = Duration::from_secs(4);

/// How long, after [`GRACE`], work still running in the blocking pool (a compile, a reload,
/// a database write) is waited for before the process exits without it.
const LAST_WAIT: Duration = Duration::from_secs(1);

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

/// Serve until `SIGTERM` or `SIGINT`. Fails before serving when the first load fails.
pub fn serve(cfg: Config, listen: Listen, opts: Options) -> Result<(), ServeError> {
    let web_servers = Arc::new(web_servers()?);
    if let (Listen::Tcp(addr), true) = (&listen, web_servers.is_empty()) {
        return Err(open_tcp(&addr.to_string()));
    }
    let watcher = Watch::new(&cfg);
    let state = State::load(&cfg, true).map_err(ServeError::Load)?;
    let (n, bytes) = state.cached();
    if cfg.send_file == crate::serve::SendFile::Body {
        eprintln!("rocks-compile: loaded {} hosts ({n} kickstarts ready, {} MB)", state.hosts(), bytes >> 20);
    } else {
        eprintln!("rocks-compile: loaded {} hosts (the web server sends their kickstarts from the tree)", state.hosts());
    }
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
    let served = rt.block_on(async move {
        let (listener, socket_file) = Listener::bind(&listen)?;
        if listener.is_tcp() && web_servers.is_empty() {
            return Err(open_tcp("the TCP socket it was started with"));
        }
        let shared = Arc::new(Shared { cfg, state: RwLock::new(Arc::new(state)), reload: Notify::new(), idle: opts.idle });
        tokio::spawn(watch(shared.clone(), opts.reload_interval, watcher));
        accept_until_stopped(listener, socket_file, shared, web_servers).await
    });
    rt.shutdown_timeout(LAST_WAIT);
    served
}

/// Accept connections until `SIGTERM` or `SIGINT`, then stop (see the module docs): no new
/// connection reaches this process, the ones queued already are served, and each connection
/// ends at its next pause or when the grace time is over.
async fn accept_until_stopped(
    listener: Listener,
    socket_file: Option<SocketFile>,
    shared: Arc<Shared>,
    web_servers: Arc<Vec<IpAddr>>,
) -> Result<(), ServeError> {
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
    // The end of the grace time, once the responder stops.
    let (stop, stopping) = tokio::sync::watch::channel(None);
    // Every connection task holds a clone: the count says how many are live.
    let tracker = Arc::new(());
    // At most this many connections at once (well under the descriptor limit): the others
    // wait in the listen backlog until one ends, instead of taking the last descriptors.
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections()));
    let serve = |stream: Stream, slot: tokio::sync::OwnedSemaphorePermit| {
        let (shared, guard, stopping) = (shared.clone(), tracker.clone(), stopping.clone());
        tokio::spawn(async move {
            connection(stream, shared, stopping).await;
            drop(guard);
            drop(slot);
        });
    };
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
            conn = listener.accept(&web_servers) => match conn {
                Ok(Some(stream)) => serve(stream, slot),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("rocks-compile: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    let deadline = Instant::now() + GRACE;
    stop.send_replace(Some(deadline));
    // The socket file goes first (when it is still ours), so that nothing new can be queued.
    drop(socket_file);
    for stream in listener.queued(&web_servers, slots.available_permits()) {
        let Ok(slot) = slots.clone().try_acquire_owned() else { break };
        serve(stream, slot);
    }
    while Arc::strong_count(&tracker) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal, ServeError> {
    tokio::signal::unix::signal(kind).map_err(|e| ServeError::Io(format!("cannot handle signals: {e}")))
}

/// When the responder stops: the end of its grace time (now, if the acceptor is gone).
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<Option<Instant>>) -> Instant {
    match stopping.wait_for(Option::is_some).await {
        Ok(deadline) => deadline.unwrap_or_else(Instant::now),
        Err(_) => Instant::now(),
    }
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

/// Serve the requests of one connection, one after the other, until the web server closes
/// it, it stays idle past the idle timeout, or the responder stops: then it is closed at its
/// next pause between requests (at once when it is in one), a request begun is answered
/// first, and nothing is waited for past the grace time.
async fn connection(stream: Stream, shared: Arc<Shared>, mut stopping: tokio::sync::watch::Receiver<Option<Instant>>) {
    let (r, w) = tokio::io::split(stream);
    // Malformed records end the connection with an error before the protocol crate sees them.
    // Read in large pieces: the records of a request arrive together, and the checks and
    // the protocol crate would otherwise read each header and content with a call of its own.
    let reader = Checked::new(tokio::io::BufReader::with_capacity(16 * 1024, r));
    let between = reader.between_requests();
    // Each answer leaves in as few writes as it can, its end with it (see `coalesce`).
    let mut requests = Requests::new(reader, Coalesced::new(w), 255, MAX_OPEN as u8);
    // A new connection is waited on for its first request, which its client is sending.
    let mut answered = false;
    loop {
        let next = {
            let next = requests.next();
            tokio::pin!(next);
            let idle_until = Instant::now() + shared.idle;
            tokio::select! {
                // Whatever has arrived is read before the stop is looked at.
                biased;
                next = &mut next => next,
                // An idle connection is closed (a client that opens connections and sends
                // nothing cannot hold them).
                () = tokio::time::sleep_until(idle_until) => break,
                deadline = stopped(&mut stopping) => {
                    if answered && between.now() {
                        break;
                    }
                    match tokio::time::timeout_at(deadline.min(idle_until), next).await {
                        Ok(next) => next,
                        Err(_) => break,
                    }
                }
            }
        };
        match next {
            Ok(Some(request)) => {
                let done = request.process(|request| respond(request, shared.clone())).await;
                if let Err(e) = done {
                    if !web_server_gone(&e) {
                        eprintln!("rocks-compile: cannot finish a request: {e}");
                    }
                    break;
                }
                answered = true;
                if stopping.borrow().is_some() {
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

/// Answer one request from the current state.
async fn respond(request: Arc<tokio_fastcgi::Request<Coalesced<tokio::io::WriteHalf<Stream>>>>, shared: Arc<Shared>) -> RequestResult {
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
    // What memory answers is answered here; only work that may wait (a lock, the database,
    // a compile) goes to the blocking pool, so `/health` and cached kickstarts never queue
    // behind it.
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
