//! Idle connections kept for reuse (RFC 9112 §9.3, persistence), with
//! Go's bounds: per host, in total, and an idle timeout. Sans-IO: the pool
//! holds connection records, not sockets, and says which ones to close.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::conn::{Conn, PoolKey, Scheme};
use crate::trace::{CloseReason, ConnId};

/// The idle pool.
///
/// ```
/// use std::time::{Duration, Instant};
/// use roundtrip::conn::{Conn, PoolKey, Scheme, SockId};
/// use roundtrip::pool::Pool;
/// use roundtrip::{CloseReason, ConnId};
///
/// let key = PoolKey { scheme: Scheme::Http, host: "example.com".into(), port: 80, proxy: None };
/// let (local, remote) = ("192.0.2.9:50000".parse()?, "192.0.2.1:80".parse()?);
/// let conn = Conn::new(ConnId(1), SockId(0), key.clone(), local, remote);
/// let mut pool = Pool::new(8, 100, Duration::from_secs(90));
/// let t0 = Instant::now();
///
/// // A response ended and the connection may persist: offer it back.
/// assert_eq!(pool.refusal(&key), None);
/// pool.checkin(Box::new(conn), t0);
///
/// // The next request to the same origin takes it.
/// let conn = pool.checkout(Scheme::Http, "example.com", 80, None, t0).expect("pooled");
/// assert_eq!(conn.id, ConnId(1));
///
/// // Idle past the timeout, it is handed back to be closed.
/// pool.checkin(conn, t0);
/// pool.handle_timeout(t0 + Duration::from_secs(90));
/// let (closed, why) = pool.poll_closed().expect("expired");
/// assert_eq!((closed.id, why), (ConnId(1), CloseReason::IdleTimeout));
/// assert!(pool.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pool {
    /// Most recently idle last. Boxed, as in the exchange that carries a
    /// connection, so that checking one in and out moves a pointer instead
    /// of the whole record (some 600 bytes, copied several times per
    /// keep-alive request before).
    #[allow(clippy::vec_box)]
    idle: Vec<Box<Conn>>,
    max_per_host: usize,
    max_total: usize,
    timeout: Duration,
    closed: VecDeque<(Box<Conn>, CloseReason)>,
}

impl Pool {
    /// A pool with the given bounds.
    pub fn new(max_per_host: usize, max_total: usize, timeout: Duration) -> Pool {
        Pool {
            idle: Vec::new(),
            max_per_host,
            max_total,
            timeout,
            closed: VecDeque::new(),
        }
    }

    /// Number of idle connections.
    pub fn len(&self) -> usize {
        self.idle.len()
    }

    /// True when no connection is idle.
    pub fn is_empty(&self) -> bool {
        self.idle.is_empty()
    }

    /// Takes the most recently idled live connection for the key.
    pub fn checkout(
        &mut self,
        scheme: Scheme,
        host: &str,
        port: u16,
        proxy: Option<(&str, u16)>,
        now: Instant,
    ) -> Option<Box<Conn>> {
        self.handle_timeout(now);
        let i = self
            .idle
            .iter()
            .rposition(|c| c.key.matches(scheme, host, port, proxy))?;
        Some(self.idle.remove(i))
    }

    /// Why a connection for `key` would be refused now, if it would: the
    /// pool is full for its host or in total.
    pub fn refusal(&self, key: &PoolKey) -> Option<CloseReason> {
        let same_host = self.idle.iter().filter(|c| c.key == *key).count();
        let full = same_host >= self.max_per_host || self.idle.len() >= self.max_total;
        (full || self.timeout.is_zero()).then_some(CloseReason::PoolFull)
    }

    /// Keeps a connection that [`refusal`](Self::refusal) accepted.
    pub fn checkin(&mut self, mut conn: Box<Conn>, now: Instant) {
        debug_assert!(self.refusal(&conn.key).is_none());
        conn.idle_since = Some(now);
        self.idle.push(conn);
    }

    /// True if some idle connection has been idle for at least `d`.
    pub fn any_idle_for(&self, d: Duration, now: Instant) -> bool {
        self.idle
            .iter()
            .filter_map(|c| c.idle_since)
            .any(|t| now.saturating_duration_since(t) >= d)
    }

    /// Removes a connection the server closed while it was idle.
    pub fn remove(&mut self, id: ConnId) -> Option<Box<Conn>> {
        let i = self.idle.iter().position(|c| c.id == id)?;
        Some(self.idle.remove(i))
    }

    /// Earliest idle expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.idle
            .iter()
            .filter_map(|c| c.idle_since)
            .min()
            .map(|t| crate::after(t, self.timeout))
    }

    /// Moves expired connections to the closed queue.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.timeout;
        let mut i = 0;
        while i < self.idle.len() {
            let expired = self.idle[i]
                .idle_since
                .is_some_and(|t| now.saturating_duration_since(t) >= timeout);
            if expired {
                let c = self.idle.remove(i);
                self.closed.push_back((c, CloseReason::IdleTimeout));
            } else {
                i += 1;
            }
        }
    }

    /// A connection the pool dropped, to be closed by the runtime.
    pub fn poll_closed(&mut self) -> Option<(Box<Conn>, CloseReason)> {
        self.closed.pop_front()
    }

    /// Empties the pool (client dropped).
    pub fn drain(&mut self) -> impl Iterator<Item = Box<Conn>> + '_ {
        self.idle.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{PoolKey, SockId};

    fn conn(id: u64, host: &str) -> Box<Conn> {
        let key = PoolKey {
            scheme: Scheme::Http,
            host: host.into(),
            port: 80,
            proxy: None,
        };
        let local = "127.0.0.1:1".parse().unwrap();
        let remote = "127.0.0.1:80".parse().unwrap();
        Box::new(Conn::new(
            ConnId(id),
            SockId(id as usize),
            key,
            local,
            remote,
        ))
    }

    #[test]
    fn lifo_per_key_and_bounds() {
        let now = Instant::now();
        let mut p = Pool::new(2, 3, Duration::from_secs(90));
        p.checkin(conn(1, "a"), now);
        p.checkin(conn(2, "a"), now);
        assert_eq!(p.refusal(&conn(3, "a").key), Some(CloseReason::PoolFull));
        assert_eq!(p.refusal(&conn(4, "b").key), None);
        p.checkin(conn(4, "b"), now);
        assert_eq!(
            p.refusal(&conn(5, "c").key),
            Some(CloseReason::PoolFull),
            "total bound"
        );
        assert_eq!(
            p.checkout(Scheme::Http, "A", 80, None, now).unwrap().id,
            ConnId(2)
        );
        assert!(p.checkout(Scheme::Http, "a", 81, None, now).is_none());
    }

    #[test]
    fn idle_timeout_closes() {
        let t0 = Instant::now();
        let mut p = Pool::new(8, 100, Duration::from_secs(90));
        p.checkin(conn(1, "a"), t0);
        assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(90)));
        p.handle_timeout(t0 + Duration::from_secs(89));
        assert_eq!(p.len(), 1);
        assert!(p
            .checkout(Scheme::Http, "a", 80, None, t0 + Duration::from_secs(91))
            .is_none());
        let (c, why) = p.poll_closed().unwrap();
        assert_eq!((c.id, why), (ConnId(1), CloseReason::IdleTimeout));
    }
}
