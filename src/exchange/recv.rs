//! The receiving half of an exchange: response heads (1xx and final,
//! RFC 9112 §4–§5, RFC 9110 §15.2), body framing (RFC 9112 §6.3) and
//! decoding, EOF and IO errors, and handing body bytes to the caller.

use std::time::Instant;

use http::StatusCode;

use super::{BodyRead, Ctx, Exchange, Receiving, Sending};
use crate::conn::SockId;
use crate::error::{Error, ErrorKind, Limit, Phase, Result};
use crate::h1::body::ChunkLimits;
use crate::h1::framing::{self, BodyFraming};
use crate::h1::{self, BodyDecoder, ResponseHead};
use crate::trace::{CloseReason, EventKind};

impl Exchange {
    /// The runtime read `n` bytes into [`recv_space`](Self::recv_space).
    pub fn handle_read(&mut self, n: usize, ctx: &mut Ctx<'_>, now: Instant) {
        if self.conn.as_ref().is_some_and(|c| c.tls.is_some()) {
            self.tls_read(n, ctx, now);
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.recv.filled(n);
        }
        if let super::State::ProxyConnecting { .. } = self.state {
            self.proxy_read(ctx, now);
            return;
        }
        if let Err(e) = self.process_recv(ctx, now) {
            self.fail_recv(e, ctx, now);
        }
    }

