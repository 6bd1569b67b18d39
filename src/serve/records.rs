//! A check of the FastCGI record framing in front of the protocol crate: a record that the
//! specification does not allow (a version other than 1, a `BEGIN_REQUEST` whose body is
//! not the 8 bytes it must be, a request id 0 on a request record) ends the connection with
//! an error, so a malformed stream is refused instead of reaching code that panics on it. So
//! does a request body (`STDIN`) larger than [`MAX_BODY`]: no endpoint reads one, and the
//! crate would hold all of it in memory.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Where the reader is in the stream of records.
#[derive(Debug, Clone, Copy)]
enum At {
    /// `n` bytes of the 8-byte header read so far.
    Header(usize),
    /// `n` bytes of content and padding still to pass.
    Body(usize),
}

/// The largest request body (`STDIN` content of one request) accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// `R`, with each record's header checked as the bytes go by.
pub struct Checked<R> {
    inner: R,
    at: At,
    header: [u8; 8],
    /// Body bytes so far, per request id.
    body: std::collections::HashMap<u16, usize>,
}

impl<R> Checked<R> {
    pub fn new(inner: R) -> Checked<R> {
        Checked { inner, at: At::Header(0), header: [0; 8], body: std::collections::HashMap::new() }
    }

    /// Count a record's body bytes against [`MAX_BODY`] (a new request starts at 0).
    fn count(&mut self) -> io::Result<()> {
        let (kind, id) = (self.header[1], u16::from_be_bytes([self.header[2], self.header[3]]));
        let content = u16::from_be_bytes([self.header[4], self.header[5]]) as usize;
        match kind {
            1 => {
                self.body.insert(id, 0);
            }
            5 => {
                let seen = self.body.entry(id).or_insert(0);
                *seen += content;
                if *seen > MAX_BODY {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("request body over {MAX_BODY} bytes")));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Follow `bytes` through the framing; an error for the first malformed header.
    fn follow(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.at {
                At::Header(n) => {
                    let take = (8 - n).min(bytes.len());
                    self.header[n..n + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    self.at = if n + take == 8 {
                        let body = check(&self.header)?;
                        self.count()?;
                        At::Body(body)
                    } else {
                        At::Header(n + take)
                    };
                    if let At::Body(0) = self.at {
                        self.at = At::Header(0);
                    }
                }
                At::Body(left) => {
                    let take = left.min(bytes.len());
                    bytes = &bytes[take..];
                    self.at = if left == take { At::Header(0) } else { At::Body(left - take) };
                }
            }
        }
        Ok(())
    }
}

/// The length of content and padding that follows `header`, or why the record is malformed.
fn check(header: &[u8; 8]) -> io::Result<usize> {
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("malformed FastCGI record: {why}"));
    let (version, kind) = (header[0], header[1]);
    let id = u16::from_be_bytes([header[2], header[3]]);
    let content = u16::from_be_bytes([header[4], header[5]]) as usize;
    let padding = header[6] as usize;
    if version != 1 {
        return Err(bad(format!("version {version} (only 1 exists)")));
    }
    // BEGIN_REQUEST (1) carries role and flags: exactly 8 bytes.
    if kind == 1 && content != 8 {
        return Err(bad(format!("a BEGIN_REQUEST body of {content} bytes (it is 8)")));
    }
    // Records of a request (BEGIN_REQUEST .. DATA, 1 to 8) name one: id 0 is for management.
    if (1..=8).contains(&kind) && id == 0 {
        return Err(bad(format!("a request record (type {kind}) with request id 0")));
    }
    Ok(content + padding)
}

impl<R: AsyncRead + Unpin> AsyncRead for Checked<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            // The bytes just read are followed where they lie: no copy per read.
            Poll::Ready(Ok(())) => Poll::Ready(self.get_mut().follow(&buf.filled()[before..])),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u8, kind: u8, id: u16, content: u16, padding: u8) -> Vec<u8> {
        let [i0, i1] = id.to_be_bytes();
        let [c0, c1] = content.to_be_bytes();
        vec![version, kind, i0, i1, c0, c1, padding, 0]
    }

    #[test]
    fn well_formed_records_pass_in_any_split() {
        let mut stream = header(1, 1, 1, 8, 0);
        stream.extend([0, 1, 0, 0, 0, 0, 0, 0]);
        stream.extend(header(1, 4, 1, 3, 5));
        stream.extend([1, 2, 3, 0, 0, 0, 0, 0]);
        stream.extend(header(1, 4, 1, 0, 0));
        stream.extend(header(1, 9, 0, 0, 0));
        for split in 1..stream.len() {
            let mut c = Checked::new(());
            c.follow(&stream[..split]).unwrap();
            c.follow(&stream[split..]).unwrap();
            assert!(matches!(c.at, At::Header(0)), "split at {split}");
        }
    }

    #[test]
    fn a_large_body_is_refused() {
        let mut c = Checked::new(());
        c.follow(&header(1, 1, 1, 8, 0)).unwrap();
        c.follow(&[0; 8]).unwrap();
        let chunk = vec![0u8; 60_000];
        c.follow(&header(1, 5, 1, 60_000, 0)).unwrap();
        c.follow(&chunk).unwrap();
        let e = c.follow(&header(1, 5, 1, 60_000, 0)).unwrap_err();
        assert!(e.to_string().contains("request body over"), "{e}");
    }

    #[test]
    fn malformed_records_are_refused() {
        for (h, why) in [
            (header(1, 1, 1, 0, 0), "BEGIN_REQUEST body of 0"),
            (header(1, 1, 1, 1, 0), "BEGIN_REQUEST body of 1"),
            (header(2, 1, 1, 8, 0), "version 2"),
            (header(1, 4, 0, 0, 0), "request id 0"),
        ] {
            let e = Checked::new(()).follow(&h).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }
}
