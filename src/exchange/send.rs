//! The sending half of an exchange: the request head field by field
//! (RFC 9112 §3, §5), then the body — in memory, streamed with
//! Content-Length, or chunked (RFC 9112 §7.1) — with the
//! `Expect: 100-continue` wait of RFC 9110 §10.1.1 in between.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method};

use super::{target_of, Ctx, Exchange, Receiving, Sending};
use crate::error::{Error, ErrorKind, Phase};
use crate::h1::writer;
use crate::send_body::{Inner as BodyInner, SendBody};
use crate::trace::{CloseReason, EventKind, FieldValues};

impl Exchange {
    pub(super) fn write_head(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        self.head_begun = true;
        let out = &mut conn.send;
        if self.via.is_some() && self.scheme == crate::conn::Scheme::Http {
            // RFC 9112 §3.2.2: absolute-form to a forward proxy.
            let absolute = self.uri.to_string();
            writer::write_request_line(&self.method, &absolute, out);
        } else {
            writer::write_request_line(&self.method, target_of(&self.uri), out);
        }
        let host = match &self.host_header {
            Some(v) => v.as_bytes(),
            None => self
                .uri
                .authority()
                .map_or(&b""[..], |a| a.as_str().as_bytes()),
        };
        writer::write_field("Host", host, out);
        if self.tr.on(ctx) {
            let value = HeaderValue::from_bytes(host).unwrap_or(HeaderValue::from_static(""));
            let kind = EventKind::WroteHeaderField {
                name: "Host",
                values: FieldValues::one(&value),
            };
            self.tr.emit(ctx, now, kind);
        }
        if let Some(ua) = &self.user_agent {
            writer::write_field("User-Agent", ua.as_bytes(), &mut conn.send);
            let kind = EventKind::WroteHeaderField {
                name: "User-Agent",
                values: FieldValues::one(ua),
            };
            self.tr.emit(ctx, now, kind);
        }
        let proxy_auth = match (&self.via, self.scheme) {
            (Some(p), crate::conn::Scheme::Http) => p.authorization.clone(),
            _ => None,
        };
        if let Some(auth) = &proxy_auth {
            writer::write_field("Proxy-Authorization", auth.as_bytes(), &mut conn.send);
            let kind = EventKind::WroteHeaderField {
                name: "Proxy-Authorization",
                values: FieldValues::one(auth),
            };
            self.tr.emit(ctx, now, kind);
        }
        let headers = std::mem::take(&mut self.headers);
        for name in headers.keys() {
            for value in headers.get_all(name) {
                writer::write_field(name.as_str(), value.as_bytes(), &mut conn.send);
            }
            self.tr.emit(
                ctx,
                now,
                EventKind::WroteHeaderField {
                    name: name.as_str(),
                    values: FieldValues::all(&headers, name),
                },
            );
        }
        self.headers = headers;
        let method_has_body = !matches!(
            self.method,
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
        );
        if self.chunked {
            let te = HeaderValue::from_static("chunked");
            writer::write_field("Transfer-Encoding", te.as_bytes(), &mut conn.send);
            self.tr.emit(
                ctx,
                now,
                EventKind::WroteHeaderField {
                    name: "Transfer-Encoding",
                    values: FieldValues::one(&te),
                },
            );
        } else if let Some(len) = self.body_len.filter(|&n| n > 0 || method_has_body) {
            let mut digits = [0u8; 20];
            let cl = HeaderValue::from_bytes(decimal(len, &mut digits))
                .expect("digits are a valid value");
            writer::write_field("Content-Length", cl.as_bytes(), &mut conn.send);
            self.tr.emit(
                ctx,
                now,
                EventKind::WroteHeaderField {
                    name: "Content-Length",
                    values: FieldValues::one(&cl),
                },
            );
        }
        writer::end_head(&mut conn.send);
        self.conn = Some(conn);
        self.tr.emit(ctx, now, EventKind::WroteHeaders);
        self.sending = Sending::Head;
        self.body_sent = 0;
        if !self.expect_continue {
            self.queue_in_memory_body();
        }
        self.after_send_progress(ctx, now);
    }

