//! The hosts file (hosts(5)): `address name [aliases…]` per line, `#`
//! starts a comment. Names compare case-insensitively (RFC 4343).

use std::net::IpAddr;

/// A parsed hosts file.
///
/// ```
/// use std::net::IpAddr;
/// use roundtrip::dns::Hosts;
///
/// let hosts = Hosts::parse("127.0.0.1 localhost\n192.0.2.7 printer.lan printer # office\n");
/// let mut found = Vec::new();
/// hosts.lookup("PRINTER", &mut found); // aliases count, case does not
/// assert_eq!(found, ["192.0.2.7".parse::<IpAddr>().unwrap()]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    entries: Vec<(String, IpAddr)>,
}

impl Hosts {
    /// Parses the text of a hosts file; malformed lines are skipped, as
    /// glibc does.
    pub fn parse(text: &str) -> Hosts {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_ascii_whitespace();
            let Some(addr) = fields.next() else { continue };
            // Zone indices (fe80::1%eth0) are not usable without an
            // interface table; skip such lines rather than guess.
            let Ok(addr) = addr.parse::<IpAddr>() else {
                continue;
            };
            for name in fields {
                entries.push((name.trim_end_matches('.').to_ascii_lowercase(), addr));
            }
        }
        Hosts { entries }
    }

    /// Reads and parses `path`; a missing or unreadable file is empty.
    pub fn load(path: &std::path::Path) -> Hosts {
        std::fs::read_to_string(path)
            .map(|t| Hosts::parse(&t))
            .unwrap_or_default()
    }

    /// Adds an entry (used by overrides in `Config`).
    pub fn insert(&mut self, name: &str, addr: IpAddr) {
        self.entries
            .push((name.trim_end_matches('.').to_ascii_lowercase(), addr));
    }

    /// Every address for `name`, in file order, without duplicates.
    pub fn lookup(&self, name: &str, out: &mut Vec<IpAddr>) {
        let name = name.strip_suffix('.').unwrap_or(name);
        for (n, a) in &self.entries {
            if n.eq_ignore_ascii_case(name) && !out.contains(a) {
                out.push(*a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_aliases_comments() {
        let h = Hosts::parse(
            "127.0.0.1 localhost\n::1 localhost ip6-localhost # v6\n# 10.0.0.1 hidden\n\
             192.0.2.7 Web.Example. web\nnot-an-ip host\n",
        );
        let mut out = Vec::new();
        h.lookup("LOCALHOST", &mut out);
        assert_eq!(
            out,
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        out.clear();
        h.lookup("web.example.", &mut out);
        assert_eq!(out, ["192.0.2.7".parse::<IpAddr>().unwrap()]);
        out.clear();
        h.lookup("hidden", &mut out);
        h.lookup("host", &mut out);
        assert!(out.is_empty());
    }
}
