//! Following redirects (RFC 9110 §15.4): which 3xx to follow and how the
//! next request differs — 301/302 turn a POST into a GET without a body,
//! 303 turns anything but HEAD into a GET, 307/308 keep method and body
//! (only when the body can be sent again) — with `Location` resolved
//! against the current URL (RFC 3986 §5.2), credentials and cookies
//! dropped when the origin changes, and https→http refused unless allowed.
//! The chain is one request: one id, one trace (each event carries its
//! `hop`), one `request_done` at the end.

use std::time::Instant;

use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION, PROXY_AUTHORIZATION,
    TRANSFER_ENCODING,
};
use http::{Method, StatusCode, Uri};

use super::{Ctx, Exchange, Receiving};
use crate::error::{Error, ErrorKind, Phase};
use crate::h1::ResponseHead;
use crate::send_body::{Inner as BodyInner, SendBody};
use crate::trace::{EventKind, Trace};

/// What to do after a final head.
pub(crate) enum NextHop {
    /// Hand this response to the caller.
    Stop,
    /// Fail the request with this error.
    Refuse(Error),
    /// Send this request next.
    Follow(Box<Plan>),
}

/// The next hop's request.
pub(crate) struct Plan {
    pub parts: http::request::Parts,
    pub body: SendBody,
    pub to: String,
}

/// What the next hop inherits from this one.
pub(crate) struct Baton {
    pub trace: Trace,
    pub hop: u32,
    pub total_deadline: Option<Instant>,
    pub timings: crate::timings::Timings,
    /// The request's `tracing` spans: the parent and the attempt count
    /// carry over to the next hop.
    #[cfg(feature = "tracing")]
    pub spans: crate::trace::spans::Spans,
}

fn refuse(location: &str, reason: &'static str) -> NextHop {
    NextHop::Refuse(Error::new(
        Phase::ReadResponseHead,
        ErrorKind::RedirectRefused {
            location: location.to_owned(),
            reason,
        },
    ))
}

