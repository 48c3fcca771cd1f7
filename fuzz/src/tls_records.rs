//! The body of the `tls_records` fuzz target: arbitrary bytes fed to the
//! TLS adapter (`roundtrip::tls::Tls`) as the server's records.
//!
//! Like `targets.rs`, this one file is compiled twice: by the fuzz crate
//! (`fuzz/src/lib.rs`, used by `fuzz/fuzz_targets/tls_records.rs`) and by
//! the root crate's `tests/fuzz_replay.rs`, which replays
//! `fuzz/corpus/tls_records/` through it. It may therefore use only `std`
//! and `roundtrip`.
//!
//! The harness moves bytes the way the exchange does (src/exchange/secure.rs):
//! ciphertext is staged in a buffer of one maximal record plus a header and
//! handed to `handle_ciphertext`, which may take less than all of it when
//! decrypted bytes are waiting; plaintext is read out in between;
//! `pending_ciphertext` is drained after every step as a socket would.
//!
//! # Input format
//!
//! ```text
//! byte 0        configuration: bit 0 accept any certificate (else trust no
//!               root, so every certificate is refused); bit 1 connect to
//!               the IP literal 127.0.0.1 (else "localhost"); bits 2–3 the
//!               plaintext read size: 1, 7, 512 or 16384 bytes; bits 4–5
//!               how much of the pending ciphertext each "socket write"
//!               takes: all, 1, 100 or 5000 bytes
//! then ops      one op byte: action = op & 3, flags = op >> 2
//!   0 records   len (u16 BE), len bytes: ciphertext from the server, in
//!               socket reads of `flags` bytes (0: as much as fits)
//!   1 eof       the transport ended: handle_eof (later records are not
//!               delivered, as the runtime reads no more)
//!   2 write     len (u8), len bytes of plaintext to send, once the
//!               handshake is done (the exchange never writes before)
//!   3 close     close_notify: the connection is closed; the input ends
//! ```
//!
//! Seeds (fuzz/examples/tls_seeds.rs) are real server flights recorded
//! against this adapter in memory, which a new handshake (with its own
//! random and key share) accepts as far as their plaintext part goes.

use roundtrip::tls::{client_config, Plain, Tls};
use roundtrip::Config;

/// The ciphertext staging buffer of src/exchange/secure.rs.
const CIPHER_BUF: usize = 16 * 1024 + 2048;

