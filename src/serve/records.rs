//! The FastCGI record stream between the socket and the protocol crate: checked, and with
//! each request's `PARAMS` stream put back together.
//!
//! - **Checked.** A record that the specification does not allow (a version other than 1,
//!   a `BEGIN_REQUEST` whose body is not the 8 bytes it must be, a request id 0 on a request
//!   record, a stream record for a request that is not open) ends the connection with an
//!   error, so a malformed stream is refused instead of reaching code that panics on it. So
//!   do a request body (`STDIN`) over [`MAX_BODY`], parameters over [`MAX_PARAMS`] and more
//!   than [`MAX_OPEN`] requests open at once: the crate holds all of them in memory.
//! - **`PARAMS` reassembled.** A web server may cut the `PARAMS` stream anywhere between
//!   records, in the middle of a name-value pair or of its length; the crate parses each
//!   record on its own. So `PARAMS` records are held back, their bytes gathered per request,
//!   and passed on as records that hold whole pairs only; a pair still cut at the end of the
//!   stream is an error. Every other record passes untouched, its content read straight into
//!   the crate's buffer.
//! - **Between requests.** [`BetweenRequests`] tells the connection's task whether anything
//!   of a request has arrived and not yet been handed on: a connection at rest can be closed
//!   at once when the responder stops, one with a request coming is not.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

use super::MAX_BODY;

/// The largest `PARAMS` stream (all name-value pairs of one request) accepted: it is passed
/// on in records of whole pairs, and one record holds at most this many bytes.
pub const MAX_PARAMS: usize = u16::MAX as usize;

/// The most requests whose input may be arriving on one connection at once.
pub const MAX_OPEN: usize = 16;

const BEGIN_REQUEST: u8 = 1;
const ABORT_REQUEST: u8 = 2;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const DATA: u8 = 8;

/// The input streams of a request, as bits of [`Open::streams`].
const PARAMS_STREAM: u8 = 1;
const STDIN_STREAM: u8 = 2;
const DATA_STREAM: u8 = 4;

/// `R`, its records checked and its `PARAMS` records reassembled as they go by.
pub struct Checked<R> {
    inner: R,
    at: At,
    header: [u8; 8],
    begin: [u8; 8],
    /// Whole records for the crate, before any other byte.
    due: Vec<u8>,
    /// How much of `due` the crate has read.
    sent: usize,
    /// The requests whose input is still arriving.
    open: HashMap<u16, Open>,
    between: BetweenRequests,
}

/// Whether a connection's input is between requests: no part of a record, and no request
/// whose input has begun and not ended, is held or expected. Shared by the reader and the
/// connection's task.
#[derive(Clone)]
pub struct BetweenRequests(Arc<AtomicBool>);

/// Where the reader is in the stream of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// `n` bytes of the 8-byte header read so far.
    Header(usize),
    /// `n` bytes of a `BEGIN_REQUEST` body (8 bytes) read so far.
    Begin(usize),
    /// `n` bytes of content and padding still to pass to the crate untouched.
    Body(usize),
    /// `left` bytes of the content of a `PARAMS` record of request `id` to gather, then
    /// `padding` bytes to drop.
    Params { id: u16, left: usize, padding: usize },
    /// `n` bytes of padding to drop.
    Padding(usize),
}

/// A request whose input is still arriving.
#[derive(Debug, Default)]
struct Open {
    /// The input streams not ended yet (`*_STREAM` bits).
    streams: u8,
    /// `PARAMS` bytes received that do not make a whole pair yet.
    partial: Vec<u8>,
    /// `PARAMS` bytes so far.
    params: usize,
    /// `STDIN` bytes so far.
    body: usize,
}

