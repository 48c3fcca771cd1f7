//! Resolver configuration from resolv.conf(5): `nameserver`, `search`,
//! `domain` and `options` (`ndots`, `timeout`, `attempts`, `rotate`,
//! `edns0`), with glibc's defaults and bounds. Parsed by hand: the format is
//! a handful of keywords, and a parser we test beats a dependency.
//!
//! `options edns0` is accepted and changes nothing. glibc sends EDNS0 only
//! when asked; this resolver sends it unless told not to
//! ([`Config::dns_udp_payload`](crate::Config::dns_udp_payload) set to
//! `None`), because a 1232-byte payload spares most TCP fallbacks and is
//! safe with old servers: one that answers FORMERR to the OPT record is
//! asked again without it (RFC 6891 §7). So there is nothing for the option
//! to switch on, and no field keeps it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// glibc's MAXNS: later `nameserver` lines are ignored.
const MAX_NAMESERVERS: usize = 3;
/// glibc's MAXDNSRCH.
const MAX_SEARCH: usize = 6;

/// What resolv.conf says (or the defaults when it says nothing).
///
/// ```
/// use std::time::Duration;
/// use roundtrip::dns::ResolvConf;
///
/// let conf = ResolvConf::parse(
///     "nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2 timeout:1 rotate\n",
/// );
/// assert_eq!(conf.nameservers, ["192.0.2.53:53".parse().unwrap()]);
/// assert_eq!(conf.search, ["corp.example"]);
/// assert_eq!((conf.ndots, conf.timeout, conf.rotate), (2, Duration::from_secs(1), true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// Servers to ask, in order. Empty files fall back to 127.0.0.1:53.
    pub nameservers: Vec<SocketAddr>,
    /// Domains appended to names with fewer than `ndots` dots. Without
    /// `search` or `domain` lines, the domain of the host name when one is
    /// given to [`parse_with_hostname`](Self::parse_with_hostname) or
    /// [`load`](Self::load), as glibc does.
    pub search: Vec<String>,
    /// Dots a name needs to be tried as-is first. Default 1, at most 15.
    pub ndots: u8,
    /// Wait per try. Default 5 s, at most 30 s.
    pub timeout: Duration,
    /// Rounds over all servers. Default 2, at most 5.
    pub attempts: u32,
    /// Spread queries over servers instead of always starting at the first.
    pub rotate: bool,
}

impl Default for ResolvConf {
    fn default() -> ResolvConf {
        ResolvConf {
            nameservers: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53)],
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
        }
    }
}

impl ResolvConf {
    /// Parses the text of a resolv.conf file. Unknown keywords and
    /// malformed values are ignored, as glibc does.
    pub fn parse(text: &str) -> ResolvConf {
        ResolvConf::parse_with_hostname(text, None)
    }

    /// Parses like [`parse`](Self::parse); when the text has neither a
    /// `search` nor a `domain` line, the search list is the domain of
    /// `hostname` (what follows its first dot), as glibc's res_init does
    /// with gethostname(2).
    ///
    /// ```
    /// use roundtrip::dns::ResolvConf;
    ///
    /// let conf = ResolvConf::parse_with_hostname("nameserver 192.0.2.53\n", Some("web1.corp.example"));
    /// assert_eq!(conf.search, ["corp.example"]);
    /// let conf = ResolvConf::parse_with_hostname("search lab.example\n", Some("web1.corp.example"));
    /// assert_eq!(conf.search, ["lab.example"]);
    /// ```
    pub fn parse_with_hostname(text: &str, hostname: Option<&str>) -> ResolvConf {
        let mut conf = ResolvConf {
            nameservers: Vec::new(),
            ..ResolvConf::default()
        };
        let mut search_given = false;
        for line in text.lines() {
            let line = line.trim_start();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_ascii_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(addr) = words.next().and_then(parse_nameserver) {
                        if conf.nameservers.len() < MAX_NAMESERVERS {
                            conf.nameservers.push(addr);
                        }
                    }
                }
                // The last of `search` and `domain` wins.
                Some("search") => {
                    search_given = true;
                    conf.search = words
                        .take(MAX_SEARCH)
                        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                        .filter(|d| !d.is_empty())
                        .collect();
                }
                Some("domain") => {
                    search_given = true;
                    conf.search = words
                        .next()
                        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                        .filter(|d| !d.is_empty())
                        .into_iter()
                        .collect();
                }
                Some("options") => {
                    for opt in words {
                        conf.apply_option(opt);
                    }
                }
                _ => {}
            }
        }
        if conf.nameservers.is_empty() {
            conf.nameservers = ResolvConf::default().nameservers;
        }
        if !search_given {
            conf.search = hostname.and_then(domain_of).into_iter().collect();
        }
        conf
    }

    /// Reads `path` with [`parse_with_hostname`](Self::parse_with_hostname);
    /// a missing or unreadable file reads as an empty one (defaults, and
    /// the host name's domain as the search list).
    pub fn load(path: &std::path::Path, hostname: Option<&str>) -> ResolvConf {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        ResolvConf::parse_with_hostname(&text, hostname)
    }

    fn apply_option(&mut self, opt: &str) {
        let (key, value) = match opt.split_once(':') {
            Some((k, v)) => (k, v.parse::<u32>().ok()),
            None => (opt, None),
        };
        match (key, value) {
            ("ndots", Some(n)) => self.ndots = n.min(15) as u8,
            ("timeout", Some(n)) => self.timeout = Duration::from_secs(u64::from(n.clamp(1, 30))),
            ("attempts", Some(n)) => self.attempts = n.clamp(1, 5),
            ("rotate", _) => self.rotate = true,
            // EDNS0 is on already (see the module docs).
            ("edns0", _) => {}
            _ => {}
        }
    }
}