    pub(super) fn process_recv(&mut self, ctx: &mut Ctx<'_>, now: Instant) -> Result<()> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(());
            };
            match &mut self.receiving {
                Receiving::Head => {
                    if conn.recv.raw().is_empty() {
                        return Ok(());
                    }
                    if !self.first_byte {
                        self.first_byte = true;
                        self.tr.emit(ctx, now, EventKind::GotFirstResponseByte);
                    }
                    let conn = self.conn.as_mut().expect("attached");
                    let parsed = h1::head::parse_response_head_into(
                        conn.recv.raw(),
                        ctx.config.max_head_size,
                        ctx.config.max_headers,
                        &mut ctx.spare_bufs.heads,
                        super::HEAD_STORE_CHUNK,
                    )?;
                    let Some((len, head, raw)) = parsed else {
                        return Ok(());
                    };
                    conn.recv.skip_raw(len);
                    self.handle_head(head, raw, ctx, now)?;
                }
                Receiving::Body(decoder) => {
                    let raw = conn.recv.raw();
                    if raw.is_empty() {
                        return Ok(());
                    }
                    self.idle_deadline = self.timeouts.body_idle.map(|t| crate::after(now, t));
                    let step = decoder.decode(raw)?;
                    conn.recv.accept_body(step.data, step.consumed);
                    if step.done {
                        self.body_complete();
                    } else if step.consumed == 0 {
                        return Ok(());
                    }
                }
                Receiving::Done | Receiving::Failed(_) => return Ok(()),
            }
        }
    }

    pub(super) fn handle_head(
        &mut self,
        head: ResponseHead,
        raw: bytes::Bytes,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) -> Result<()> {
        let status = head.status;
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(Error::new(
                    Phase::ReadResponseHead,
                    ErrorKind::UnexpectedSwitchingProtocols,
                ));
            }
            self.informational += 1;
            if self.informational > ctx.config.max_1xx_responses {
                return Err(Error::new(
                    Phase::ReadResponseHead,
                    ErrorKind::LimitExceeded {
                        limit: Limit::InformationalResponses,
                        max: ctx.config.max_1xx_responses,
                    },
                ));
            }
            // Go fires got_100_continue only when it asked for one.
            let awaited = status == StatusCode::CONTINUE && self.expect_continue;
            if awaited {
                self.tr.emit(ctx, now, EventKind::Got100Continue);
            }
            self.tr.emit(
                ctx,
                now,
                EventKind::Got1xxResponse {
                    code: status,
                    headers: &head.headers,
                    raw_head: &raw,
                },
            );
            if awaited {
                self.start_body_after_continue(ctx, now);
            }
            return Ok(());
        }
        if status == StatusCode::EXPECTATION_FAILED
            && self.expect_continue
            && matches!(self.sending, Sending::WaitContinue { .. })
            && self.replayable
        {
            // RFC 9110 §10.1.1: a client that gets 417 in response to a
            // 100-continue expectation SHOULD repeat the request without it
            // (the 417 most likely means an HTTP/1.0 hop on the way). The
            // body was never sent, so the server waits for bytes that will
            // not come on this connection: it is closed, and the request
            // goes out again, once, without the expectation.
            let err = Error::new(Phase::ReadResponseHead, ErrorKind::ExpectationFailed);
            self.headers.remove(http::header::EXPECT);
            self.retry_with(err, CloseReason::RequestBodyUnsent, ctx, now);
            return Ok(());
        }
        let fields = framing::FramingFields::of(&head.headers);
        let framing = framing::framing_of(&self.method, status, head.version, &fields)?;
        let request_close =
            !self.headers.is_empty() && framing::FramingFields::of(&self.headers).close;
        self.keep_alive = framing::keep_alive_of(request_close, head.version, &fields);
        if framing.must_close {
            let reason = if framing.body == BodyFraming::Close {
                CloseReason::CloseDelimited
            } else {
                CloseReason::AmbiguousFraming
            };
            self.must_close.get_or_insert(reason);
        }
        if !self.keep_alive {
            self.must_close.get_or_insert(CloseReason::ConnectionClose);
        }
        self.tr.emit(
            ctx,
            now,
            EventKind::GotResponseHeaders {
                status,
                version: head.version,
                headers: &head.headers,
                raw_head: &raw,
            },
        );
        self.raw_head = raw;
        if matches!(self.sending, Sending::WaitContinue { .. }) {
            self.skip_body(ctx, now);
        }
        let limits = ChunkLimits {
            max_chunk_line: ctx.config.max_chunk_line,
            max_trailer_size: ctx.config.max_trailer_size,
            max_trailer_fields: ctx.config.max_headers,
        };
        self.body_framing = Some(framing.body);
        self.header_deadline = None;
        self.idle_deadline = self.timeouts.body_idle.map(|t| crate::after(now, t));
        let decoder = BodyDecoder::new(framing.body, limits);
        self.response = Some(head);
        self.head_produced = true;
        if decoder.is_done() {
            self.body_complete();
        } else {
            self.receiving = Receiving::Body(decoder);
        }
        Ok(())
    }

    pub(super) fn body_complete(&mut self) {
        if let Receiving::Body(decoder) = &mut self.receiving {
            self.trailers = decoder.take_trailers();
            self.body_bytes_received = decoder.received();
        }
        self.receiving = Receiving::Done;
    }

    /// The connection reached EOF.
    pub fn handle_eof(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let super::State::ProxyConnecting { .. } = self.state {
            self.proxy_eof(ctx, now);
        } else if self.conn.as_ref().is_some_and(|c| c.tls.is_some()) {
            self.tls_eof(ctx, now);
        } else {
            self.plain_eof(ctx, now);
        }
    }

    /// The byte stream under HTTP ended (TCP EOF, or TLS close).
    pub(super) fn plain_eof(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        match &mut self.receiving {
            Receiving::Head => {
                let err = Error::new(Phase::ReadResponseHead, ErrorKind::ConnectionClosed);
                self.fail_recv(err, ctx, now);
            }
            Receiving::Body(decoder) => {
                self.must_close.get_or_insert(CloseReason::ServerClosed);
                match decoder.finish_eof() {
                    Ok(()) => self.body_complete(),
                    Err(e) => self.fail_recv(e, ctx, now),
                }
            }
            Receiving::Done | Receiving::Failed(_) => {
                self.must_close.get_or_insert(CloseReason::ServerClosed);
            }
        }
        // Nothing more can be sent on a closed connection.
        if !matches!(self.sending, Sending::Done)
            && self.error.is_none()
            && !matches!(self.receiving, Receiving::Head)
        {
            self.must_close
                .get_or_insert(CloseReason::RequestBodyUnsent);
            self.finish_sending(None, ctx, now);
        }
    }

    /// Reading or writing the socket failed.
    pub fn handle_io_error(
        &mut self,
        error: std::io::Error,
        writing: bool,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        let phase = match self.state {
            // Before the request: the error belongs to the step under way
            // (and `fail` reports it in that step's event).
            super::State::Handshaking { .. } => Phase::Tls,
            super::State::ProxyConnecting { .. } => Phase::Connect,
            _ if writing && !matches!(self.receiving, Receiving::Head) => {
                // The server answered and stopped reading: keep the answer.
                self.abandon_send(ctx, now);
                return;
            }
            _ if writing => Phase::WriteRequest,
            _ if matches!(self.receiving, Receiving::Head) => Phase::ReadResponseHead,
            _ => Phase::ReadResponseBody,
        };
        self.fail_recv(Error::io(phase, error), ctx, now);
    }

    /// A failure while the response was being received (or written).
    pub(super) fn fail_recv(&mut self, err: Error, ctx: &mut Ctx<'_>, now: Instant) {
        if matches!(self.receiving, Receiving::Head) && self.can_retry(&err) {
            self.retry(err, ctx, now);
            return;
        }
        if let Receiving::Body(decoder) = &self.receiving {
            // Bytes already decoded are delivered first, then the error.
            self.body_bytes_received = decoder.received();
            self.must_close = Some(CloseReason::Error);
            self.receiving = Receiving::Failed(err);
            if self.conn.as_ref().is_some_and(|c| c.recv.body().is_empty()) {
                self.try_finish(ctx, now);
            }
            return;
        }
        self.fail(err, ctx, now);
    }

    /// True while the response head is awaited (or still arriving): the
    /// wait a driver may spend in the read itself (`Core::read_wait`).
    pub fn awaits_head(&self) -> bool {
        matches!(self.receiving, Receiving::Head)
    }

    /// Where the rest of the body may be read straight into the caller's
    /// buffer, skipping the receive buffer (one copy fewer per byte): a
    /// plain-TCP Content-Length or close-delimited body with nothing
    /// buffered. The socket, and how many bytes such a read may take (no
    /// more than the body has left, so a kept-alive connection's next
    /// response is never read into it).
    pub fn direct_limit(&self) -> Option<(SockId, u64)> {
        let Receiving::Body(decoder) = &self.receiving else {
            return None;
        };
        let conn = self.conn.as_ref()?;
        if conn.tls.is_some() || !conn.recv.is_empty() {
            return None;
        }
        Some((conn.sock, decoder.identity_left()?))
    }

    /// How many body bytes the caller may still read, when that is known:
    /// those decoded and buffered plus what a Content-Length body has
    /// left (`u64::MAX` for a close-delimited one). `None` before the
    /// head and for a chunked body, whose size only its chunks tell.
    pub fn body_left(&self) -> Option<u64> {
        let buffered = self
            .conn
            .as_ref()
            .map_or(0, |c| c.recv.body_waiting() as u64);
        match &self.receiving {
            Receiving::Head => None,
            Receiving::Body(decoder) => decoder.identity_left().map(|l| l.saturating_add(buffered)),
            Receiving::Done | Receiving::Failed(_) => Some(buffered),
        }
    }

    /// The driver read `data`, body bytes of a [`direct_limit`] read,
    /// straight into the caller's buffer; they are only counted here.
    ///
    /// [`direct_limit`]: Self::direct_limit
    pub fn handle_direct_read(&mut self, data: &[u8], ctx: &mut Ctx<'_>, now: Instant) {
        let Receiving::Body(decoder) = &mut self.receiving else {
            return;
        };
        self.idle_deadline = self.timeouts.body_idle.map(|t| crate::after(now, t));
        let decoded = decoder.decode(data);
        // The driver reads no more than `direct_limit` allowed, so every
        // byte is body: one past it would be the next response's.
        debug_assert!(decoded.as_ref().is_ok_and(|s| s.consumed == data.len()));
        match decoded {
            Ok(step) if step.done => {
                self.body_complete();
                self.try_finish(ctx, now);
            }
            Ok(_) => {}
            Err(e) => self.fail_recv(e, ctx, now),
        }
    }

    /// Copies decoded body bytes into `out`.
    pub fn read_body(
        &mut self,
        out: &mut [u8],
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) -> Result<BodyRead> {
        if let Some(conn) = self.conn.as_mut() {
            // Piece by piece (a chunked body's pieces lie between their
            // framing), as much as `out` holds.
            let mut n = 0;
            while n < out.len() {
                let avail = conn.recv.body();
                if avail.is_empty() {
                    break;
                }
                let k = avail.len().min(out.len() - n);
                out[n..n + k].copy_from_slice(&avail[..k]);
                conn.recv.take_body(k);
                n += k;
            }
            if n > 0 {
                if matches!(self.receiving, Receiving::Body(_)) {
                    // Reading again after a pause: the idle clock restarts.
                    self.idle_deadline = self.timeouts.body_idle.map(|t| crate::after(now, t));
                }
                self.tls_resume(ctx, now);
                if self.conn.as_ref().is_none_or(|c| c.recv.body().is_empty()) {
                    self.try_finish(ctx, now);
                }
                return Ok(BodyRead::Data(n));
            }
        }
        self.try_finish(ctx, now);
        if self.is_finished() {
            return match &self.error {
                Some(e) => Err(e.clone()),
                None => Ok(BodyRead::End),
            };
        }
        Ok(BodyRead::Pending)
    }

    /// Ends the request once the body is complete (or failed) and every
    /// decoded byte has been taken.
    pub(super) fn try_finish(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.is_finished()
            || self
                .conn
                .as_ref()
                .is_some_and(|c| !c.recv.body().is_empty())
        {
            return;
        }
        match std::mem::replace(&mut self.receiving, Receiving::Done) {
            Receiving::Done => {
                if !matches!(self.sending, Sending::Done) {
                    self.abandon_send(ctx, now);
                }
                let trailers = self.trailers.take();
                let bytes = self.body_bytes_received;
                self.tr.emit(
                    ctx,
                    now,
                    EventKind::ResponseBodyDone {
                        bytes,
                        trailers: trailers.as_ref(),
                        error: None,
                    },
                );
                self.trailers = trailers;
                self.body_done_fired = true;
                if self.conn.as_ref().is_some_and(|c| !c.recv.raw().is_empty()) {
                    self.must_close.get_or_insert(CloseReason::ExtraBytes);
                }
                let reason = self.must_close;
                self.release_conn(reason, ctx, now);
                self.finish(None, ctx, now);
            }
            Receiving::Failed(err) => self.fail(err, ctx, now),
            other => self.receiving = other,
        }
    }
}
