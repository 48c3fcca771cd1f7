//! The Happy Eyeballs v2 connection race (RFC 8305), sans-IO: addresses
//! and the current time go in; "start an attempt to X", "cancel attempt Y"
//! and "wake me at T" come out. The runtime opens the sockets.
//!
//! - §3: connecting starts as soon as the first family answers; if A comes
//!   first, wait the Resolution Delay (default 50 ms) for AAAA.
//! - §4: addresses are sorted ([`sort`], after RFC 6724's rules that need
//!   no routing table) and interleaved by family, starting with the
//!   preferred one (First Address Family Count, default 1). Addresses that
//!   arrive late join the order.
//! - §5: the next attempt starts when the Connection Attempt Delay (default
//!   250 ms, at least 10 ms) passes without success, or at once when the
//!   current attempt fails. The first to connect wins; the rest are
//!   cancelled.

pub mod memory;
pub mod sort;

pub use memory::FamilyMemory;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::AttemptError;
use crate::trace::AttemptId;

/// The RFC 8305 §8 floor for the Connection Attempt Delay.
///
/// ```
/// use std::time::{Duration, Instant};
/// use roundtrip::dial::{DialConfig, Family, Schedule, MIN_ATTEMPT_DELAY};
///
/// // A 1 ms delay asked for is raised to the floor.
/// let config = DialConfig { attempt_delay: Duration::from_millis(1), ..DialConfig::default() };
/// let mut race = Schedule::new(config, 0);
/// let t0 = Instant::now();
/// let addrs = ["192.0.2.1:80".parse().unwrap(), "192.0.2.2:80".parse().unwrap()];
/// race.add_addresses(Family::V4, &addrs, t0);
/// race.resolution_done(t0);
/// race.poll_action(); // the first attempt starts
/// assert_eq!(race.poll_timeout(), Some(t0 + MIN_ATTEMPT_DELAY));
/// ```
pub const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);

/// Timing and ordering knobs of the race.
///
/// ```
/// use std::time::Duration;
/// use roundtrip::dial::{DialConfig, Schedule};
///
/// let config = DialConfig {
///     attempt_delay: Duration::from_millis(100),
///     prefer_v4: true, // IPv4 won the last race to this host
///     ..DialConfig::default()
/// };
/// let race = Schedule::new(config, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialConfig {
    /// Wait for AAAA after A answered first (RFC 8305 §3). Default 50 ms.
    pub resolution_delay: Duration,
    /// Wait before starting the next attempt (RFC 8305 §5). Default
    /// 250 ms; never below 10 ms.
    pub attempt_delay: Duration,
    /// Addresses of the preferred family tried before the first of the
    /// other (RFC 8305 §4). Default 1.
    pub first_family_count: usize,
    /// Start with IPv4 (the host's IPv4 won last time, RFC 8305 §5 allows
    /// remembering).
    pub prefer_v4: bool,
}

impl Default for DialConfig {
    fn default() -> DialConfig {
        DialConfig {
            resolution_delay: Duration::from_millis(50),
            attempt_delay: Duration::from_millis(250),
            first_family_count: 1,
            prefer_v4: false,
        }
    }
}

/// IPv6 or IPv4, as RFC 8305 sorts them.
///
/// ```
/// use roundtrip::dial::Family;
///
/// assert_eq!(Family::of(&"[::1]:80".parse().unwrap()), Family::V6);
/// assert_eq!(Family::of(&"127.0.0.1:80".parse().unwrap()), Family::V4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// AAAA answers.
    V6,
    /// A answers.
    V4,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// What the race asks of the runtime.
