//! Which address family last won a race to each host, for a while (RFC
//! 8305 §5 allows using such history), bounded in entries.

use std::time::{Duration, Instant};

use super::Family;

/// Per-host memory of the winning family.
///
/// ```
/// use std::time::{Duration, Instant};
/// use roundtrip::dial::{Family, FamilyMemory};
///
/// let mut memory = FamilyMemory::new(256, Duration::from_secs(600));
/// let now = Instant::now();
/// memory.remember("example.com", Family::V4, now);
/// assert_eq!(memory.preferred("EXAMPLE.COM", now), Some(Family::V4));
/// assert_eq!(memory.preferred("example.com", now + Duration::from_secs(600)), None);
/// ```
#[derive(Debug)]
pub struct FamilyMemory {
    entries: Vec<(String, Family, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl FamilyMemory {
    /// Remembers up to `capacity` hosts for `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> FamilyMemory {
        FamilyMemory {
            entries: Vec::new(),
            capacity,
            ttl,
        }
    }

    /// The family that last won for `host`, if remembered and fresh.
    pub fn preferred(&self, host: &str, now: Instant) -> Option<Family> {
        self.entries
            .iter()
            .find(|(h, _, until)| *until > now && h.eq_ignore_ascii_case(host))
            .map(|(_, f, _)| *f)
    }

    /// `family` just won for `host`.
    pub fn remember(&mut self, host: &str, family: Family, now: Instant) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        self.entries
            .retain(|(h, _, until)| *until > now && !h.eq_ignore_ascii_case(host));
        if self.entries.len() >= self.capacity {
            // The oldest entry expires first.
            if let Some(i) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].2) {
                self.entries.swap_remove(i);
            }
        }
        self.entries.push((
            host.to_ascii_lowercase(),
            family,
            crate::after(now, self.ttl),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry_and_stays_bounded() {
        let t0 = Instant::now();
        let mut m = FamilyMemory::new(2, Duration::from_secs(600));
        m.remember("A.test", Family::V4, t0);
        assert_eq!(
            m.preferred("a.test", t0 + Duration::from_secs(599)),
            Some(Family::V4)
        );
        assert_eq!(m.preferred("a.test", t0 + Duration::from_secs(600)), None);
        m.remember("b.test", Family::V6, t0 + Duration::from_secs(1));
        m.remember("c.test", Family::V4, t0 + Duration::from_secs(2));
        assert_eq!(
            m.preferred("a.test", t0 + Duration::from_secs(3)),
            None,
            "evicted"
        );
        assert_eq!(
            m.preferred("c.test", t0 + Duration::from_secs(3)),
            Some(Family::V4)
        );
        m.remember("c.test", Family::V6, t0 + Duration::from_secs(4));
        assert_eq!(
            m.preferred("c.test", t0 + Duration::from_secs(5)),
            Some(Family::V6)
        );
    }
}
