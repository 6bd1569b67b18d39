//! FastCGI records as a web server sends them, to talk to the resident responder without
//! one: whole requests, requests cut where a test wants, and the responder's answer.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub const BEGIN_REQUEST: u8 = 1;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;

/// One FastCGI record (no padding).
pub fn record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
    let mut r = vec![1, kind];
    r.extend(id.to_be_bytes());
    r.extend((content.len() as u16).to_be_bytes());
    r.extend([0, 0]);
    r.extend(content);
    r
}

/// A FastCGI name-value pair (a length of 128 or more takes four bytes).
pub fn pair(name: &str, value: &str) -> Vec<u8> {
    let mut p = Vec::new();
    for len in [name.len(), value.len()] {
        if len < 128 {
            p.push(len as u8);
        } else {
            p.extend((len as u32 | 0x8000_0000).to_be_bytes());
        }
    }
    p.extend(name.as_bytes());
    p.extend(value.as_bytes());
    p
}

/// The pairs of a request for `path` (under the example's prefix) from `from`.
pub fn params(method: &str, path: &str, from: &str) -> Vec<u8> {
    let mut p = pair("REQUEST_METHOD", method);
    p.extend(pair("SCRIPT_NAME", &format!("/install/rocks{path}")));
    p.extend(pair("REQUEST_URI", &format!("/install/rocks{path}")));
    p.extend(pair("REMOTE_ADDR", from));
    p
}

/// `BEGIN_REQUEST` for the responder role; `keep`: the connection stays open after the answer.
pub fn begin(id: u16, keep: bool) -> Vec<u8> {
    record(BEGIN_REQUEST, id, &[0, 1, u8::from(keep), 0, 0, 0, 0, 0])
}

/// A whole request: `BEGIN_REQUEST`, `params` in one record, the empty `PARAMS` and `STDIN`.
pub fn request(id: u16, keep: bool, params: &[u8]) -> Vec<u8> {
    request_in(id, keep, &[params])
}

/// A whole request whose `PARAMS` stream is sent in the records `parts` (an empty part is
/// left out: an empty record would end the stream).
pub fn request_in(id: u16, keep: bool, parts: &[&[u8]]) -> Vec<u8> {
    let mut r = begin(id, keep);
    for part in parts.iter().filter(|p| !p.is_empty()) {
        r.extend(record(PARAMS, id, part));
    }
    r.extend(record(PARAMS, id, &[]));
    r.extend(record(STDIN, id, &[]));
    r
}

/// Send `bytes` on a new connection to `sock` and read until the responder closes it (or 10
/// s pass). A responder that closes before it has read everything (a malformed stream) cuts
/// the write short, which is not an error here.
pub fn exchange(sock: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Read records from `s` until the `END_REQUEST` of request `id`: the `STDOUT` it sent.
pub fn answer(s: &mut impl Read, id: u16) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut header = [0u8; 8];
        s.read_exact(&mut header)?;
        let len = u16::from_be_bytes([header[4], header[5]]) as usize + header[6] as usize;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body)?;
        let of_id = u16::from_be_bytes([header[2], header[3]]) == id;
        match header[1] {
            STDOUT if of_id => out.extend(&body[..len - header[6] as usize]),
            END_REQUEST if of_id => return Ok(out),
            _ => {}
        }
    }
}