impl BetweenRequests {
    /// Whether the input is between requests now.
    pub fn now(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl<R> Checked<R> {
    pub fn new(inner: R) -> Checked<R> {
        Checked {
            inner,
            at: At::Header(0),
            header: [0; 8],
            begin: [0; 8],
            due: Vec::new(),
            sent: 0,
            open: HashMap::new(),
            between: BetweenRequests(Arc::new(AtomicBool::new(true))),
        }
    }

    /// A handle that tells whether this stream is between requests.
    pub fn between_requests(&self) -> BetweenRequests {
        self.between.clone()
    }

    /// How many framing bytes (header, `BEGIN_REQUEST` body, `PARAMS` content, padding) the
    /// reader takes next before it acts on them.
    fn framing_left(&self) -> usize {
        match self.at {
            At::Header(n) | At::Begin(n) => 8 - n,
            At::Params { left, .. } => left,
            At::Padding(n) | At::Body(n) => n,
        }
    }

    /// Take `bytes`, which are at most [`Checked::framing_left`] framing bytes.
    fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.at = match self.at {
            At::Header(n) => {
                self.header[n..n + bytes.len()].copy_from_slice(bytes);
                if n + bytes.len() == 8 { self.on_header()? } else { At::Header(n + bytes.len()) }
            }
            At::Begin(n) => {
                self.begin[n..n + bytes.len()].copy_from_slice(bytes);
                if n + bytes.len() == 8 { self.on_begin() } else { At::Begin(n + bytes.len()) }
            }
            At::Params { id, left, padding } => {
                self.request(id)?.partial.extend_from_slice(bytes);
                if left == bytes.len() {
                    self.pass_whole_pairs(id);
                    skip(padding)
                } else {
                    At::Params { id, left: left - bytes.len(), padding }
                }
            }
            At::Padding(n) => skip(n - bytes.len()),
            At::Body(_) => unreachable!("record content is passed on as it is read"),
        };
        Ok(())
    }

    /// Act on a whole header: what follows it.
    fn on_header(&mut self) -> io::Result<At> {
        let (content, padding) = check(&self.header)?;
        let (kind, id) = (self.header[1], u16::from_be_bytes([self.header[2], self.header[3]]));
        match kind {
            BEGIN_REQUEST => {
                if self.open.contains_key(&id) {
                    return Err(malformed(format!("a second BEGIN_REQUEST for request {id}")));
                }
                if self.open.len() >= MAX_OPEN {
                    return Err(malformed(format!("more than {MAX_OPEN} requests open at once")));
                }
                return Ok(At::Begin(0));
            }
            PARAMS if content == 0 => {
                if !self.request(id)?.partial.is_empty() {
                    return Err(malformed(format!("a name-value pair of request {id} cut off by the end of its PARAMS")));
                }
                self.due.extend(header(PARAMS, id, 0));
                self.ended(id, PARAMS_STREAM);
                return Ok(skip(padding));
            }
            PARAMS => {
                let open = self.request(id)?;
                open.params += content;
                if open.params > MAX_PARAMS {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("request parameters over {MAX_PARAMS} bytes")));
                }
                return Ok(At::Params { id, left: content, padding });
            }
            STDIN => {
                let open = self.request(id)?;
                open.body += content;
                if open.body > MAX_BODY {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("request body over {MAX_BODY} bytes")));
                }
                if content == 0 {
                    self.ended(id, STDIN_STREAM);
                }
            }
            DATA => {
                self.request(id)?;
                if content == 0 {
                    self.ended(id, DATA_STREAM);
                }
            }
            ABORT_REQUEST => {
                self.open.remove(&id);
            }
            _ => {}
        }
        self.due.extend(self.header);
        Ok(if content + padding == 0 { At::Header(0) } else { At::Body(content + padding) })
    }

    /// Act on a whole `BEGIN_REQUEST` body: the request is open, with the input streams its
    /// role has (as the crate counts them: an authorizer gets no `STDIN`, only a filter gets
    /// `DATA`).
    fn on_begin(&mut self) -> At {
        let id = u16::from_be_bytes([self.header[2], self.header[3]]);
        let streams = match u16::from_be_bytes([self.begin[0], self.begin[1]]) {
            2 => PARAMS_STREAM,
            3 => PARAMS_STREAM | STDIN_STREAM | DATA_STREAM,
            _ => PARAMS_STREAM | STDIN_STREAM,
        };
        self.open.insert(id, Open { streams, ..Open::default() });
        self.due.extend(self.header);
        self.due.extend(self.begin);
        match self.header[6] {
            0 => At::Header(0),
            padding => At::Body(padding as usize),
        }
    }

    /// The open request `id`, or an error: a stream record for a request not begun (or
    /// whose input has ended) is out of sequence.
    fn request(&mut self, id: u16) -> io::Result<&mut Open> {
        self.open.get_mut(&id).ok_or_else(|| malformed(format!("a stream record for request {id}, which is not open")))
    }

    /// Request `id`'s `stream` has ended; so has its input when that was the last.
    fn ended(&mut self, id: u16, stream: u8) {
        if let Some(open) = self.open.get_mut(&id) {
            open.streams &= !stream;
            if open.streams == 0 {
                self.open.remove(&id);
            }
        }
    }

    /// Pass on the whole pairs gathered for request `id` as one `PARAMS` record.
    fn pass_whole_pairs(&mut self, id: u16) {
        let Some(open) = self.open.get_mut(&id) else { return };
        let whole = whole_pairs(&open.partial);
        if whole > 0 {
            // At most MAX_PARAMS bytes were accepted: they fit one record.
            self.due.extend(header(PARAMS, id, whole as u16));
            self.due.extend(open.partial.drain(..whole));
        }
    }

    fn is_between_requests(&self) -> bool {
        self.at == At::Header(0) && self.open.is_empty() && self.due.is_empty()
    }
}