impl Exchange {
    /// Decides whether `head` (this hop's final head) is a redirect to
    /// follow, and builds the next request if so.
    pub(crate) fn next_hop(&self, head: &ResponseHead, allow_downgrade: bool) -> NextHop {
        let status = head.status.as_u16();
        let Some(max) = self.timeouts.redirects else {
            return NextHop::Stop;
        };
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return NextHop::Stop;
        }
        let Some(location) = head.headers.get(LOCATION) else {
            return NextHop::Stop;
        };
        let Ok(location) = location.to_str() else {
            return refuse("(not UTF-8)", "the Location is not a valid URL");
        };
        if self.tr.hop as usize >= max {
            return NextHop::Refuse(Error::new(
                Phase::ReadResponseHead,
                ErrorKind::TooManyRedirects { max },
            ));
        }
        let Some(to) = resolve(&self.uri, location) else {
            return refuse(location, "the Location is not a valid URL");
        };
        match (self.uri.scheme_str(), to.scheme_str()) {
            (_, Some("http" | "https")) => {}
            _ => return refuse(location, "only http and https are followed"),
        }
        if self.uri.scheme_str() == Some("https")
            && to.scheme_str() == Some("http")
            && !allow_downgrade
        {
            return refuse(location, "https to http (Config::allow_https_downgrade)");
        }
        let keep_body = match status {
            303 => false,
            301 | 302 => self.method != Method::POST,
            _ => true,
        };
        let method = match status {
            303 if self.method != Method::HEAD => Method::GET,
            301 | 302 if self.method == Method::POST => Method::GET,
            _ => self.method.clone(),
        };
        if keep_body && !self.replayable {
            // A streamed body cannot be sent twice: the redirect response
            // goes to the caller.
            return NextHop::Stop;
        }
        let body = match (&self.body, keep_body) {
            (_, false) | (None, _) => SendBody::empty(),
            (Some(SendBody(BodyInner::Empty)), true) => SendBody::empty(),
            (Some(SendBody(BodyInner::Bytes(b))), true) => SendBody(BodyInner::Bytes(b.clone())),
            (Some(SendBody(BodyInner::Reader { .. })), true) => return NextHop::Stop,
        };
        let mut headers = self.headers.clone();
        if !keep_body {
            for h in [CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING] {
                headers.remove(h);
            }
        }
        let same_origin = self.uri.scheme_str() == to.scheme_str()
            && self.host().eq_ignore_ascii_case(super::host_of(&to))
            && self.port
                == to
                    .port_u16()
                    .unwrap_or(if to.scheme_str() == Some("https") {
                        443
                    } else {
                        80
                    });
        if !same_origin {
            for h in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                headers.remove(h);
            }
        } else if let Some(host) = &self.host_header {
            headers.insert(HOST, host.clone());
        }
        let Ok(req) = http::Request::builder()
            .method(method)
            .uri(to.clone())
            .body(())
        else {
            return refuse(location, "the Location is not a valid URL");
        };
        let (mut parts, ()) = req.into_parts();
        parts.headers = headers;
        if let Some(opts) = &self.options {
            parts.extensions.insert(opts.clone());
        }
        NextHop::Follow(Box::new(Plan {
            parts,
            body,
            to: to.to_string(),
        }))
    }

    /// Ends this hop without ending the request: the body is discarded
    /// (the connection is kept if the body is already complete), then
    /// `redirect` fires; the hooks pass to the next hop.
    pub(crate) fn end_hop(
        &mut self,
        status: StatusCode,
        to: &str,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) -> Baton {
        self.chained = true;
        if matches!(self.receiving, Receiving::Done) {
            if let Some(conn) = self.conn.as_mut() {
                conn.recv.discard_body();
            }
        }
        // Completes (pooling the connection) when the body was complete,
        // else closes it; either way without request_done.
        self.cancel(ctx, now);
        let from = self.uri.to_string();
        let kind = EventKind::Redirect {
            from: &from,
            to,
            status,
        };
        self.tr.emit(ctx, now, kind);
        Baton {
            trace: std::mem::take(&mut self.tr.trace),
            hop: self.tr.hop,
            total_deadline: self.total_deadline,
            timings: {
                self.tr.timings.end_hop(now);
                self.tr.timings.clone()
            },
            #[cfg(feature = "tracing")]
            spans: std::mem::replace(&mut self.tr.spans, crate::trace::spans::Spans::new()),
        }
    }

    /// The redirect cannot be followed: the request ends with `e`.
    pub(crate) fn refuse_redirect(&mut self, e: Error, ctx: &mut Ctx<'_>, now: Instant) {
        if matches!(self.receiving, Receiving::Done) {
            if let Some(conn) = self.conn.as_mut() {
                conn.recv.discard_body();
            }
        }
        self.fail_with_reason(e, crate::trace::CloseReason::Cancelled, ctx, now);
    }

    /// Takes over what the previous hop handed on.
    pub(crate) fn continue_chain(&mut self, baton: Baton) {
        self.tr.trace = baton.trace;
        self.tr.hop = baton.hop + 1;
        self.total_deadline = baton.total_deadline;
        let mut previous = baton.timings;
        self.tr.timings.continue_chain(&mut previous, self.tr.hop);
        #[cfg(feature = "tracing")]
        {
            self.tr.spans = baton.spans;
        }
    }
}

/// Resolves `location` against `base` (RFC 3986 §5.2, without fragments).
pub(crate) fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.split('#').next().unwrap_or("").trim();
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let has_scheme = location.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && s.as_bytes()[0].is_ascii_alphabetic()
    });
    let full = if has_scheme {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{}", remove_dot_segments(location))
    } else if location.starts_with('?') || location.is_empty() {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let (p, q) = match location.split_once('?') {
            Some((p, q)) => (p, format!("?{q}")),
            None => (location, String::new()),
        };
        let joined = remove_dot_segments(&format!("/{}{p}", dir.trim_start_matches('/')));
        format!("{scheme}://{authority}{joined}{q}")
    };
    full.parse::<Uri>().ok().filter(|u| u.authority().is_some())
}

/// RFC 3986 §5.2.4 on an absolute path (query excluded).
fn remove_dot_segments(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut result = format!("/{}", out.join("/"));
    if let Some(q) = query {
        result.push('?');
        result.push_str(q);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_examples() {
        // RFC 3986 §5.4.1 (the ones that apply to http URLs).
        let base: Uri = "http://a/b/c/d;p?q".parse().unwrap();
        for (rel, want) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("g#s", "http://a/b/c/g"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("https://other.test:8443/x", "https://other.test:8443/x"),
        ] {
            assert_eq!(
                resolve(&base, rel).map(|u| u.to_string()),
                Some(want.to_owned()),
                "{rel}"
            );
        }
        assert!(resolve(&base, "http://").is_none());
    }
}
