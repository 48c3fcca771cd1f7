//! The TLS layer of an exchange: between TCP and HTTP for `https`. After
//! TCP connects, `tls_handshake_start`; ciphertext moves between the socket
//! and [`crate::tls::Tls`]; when the handshake completes,
//! `tls_handshake_done` and then `got_conn` (Go's order). Afterwards the
//! HTTP halves read and write plaintext exactly as over plain TCP: this
//! module moves plaintext into TLS on the way out and out of TLS into the
//! receive buffer on the way in, keeping back-pressure (ciphertext is not
//! read while decrypted bytes have nowhere to go).

use std::time::{Duration, Instant};

use super::{Ctx, Exchange, Receiving, Sending, State};
use crate::conn::{Conn, SockId};
use crate::error::{Error, ErrorKind, Phase, TlsError};
use crate::h1::BodyFraming;
use crate::tls::{Plain, Tls};
use crate::trace::{CloseReason, EventKind};

/// Ciphertext staging per connection: one maximal TLS record and a header.
const CIPHER_BUF: usize = 16 * 1024 + 2048;

impl Exchange {
    /// TCP is up: start the handshake.
    pub(super) fn start_tls(&mut self, mut conn: Box<Conn>, ctx: &mut Ctx<'_>, now: Instant) {
        self.tr.emit(ctx, now, EventKind::TlsHandshakeStart);
        let tls = ctx
            .tls
            .get(ctx.config)
            .and_then(|cfg| Tls::new(&cfg, self.host()));
        self.state = State::Handshaking {
            deadline: crate::after(now, self.timeouts.tls_handshake),
        };
        match tls {
            Ok(tls) => {
                conn.tls = Some(tls);
                self.conn = Some(conn);
            }
            Err(e) => {
                self.conn = Some(conn);
                self.fail(e, ctx, now);
            }
        }
    }

    /// Plaintext waiting is handed to TLS; ciphertext waiting is returned.
    pub(super) fn tls_pending_send(&mut self) -> Option<(SockId, &[u8], &[u8])> {
        let conn = self.conn.as_mut()?;
        let tls = conn.tls.as_mut()?;
        if !tls.is_handshaking() {
            let n = tls.write_plaintext(&conn.send[conn.sent..]);
            conn.sent += n;
            if conn.sent == conn.send.len() {
                conn.send.clear();
                conn.sent = 0;
            }
            if conn.sent == 0 && matches!(self.sending, Sending::Head | Sending::Body) {
                if let Some((b, off)) = &mut self.body_bytes {
                    let n = tls.write_plaintext(&b[*off..]);
                    *off += n;
                    self.body_sent += n as u64;
                    if *off == b.len() {
                        self.body_bytes = None;
                    }
                }
            }
        }
        let out = tls.pending_ciphertext();
        if out.is_empty() {
            None
        } else {
            Some((conn.sock, out, &[]))
        }
    }

    /// `n` bytes of ciphertext were written.
    pub(super) fn tls_written(&mut self, n: usize) {
        if let Some(tls) = self.conn.as_mut().and_then(|c| c.tls.as_mut()) {
            tls.consume_ciphertext(n);
        }
    }

    /// Where to read ciphertext into: while the handshake runs, or while
    /// the response needs bytes and decrypted ones have somewhere to go.
    pub(super) fn tls_recv_space(&mut self, ctx: &mut Ctx<'_>) -> Option<(SockId, &mut [u8])> {
        let handshaking = matches!(self.state, State::Handshaking { .. });
        let wants = handshaking || matches!(self.receiving, Receiving::Head | Receiving::Body(_));
        let conn = self.conn.as_mut()?;
        if !wants || conn.tls_backlog {
            return None;
        }
        ctx.attach_recv_storage(&mut conn.recv);
        if conn.cipher_in.is_empty() {
            if let Some(spare) = ctx.spare_bufs.cipher.pop() {
                conn.cipher_in = spare;
            }
        }
        if conn.cipher_in.len() < CIPHER_BUF {
            conn.cipher_in.resize(CIPHER_BUF, 0);
        }
        let start = conn.cipher_len;
        if start == conn.cipher_in.len() {
            return None;
        }
        Some((conn.sock, &mut conn.cipher_in[start..]))
    }

    /// `n` bytes of ciphertext arrived.
    pub(super) fn tls_read(&mut self, n: usize, ctx: &mut Ctx<'_>, now: Instant) {
        if let Some(conn) = self.conn.as_mut() {
            conn.cipher_len += n;
        }
        match self.feed_tls() {
            Ok(()) => self.after_tls_input(ctx, now),
            Err(e) => self.tls_failed(e, ctx, now),
        }
    }

