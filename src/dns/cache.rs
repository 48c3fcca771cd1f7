//! The answer cache: positive answers for their TTL (the smallest in the
//! RRset, capped), negative answers (NXDOMAIN, NODATA) for the SOA-derived
//! TTL of RFC 2308 §5 (capped), bounded in entries with the entry closest
//! to expiry evicted first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::wire::QType;

/// What is known about (name, type).
///
/// See [`Cache`] for a whole example.
///
/// ```
/// use roundtrip::dns::cache::Cached;
///
/// // A negative answer is knowledge too (RFC 2308): NXDOMAIN and NODATA
/// // are different facts about a name.
/// let known = [Cached::Addrs(vec!["127.0.0.1".parse()?]), Cached::NoSuchName, Cached::NoData];
/// assert_ne!(known[1], known[2]);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// Addresses (never empty).
    Addrs(Vec<IpAddr>),
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// The name exists but has no records of this type (NODATA).
    NoData,
}

#[derive(Debug)]
struct Entry {
    value: Cached,
    expires: Instant,
}

/// A bounded TTL cache.
///
/// ```
/// use std::time::{Duration, Instant};
/// use roundtrip::dns::cache::{Cache, Cached};
/// use roundtrip::dns::QType;
///
/// let mut cache = Cache::new(512, Duration::from_secs(3600), Duration::from_secs(300));
/// let now = Instant::now();
/// let addr = "192.0.2.1".parse().unwrap();
/// cache.put("example.com", QType::A, Cached::Addrs(vec![addr]), 60, now);
/// cache.put("nope.example", QType::A, Cached::NoSuchName, 900, now); // kept 300 s at most
///
/// assert!(cache.get("EXAMPLE.com", QType::A, now).is_some());
/// assert!(cache.get("example.com", QType::Aaaa, now).is_none()); // per type
/// assert!(cache.get("example.com", QType::A, now + Duration::from_secs(60)).is_none());
/// let later = now + Duration::from_secs(299);
/// assert_eq!(cache.get("nope.example", QType::A, later), Some(&Cached::NoSuchName));
/// assert!(cache.get("nope.example", QType::A, later + Duration::from_secs(1)).is_none());
/// ```
#[derive(Debug)]
pub struct Cache {
    /// By lower-cased name, then type: a hit costs one hash lookup however
    /// full the cache is (a cached lookup is on every request's path).
    entries: HashMap<String, Vec<(QType, Entry)>>,
    /// Entries held, of every name and type.
    len: usize,
    capacity: usize,
    max_ttl: Duration,
    max_negative_ttl: Duration,
}

impl Cache {
    /// A cache of at most `capacity` entries.
    pub fn new(capacity: usize, max_ttl: Duration, max_negative_ttl: Duration) -> Cache {
        Cache {
            entries: HashMap::new(),
            len: 0,
            capacity,
            max_ttl,
            max_negative_ttl,
        }
    }

    /// The live entry for (name, qtype), if any.
    pub fn get(&self, name: &str, qtype: QType, now: Instant) -> Option<&Cached> {
        // Lower-cased on the stack: a lookup allocates nothing. A name too
        // long for a DNS question (255 bytes) is never stored.
        let mut lower = [0u8; 255];
        let bytes = name.as_bytes();
        let folded = lower.get_mut(..bytes.len())?;
        for (d, s) in folded.iter_mut().zip(bytes) {
            *d = s.to_ascii_lowercase();
        }
        // ASCII folding keeps UTF-8 valid.
        let key = std::str::from_utf8(folded).ok()?;
        self.entries
            .get(key)?
            .iter()
            .find(|(t, e)| *t == qtype && e.expires > now)
            .map(|(_, e)| &e.value)
    }

    /// Stores an answer valid for `ttl` seconds (capped). A zero TTL is not
    /// stored (RFC 1035 §3.2.1: use only for this transaction).
    pub fn put(&mut self, name: &str, qtype: QType, value: Cached, ttl: u32, now: Instant) {
        let cap = match value {
            Cached::Addrs(_) => self.max_ttl,
            Cached::NoSuchName | Cached::NoData => self.max_negative_ttl,
        };
        let ttl = Duration::from_secs(u64::from(ttl)).min(cap);
        if ttl.is_zero() || self.capacity == 0 || name.len() > 255 {
            return;
        }
        let expires = crate::after(now, ttl);
        let name = name.to_ascii_lowercase();
        self.remove(&name, |t, _| t == qtype);
        if self.len >= self.capacity {
            // Answers arrive far less often than lookups: sweeping here
            // keeps `get` a single probe.
            let mut len = 0;
            self.entries.retain(|_, v| {
                v.retain(|(_, e)| e.expires > now);
                len += v.len();
                !v.is_empty()
            });
            self.len = len;
        }
        if self.len >= self.capacity {
            let soonest = self
                .entries
                .iter()
                .flat_map(|(n, v)| v.iter().map(move |(t, e)| (e.expires, n, *t)))
                .min_by_key(|(expires, ..)| *expires)
                .map(|(_, n, t)| (n.clone(), t));
            if let Some((n, t)) = soonest {
                self.remove(&n, |tt, _| tt == t);
            }
        }
        self.entries
            .entry(name)
            .or_default()
            .push((qtype, Entry { value, expires }));
        self.len += 1;
    }

