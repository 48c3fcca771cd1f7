//! A connection's protocol-side record: identity, addresses and buffers.
//! The socket itself belongs to the runtime, which knows it by [`SockId`];
//! this record moves between an exchange (while a request uses it) and the
//! pool (while idle), so both stay sans-IO.
//!
//! The receive buffer holds, in order: body bytes already decoded and
//! waiting for the caller (with the chunk framing that came between them
//! left in place and skipped as the caller reads), then raw bytes not yet
//! parsed. Decoding moves no body bytes, so a response is copied once from
//! the socket and once to the caller, chunked (RFC 9112 §7.1) or not.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::trace::ConnId;

/// The runtime's handle for a socket.
///
/// See [`Conn`]: the record names its socket, the runtime holds it.
///
/// ```
/// use roundtrip::conn::SockId;
///
/// // A plain index: equal ids name the same socket, and ids can key maps.
/// let mut open = std::collections::HashSet::new();
/// open.insert(SockId(3));
/// assert!(open.contains(&SockId(3)) && !open.contains(&SockId(4)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SockId(pub usize);

/// Scheme part of a pool key.
///
/// ```
/// use roundtrip::conn::Scheme;
///
/// let scheme = match http::Uri::from_static("https://example.com/").scheme_str() {
///     Some("https") => Scheme::Https,
///     _ => Scheme::Http,
/// };
/// assert_eq!(scheme, Scheme::Https);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http://`
    Http,
    /// `https://`: the connection carries TLS.
    Https,
}

/// What a connection can be reused for: scheme, host and port.
///
/// ```
/// use roundtrip::conn::{PoolKey, Scheme};
///
/// let key = PoolKey { scheme: Scheme::Https, host: "example.com".into(), port: 443, proxy: None };
/// assert!(key.matches(Scheme::Https, "Example.COM", 443, None));
/// assert!(!key.matches(Scheme::Http, "example.com", 443, None)); // TLS or not matters
/// assert!(!key.matches(Scheme::Https, "example.com", 443, Some(("proxy.corp", 3128))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// The scheme.
    pub scheme: Scheme,
    /// The host as written in the URI, lower-cased.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Through a proxy: `host`/`port` are the proxy's for plain HTTP
    /// (one connection serves every target), the origin's for a CONNECT
    /// tunnel (whose proxy is then part of the key too).
    pub proxy: Option<(String, u16)>,
}

impl PoolKey {
    /// True if this key is for `scheme://host:port`.
    pub fn matches(
        &self,
        scheme: Scheme,
        host: &str,
        port: u16,
        proxy: Option<(&str, u16)>,
    ) -> bool {
        self.scheme == scheme
            && self.port == port
            // The key's host is lower-cased and nearly every request
            // writes its host the same way: one compare of the bytes first,
            // the byte-by-byte case fold only when that fails.
            && (self.host == host || self.host.eq_ignore_ascii_case(host))
            && self.proxy.as_ref().map(|(h, p)| (h.as_str(), *p)) == proxy
    }
}

