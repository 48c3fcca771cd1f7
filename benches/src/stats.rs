//! Per-request figures of one measured loop, and their median over rounds.

use std::time::Duration;

use crate::alloc::Counts;
use crate::cpu::CpuTime;

/// What one round of `n` requests cost, divided by `n`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PerRequest {
    /// Wall-clock microseconds.
    pub wall_us: f64,
    /// User plus system CPU microseconds.
    pub cpu_us: f64,
    /// User CPU microseconds.
    pub user_us: f64,
    /// System CPU microseconds.
    pub sys_us: f64,
    /// Heap allocations (alloc, alloc_zeroed, realloc).
    pub allocs: f64,
    /// Of which reallocations.
    pub reallocs: f64,
    /// Bytes requested from the allocator.
    pub bytes: f64,
    /// Trace events delivered to hooks.
    pub events: f64,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

impl PerRequest {
    /// Divides the totals of a loop of `n` requests by `n`.
    pub fn new(n: u64, wall: Duration, cpu: CpuTime, heap: Counts, events: u64) -> PerRequest {
        let n = n.max(1) as f64;
        PerRequest {
            wall_us: us(wall) / n,
            cpu_us: us(cpu.total()) / n,
            user_us: us(cpu.user) / n,
            sys_us: us(cpu.sys) / n,
            allocs: heap.allocs as f64 / n,
            reallocs: heap.reallocs as f64 / n,
            bytes: heap.bytes as f64 / n,
            events: events as f64 / n,
        }
    }

    /// The median of each figure separately over `rounds` (each column is
    /// sorted on its own, so the result need not be one of the rounds).
    pub fn median(rounds: &[PerRequest]) -> PerRequest {
        let m = |f: fn(&PerRequest) -> f64| median(rounds.iter().map(f).collect());
        PerRequest {
            wall_us: m(|r| r.wall_us),
            cpu_us: m(|r| r.cpu_us),
            user_us: m(|r| r.user_us),
            sys_us: m(|r| r.sys_us),
            allocs: m(|r| r.allocs),
            reallocs: m(|r| r.reallocs),
            bytes: m(|r| r.bytes),
            events: m(|r| r.events),
        }
    }
}

/// The median of `values` (mean of the middle two for an even count; 0 for
/// none).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