impl<R: AsyncRead + Unpin> Checked<R> {
    fn poll_records(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.sent < self.due.len() {
                let n = (self.due.len() - self.sent).min(buf.remaining());
                buf.put_slice(&self.due[self.sent..self.sent + n]);
                self.sent += n;
                if self.sent == self.due.len() {
                    self.due.clear();
                    self.sent = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let At::Body(left) = self.at {
                // Content passed untouched is read straight into the crate's buffer.
                let n = {
                    let mut part = ReadBuf::new(buf.initialize_unfilled_to(left.min(buf.remaining())));
                    ready!(Pin::new(&mut self.inner).poll_read(cx, &mut part))?;
                    part.filled().len()
                };
                buf.advance(n);
                self.at = if n == left { At::Header(0) } else { At::Body(left - n) };
                // (0 bytes: the end of the stream, which the crate reports.)
                return Poll::Ready(Ok(()));
            }
            let mut scratch = [0u8; 4096];
            let want = self.framing_left().min(scratch.len());
            let mut part = ReadBuf::new(&mut scratch[..want]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut part))?;
            if part.filled().is_empty() {
                // The end of the stream: the crate sees it where it is, at a record boundary
                // (what was held back was not a whole record).
                return Poll::Ready(Ok(()));
            }
            self.take(part.filled())?;
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Checked<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = this.poll_records(cx, buf);
        this.between.0.store(this.is_between_requests(), Ordering::Release);
        polled
    }
}

/// The length of content and padding that follow `header`, or why the record is malformed.
fn check(header: &[u8; 8]) -> io::Result<(usize, usize)> {
    let (version, kind) = (header[0], header[1]);
    let id = u16::from_be_bytes([header[2], header[3]]);
    let content = u16::from_be_bytes([header[4], header[5]]) as usize;
    let padding = header[6] as usize;
    if version != 1 {
        return Err(malformed(format!("version {version} (only 1 exists)")));
    }
    // BEGIN_REQUEST (1) carries role and flags: exactly 8 bytes.
    if kind == BEGIN_REQUEST && content != 8 {
        return Err(malformed(format!("a BEGIN_REQUEST body of {content} bytes (it is 8)")));
    }
    // Records of a request (BEGIN_REQUEST .. DATA, 1 to 8) name one: id 0 is for management.
    if (BEGIN_REQUEST..=DATA).contains(&kind) && id == 0 {
        return Err(malformed(format!("a request record (type {kind}) with request id 0")));
    }
    Ok((content, padding))
}

fn malformed(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed FastCGI record: {why}"))
}

/// What follows `padding` bytes to drop.
fn skip(padding: usize) -> At {
    if padding == 0 { At::Header(0) } else { At::Padding(padding) }
}

/// The header of a record without padding.
fn header(kind: u8, id: u16, content: u16) -> [u8; 8] {
    let ([i0, i1], [c0, c1]) = (id.to_be_bytes(), content.to_be_bytes());
    [1, kind, i0, i1, c0, c1, 0, 0]
}

/// How many bytes at the start of `bytes` are whole name-value pairs.
fn whole_pairs(bytes: &[u8]) -> usize {
    let mut at = 0;
    loop {
        let Some((name, n1)) = length(&bytes[at..]) else { return at };
        let Some((value, n2)) = length(&bytes[at + n1..]) else { return at };
        let end = at + n1 + n2 + name + value;
        if end > bytes.len() {
            return at;
        }
        at = end;
    }
}

/// A name or value length at the start of `bytes` (one byte, or four with the high bit
/// set) and how many bytes it takes; `None` while it is not all there.
fn length(bytes: &[u8]) -> Option<(usize, usize)> {
    match *bytes {
        [short, ..] if short & 0x80 == 0 => Some((short as usize, 1)),
        [b0, b1, b2, b3, ..] => Some((u32::from_be_bytes([b0 & 0x7f, b1, b2, b3]) as usize, 4)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `data` at most `chunk` bytes at a time.
    struct Chunked {
        data: Vec<u8>,
        at: usize,
        chunk: usize,
    }

    impl AsyncRead for Chunked {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let n = self.chunk.min(self.data.len() - self.at).min(buf.remaining());
            buf.put_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    /// What the crate reads of `stream` when the socket hands it out `chunk` bytes at a time
    /// and the crate reads `want` bytes at a time.
    fn through(stream: &[u8], chunk: usize, want: usize) -> io::Result<Vec<u8>> {
        let mut c = Checked::new(Chunked { data: stream.to_vec(), at: 0, chunk });
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        loop {
            let mut space = vec![0u8; want];
            let mut buf = ReadBuf::new(&mut space);
            match Pin::new(&mut c).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Ok(out),
                Poll::Ready(Ok(())) => out.extend_from_slice(buf.filled()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => unreachable!("the test reader is always ready"),
            }
        }
    }

    fn record(kind: u8, id: u16, content: &[u8], padding: u8) -> Vec<u8> {
        let mut r = header(kind, id, content.len() as u16).to_vec();
        r[6] = padding;
        r.extend(content);
        r.extend(vec![0; padding as usize]);
        r
    }

    fn pair(name: &str, value: &str) -> Vec<u8> {
        let mut p = Vec::new();
        for len in [name.len(), value.len()] {
            if len < 128 { p.push(len as u8) } else { p.extend((len as u32 | 0x8000_0000).to_be_bytes()) }
        }
        p.extend(name.as_bytes());
        p.extend(value.as_bytes());
        p
    }

    fn begin(id: u16) -> Vec<u8> {
        record(BEGIN_REQUEST, id, &[0, 1, 1, 0, 0, 0, 0, 0], 0)
    }

    /// The records in `stream`: (kind, id, content).
    fn records(mut stream: &[u8]) -> Vec<(u8, u16, Vec<u8>)> {
        let mut out = Vec::new();
        while !stream.is_empty() {
            let (content, padding) = check(stream[..8].try_into().unwrap()).unwrap();
            out.push((stream[1], u16::from_be_bytes([stream[2], stream[3]]), stream[8..8 + content].to_vec()));
            stream = &stream[8 + content + padding..];
        }
        out
    }

    #[test]
    fn records_other_than_params_pass_untouched_in_any_split() {
        let mut stream = begin(1);
        stream.extend(record(PARAMS, 1, &[], 3));
        stream.extend(record(STDIN, 1, &[1, 2, 3], 5));
        stream.extend(record(STDIN, 1, &[], 0));
        stream.extend(record(9, 0, &pair("FCGI_MAX_CONNS", ""), 0));
        let mut want = begin(1);
        want.extend(record(PARAMS, 1, &[], 0));
        want.extend(&stream[begin(1).len() + 11..]);
        for chunk in 1..stream.len() {
            for read in [1, 7, 8, 4096] {
                assert_eq!(through(&stream, chunk, read).unwrap(), want, "chunks of {chunk}, reads of {read}");
            }
        }
    }

    #[test]
    fn params_cut_anywhere_are_passed_on_as_whole_pairs() {
        let mut pairs = pair("REQUEST_METHOD", "GET");
        pairs.extend(pair("HTTP_USER_AGENT", &"u".repeat(200)));
        pairs.extend(pair("REMOTE_ADDR", "10.1.1.1"));
        for cut in 1..pairs.len() {
            let mut stream = begin(1);
            stream.extend(record(PARAMS, 1, &pairs[..cut], 1));
            stream.extend(record(PARAMS, 1, &pairs[cut..], 0));
            stream.extend(record(PARAMS, 1, &[], 0));
            stream.extend(record(STDIN, 1, &[], 0));
            let got = records(&through(&stream, 5, 8).unwrap());
            let params: Vec<Vec<u8>> = got.iter().filter(|r| r.0 == PARAMS).map(|r| r.2.clone()).collect();
            assert!(params.iter().all(|p| whole_pairs(p) == p.len()), "cut at {cut}: {got:?}");
            assert_eq!(params.concat(), pairs, "cut at {cut}");
            assert_eq!(params.last().map(|p| p.len()), Some(0), "the stream still ends");
            assert_eq!(got.last().unwrap().0, STDIN);
        }
    }

    #[test]
    fn between_requests_until_a_request_begins_and_again_when_its_input_ended() {
        let mut stream = begin(1);
        stream.extend(record(PARAMS, 1, &pair("A", "b"), 0));
        stream.extend(record(PARAMS, 1, &[], 0));
        let mut c = Checked::new(Chunked { data: stream, at: 0, chunk: 4096 });
        let between = c.between_requests();
        assert!(between.now());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut space = [0u8; 8];
        let _ = Pin::new(&mut c).poll_read(&mut cx, &mut ReadBuf::new(&mut space));
        assert!(!between.now(), "a request has begun");
        while c.inner.at < c.inner.data.len() || !c.due.is_empty() {
            let _ = Pin::new(&mut c).poll_read(&mut cx, &mut ReadBuf::new(&mut space));
        }
        assert!(!between.now(), "its STDIN has not ended");
        c.inner.data.extend(record(STDIN, 1, &[], 0));
        let _ = Pin::new(&mut c).poll_read(&mut cx, &mut ReadBuf::new(&mut space));
        assert!(between.now(), "its input has ended");
    }

    #[test]
    fn a_large_body_is_refused() {
        let mut stream = begin(1);
        stream.extend(record(STDIN, 1, &[0; 60_000], 0));
        stream.extend(record(STDIN, 1, &[0; 60_000], 0));
        let e = through(&stream, 4096, 65536).unwrap_err();
        assert!(e.to_string().contains("request body over"), "{e}");
    }

    #[test]
    fn large_params_are_refused() {
        let pairs = pair("HTTP_COOKIE", &"c".repeat(70_000));
        let mut stream = begin(1);
        for part in pairs.chunks(60_000) {
            stream.extend(record(PARAMS, 1, part, 0));
        }
        let e = through(&stream, 4096, 65536).unwrap_err();
        assert!(e.to_string().contains("request parameters over 65535 bytes"), "{e}");
    }

    #[test]
    fn malformed_records_are_refused() {
        let mut cut_pair = begin(1);
        cut_pair.extend(record(PARAMS, 1, &pair("NAME", "value")[..4], 0));
        cut_pair.extend(record(PARAMS, 1, &[], 0));
        let mut twice = begin(1);
        twice.extend(begin(1));
        let too_many: Vec<u8> = (1..=17).flat_map(begin).collect();
        for (stream, why) in [
            (header(BEGIN_REQUEST, 1, 0).to_vec(), "BEGIN_REQUEST body of 0"),
            (record(BEGIN_REQUEST, 1, &[0], 0), "BEGIN_REQUEST body of 1"),
            ([&[2][..], &begin(1)[1..]].concat(), "version 2"),
            (header(PARAMS, 0, 0).to_vec(), "request id 0"),
            (record(PARAMS, 3, &pair("A", "b"), 0), "request 3, which is not open"),
            (cut_pair, "cut off by the end of its PARAMS"),
            (twice, "a second BEGIN_REQUEST"),
            (too_many, "more than 16 requests"),
        ] {
            let e = through(&stream, 4096, 4096).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }
}