/// The domain part of a host name, glibc's search list of last resort.
fn domain_of(hostname: &str) -> Option<String> {
    let (_, domain) = hostname.trim().split_once('.')?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

/// This machine's host name, as gethostname(2) would give it, read from
/// procfs (Linux) so that no FFI is needed; `None` where there is no such
/// file, which only loses glibc's search-list fallback.
pub(crate) fn system_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// `nameserver` takes an address without a port; a zone index
/// (`fe80::1%eth0`) cannot be used without an interface table and is
/// skipped.
fn parse_nameserver(s: &str) -> Option<SocketAddr> {
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_missing_falls_back_to_localhost() {
        assert_eq!(ResolvConf::parse(""), ResolvConf::default());
        assert_eq!(
            ResolvConf::load(std::path::Path::new("/nonexistent/resolv.conf"), None),
            ResolvConf::default()
        );
        assert_eq!(
            ResolvConf::default().nameservers,
            ["127.0.0.1:53".parse().unwrap()]
        );
    }

    #[test]
    fn full_file() {
        let c = ResolvConf::parse(
            "# comment\n; also comment\nnameserver 192.0.2.1\nnameserver 2001:db8::1\n\
             nameserver fe80::1%eth0\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n\
             domain old.example\nsearch Corp.Example. lab.example\n\
             options ndots:2 timeout:3 attempts:4 rotate edns0 unknown:7\n",
        );
        let ns: Vec<String> = c.nameservers.iter().map(|a| a.to_string()).collect();
        assert_eq!(ns, ["192.0.2.1:53", "[2001:db8::1]:53", "192.0.2.3:53"]);
        assert_eq!(c.search, ["corp.example", "lab.example"]);
        assert_eq!(c.ndots, 2);
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.attempts, 4);
        assert!(c.rotate);
        // `edns0` is understood and needs nothing: EDNS is the default.
        assert_eq!(ResolvConf::parse("options edns0\n"), ResolvConf::parse(""));
    }

    #[test]
    fn without_search_or_domain_the_host_names_domain_is_searched() {
        let host = Some("Web1.Corp.Example.");
        assert_eq!(
            ResolvConf::parse_with_hostname("nameserver 192.0.2.1\n", host).search,
            ["corp.example"]
        );
        // A missing file is an empty one: the fallback applies too.
        let missing = std::path::Path::new("/nonexistent/resolv.conf");
        assert_eq!(ResolvConf::load(missing, host).search, ["corp.example"]);
        // `search` or `domain` in the file, even an empty one, wins.
        for text in ["search lab.example\n", "domain lab.example\n"] {
            assert_eq!(
                ResolvConf::parse_with_hostname(text, host).search,
                ["lab.example"]
            );
        }
        assert!(ResolvConf::parse_with_hostname("search\n", host)
            .search
            .is_empty());
        // A host name without a domain gives no search list.
        for bare in ["web1", "web1.", "", "(none)"] {
            assert!(
                ResolvConf::parse_with_hostname("", Some(bare))
                    .search
                    .is_empty(),
                "{bare:?}"
            );
        }
    }

    #[test]
    fn bounds_and_last_of_search_or_domain_wins() {
        let c = ResolvConf::parse(
            "search a.example\ndomain b.example\noptions ndots:99 timeout:0 attempts:50\n",
        );
        assert_eq!(c.search, ["b.example"]);
        assert_eq!(c.ndots, 15);
        assert_eq!(c.timeout, Duration::from_secs(1));
        assert_eq!(c.attempts, 5);
        let c = ResolvConf::parse("options timeout:x ndots:-1\nnameserver not-an-ip\n");
        assert_eq!(c.ndots, 1);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.nameservers, ResolvConf::default().nameservers);
    }
}