/// Bytes received on a connection.
///
/// ```
/// use roundtrip::conn::RecvBuf;
///
/// let mut recv = RecvBuf::default();
/// recv.attach(vec![0; 64]);
/// // The runtime reads from the socket into the spare room...
/// let bytes = b"5\r\nhello\r\n";
/// recv.spare()[..bytes.len()].copy_from_slice(bytes);
/// recv.filled(bytes.len());
/// // ...a decoder finds the chunk-size line, the data, and the CRLF...
/// recv.skip_raw(3);
/// recv.accept_body(0..5, 5);
/// recv.skip_raw(2);
/// // ...and the caller reads the body bytes where they came.
/// assert_eq!(recv.body(), b"hello");
/// recv.take_body(5);
/// assert!(recv.is_empty());
///
/// // Two chunks at once: the framing between them is skipped, not moved.
/// let bytes = b"2\r\nab\r\n3\r\ncde\r\n";
/// recv.spare()[..bytes.len()].copy_from_slice(bytes);
/// recv.filled(bytes.len());
/// recv.skip_raw(3);
/// recv.accept_body(0..2, 2);
/// recv.skip_raw(5);
/// recv.accept_body(0..3, 3);
/// recv.skip_raw(2);
/// assert_eq!(recv.body_waiting(), 5);
/// assert_eq!(recv.body(), b"ab");
/// recv.take_body(2);
/// assert_eq!(recv.body(), b"cde");
/// recv.take_body(3);
/// assert!(recv.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct RecvBuf {
    buf: Vec<u8>,
    /// The size [`spare`](Self::spare) may grow `buf` to.
    max: usize,
    /// Start of decoded body bytes not yet given to the caller.
    start: usize,
    /// End of decoded body bytes.
    decoded: usize,
    /// The framing between `start` and `decoded`, oldest first, as
    /// (start, end): chunk-size lines and CRLFs that came between two
    /// pieces of body, skipped by [`take_body`](Self::take_body) instead of
    /// the body being moved down over them. Each lies strictly inside
    /// `start..decoded`, so none is left once no body waits.
    gaps: VecDeque<(usize, usize)>,
    /// Start of raw, unparsed bytes.
    raw: usize,
    /// End of received bytes.
    end: usize,
}

impl RecvBuf {
    /// True once storage is attached.
    pub fn has_storage(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The storage's size (for the fuzz targets' memory bound).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn storage_len(&self) -> usize {
        self.buf.len()
    }

    /// Attaches storage (a zeroed buffer from the runtime's spare list),
    /// which stays at its size.
    pub fn attach(&mut self, storage: Vec<u8>) {
        let max = storage.len();
        self.attach_growable(storage, max);
    }

    /// Attaches storage that [`spare`](Self::spare) doubles, up to `max`
    /// bytes, whenever a read filled it and compacting frees nothing. A
    /// connection then zeroes only as much memory as its responses use.
    ///
    /// ```
    /// use roundtrip::conn::RecvBuf;
    ///
    /// let mut recv = RecvBuf::default();
    /// recv.attach_growable(vec![0; 2048], 8192);
    /// assert_eq!(recv.spare().len(), 2048);
    /// recv.filled(2048);
    /// assert_eq!(recv.spare().len(), 2048, "doubled to 4096");
    /// recv.filled(2048);
    /// assert_eq!(recv.spare().len(), 4096, "doubled to 8192");
    /// recv.filled(4096);
    /// assert!(recv.spare().is_empty(), "at its limit");
    /// ```
    pub fn attach_growable(&mut self, storage: Vec<u8>, max: usize) {
        debug_assert!(self.is_empty());
        self.max = max.max(storage.len());
        self.buf = storage;
        self.clear();
    }

    /// Detaches storage when nothing is buffered, for reuse elsewhere.
    pub fn detach(&mut self) -> Option<Vec<u8>> {
        if self.is_empty() && self.has_storage() {
            // Empty, yet the offsets may still point past a response with
            // no body (a 204): reset them, or `body()` would index past the
            // end of the storage now gone (found by fuzz/core_driver).
            self.clear();
            Some(std::mem::take(&mut self.buf))
        } else {
            None
        }
    }

    /// Grows storage to at least `size` bytes.
    pub fn ensure(&mut self, size: usize) {
        if self.buf.len() < size {
            self.buf.resize(size, 0);
        }
        self.max = self.max.max(size);
    }

    /// Forgets everything buffered (the connection is being closed).
    pub fn clear(&mut self) {
        self.start = 0;
        self.decoded = 0;
        self.raw = 0;
        self.end = 0;
        self.gaps.clear();
    }

    /// True when a read could store at least one byte (after compaction
    /// or growth; see [`spare`](Self::spare)).
    pub fn has_room(&self) -> bool {
        !self.has_storage()
            || self.end < self.buf.len()
            || self.buf.len() < self.max
            || self.worth_compacting()
    }

