//! [`Request`] (what CGI and FastCGI hand us, as CGI/1.1 meta-variables) and [`Response`].

use std::fmt::Write as _;

/// One request, as the CGI/1.1 meta-variables describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `REQUEST_METHOD`.
    pub method: String,
    /// The path the endpoints are matched against: `PATH_INFO` when the server gives one (a
    /// CGI script at `/cgi-bin/rocks-compile` asked for `/cgi-bin/rocks-compile/kickstart`),
    /// else the path of `REQUEST_URI` (a FastCGI location), else `SCRIPT_NAME`.
    pub path: String,
    /// `SCRIPT_NAME` followed by `PATH_INFO`, when the server gave both: the whole path of a
    /// server that splits it where a directory of the tree ends (lighttpd sends
    /// `/install/rocks/kickstart` + `/n22.ks`).
    pub full_path: Option<String>,
    /// `QUERY_STRING`, still encoded.
    pub query: String,
    /// `REMOTE_ADDR`, as given.
    pub remote_addr: String,
    /// `REMOTE_PORT`, as given.
    pub remote_port: String,
    /// `HTTP_X_RHN_PROVISIONING_MAC_<N>` values, by `N`.
    pub provisioning_macs: Vec<(u32, String)>,
}

impl Request {
    /// A request from CGI/1.1 meta-variables (`get(name)` gives each one's value).
    pub fn from_vars<'a>(get: impl Fn(&str) -> Option<&'a str>, all: impl Iterator<Item = (&'a str, &'a str)>) -> Request {
        let var = |n: &str| get(n).unwrap_or("").to_string();
        let path = match get("PATH_INFO").filter(|p| !p.is_empty()) {
            Some(p) => p.to_string(),
            None => match get("REQUEST_URI").filter(|u| !u.is_empty()) {
                Some(u) => u.split_once('?').map_or(u, |(p, _)| p).to_string(),
                None => var("SCRIPT_NAME"),
            },
        };
        let mut provisioning_macs: Vec<(u32, String)> = all
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("HTTP_X_RHN_PROVISIONING_MAC_")?;
                Some((n.parse().unwrap_or(u32::MAX), v.to_string()))
            })
            .collect();
        provisioning_macs.sort();
        let full_path = match (get("SCRIPT_NAME").filter(|s| !s.is_empty()), get("PATH_INFO").filter(|p| !p.is_empty())) {
            (Some(s), Some(p)) => Some(format!("{s}{p}")),
            _ => None,
        };
        Request {
            method: var("REQUEST_METHOD"),
            path,
            full_path,
            query: var("QUERY_STRING"),
            remote_addr: var("REMOTE_ADDR"),
            remote_port: var("REMOTE_PORT"),
            provisioning_macs,
        }
    }

    /// Whether only the headers are wanted.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// One answer: a status, headers and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// Further headers (`Allow`, `Retry-After`, `Cache-Control`).
    pub headers: Vec<(&'static str, String)>,
    /// Shared, so an answer from the resident responder's memory is not copied.
    pub body: std::sync::Arc<[u8]>,
    /// A `HEAD` request: the body is counted but not sent.
    pub head: bool,
}

impl Response {
    /// A `200 OK` plain-text answer.
    pub fn ok(body: impl Into<Vec<u8>>) -> Response {
        Response::shared(body.into().into())
    }

    /// A `200 OK` plain-text answer of bytes held elsewhere (not copied).
    pub fn shared(body: std::sync::Arc<[u8]>) -> Response {
        Response { status: 200, content_type: "text/plain; charset=utf-8", headers: Vec::new(), body, head: false }
    }

    /// An error: the status and a one-line body.
    pub fn error(status: u16, line: &str) -> Response {
        let mut body = line.replace(['\r', '\n'], " ");
        body.push('\n');
        Response { status, ..Response::ok(body) }
    }

    /// Add a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The CGI/FastCGI response header: `Status`, the headers and the empty line.
    pub fn header(&self) -> Vec<u8> {
        let mut head = String::new();
        let _ = write!(
            head,
            "Status: {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (k, v) in &self.headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// The body to send: none for `HEAD`.
    pub fn sent_body(&self) -> &[u8] {
        if self.head { &[] } else { &self.body }
    }

    /// The whole CGI/FastCGI response: [`Response::header`] and [`Response::sent_body`].
    pub fn to_cgi(&self) -> Vec<u8> {
        let mut out = self.header();
        out.extend_from_slice(self.sent_body());
        out
    }
}

/// The reason phrase of the statuses the responder uses.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefers_path_info_then_request_uri() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            Request::from_vars(|n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v), pairs.iter().copied())
        };
        let r = vars(&[("PATH_INFO", "/kickstart"), ("REQUEST_URI", "/cgi-bin/rc/kickstart?x=1"), ("SCRIPT_NAME", "/cgi-bin/rc")]);
        assert_eq!(r.path, "/kickstart");
        let r = vars(&[("PATH_INFO", ""), ("REQUEST_URI", "/install/kickstart?host=a"), ("SCRIPT_NAME", "/install/kickstart")]);
        assert_eq!(r.path, "/install/kickstart");
        let r =
            vars(&[("SCRIPT_NAME", "/health"), ("HTTP_X_RHN_PROVISIONING_MAC_1", "eth1 b"), ("HTTP_X_RHN_PROVISIONING_MAC_0", "eth0 a")]);
        assert_eq!(r.path, "/health");
        assert_eq!(r.provisioning_macs, [(0, "eth0 a".to_string()), (1, "eth1 b".to_string())]);
    }

    #[test]
    fn errors_are_one_line_and_head_has_no_body() {
        let r = Response::error(404, "no host\nhas this");
        assert_eq!(&r.body[..], b"no host has this\n");
        let mut ok = Response::ok("abc").with("Cache-Control", "no-store");
        ok.head = true;
        assert_eq!(
            String::from_utf8(ok.to_cgi()).unwrap(),
            "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nCache-Control: no-store\r\n\r\n"
        );
    }
}
