//! The answer cache: positive answers for their TTL (the smallest in the
//! RRset, capped), negative answers (NXDOMAIN, NODATA) for the SOA-derived
//! TTL of RFC 2308 §5 (capped), bounded in entries with the entry closest
//! to expiry evicted first.

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
    name: String,
    qtype: QType,
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
    entries: Vec<Entry>,
    capacity: usize,
    max_ttl: Duration,
    max_negative_ttl: Duration,
}

impl Cache {
    /// A cache of at most `capacity` entries.
    pub fn new(capacity: usize, max_ttl: Duration, max_negative_ttl: Duration) -> Cache {
        Cache {
            entries: Vec::new(),
            capacity,
            max_ttl,
            max_negative_ttl,
        }
    }

    /// The live entry for (name, qtype), if any.
    pub fn get(&self, name: &str, qtype: QType, now: Instant) -> Option<&Cached> {
        self.entries
            .iter()
            .find(|e| e.qtype == qtype && e.expires > now && e.name.eq_ignore_ascii_case(name))
            .map(|e| &e.value)
    }

    /// Stores an answer valid for `ttl` seconds (capped). A zero TTL is not
    /// stored (RFC 1035 §3.2.1: use only for this transaction).
    pub fn put(&mut self, name: &str, qtype: QType, value: Cached, ttl: u32, now: Instant) {
        let cap = match value {
            Cached::Addrs(_) => self.max_ttl,
            Cached::NoSuchName | Cached::NoData => self.max_negative_ttl,
        };
        let ttl = Duration::from_secs(u64::from(ttl)).min(cap);
        if ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let expires = crate::after(now, ttl);
        self.entries.retain(|e| {
            e.expires > now && !(e.qtype == qtype && e.name.eq_ignore_ascii_case(name))
        });
        if self.entries.len() >= self.capacity {
            if let Some(i) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.expires)
                .map(|(i, _)| i)
            {
                self.entries.swap_remove(i);
            }
        }
        self.entries.push(Entry {
            name: name.to_ascii_lowercase(),
            qtype,
            value,
            expires,
        });
    }

    /// Entries held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
