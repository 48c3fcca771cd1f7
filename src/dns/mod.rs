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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);
