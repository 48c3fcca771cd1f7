//! Tunnels through an HTTP proxy for `https://` (RFC 9110 §9.3.6): after
//! TCP reaches the proxy, `CONNECT host:port` (with `Proxy-Authorization`
//! when the proxy URL had credentials), `proxy_connect_start`; a 2xx opens
//! the tunnel (`proxy_connect_done`) and TLS to the origin starts inside
//! it; anything else is an error carrying the proxy's status line, and the
//! proxy's body is never taken for the origin's.

use std::time::Instant;

use super::{Ctx, Exchange, Receiving, State};
use crate::conn::Conn;
use crate::error::{Error, ErrorKind, Phase};
use crate::h1::{self, writer};
use crate::trace::EventKind;

impl Exchange {
    /// TCP to the proxy is up: send CONNECT.
    pub(super) fn start_proxy_connect(
        &mut self,
        mut conn: Box<Conn>,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        let Some(via) = self.via.clone() else { return };
        let mut target = String::new();
        super::connect::write_host_port(&mut target, self.host(), self.port);
        let kind = EventKind::ProxyConnectStart {
            proxy: &via.display,
            target: &target,
        };
        self.tr.emit(ctx, now, kind);
        let out = &mut conn.send;
        out.extend_from_slice(b"CONNECT ");
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        writer::write_field("Host", target.as_bytes(), out);
        if let Some(auth) = &via.authorization {
            writer::write_field("Proxy-Authorization", auth.as_bytes(), out);
        }
        writer::end_head(out);
        self.conn = Some(conn);
        self.state = State::ProxyConnecting {
            deadline: crate::after(now, self.timeouts.connect),
        };
    }

    /// Bytes from the proxy while CONNECT is under way.
    pub(super) fn proxy_read(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let parsed = h1::head::parse_response_head_into(
                conn.recv.raw(),
                ctx.config.max_head_size,
                ctx.config.max_headers,
                &mut ctx.spare_bufs.heads,
                super::HEAD_STORE_CHUNK,
            );
            let (head, raw) = match parsed {
                Ok(None) => return,
                Ok(Some((len, head, raw))) => {
                    conn.recv.skip_raw(len);
                    (head, raw)
                }
                Err(e) => {
                    let e = Error::new(Phase::Connect, e.kind().clone());
                    self.proxy_failed(None, &[], e, ctx, now);
                    return;
                }
            };
            if head.status.is_informational() {
                continue;
            }
            if !head.status.is_success() {
                let err = Error::new(
                    Phase::Connect,
                    ErrorKind::ProxyConnectRefused {
                        status: head.status.as_u16(),
                        // The refusal's own words ("403 Blocked By
                        // Policy"), not the registry's name for the code.
                        reason: h1::head::reason_phrase(&raw),
                    },
                );
                self.proxy_failed(Some(head.status), &raw, err, ctx, now);
                return;
            }
            let kind = EventKind::ProxyConnectDone {
                status: Some(head.status),
                error: None,
                raw_head: &raw,
            };
            self.tr.emit(ctx, now, kind);
            let Some(mut conn) = self.conn.take() else {
                return;
            };
            // Bytes after the proxy's head are the origin's TLS records.
            let early = conn.recv.raw().to_vec();
            conn.recv.clear();
            self.receiving = Receiving::Head;
            self.start_tls(conn, ctx, now);
            if !early.is_empty() {
                if let Some(conn) = self.conn.as_mut() {
                    conn.cipher_in
                        .resize(conn.cipher_in.len().max(early.len()), 0);
                    conn.cipher_in[..early.len()].copy_from_slice(&early);
                    conn.cipher_len = early.len();
                }
                self.tls_read(0, ctx, now);
            }
            return;
        }
    }

    /// The proxy closed the connection during CONNECT.
    pub(super) fn proxy_eof(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let err = Error::new(Phase::Connect, ErrorKind::ConnectionClosed);
        self.proxy_failed(None, &[], err, ctx, now);
    }

    fn proxy_failed(
        &mut self,
        status: Option<http::StatusCode>,
        raw_head: &[u8],
        err: Error,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        // Reported here with the status; `fail` then reports nothing more.
        self.state = State::Connected;
        let kind = EventKind::ProxyConnectDone {
            status,
            error: Some(&err),
            raw_head,
        };
        self.tr.emit(ctx, now, kind);
        self.fail(err, ctx, now);
    }
}