///
/// See [`Schedule`] for a whole race. A runtime serves the actions so:
///
/// ```
/// use roundtrip::dial::{DialAction, DialConfig, Family, Schedule};
///
/// let mut race = Schedule::new(DialConfig::default(), 0);
/// let now = std::time::Instant::now();
/// race.add_addresses(Family::V4, &["192.0.2.1:80".parse().unwrap()], now);
/// race.resolution_done(now);
/// while let Some(action) = race.poll_action() {
///     match action {
///         DialAction::Start { attempt, addr } => println!("attempt {attempt}: connect to {addr}"),
///         DialAction::Cancel { attempt, addr } => println!("attempt {attempt}: close ({addr})"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialAction {
    /// Open a connection attempt.
    Start {
        /// Its id.
        attempt: AttemptId,
        /// Where to.
        addr: SocketAddr,
    },
    /// Abandon an attempt: another one won (or the race was given up).
    Cancel {
        /// Which.
        attempt: AttemptId,
        /// Its address.
        addr: SocketAddr,
    },
}

/// How the race stands.
///
/// ```
/// use std::io;
/// use roundtrip::dial::{DialAction, DialConfig, Family, Outcome, Schedule};
///
/// let mut race = Schedule::new(DialConfig::default(), 0);
/// let now = std::time::Instant::now();
/// race.add_addresses(Family::V4, &["192.0.2.1:80".parse().unwrap()], now);
/// race.resolution_done(now);
/// let Some(DialAction::Start { attempt, .. }) = race.poll_action() else { panic!() };
/// race.handle_failed(attempt, io::ErrorKind::ConnectionRefused.into(), now);
/// // The only address failed: the race is lost, with every attempt's error.
/// let Outcome::Failed(errors) = race.outcome() else { panic!() };
/// assert_eq!(errors[0].error.kind(), io::ErrorKind::ConnectionRefused);
/// ```
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Still running.
    Running,
    /// This attempt connected first.
    Won {
        /// The winner.
        attempt: AttemptId,
        /// Its address.
        addr: SocketAddr,
    },
    /// Every address failed and no more can come.
    Failed(Vec<AttemptError>),
}

/// One request's race.
///
/// A race run by hand: the caller plays the sockets and the clock.
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::{Duration, Instant};
/// use roundtrip::dial::{DialAction, DialConfig, Family, Outcome, Schedule};
///
/// let v6: SocketAddr = "[2001:db8::1]:443".parse()?;
/// let v4: SocketAddr = "192.0.2.1:443".parse()?;
/// let t0 = Instant::now();
/// let mut race = Schedule::new(DialConfig::default(), 0);
///
/// // Both answers are in: IPv6 is tried first.
/// race.add_addresses(Family::V6, &[v6], t0);
/// race.add_addresses(Family::V4, &[v4], t0);
/// race.resolution_done(t0);
/// let Some(DialAction::Start { attempt: first, addr }) = race.poll_action() else { panic!() };
/// assert_eq!(addr, v6);
/// // IPv4 waits for the Connection Attempt Delay (250 ms).
/// assert_eq!(race.poll_action(), None);
/// assert_eq!(race.poll_timeout(), Some(t0 + Duration::from_millis(250)));
///
/// // No success by then: IPv4 starts alongside.
/// race.handle_timeout(t0 + Duration::from_millis(250));
/// let Some(DialAction::Start { attempt: second, addr }) = race.poll_action() else { panic!() };
/// assert_eq!(addr, v4);
///
/// // IPv4 connects first: it wins, and the IPv6 attempt is cancelled.
/// race.handle_connected(second, t0 + Duration::from_millis(260));
/// assert_eq!(race.poll_action(), Some(DialAction::Cancel { attempt: first, addr: v6 }));
/// assert!(matches!(race.outcome(), Outcome::Won { addr, .. } if *addr == v4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Schedule {
    config: DialConfig,
    /// Addresses not yet tried, per family, in sorted order.
    pending: [VecDeque<SocketAddr>; 2],
    /// Whether each family's answer has arrived (even if empty).
    answered: [bool; 2],
    /// Until when to wait for AAAA (A answered first).
    resolution_deadline: Option<Instant>,
    /// When the next attempt may start even if the current ones are alive.
    next_at: Option<Instant>,
    in_flight: Vec<(AttemptId, SocketAddr)>,
    /// Family of the last attempt started.
    last: Option<Family>,
    /// The family of the first attempt, fixed when it starts.
    first_family: Option<Family>,
    /// Attempts started so far.
    started: usize,
    started_any: bool,
    next_attempt_id: u64,
    errors: Vec<AttemptError>,
    outcome: Outcome,
    actions: VecDeque<DialAction>,
}