    pub(super) fn queue_in_memory_body(&mut self) {
        if let Some(SendBody(BodyInner::Bytes(b))) = &self.body {
            let conn = self.conn.as_mut().expect("attached");
            if self.chunked {
                writer::write_chunk_header(b.len(), &mut conn.send);
                conn.send.extend_from_slice(b);
                writer::write_chunk_end(&mut conn.send);
                writer::write_last_chunk(&mut conn.send);
                self.body_sent = b.len() as u64;
            } else if b.len() <= 16 * 1024 {
                conn.send.extend_from_slice(b);
                self.body_sent = b.len() as u64;
            } else {
                self.body_bytes = Some((b.clone(), 0));
            }
        }
    }

    /// The runtime wrote `n` bytes of [`pending_send`](Self::pending_send).
    pub fn handle_written(&mut self, mut n: usize, ctx: &mut Ctx<'_>, now: Instant) {
        if self.conn.as_ref().is_some_and(|c| c.tls.is_some()) {
            self.tls_written(n);
            self.after_send_progress(ctx, now);
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            let head = (conn.send.len() - conn.sent).min(n);
            conn.sent += head;
            n -= head;
            if conn.sent == conn.send.len() {
                conn.send.clear();
                conn.sent = 0;
                if conn.send.capacity() > 64 * 1024 {
                    conn.send.shrink_to(4096);
                }
            }
        }
        if n > 0 {
            if let Some((b, off)) = &mut self.body_bytes {
                *off += n;
                self.body_sent += n as u64;
                if *off == b.len() {
                    self.body_bytes = None;
                }
            }
        }
        self.after_send_progress(ctx, now);
    }

    /// Moves the send side on once queued bytes are gone.
    pub(super) fn after_send_progress(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        // Before the request (a CONNECT to a proxy), nothing moves on here.
        if !matches!(self.state, super::State::Connected) {
            return;
        }
        loop {
            if self.pending_send().is_some() || self.conn.is_none() {
                return;
            }
            match self.sending {
                Sending::Head => {
                    if self.expect_continue && matches!(self.receiving, Receiving::Head) {
                        self.tr.emit(ctx, now, EventKind::Wait100Continue);
                        self.sending = Sending::WaitContinue {
                            until: crate::after(now, ctx.config.expect_continue_timeout),
                        };
                        return;
                    }
                    if self.expect_continue {
                        // A final answer came before we asked for the body.
                        self.skip_body(ctx, now);
                        return;
                    }
                    self.sending = Sending::Body;
                }
                Sending::WaitContinue { .. } => return,
                Sending::Body => {
                    if !self.fill_streaming_body(ctx, now) {
                        return;
                    }
                }
                Sending::Done => return,
            }
        }
    }