/// More than any one step may queue to send (a handshake flight with a
/// client certificate chain is a few KiB).
const MAX_PENDING: usize = 1 << 20;

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> usize {
        let hi = self.byte().unwrap_or(0);
        let lo = self.byte().unwrap_or(0);
        usize::from(u16::from_be_bytes([hi, lo]))
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// The adapter and what the harness knows about its stream.
struct Harness {
    tls: Tls,
    /// Ciphertext received but not yet taken by the adapter.
    staged: Vec<u8>,
    /// Plaintext read buffer.
    buf: Vec<u8>,
    /// How many pending ciphertext bytes one socket write takes.
    write_size: usize,
    /// The adapter reported an error: the exchange would have failed.
    dead: bool,
    /// `close_notify` seen (`Plain::Closed`).
    closed: bool,
    /// The transport ended.
    eof: bool,
    /// Plaintext bytes read in all.
    plaintext: usize,
}

impl Harness {
    /// Hands staged ciphertext to the adapter and reads plaintext out,
    /// until neither makes progress (the loop of `feed_tls`).
    fn feed(&mut self) {
        loop {
            if self.dead {
                return;
            }
            if !self.staged.is_empty() {
                match self.tls.handle_ciphertext(&self.staged) {
                    Ok(used) => {
                        assert!(
                            used <= self.staged.len(),
                            "took {used} of {}",
                            self.staged.len()
                        );
                        self.staged.drain(..used);
                    }
                    Err(_) => {
                        self.dead = true;
                        return;
                    }
                }
            }
            if self.tls.is_handshaking() {
                // A fatal error during the handshake has no plaintext
                // before it.
                if self.tls.take_error().is_some() {
                    self.dead = true;
                }
                return;
            }
            let moved = self.read_plaintext();
            // Plaintext decrypted before a bad record is read first; the
            // error comes after it (as in the exchange's feed_tls).
            if self.tls.take_error().is_some() {
                self.dead = true;
                return;
            }
            if !moved || self.staged.is_empty() {
                return;
            }
        }
    }

    /// Reads until the adapter has nothing more; true if any bytes came.
    fn read_plaintext(&mut self) -> bool {
        let mut moved = false;
        for _ in 0..1_000_000 {
            match self.tls.read_plaintext(&mut self.buf) {
                Plain::Data(n) => {
                    assert!(n > 0 && n <= self.buf.len(), "Data({n})");
                    assert!(!self.tls.is_handshaking(), "plaintext before the handshake");
                    assert!(!self.closed, "plaintext after close_notify");
                    self.plaintext += n;
                    moved = true;
                }
                Plain::Empty => return moved,
                Plain::Closed => {
                    self.closed = true;
                    return moved;
                }
                Plain::Truncated => return moved,
            }
        }
        panic!("read_plaintext never ran dry");
    }

    /// Delivers `bytes` in socket reads of at most `piece` bytes, each into
    /// the room left in the staging buffer.
    fn deliver(&mut self, mut bytes: &[u8], piece: usize) {
        while !bytes.is_empty() && !self.dead {
            let room = CIPHER_BUF - self.staged.len();
            if room == 0 {
                // The runtime stops reading this socket until the adapter
                // takes staged bytes; if it never will, the exchange hangs.
                assert!(
                    self.closed,
                    "staged ciphertext is stuck: {} bytes, handshaking {}",
                    self.staged.len(),
                    self.tls.is_handshaking()
                );
                return;
            }
            let n = bytes.len().min(room).min(piece);
            self.staged.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.feed();
        }
    }

    /// Sends what the adapter has queued, `write_size` bytes at a time.
    fn drain_pending(&mut self) {
        let mut sent = 0;
        loop {
            let out = self.tls.pending_ciphertext();
            if out.is_empty() {
                break;
            }
            assert!(out.len() <= MAX_PENDING, "{} bytes pending", out.len());
            let n = out.len().min(self.write_size);
            self.tls.consume_ciphertext(n);
            sent += n;
            assert!(sent <= MAX_PENDING, "unbounded ciphertext from one step");
        }
    }

    fn check_info(&self) {
        if self.tls.is_handshaking() {
            return;
        }
        let info = self.tls.info();
        assert!(
            ["TLSv1.3", "TLSv1.2"].contains(&info.version),
            "{}",
            info.version
        );
        assert!(
            info.alpn.is_none() || info.alpn.as_deref() == Some("http/1.1"),
            "ALPN {:?} was never offered",
            info.alpn
        );
    }
}

/// Server records into the TLS adapter; see the module docs for the input
/// format. Panics if an invariant breaks.
pub fn tls_records(data: &[u8]) {
    let mut input = Input(data);
    let cfg = input.byte().unwrap_or(0);
    let mut config = Config::default();
    config.tls_builtin_roots = false;
    config.tls_danger_accept_invalid_certs = cfg & 1 != 0;
    // Built per input: the shared config also remembers which key exchange
    // group a server asked for (HelloRetryRequest), which would make one
    // input's outcome depend on the ones before it.
    let client = client_config(&config).expect("a valid configuration");
    let host = if cfg & 2 != 0 {
        "127.0.0.1"
    } else {
        "localhost"
    };
    let tls = Tls::new(&client, host).expect("a valid host");
    let read_size = [1, 7, 512, 16384][usize::from((cfg >> 2) & 3)];
    let write_size = [usize::MAX, 1, 100, 5000][usize::from((cfg >> 4) & 3)];
    let mut h = Harness {
        tls,
        staged: Vec::new(),
        buf: vec![0; read_size],
        write_size,
        dead: false,
        closed: false,
        eof: false,
        plaintext: 0,
    };
    assert!(h.tls.is_handshaking());
    // The ClientHello.
    let hello = h.tls.pending_ciphertext();
    assert!(
        hello.len() > 5 && hello[0] == 0x16,
        "no ClientHello: {hello:?}"
    );
    h.drain_pending();

    while let Some(op) = input.byte() {
        let flags = usize::from(op >> 2);
        match op & 3 {
            0 => {
                let len = input.u16();
                let bytes = input.take(len);
                if !h.eof {
                    let piece = if flags == 0 { usize::MAX } else { flags };
                    h.deliver(bytes, piece);
                }
            }
            1 => {
                if !h.eof && !h.dead {
                    h.eof = true;
                    match h.tls.handle_eof() {
                        Ok(()) => {
                            h.feed();
                            if !h.tls.is_handshaking() {
                                h.read_plaintext();
                            }
                        }
                        Err(_) => h.dead = true,
                    }
                }
            }
            2 => {
                let len = usize::from(input.byte().unwrap_or(0));
                let bytes = input.take(len);
                if !h.tls.is_handshaking() && !h.dead {
                    let n = h.tls.write_plaintext(bytes);
                    assert!(n <= bytes.len());
                }
            }
            _ => break,
        }
        if !h.dead {
            h.drain_pending();
        }
        h.check_info();
    }
    // However the connection ends, close_notify can be asked for.
    let bye = h.tls.close_notify();
    assert!(bye.len() <= MAX_PENDING);
    if !h.dead {
        // A close_notify alert is at least one record.
        assert!(bye.len() >= 5 + 2, "close_notify is {} bytes", bye.len());
    }
    h.check_info();
    let _ = h.plaintext;
}
