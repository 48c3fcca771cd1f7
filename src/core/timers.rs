//! A min-heap of (deadline, request) pairs. Entries are never removed when
//! a deadline moves; a popped entry is checked against the exchange's
//! current deadline and skipped if stale (lazy deletion), which keeps
//! re-arming O(log n). Stale entries would otherwise pile up until their
//! deadlines pass — minutes, with the default response timeouts, over
//! which a busy client re-arms thousands of times a second — so once they
//! outnumber the live ones the heap is swept ([`Timers::sweep_if_stale`]):
//! amortised O(1) per push, and at most about twice the live entries kept.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::trace::RequestId;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, RequestId)>>,
}

impl Timers {
    pub fn push(&mut self, at: Instant, id: RequestId) {
        self.heap.push(Reverse((at, id)));
    }

    /// The earliest deadline (possibly stale: waking early is harmless).
    pub fn peek(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Entries held, stale ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// When the heap holds more than twice `live` entries (plus a little
    /// slack), keeps only those for which `current` is true (the deadline
    /// the request is armed for now) and says whether it swept.
    pub fn sweep_if_stale(
        &mut self,
        live: usize,
        current: impl Fn(Instant, RequestId) -> bool,
    ) -> bool {
        if self.heap.len() <= 2 * live + 64 {
            return false;
        }
        self.heap.retain(|Reverse((t, id))| current(*t, *id));
        true
    }

    /// Pops one entry due at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<RequestId> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse((_, id))| id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.push(t0 + Duration::from_millis(20), RequestId(2));
        t.push(t0 + Duration::from_millis(10), RequestId(1));
        assert_eq!(t.peek(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(t.pop_expired(t0), None);
        assert_eq!(
            t.pop_expired(t0 + Duration::from_millis(15)),
            Some(RequestId(1))
        );
        assert_eq!(t.pop_expired(t0 + Duration::from_millis(15)), None);
        assert_eq!(
            t.pop_expired(t0 + Duration::from_millis(20)),
            Some(RequestId(2))
        );
    }

    #[test]
    fn re_arming_many_times_keeps_the_heap_bounded() {
        // One request in flight re-armed 10,000 times (a 5 min deadline
        // pushed ahead by every read), as a long keep-alive run does.
        let t0 = Instant::now();
        let mut t = Timers::default();
        for i in 0..10_000u64 {
            let armed = t0 + Duration::from_secs(300) + Duration::from_micros(i);
            t.push(armed, RequestId(i % 3));
            t.sweep_if_stale(1, |at, _| at == armed);
            assert!(
                t.len() <= 2 + 64 + 1,
                "{} entries after {i} pushes",
                t.len()
            );
        }
        assert!(!t.sweep_if_stale(t.len(), |_, _| false), "nothing to sweep");
        // The live entry survived every sweep.
        let far = t0 + Duration::from_secs(3600);
        let mut last = None;
        while let Some(id) = t.pop_expired(far) {
            last = Some(id);
        }
        assert_eq!(last, Some(RequestId(9_999 % 3)));
    }
}