    /// Queues the next piece of a streaming body; true when the body is
    /// finished (and `wrote_request` has fired).
    pub(super) fn fill_streaming_body(&mut self, ctx: &mut Ctx<'_>, now: Instant) -> bool {
        let reader_body = matches!(&self.body, Some(SendBody(BodyInner::Reader { .. })));
        if !reader_body {
            self.finish_sending(None, ctx, now);
            return true;
        }
        let Some(SendBody(BodyInner::Reader { reader, .. })) = self.body.as_mut() else {
            unreachable!()
        };
        let conn = self.conn.as_mut().expect("attached");
        let step = ctx.config.send_chunk_size.max(1);
        let want = match self.body_len {
            Some(len) => (len - self.body_sent).min(step as u64) as usize,
            None => step,
        };
        let frame_room = if self.chunked { 18 } else { 0 };
        let start = conn.send.len();
        conn.send.resize(start + frame_room + want, 0);
        // Once a sized body is complete, one more byte is asked for: a
        // reader that yields it announced the wrong length.
        let mut probe = [0u8; 1];
        let read = loop {
            let buf = if want == 0 {
                &mut probe[..]
            } else {
                &mut conn.send[start + frame_room..]
            };
            match reader.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Err(e) => {
                conn.send.truncate(start);
                let err = Error::new(Phase::WriteRequest, ErrorKind::RequestBody(Arc::new(e)));
                self.fail(err, ctx, now);
                true
            }
            Ok(0) => {
                conn.send.truncate(start);
                if let Some(len) = self.body_len {
                    if self.body_sent != len {
                        let err = Error::new(
                            Phase::WriteRequest,
                            ErrorKind::BodyLengthMismatch {
                                expected: len,
                                actual: self.body_sent,
                            },
                        );
                        self.fail(err, ctx, now);
                        return true;
                    }
                }
                if self.chunked {
                    writer::write_last_chunk(&mut conn.send);
                    // Wait for the last chunk to be written.
                    self.body = Some(SendBody::empty());
                    return false;
                }
                self.finish_sending(None, ctx, now);
                true
            }
            Ok(n) => {
                if self
                    .body_len
                    .is_some_and(|len| self.body_sent + n as u64 > len)
                {
                    // Only read what was asked, so this cannot happen; keep
                    // the guard for readers that misreport.
                    conn.send.truncate(start);
                    let err = Error::new(
                        Phase::WriteRequest,
                        ErrorKind::BodyLengthMismatch {
                            expected: self.body_len.unwrap_or(0),
                            actual: self.body_sent + n as u64,
                        },
                    );
                    self.fail(err, ctx, now);
                    return true;
                }
                self.body_sent += n as u64;
                if self.chunked {
                    let mut header = Vec::with_capacity(18);
                    writer::write_chunk_header(n, &mut header);
                    let data_at = start + frame_room;
                    let header_at = data_at - header.len();
                    conn.send[header_at..data_at].copy_from_slice(&header);
                    conn.send.truncate(data_at + n);
                    writer::write_chunk_end(&mut conn.send);
                    // Remove the unused framing room in front.
                    conn.send.drain(start..header_at);
                } else {
                    conn.send.truncate(start + n);
                }
                false
            }
        }
    }

    pub(super) fn finish_sending(
        &mut self,
        error: Option<&Error>,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        if matches!(self.sending, Sending::Done) {
            return;
        }
        self.sending = Sending::Done;
        self.body_bytes = None;
        if matches!(self.receiving, super::Receiving::Head) && error.is_none() {
            self.header_deadline = self.timeouts.response_header.map(|t| crate::after(now, t));
        }
        self.tr.emit(ctx, now, EventKind::WroteRequest { error });
    }

    /// The body will not be sent (final status before 100 Continue): the
    /// server would read our next request as this body, so the connection
    /// cannot be reused.
    pub(super) fn skip_body(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.body_len != Some(0) {
            self.must_close
                .get_or_insert(CloseReason::RequestBodyUnsent);
        }
        self.finish_sending(None, ctx, now);
    }

    pub(super) fn start_body_after_continue(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        match self.sending {
            Sending::WaitContinue { .. } => self.sending = Sending::Head,
            // 100 arrived before the head was fully written: the body simply
            // follows the head.
            Sending::Head if self.expect_continue => {}
            _ => return,
        }
        self.expect_continue = false;
        self.queue_in_memory_body();
        self.after_send_progress(ctx, now);
    }

    /// The response is complete while the request is still going out: stop
    /// sending. The server has not read the rest, so the connection cannot
    /// be reused (unless nothing was left to send).
    pub(super) fn abandon_send(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let Sending::WaitContinue { .. } = self.sending {
            self.skip_body(ctx, now);
            return;
        }
        if self.pending_send().is_some() || matches!(self.sending, Sending::Body) {
            self.must_close
                .get_or_insert(CloseReason::RequestBodyUnsent);
        }
        self.body_bytes = None;
        if let Some(c) = self.conn.as_mut() {
            c.send.clear();
            c.sent = 0;
        }
        self.finish_sending(None, ctx, now);
    }
}

/// `n` in decimal, written into `buf` without allocating.
pub(super) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}