    /// Drops the entries of `name` that `gone` selects.
    fn remove(&mut self, name: &str, gone: impl Fn(QType, &Entry) -> bool) {
        if let Some(v) = self.entries.get_mut(name) {
            let before = v.len();
            v.retain(|(t, e)| !gone(*t, e));
            self.len -= before - v.len();
            if v.is_empty() {
                self.entries.remove(name);
            }
        }
    }

    /// Entries held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn positive_entries_expire_with_their_ttl() {
        let t0 = Instant::now();
        let mut c = Cache::new(8, Duration::from_secs(3600), Duration::from_secs(300));
        c.put(
            "A.test",
            QType::A,
            Cached::Addrs(vec![ip("192.0.2.1")]),
            30,
            t0,
        );
        assert!(c
            .get("a.test", QType::A, t0 + Duration::from_secs(29))
            .is_some());
        assert!(c.get("a.test", QType::Aaaa, t0).is_none());
        assert!(c
            .get("a.test", QType::A, t0 + Duration::from_secs(30))
            .is_none());
    }

    #[test]
    fn ttls_are_capped_and_zero_is_not_stored() {
        let t0 = Instant::now();
        let mut c = Cache::new(8, Duration::from_secs(60), Duration::from_secs(10));
        c.put(
            "a.test",
            QType::A,
            Cached::Addrs(vec![ip("192.0.2.1")]),
            86400,
            t0,
        );
        assert!(c
            .get("a.test", QType::A, t0 + Duration::from_secs(61))
            .is_none());
        c.put("n.test", QType::A, Cached::NoSuchName, 3600, t0);
        assert_eq!(
            c.get("n.test", QType::A, t0 + Duration::from_secs(9)),
            Some(&Cached::NoSuchName)
        );
        assert!(c
            .get("n.test", QType::A, t0 + Duration::from_secs(10))
            .is_none());
        c.put("z.test", QType::A, Cached::NoData, 0, t0);
        assert!(c.get("z.test", QType::A, t0).is_none());
    }

    #[test]
    fn a_full_cache_finds_every_name_in_any_case() {
        let t0 = Instant::now();
        let mut c = Cache::new(512, Duration::from_secs(3600), Duration::from_secs(300));
        for i in 0..256 {
            let a = Cached::Addrs(vec![ip(&format!("192.0.2.{i}"))]);
            c.put(&format!("host{i}.Test"), QType::A, a, 60, t0);
            c.put(
                &format!("host{i}.test"),
                QType::Aaaa,
                Cached::NoData,
                60,
                t0,
            );
        }
        assert_eq!(c.len(), 512);
        for i in 0..256 {
            let want = Cached::Addrs(vec![ip(&format!("192.0.2.{i}"))]);
            assert_eq!(c.get(&format!("HOST{i}.test"), QType::A, t0), Some(&want));
            assert_eq!(
                c.get(&format!("host{i}.test"), QType::Aaaa, t0),
                Some(&Cached::NoData)
            );
        }
        // One more evicts one entry, and only one.
        c.put("late.test", QType::A, Cached::NoData, 120, t0);
        assert_eq!(c.len(), 512);
        assert!(c.get("late.test", QType::A, t0).is_some());
        assert!(c.get(&"x".repeat(300), QType::A, t0).is_none());
    }

    #[test]
    fn bounded_with_soonest_expiry_evicted() {
        let t0 = Instant::now();
        let mut c = Cache::new(2, Duration::from_secs(3600), Duration::from_secs(300));
        c.put("long.test", QType::A, Cached::NoData, 100, t0);
        c.put("short.test", QType::A, Cached::NoData, 10, t0);
        c.put("new.test", QType::A, Cached::NoData, 50, t0);
        assert_eq!(c.len(), 2);
        assert!(c.get("short.test", QType::A, t0).is_none());
        assert!(c.get("long.test", QType::A, t0).is_some());
        assert!(c.get("new.test", QType::A, t0).is_some());
    }
}