fn idx(f: Family) -> usize {
    match f {
        Family::V6 => 0,
        Family::V4 => 1,
    }
}

impl Schedule {
    /// A race whose attempt ids start after `first_attempt_id` (ids are
    /// client-wide, so the caller hands out the range).
    pub fn new(mut config: DialConfig, first_attempt_id: u64) -> Schedule {
        config.attempt_delay = config.attempt_delay.max(MIN_ATTEMPT_DELAY);
        Schedule {
            config,
            pending: [VecDeque::new(), VecDeque::new()],
            answered: [false, false],
            resolution_deadline: None,
            next_at: None,
            in_flight: Vec::new(),
            last: None,
            first_family: None,
            started: 0,
            started_any: false,
            next_attempt_id: first_attempt_id,
            errors: Vec::new(),
            outcome: Outcome::Running,
            actions: VecDeque::new(),
        }
    }

    /// The family the race starts with (RFC 8305 §4: the family of the
    /// first address in RFC 6724 order). Fixed once an attempt started.
    fn preferred(&self) -> Family {
        if let Some(f) = self.first_family {
            return f;
        }
        if self.config.prefer_v4 {
            return Family::V4;
        }
        // With both families in hand, RFC 6724's precedence decides across
        // them: an IPv4 address (35) beats a unique-local (3), Teredo (5) or
        // 6to4 (30) IPv6 one, and any usable address beats a link-local one.
        // IPv6 wins ties, as rule 6's table puts native IPv6 (40) first.
        match (self.pending[0].front(), self.pending[1].front()) {
            (Some(v6), Some(v4)) if sort::rank(v4) < sort::rank(v6) => Family::V4,
            _ => Family::V6,
        }
    }

    /// Whether `addr` is already in this race: waiting, in flight or
    /// failed.
    fn seen(&self, addr: &SocketAddr) -> bool {
        self.pending.iter().any(|p| p.contains(addr))
            || self.in_flight.iter().any(|(_, a)| a == addr)
            || self.errors.iter().any(|e| e.addr == *addr)
    }

    fn running(&self) -> bool {
        matches!(self.outcome, Outcome::Running)
    }

    /// The last attempt id handed out.
    pub fn last_attempt_id(&self) -> u64 {
        self.next_attempt_id
    }

    /// The family's answer arrived (`addrs` may be empty). Later calls for
    /// the same family add addresses.
    pub fn add_addresses(&mut self, family: Family, addrs: &[SocketAddr], now: Instant) {
        if !self.running() {
            return;
        }
        let i = idx(family);
        self.answered[i] = true;
        for a in addrs {
            // An address is tried once per race: the lookup's final answer
            // repeats the addresses each family already delivered, some of
            // which are in flight or have failed by then.
            if Family::of(a) == family && !self.seen(a) {
                self.pending[i].push_back(*a);
            }
        }
        sort::sort(self.pending[i].make_contiguous());
        let preferred = self.preferred();
        if family != preferred && !self.answered[idx(preferred)] && !self.started_any {
            self.resolution_deadline
                .get_or_insert(crate::after(now, self.config.resolution_delay));
        }
        self.step(now);
    }

    /// Both families' answers are in (the lookup is done).
    pub fn resolution_done(&mut self, now: Instant) {
        self.answered = [true, true];
        self.step(now);
    }

    /// An attempt connected.
    pub fn handle_connected(&mut self, attempt: AttemptId, now: Instant) {
        let _ = now;
        let Some(i) = self.in_flight.iter().position(|(a, _)| *a == attempt) else {
            return;
        };
        if !self.running() {
            return;
        }
        let (_, addr) = self.in_flight.remove(i);
        for (other, other_addr) in self.in_flight.drain(..) {
            self.actions.push_back(DialAction::Cancel {
                attempt: other,
                addr: other_addr,
            });
        }
        self.pending = [VecDeque::new(), VecDeque::new()];
        self.outcome = Outcome::Won { attempt, addr };
    }

