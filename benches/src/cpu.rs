//! CPU time of this process, from `getrusage(RUSAGE_SELF)` (microsecond
//! resolution; `/proc/self/stat` only counts clock ticks of 10 ms).
//!
//! RUSAGE_SELF covers every thread of the process; the benchmark has one
//! (the client drives its mio loop on the calling thread), so the delta
//! over the measured loop is the client's CPU time, user and kernel.

use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;

/// User and system CPU time consumed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time spent in user mode.
    pub user: Duration,
    /// Time spent in the kernel on the process's behalf (system calls).
    pub sys: Duration,
}

fn duration(tv: TimeVal) -> Duration {
    Duration::from_secs(tv.tv_sec().max(0) as u64)
        + Duration::from_micros(tv.tv_usec().max(0) as u64)
}

impl CpuTime {
    /// The process's CPU time now.
    pub fn now() -> CpuTime {
        let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage(RUSAGE_SELF) cannot fail");
        CpuTime {
            user: duration(usage.user_time()),
            sys: duration(usage.system_time()),
        }
    }

    /// What was consumed between `earlier` and `self`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
        }
    }

    /// User plus system time.
    pub fn total(self) -> Duration {
        self.user + self.sys
    }
}
