//! CPU time from `getrusage(2)`: the whole process (every thread, as the
//! figures count) and the calling thread alone (to notice CPU spent by
//! other threads, e.g. a resolver or blocking pool).

use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;

/// User and system CPU time.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    /// User mode.
    pub user: Duration,
    /// Kernel on the process's behalf.
    pub sys: Duration,
    /// User plus system of the calling thread only.
    pub this_thread: Duration,
}

fn duration(tv: TimeVal) -> Duration {
    Duration::from_secs(tv.tv_sec().max(0) as u64)
        + Duration::from_micros(tv.tv_usec().max(0) as u64)
}

impl CpuTime {
    /// Now.
    pub fn now() -> CpuTime {
        let all = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage(RUSAGE_SELF)");
        let me = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage(RUSAGE_THREAD)");
        CpuTime {
            user: duration(all.user_time()),
            sys: duration(all.system_time()),
            this_thread: duration(me.user_time()) + duration(me.system_time()),
        }
    }

    /// Consumed between `earlier` and `self`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
            this_thread: self.this_thread.saturating_sub(earlier.this_thread),
        }
    }

    /// User plus system, all threads.
    pub fn total(self) -> Duration {
        self.user + self.sys
    }
}
