//! CGI/1.1: one request per process. The request is in the environment, the response goes
//! to standard output, the log to standard error. Only the requested host is compiled.

use std::io::{self, Read, Write};

use super::{Config, MAX_BODY, Request, Response, State};

/// Answer the request `vars` describes (the process's environment, for a real CGI), writing
/// the response to `out` and anything worth logging to `log`. No endpoint reads a request
/// body, but the body is read from `input` (at most [`MAX_BODY`] bytes of `CONTENT_LENGTH`)
/// and dropped first: a web server that is still writing it to a script that never reads
/// would otherwise wait (Apache's mod_cgid waits seconds per request).
pub fn respond(cfg: &Config, vars: &[(String, String)], input: &mut dyn Read, out: &mut dyn Write, log: &mut dyn Write) -> io::Result<()> {
    let get = |n: &str| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let length = get("CONTENT_LENGTH").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    io::copy(&mut input.take(length.min(MAX_BODY as u64)), &mut io::sink())?;
    let req = Request::from_vars(get, vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let response = match State::load(cfg, false) {
        Ok(state) => {
            let answer = state.answer(cfg, &req);
            if let Some(line) = &answer.log {
                writeln!(log, "rocks-compile: {line}")?;
            }
            answer.response
        }
        Err(e) => {
            writeln!(log, "rocks-compile: {} {} {}: cannot load: {e}", req.remote_addr, req.method, req.path)?;
            if !e.details.is_empty() {
                log.write_all(e.details.as_bytes())?;
            }
            let mut r = if e.busy {
                Response::error(503, "the cluster database is busy; try again").with("Retry-After", "5")
            } else {
                Response::error(500, "the responder could not load its configuration")
            };
            r.head = req.is_head();
            r
        }
    };
    out.write_all(&response.header())?;
    out.write_all(response.sent_body())?;
    out.flush()
}

/// The process environment as strings (values that are not UTF-8 are replaced lossily, and
/// then fail validation like any other bad input).
pub fn environment() -> Vec<(String, String)> {
    std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned())).collect()
}
