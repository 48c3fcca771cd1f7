//! Name resolution, sans-IO: a name goes in with the current time; queries
//! to send, deadlines and answers come out (RFC 1035 stub resolver behind
//! the hosts file, hosts(5), and RFC 6761's special names). The runtime
//! owns the UDP and TCP sockets; see [`resolver`] for the rules followed.

pub mod cache;
pub mod conf;
pub mod hosts;
pub mod resolver;
pub mod wire;

pub use conf::ResolvConf;
pub use hosts::Hosts;
pub use resolver::{
    DnsSockId, QueryOutcome, Resolver, ResolverEvent, Settings, Transmit, Transport,
};
pub use wire::{QType, Rcode};

/// Identifies one lookup started with [`Resolver::start_query`].
///
/// ```
/// use roundtrip::dns::{Hosts, Resolver};
///
/// let mut config = roundtrip::Config::default();
/// config.resolv_conf = None;
/// let mut resolver = Resolver::new(config.dns_settings(), Hosts::default(), 1);
/// let now = std::time::Instant::now();
/// let a = resolver.start_query("localhost", now);
/// let b = resolver.start_query("localhost", now);
/// assert_ne!(a, b); // one id per lookup, even of the same name
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);
