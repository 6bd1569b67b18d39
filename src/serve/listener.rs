//! The resident responder's listening socket: bound on a Unix socket path, on a TCP address,
//! or handed over (systemd's fd 3, fd 0); accepted from; and, when the responder stops,
//! emptied of the connections the kernel had queued already.
//!
//! **A Unix socket path is taken over atomically.** The socket is bound under a name beside
//! the path, `PATH.new-PID`, given its group and mode, and renamed over `PATH`: there is never
//! a moment when `PATH` is missing or names a socket that nobody listens on. A responder
//! still listening on the old socket keeps serving the connections it has; no new one
//! reaches it (its socket has no name any more). So a new instance can start before the old
//! one stops, and a stale socket file is replaced the same way.
//!
//! **Only its own socket file is removed.** When the responder ends, it removes `PATH` only
//! while `PATH` is still the socket it bound (same device and inode): a newer instance that
//! took the path over keeps it. A socket it was handed is never removed: it is not its own.

use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite};

use super::fastcgi::{Listen, ServeError};

/// A listening socket of either kind.
pub(super) enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// The socket file this process bound at `path`; removed when dropped, if `path` still is it.
pub(super) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// A connected stream of either kind.
pub(super) type Stream = Box<dyn AsyncStream>;
pub(super) trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> AsyncStream for T {}

impl Listener {
    /// Bind (or adopt) the listening socket; also the socket file to remove at the end, when
    /// this process made one.
    pub(super) fn bind(listen: &Listen) -> Result<(Listener, Option<SocketFile>), ServeError> {
        match listen {
            Listen::Unix { path, mode, group } => {
                let (listener, file) = take_over(path, *mode, group.as_deref())?;
                Ok((Listener::Unix(listener), Some(file)))
            }
            Listen::Tcp(addr) => {
                let err = |e: io::Error| ServeError::Io(format!("cannot listen on {addr}: {e}"));
                let std = std::net::TcpListener::bind(addr).map_err(err)?;
                std.set_nonblocking(true).map_err(err)?;
                Ok((Listener::Tcp(tokio::net::TcpListener::from_std(std).map_err(err)?), None))
            }
            Listen::Inherited => Ok((inherited()?, None)),
        }
    }

    /// The next connection; `None` for a TCP peer that is not one of `web_servers` (closed).
    pub(super) async fn accept(&self, web_servers: &[IpAddr]) -> io::Result<Option<Stream>> {
        Ok(match self {
            Listener::Unix(l) => Some(Box::new(l.accept().await?.0)),
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                admitted(peer, web_servers).then(|| {
                    let _ = s.set_nodelay(true);
                    Box::new(s) as Stream
                })
            }
        })
    }

    /// The connections the kernel has queued already (they were made before the stop), at
    /// most `max`, taken without waiting; the socket is closed.
    pub(super) fn queued(self, web_servers: &[IpAddr], max: usize) -> Vec<Stream> {
        let mut taken: Vec<Stream> = Vec::new();
        match self {
            Listener::Unix(l) => {
                let Ok(l) = l.into_std() else { return taken };
                while taken.len() < max
                    && let Ok((s, _)) = l.accept()
                {
                    if let Ok(s) = s.set_nonblocking(true).and_then(|()| tokio::net::UnixStream::from_std(s)) {
                        taken.push(Box::new(s));
                    }
                }
            }
            Listener::Tcp(l) => {
                let Ok(l) = l.into_std() else { return taken };
                while taken.len() < max
                    && let Ok((s, peer)) = l.accept()
                {
                    if admitted(peer, web_servers)
                        && let Ok(s) = s.set_nonblocking(true).and_then(|()| tokio::net::TcpStream::from_std(s))
                    {
                        let _ = s.set_nodelay(true);
                        taken.push(Box::new(s));
                    }
                }
            }
        }
        taken
    }

    pub(super) fn is_tcp(&self) -> bool {
        matches!(self, Listener::Tcp(_))
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Listen on the Unix socket `path`: bound beside it, given `group` and `mode`, and renamed
/// over whatever socket is there (a stale one, or one an older instance still listens on).
fn take_over(path: &Path, mode: u32, group: Option<&str>) -> Result<(tokio::net::UnixListener, SocketFile), ServeError> {
    let served = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::os::unix::net::UnixStream::connect(path).is_ok(),
        Ok(_) => return Err(ServeError::Io(format!("`{}` exists and is not a socket", path.display()))),
        Err(_) => false,
    };
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".new-{}", std::process::id()));
    let fresh = PathBuf::from(name);
    // One left by an earlier process that had this pid.
    let _ = std::fs::remove_file(&fresh);
    let bound = bind_beside(&fresh, path, mode, group);
    if bound.is_err() {
        let _ = std::fs::remove_file(&fresh);
    }
    let (listener, file) = bound?;
    if served {
        eprintln!("rocks-compile: took over `{}` from the responder listening on it (it finishes the connections it has)", path.display());
    }
    let listener = listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixListener::from_std(listener))
        .map_err(|e| ServeError::Io(format!("cannot listen on `{}`: {e}", path.display())))?;
    Ok((listener, file))
}

/// Bind `fresh`, set its group and mode, and rename it to `path`.
fn bind_beside(
    fresh: &Path,
    path: &Path,
    mode: u32,
    group: Option<&str>,
) -> Result<(std::os::unix::net::UnixListener, SocketFile), ServeError> {
    // The error names the path asked for: the name beside it is ours, not the operator's.
    let listener =
        std::os::unix::net::UnixListener::bind(fresh).map_err(|e| ServeError::Io(format!("cannot listen on `{}`: {e}", path.display())))?;
    set_owner_and_mode(fresh, mode, group)?;
    let meta = std::fs::symlink_metadata(fresh).map_err(|e| ServeError::Io(format!("cannot look at `{}`: {e}", fresh.display())))?;
    std::fs::rename(fresh, path).map_err(|e| ServeError::Io(format!("cannot move `{}` to `{}`: {e}", fresh.display(), path.display())))?;
    Ok((listener, SocketFile { path: path.to_path_buf(), dev: meta.dev(), ino: meta.ino() }))
}

fn set_owner_and_mode(path: &Path, mode: u32, group: Option<&str>) -> Result<(), ServeError> {
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

/// Whether a TCP peer is one of `web_servers` (refusals are logged).
fn admitted(peer: SocketAddr, web_servers: &[IpAddr]) -> bool {
    let ok = web_servers.iter().any(|a| a.to_canonical() == peer.ip().to_canonical());
    if !ok {
        eprintln!("rocks-compile: refused a FastCGI connection from {peer} (not in FCGI_WEB_SERVER_ADDRS)");
    }
    ok
}