    /// An attempt failed: the next one starts at once (RFC 8305 §5).
    pub fn handle_failed(&mut self, attempt: AttemptId, error: std::io::Error, now: Instant) {
        let Some(i) = self.in_flight.iter().position(|(a, _)| *a == attempt) else {
            return;
        };
        let (_, addr) = self.in_flight.remove(i);
        self.errors.push(AttemptError {
            addr,
            error: Arc::new(error),
        });
        self.next_at = None;
        self.step(now);
    }

    /// Gives up (overall timeout or cancellation): every attempt in flight
    /// is cancelled; returns their errors so far.
    pub fn abandon(&mut self) -> Vec<AttemptError> {
        for (attempt, addr) in self.in_flight.drain(..) {
            self.actions.push_back(DialAction::Cancel { attempt, addr });
        }
        self.pending = [VecDeque::new(), VecDeque::new()];
        self.outcome = Outcome::Failed(Vec::new());
        std::mem::take(&mut self.errors)
    }

    /// Attempts in flight, oldest first.
    pub fn in_flight(&self) -> &[(AttemptId, SocketAddr)] {
        &self.in_flight
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.step(now);
    }

    /// The next action for the runtime.
    pub fn poll_action(&mut self) -> Option<DialAction> {
        self.actions.pop_front()
    }

    /// How the race stands (taken once when finished).
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// can change something.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.running() {
            return None;
        }
        let waiting_resolution = self.resolution_deadline.filter(|_| !self.started_any);
        let next = self
            .next_at
            .filter(|_| self.pending.iter().any(|p| !p.is_empty()));
        crate::earliest(waiting_resolution, next)
    }

    /// Starts attempts that are due, and decides failure.
    fn step(&mut self, now: Instant) {
        if !self.running() {
            return;
        }
        loop {
            let may_start = if !self.started_any {
                // §3: the preferred family (AAAA, unless IPv4 won last
                // time) starts at once; the other waits for it until the
                // resolution delay ends.
                let p = idx(self.preferred());
                self.answered[p]
                    || (self.answered[1 - p] && self.resolution_deadline.is_none_or(|d| now >= d))
            } else {
                self.in_flight.is_empty() || self.next_at.is_some_and(|t| now >= t)
            };
            if !may_start {
                break;
            }
            if !self.started_any {
                self.first_family = Some(self.preferred());
            }
            let Some(addr) = self.next_address() else {
                break;
            };
            self.next_attempt_id += 1;
            let attempt = AttemptId(self.next_attempt_id);
            self.in_flight.push((attempt, addr));
            self.started_any = true;
            self.next_at = Some(crate::after(now, self.config.attempt_delay));
            self.actions.push_back(DialAction::Start { attempt, addr });
        }
        let exhausted = self.answered == [true, true]
            && self.in_flight.is_empty()
            && self.pending.iter().all(VecDeque::is_empty);
        if exhausted {
            self.outcome = Outcome::Failed(std::mem::take(&mut self.errors));
        }
    }

    /// The next address in RFC 8305 §4 order: `first_family_count` of the
    /// preferred family, then alternate.
    fn next_address(&mut self) -> Option<SocketAddr> {
        let preferred = self.preferred();
        let want = if self.started < self.config.first_family_count.max(1) {
            preferred
        } else {
            self.last.map_or(preferred, other_of)
        };
        let family = if !self.pending[idx(want)].is_empty() {
            want
        } else if !self.pending[idx(other_of(want))].is_empty() {
            other_of(want)
        } else {
            return None;
        };
        let addr = self.pending[idx(family)].pop_front()?;
        self.last = Some(family);
        self.started += 1;
        Some(addr)
    }
}

fn other_of(f: Family) -> Family {
    match f {
        Family::V6 => Family::V4,
        Family::V4 => Family::V6,
    }
}

#[cfg(test)]
mod tests;