    /// Moves staged ciphertext into TLS and decrypted bytes into the
    /// receive buffer, as far as room allows.
    fn feed_tls(&mut self) -> Result<(), Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let Some(tls) = conn.tls.as_mut() else {
            return Ok(());
        };
        loop {
            if conn.cipher_len > 0 {
                let used = tls.handle_ciphertext(&conn.cipher_in[..conn.cipher_len])?;
                conn.cipher_in.copy_within(used..conn.cipher_len, 0);
                conn.cipher_len -= used;
            }
            if tls.is_handshaking() || !conn.recv.has_storage() {
                return tls.take_error().map_or(Ok(()), Err);
            }
            let mut moved = false;
            loop {
                let spare = conn.recv.spare();
                if spare.is_empty() {
                    conn.tls_backlog = true;
                    return Ok(());
                }
                match tls.read_plaintext(spare) {
                    Plain::Data(n) => {
                        conn.recv.filled(n);
                        moved = true;
                    }
                    Plain::Empty => {
                        conn.tls_backlog = false;
                        if let Some(e) = tls.take_error() {
                            // Everything decrypted before the bad record is
                            // in the buffer; it is parsed before the error.
                            self.tls_error_after = Some(e);
                            return Ok(());
                        }
                        break;
                    }
                    Plain::Closed => {
                        conn.tls_backlog = false;
                        self.tls_closed = Some(true);
                        return Ok(());
                    }
                    Plain::Truncated => {
                        conn.tls_backlog = false;
                        self.tls_closed = Some(false);
                        return Ok(());
                    }
                }
            }
            if !moved || conn.cipher_len == 0 {
                return Ok(());
            }
        }
    }

    /// After TLS took input: finish the handshake, then parse plaintext.
    fn after_tls_input(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let State::Handshaking { .. } = self.state {
            let done = self
                .conn
                .as_ref()
                .and_then(|c| c.tls.as_ref())
                .is_some_and(|t| !t.is_handshaking());
            if !done {
                return;
            }
            let Some(conn) = self.conn.take() else { return };
            // The handshake summary (chain copies, certificate parse) is
            // built only when a hook will see it.
            let info = if self.tr.on(ctx) {
                conn.tls.as_ref().map(|t| t.info())
            } else {
                None
            };
            let kind = EventKind::TlsHandshakeDone {
                info: info.as_ref(),
                error: None,
            };
            self.tr.emit(ctx, now, kind);
            self.state = State::Connected;
            self.attach(conn, false, Duration::ZERO, ctx, now);
            // Application data may have come with the last handshake flight.
            if let Err(e) = self.feed_tls() {
                self.tls_failed(e, ctx, now);
                return;
            }
        }
        if let Err(e) = self.process_recv(ctx, now) {
            self.fail_recv(e, ctx, now);
            return;
        }
        if let Some(e) = self.tls_error_after.take() {
            self.tls_failed(e, ctx, now);
            return;
        }
        if let Some(clean) = self.tls_closed.take() {
            self.tls_stream_ended(clean, ctx, now);
        }
    }

    /// The caller took body bytes: room for more decrypted bytes.
    pub(super) fn tls_resume(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let backlog = self
            .conn
            .as_ref()
            .is_some_and(|c| c.tls.is_some() && (c.tls_backlog || c.cipher_len > 0));
        if backlog {
            match self.feed_tls() {
                Ok(()) => self.after_tls_input(ctx, now),
                Err(e) => self.tls_failed(e, ctx, now),
            }
        }
    }

    /// The transport reached EOF under TLS.
    pub(super) fn tls_eof(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let State::Handshaking { .. } = self.state {
            let err = Error::new(Phase::Tls, ErrorKind::Tls(TlsError::ClosedDuringHandshake));
            self.fail(err, ctx, now);
            return;
        }
        let eof = self
            .conn
            .as_mut()
            .and_then(|c| c.tls.as_mut())
            .map(|t| t.handle_eof());
        if let Some(Err(e)) = eof {
            self.tls_failed(e, ctx, now);
            return;
        }
        match self.feed_tls() {
            Ok(()) => {}
            Err(e) => {
                self.tls_failed(e, ctx, now);
                return;
            }
        }
        if let Err(e) = self.process_recv(ctx, now) {
            self.fail_recv(e, ctx, now);
            return;
        }
        if let Some(e) = self.tls_error_after.take() {
            self.tls_failed(e, ctx, now);
            return;
        }
        let clean = self.tls_closed.take().unwrap_or(false);
        self.tls_stream_ended(clean, ctx, now);
    }

    /// The TLS stream ended: cleanly (close_notify) or not. Without
    /// close_notify, a body delimited by the close cannot be trusted to be
    /// whole (RFC 8446 §6.1); framed bodies decide by their own framing.
    fn tls_stream_ended(&mut self, clean: bool, ctx: &mut Ctx<'_>, now: Instant) {
        let close_delimited = matches!(&self.receiving, Receiving::Body(_))
            && self.body_framing == Some(BodyFraming::Close);
        if !clean && close_delimited {
            self.must_close = Some(CloseReason::Error);
            let err = Error::new(
                Phase::ReadResponseBody,
                ErrorKind::Tls(TlsError::MissingCloseNotify),
            );
            self.fail_recv(err, ctx, now);
            return;
        }
        self.plain_eof(ctx, now);
    }

    fn tls_failed(&mut self, e: Error, ctx: &mut Ctx<'_>, now: Instant) {
        if matches!(self.state, State::Handshaking { .. }) {
            self.fail(e, ctx, now);
        } else {
            self.fail_recv(e, ctx, now);
        }
    }
}