    /// Bytes a compaction would keep: body for the caller, then raw.
    fn kept(&self) -> usize {
        (self.decoded - self.start) + (self.end - self.raw)
    }

    /// Whether moving the kept bytes to the front is worth it. It is when
    /// they are few (at most a quarter of the storage), so each byte is
    /// moved about once at most, however the caller reads. When much body
    /// waits for the caller, waiting for it to read is cheaper: moving it
    /// down for every small read was most of the CPU of a large download
    /// through a 512 KiB buffer, since the caller took 64 KiB at a time.
    /// With no body waiting (an unfinished head or chunk line) nothing
    /// else would make room, so the raw bytes always move.
    fn worth_compacting(&self) -> bool {
        let kept = self.kept();
        kept < self.buf.len() && (kept <= self.buf.len() / 4 || self.start == self.decoded)
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.decoded && self.raw == self.end
    }

    /// Free space to read into. When the storage is full to its end, it
    /// is compacted if that is cheap (see `worth_compacting`), else grown
    /// (doubled, up to the limit given to
    /// [`attach_growable`](Self::attach_growable)); at the limit, with much
    /// body waiting for the caller, it is empty until the caller reads
    /// (back-pressure).
    pub fn spare(&mut self) -> &mut [u8] {
        // At the limit with much body waiting, neither happens: the
        // caller's next reads make room, and once little is left it moves
        // down.
        if self.end == self.buf.len() {
            if self.worth_compacting() {
                self.compact();
            } else if self.buf.len() < self.max {
                let size = self.buf.len().saturating_mul(2).max(1024).min(self.max);
                self.buf.resize(size, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    fn compact(&mut self) {
        let shift = self.start;
        let body = self.decoded - self.start;
        self.buf.copy_within(self.start..self.decoded, 0);
        self.buf.copy_within(self.raw..self.end, body);
        self.end = body + (self.end - self.raw);
        self.start = 0;
        self.decoded = body;
        self.raw = body;
        for gap in &mut self.gaps {
            gap.0 -= shift;
            gap.1 -= shift;
        }
    }

    /// `n` bytes were written into [`spare`](Self::spare).
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Raw bytes not yet parsed.
    pub fn raw(&self) -> &[u8] {
        &self.buf[self.raw..self.end]
    }

    /// Drops `n` raw bytes (a parsed head or chunk framing).
    pub fn skip_raw(&mut self, n: usize) {
        self.raw += n;
        if self.start == self.decoded {
            // Nothing waits for the caller: restart at the raw bytes so the
            // gap never grows.
            self.start = self.raw;
            self.decoded = self.raw;
        }
    }

    /// Raw bytes `data` (relative to [`raw`](Self::raw)) are body: they
    /// join the decoded bytes where they are, the framing before them
    /// noted as a gap (moved down over it only past [`MAX_GAPS`]); then
    /// `consumed` raw bytes are dropped.
    pub fn accept_body(&mut self, data: std::ops::Range<usize>, consumed: usize) {
        let len = data.len();
        if len > 0 {
            let from = self.raw + data.start;
            if from != self.decoded {
                if self.start == self.decoded {
                    // Nothing waits: the body starts again here.
                    self.start = from;
                    self.decoded = from;
                } else if self.gaps.len() < MAX_GAPS {
                    self.gaps.push_back((self.decoded, from));
                    self.decoded = from;
                } else {
                    self.buf.copy_within(from..from + len, self.decoded);
                }
            }
            self.decoded += len;
        }
        self.raw += consumed;
    }

    /// Decoded body bytes waiting for the caller, up to the first gap:
    /// after [`take_body`](Self::take_body) of them all, the next piece.
    pub fn body(&self) -> &[u8] {
        let end = self.gaps.front().map_or(self.decoded, |g| g.0);
        &self.buf[self.start..end]
    }

    /// How many decoded body bytes wait for the caller, in all pieces.
    pub fn body_waiting(&self) -> usize {
        let framing: usize = self.gaps.iter().map(|g| g.1 - g.0).sum();
        self.decoded - self.start - framing
    }

    /// The caller took `n` bytes of [`body`](Self::body).
    pub fn take_body(&mut self, n: usize) {
        self.start += n;
        if let Some(&(gap, after)) = self.gaps.front() {
            if self.start == gap {
                self.start = after;
                self.gaps.pop_front();
            }
        }
        self.restart_if_empty();
    }

    /// Drops every decoded body byte waiting for the caller.
    pub fn discard_body(&mut self) {
        self.start = self.decoded;
        self.gaps.clear();
        self.restart_if_empty();
    }

    fn restart_if_empty(&mut self) {
        if self.start == self.decoded && self.raw == self.end {
            self.start = 0;
            self.decoded = 0;
            self.raw = 0;
            self.end = 0;
        }
    }
}

/// Gaps a [`RecvBuf`] notes before it moves body bytes down over chunk
/// framing instead: a read of 512 KiB holds some 16 of nginx's 32 KiB
/// chunks, and the caller takes them all on its next read.
const MAX_GAPS: usize = 64;

/// A connection record.
///
/// ```
/// use roundtrip::conn::{Conn, PoolKey, Scheme, SockId};
/// use roundtrip::ConnId;
///
/// let key = PoolKey { scheme: Scheme::Http, host: "127.0.0.1".into(), port: 8080, proxy: None };
/// let conn = Conn::new(
///     ConnId(1),
///     SockId(0),
///     key,
///     "127.0.0.1:50000".parse().unwrap(),
///     "127.0.0.1:8080".parse().unwrap(),
/// );
/// assert_eq!((conn.requests, conn.idle_since), (0, None));
/// assert!(conn.tls.is_none());
/// ```
#[derive(Debug)]
pub struct Conn {
    /// Its id in traces.
    pub id: ConnId,
    /// The runtime's socket.
    pub sock: SockId,
    /// What it may be reused for.
    pub key: PoolKey,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// Received bytes.
    pub recv: RecvBuf,
    /// Bytes to send (a request head, or framed body chunks).
    pub send: Vec<u8>,
    /// How much of `send` has been written.
    pub sent: usize,
    /// Requests this connection has carried.
    pub requests: u32,
    /// When it became idle, while in the pool.
    pub idle_since: Option<Instant>,
    /// TLS state, for `https`.
    pub tls: Option<crate::tls::Tls>,
    /// Ciphertext read but not yet taken by TLS.
    pub cipher_in: Vec<u8>,
    /// Bytes of `cipher_in` in use.
    pub cipher_len: usize,
    /// TLS holds decrypted bytes the receive buffer had no room for.
    pub tls_backlog: bool,
}

impl Conn {
    /// A fresh connection record.
    pub fn new(
        id: ConnId,
        sock: SockId,
        key: PoolKey,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Conn {
        Conn {
            id,
            sock,
            key,
            local,
            remote,
            recv: RecvBuf::default(),
            // Room for a typical request head, so writing it does not
            // grow the buffer step by step.
            send: Vec::with_capacity(256),
            sent: 0,
            requests: 0,
            idle_since: None,
            tls: None,
            cipher_in: Vec::new(),
            cipher_len: 0,
            tls_backlog: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(size: usize) -> RecvBuf {
        let mut r = RecvBuf::default();
        r.attach(vec![0; size]);
        r
    }

    fn push(r: &mut RecvBuf, bytes: &[u8]) {
        let s = r.spare();
        s[..bytes.len()].copy_from_slice(bytes);
        r.filled(bytes.len());
    }

    #[test]
    fn body_pieces_are_read_between_their_framing() {
        let mut r = buf(32);
        push(&mut r, b"HEAD|3\r\nabc\r\n2\r\nde");
        r.skip_raw(5);
        r.skip_raw(3); // "3\r\n"
        r.accept_body(0..3, 3);
        r.skip_raw(2); // CRLF
        r.skip_raw(3); // "2\r\n"
        r.accept_body(0..2, 2);
        assert_eq!(r.body_waiting(), 5);
        assert_eq!(r.body(), b"abc");
        assert!(r.raw().is_empty());
        r.take_body(2);
        assert_eq!(r.body(), b"c");
        r.take_body(1);
        assert_eq!(r.body(), b"de");
        r.take_body(2);
        assert!(r.is_empty());
    }

    #[test]
    fn gaps_survive_compaction_and_overflow_moves_the_body_down() {
        let mut r = buf(4096);
        let mut wire = Vec::new();
        for i in 0..(MAX_GAPS + 3) {
            wire.extend_from_slice(b"1\r\n");
            wire.push(b'a' + (i % 26) as u8);
            wire.extend_from_slice(b"\r\n");
        }
        push(&mut r, &wire);
        for _ in 0..(MAX_GAPS + 3) {
            r.skip_raw(3);
            r.accept_body(0..1, 1);
            r.skip_raw(2);
        }
        assert_eq!(r.body_waiting(), MAX_GAPS + 3);
        r.compact();
        let mut got = Vec::new();
        while !r.body().is_empty() {
            let piece = r.body().to_vec();
            got.extend_from_slice(&piece);
            r.take_body(piece.len());
        }
        let want: Vec<u8> = (0..(MAX_GAPS + 3)).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(got, want);
        assert!(r.is_empty());
    }

    #[test]
    fn discarding_drops_every_piece() {
        let mut r = buf(64);
        push(&mut r, b"2\r\nab\r\n2\r\ncd\r\n");
        r.skip_raw(3);
        r.accept_body(0..2, 2);
        r.skip_raw(5);
        r.accept_body(0..2, 2);
        r.skip_raw(2);
        r.discard_body();
        assert_eq!(r.body_waiting(), 0);
        assert!(r.is_empty());
    }

    #[test]
    fn spare_compacts_when_full_and_little_is_kept() {
        let mut r = buf(8);
        push(&mut r, b"12345678");
        r.accept_body(0..4, 4);
        r.take_body(3);
        r.skip_raw(3);
        // "4" for the caller and "8" raw: a quarter of the storage.
        assert!(r.has_room());
        assert_eq!(r.spare().len(), 6);
        assert_eq!(r.body(), b"4");
        assert_eq!(r.raw(), b"8");
    }

    #[test]
    fn much_body_waiting_is_not_moved_but_waited_for() {
        let mut r = buf(8);
        push(&mut r, b"12345678");
        r.accept_body(0..8, 8);
        r.take_body(2);
        // Six body bytes wait for the caller: no room until it reads.
        assert!(!r.has_room());
        assert!(r.spare().is_empty());
        assert_eq!(r.body(), b"345678");
        r.take_body(4);
        // Two left: now they move down.
        assert!(r.has_room());
        assert_eq!(r.spare().len(), 6);
        assert_eq!(r.body(), b"78");
    }

    #[test]
    fn unfinished_framing_always_moves_down() {
        let mut r = buf(8);
        push(&mut r, b"12345678");
        // A head of 2 bytes was parsed; 6 raw bytes of an unfinished
        // chunk line remain, and no body waits: only moving them makes
        // room.
        r.skip_raw(2);
        assert!(r.has_room());
        assert_eq!(r.spare().len(), 2);
        assert_eq!(r.raw(), b"345678");
    }

    #[test]
    fn a_full_buffer_grows_before_it_moves_much() {
        let mut r = RecvBuf::default();
        r.attach_growable(vec![0; 8], 32);
        push(&mut r, b"12345678");
        r.accept_body(0..8, 8);
        r.take_body(1);
        assert_eq!(r.spare().len(), 24, "grown to its limit, not compacted");
        assert_eq!(r.body(), b"2345678");
    }
}
