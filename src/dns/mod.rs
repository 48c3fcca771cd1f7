//! Name resolution, sans-IO: a name goes in with the current time, answers
//! come out as events. Today the sources are IP literals and the hosts file
//! (hosts(5)), plus the RFC 6761 §6.3 rule that `localhost` is loopback;
//! the DNS stub client (RFC 1035) will plug in behind the same interface,
//! so the exchange does not change when answers start arriving later.

pub mod cache;
pub mod conf;
pub mod hosts;
pub mod resolver;
pub mod wire;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

pub use hosts::Hosts;

use crate::error::{Error, ErrorKind, Phase};

/// Identifies one lookup started with [`Resolver::start_query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryId(pub u64);

/// What the resolver reports.
#[derive(Debug)]
pub enum ResolverEvent {
    /// A lookup finished.
    Done {
        /// Which lookup.
        query: QueryId,
        /// The addresses, in preference order, or why there are none.
        result: Result<Vec<IpAddr>, Error>,
    },
}

/// The stub resolver.
#[derive(Debug)]
pub struct Resolver {
    hosts: Hosts,
    next: u64,
    events: VecDeque<ResolverEvent>,
}

impl Resolver {
    /// A resolver answering from `hosts`.
    pub fn new(hosts: Hosts) -> Resolver {
        Resolver {
            hosts,
            next: 0,
            events: VecDeque::new(),
        }
    }

    /// Starts looking up `name`; the answer comes out of
    /// [`poll_event`](Self::poll_event).
    pub fn start_query(&mut self, name: &str, _now: Instant) -> QueryId {
        self.next += 1;
        let query = QueryId(self.next);
        let mut addrs = Vec::new();
        self.hosts.lookup(name, &mut addrs);
        let name = name.strip_suffix('.').unwrap_or(name);
        let is_localhost = name.eq_ignore_ascii_case("localhost")
            || name.to_ascii_lowercase().ends_with(".localhost");
        if addrs.is_empty() && is_localhost {
            addrs = vec![
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            ];
        }
        let result = if addrs.is_empty() {
            Err(Error::new(
                Phase::Dns,
                ErrorKind::HostNotFound {
                    host: name.to_owned(),
                },
            ))
        } else {
            Ok(addrs)
        };
        self.events.push_back(ResolverEvent::Done { query, result });
        query
    }

    /// The next finished lookup, if any.
    pub fn poll_event(&mut self) -> Option<ResolverEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// must be called (none while every answer is local).
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Time passed; nothing to do while every source is local.
    pub fn handle_timeout(&mut self, _now: Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_hit_miss_and_localhost() {
        let mut r = Resolver::new(Hosts::parse("192.0.2.1 a.test\n"));
        let now = Instant::now();
        let q1 = r.start_query("a.test", now);
        let q2 = r.start_query("b.test", now);
        let q3 = r.start_query("localhost", now);
        let mut got = Vec::new();
        while let Some(ResolverEvent::Done { query, result }) = r.poll_event() {
            got.push((query, result.map_err(|e| e.phase())));
        }
        assert_eq!(got[0], (q1, Ok(vec!["192.0.2.1".parse().unwrap()])));
        assert_eq!(got[1], (q2, Err(Phase::Dns)));
        assert_eq!(got[2].0, q3);
        assert_eq!(got[2].1.as_ref().unwrap().len(), 2);
    }
}
