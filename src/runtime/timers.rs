//! A min-heap of (deadline, request) pairs. Entries are never removed when
//! a deadline moves; a popped entry is checked against the exchange's
//! current deadline and skipped if stale (lazy deletion), which keeps
//! re-arming O(log n).

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
}
