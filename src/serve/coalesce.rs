//! [`Coalesced`]: the responder's side of a FastCGI connection, writing each answer in as few
//! system calls as it can. The protocol crate writes every record as two writes (its 8-byte
//! header, then its content) and closes each stream with a record of its own, so a small
//! answer (a header naming a file to send) took eight writes, and the web server read the
//! answer's headers before its `END_REQUEST`: nginx then ended an `X-Accel-Redirect` answer
//! before it had read the whole response and could not keep the connection for the next
//! request.
//!
//! Small writes are held back and go out together with the write that completes a record
//! that ends something (`END_REQUEST`, or a management answer), so that a whole small answer
//! leaves in one call. A write that completes such a record is finished only when every byte
//! before it and its own are with the kernel: nothing that the web server waits for is ever
//! left here. Large content (more than [`HOLD`] bytes) is written through after what is
//! held.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

/// At most this many bytes are held back.
pub const HOLD: usize = 16 * 1024;

/// `END_REQUEST`, `GET_VALUES_RESULT` and `UNKNOWN_TYPE`: the records after which the web
/// server may wait for nothing more.
const ENDS: [u8; 3] = [3, 10, 11];

/// Where the writer is in the stream of records it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Framing {
    /// Bytes of the 8-byte header seen so far (8: in the content).
    header: usize,
    /// The record's type (valid once the header is whole).
    kind: u8,
    /// Content and padding bytes still to come.
    left: usize,
    length: [u8; 3],
}

impl Framing {
    const START: Framing = Framing { header: 0, kind: 0, length: [0; 3], left: 0 };

    /// Follow `bytes`; whether a record of [`ENDS`] was completed by them.
    fn follow(&mut self, mut bytes: &[u8]) -> bool {
        let mut ended = false;
        while !bytes.is_empty() {
            if self.header < 8 {
                match self.header {
                    1 => self.kind = bytes[0],
                    4 => self.length[0] = bytes[0],
                    5 => self.length[1] = bytes[0],
                    6 => self.length[2] = bytes[0],
                    _ => {}
                }
                self.header += 1;
                bytes = &bytes[1..];
                if self.header == 8 {
                    self.left = u16::from_be_bytes([self.length[0], self.length[1]]) as usize + self.length[2] as usize;
                }
            } else {
                let take = self.left.min(bytes.len());
                self.left -= take;
                bytes = &bytes[take..];
            }
            if self.header == 8 && self.left == 0 {
                ended |= ENDS.contains(&self.kind);
                *self = Framing::START;
            }
        }
        ended
    }
}

/// `W`, with small writes held back until a record that ends something.
pub struct Coalesced<W> {
    inner: W,
    held: Vec<u8>,
    /// How much of `held` is already written.
    sent: usize,
    framing: Framing,
    /// A write that ends an answer was taken into `held` (this many bytes) and waits for it
    /// to be written out.
    ending: Option<usize>,
}

impl<W> Coalesced<W> {
    pub fn new(inner: W) -> Coalesced<W> {
        Coalesced { inner, held: Vec::new(), sent: 0, framing: Framing::START, ending: None }
    }
}

impl<W: AsyncWrite + Unpin> Coalesced<W> {
    /// Write out what is held.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.held.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Coalesced<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(n) = this.ending {
            // The retry of a write that ends an answer: its bytes are held already.
            ready!(this.poll_drain(cx))?;
            this.ending = None;
            return Poll::Ready(Ok(n));
        }
        let mut after = this.framing;
        let ends = after.follow(buf);
        if this.held.len() + buf.len() <= HOLD {
            this.held.extend_from_slice(buf);
            this.framing = after;
            if ends {
                // The end of an answer: everything held and these bytes, in one call, and
                // finished only when all of it is written.
                this.ending = Some(buf.len());
                ready!(this.poll_drain(cx))?;
                this.ending = None;
            }
            return Poll::Ready(Ok(buf.len()));
        }
        // Large content: what is held first, then these bytes as the writer takes them.
        ready!(this.poll_drain(cx))?;
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.framing.follow(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    /// Held bytes stay held: they are the start of an answer whose end writes them.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A writer that records each call and takes at most `limit` bytes a call.
    struct Calls {
        calls: Vec<Vec<u8>>,
        limit: usize,
    }

    impl AsyncWrite for Calls {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let n = buf.len().min(this.limit);
            this.calls.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn record(kind: u8, content: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let len = (content.len() as u16).to_be_bytes();
        (vec![1, kind, 0, 1, len[0], len[1], 0, 0], content.to_vec())
    }

    /// A small answer as the protocol crate writes it (header and content apart, streams
    /// closed by empty records, flushes between): all of it leaves in one call, whole.
    #[tokio::test]
    async fn a_small_answer_leaves_in_one_call() {
        for limit in [usize::MAX, 7, 1] {
            let mut w = Coalesced::new(Calls { calls: Vec::new(), limit });
            let mut all = Vec::new();
            for (kind, content) in [(6, &b"Status: 200 OK\r\n\r\n"[..]), (6, b""), (7, b""), (3, &[0; 8][..])] {
                let (h, c) = record(kind, content);
                w.write_all(&h).await.unwrap();
                w.write_all(&c).await.unwrap();
                w.flush().await.unwrap();
                all.extend(h);
                all.extend(c);
            }
            let calls = &w.inner.calls;
            assert_eq!(calls.concat(), all, "limit {limit}");
            if limit == usize::MAX {
                assert_eq!(calls.len(), 1, "{calls:?}");
            }
            assert!(w.held.is_empty() && w.ending.is_none());
        }
    }

    /// Large content goes through (after what is held), and the answer's end still waits
    /// for nothing.
    #[tokio::test]
    async fn large_content_is_written_through_in_order() {
        let mut w = Coalesced::new(Calls { calls: Vec::new(), limit: 50_000 });
        let mut all = Vec::new();
        let body = vec![b'x'; 60_000];
        for (kind, content) in [(6, &b"Status: 200 OK\r\n\r\n"[..]), (6, &body[..]), (6, b""), (3, &[0; 8][..])] {
            let (h, c) = record(kind, content);
            w.write_all(&h).await.unwrap();
            w.write_all(&c).await.unwrap();
            all.extend(h);
            all.extend(c);
        }
        assert_eq!(w.inner.calls.concat(), all);
        assert!(w.held.is_empty());
    }
}
