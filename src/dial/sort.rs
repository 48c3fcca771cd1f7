//! Destination address order, after RFC 6724 §6 using only what needs no
//! routing table or source address: the default policy table's precedence
//! (rule 6: loopback, then global unicast, then IPv4, 6to4, Teredo, ULA and
//! the deprecated prefixes), with link-local and unspecified destinations
//! last (they need a zone or cannot work), and the resolver's order kept
//! among equals (the sort is stable, rule 10). Each family is sorted on its
//! own, since RFC 8305 §4 interleaves them; [`rank`] also compares across
//! families, which is how the race picks the family to start with.
//!
//! Not applied: the rules that need the source address the kernel would
//! pick (1 avoid unusable, 2 matching scope, 3 deprecated, 4 home, 5
//! matching label, 7 native transport, 8 smaller scope, 9 longest prefix).
//! Their most useful effect, preferring the family that works from here,
//! comes instead from remembering which family won the last race to the
//! host (RFC 8305 §5, [`super::memory`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// RFC 6724 §2.1 default policy table precedence.
fn precedence(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 35,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if *v6 == Ipv6Addr::LOCALHOST {
                50
            } else if v6.to_ipv4_mapped().is_some() {
                35
            } else if s[0] == 0x2002 {
                30
            } else if s[0] == 0x2001 && s[1] == 0 {
                5
            } else if s[0] & 0xfe00 == 0xfc00 {
                3
            } else if s[0] & 0xffc0 == 0xfec0 || s[0] == 0x3ffe || s[..6] == [0; 6] {
                1
            } else {
                40
            }
        }
    }
}

/// Destinations that rarely work without extra context sort last.
fn demoted(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified() || *v4 == Ipv4Addr::BROADCAST,
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_unspecified(),
    }
}

/// Where an address sorts, lower first: usable before demoted, then by
/// precedence. Comparable across families (IPv4 has precedence 35).
///
/// ```
/// use roundtrip::dial::sort::rank;
///
/// let v4 = "192.0.2.1:80".parse().unwrap();
/// let ula = "[fd00::1]:80".parse().unwrap();
/// let global = "[2001:db8::1]:80".parse().unwrap();
/// assert!(rank(&v4) < rank(&ula));
/// assert!(rank(&global) < rank(&v4));
/// ```
pub fn rank(addr: &SocketAddr) -> (bool, std::cmp::Reverse<u8>) {
    let ip = addr.ip();
    (demoted(&ip), std::cmp::Reverse(precedence(&ip)))
}

/// Sorts one family's addresses (stable).
///
/// ```
/// use std::net::SocketAddr;
/// use roundtrip::dial::sort::sorted;
///
/// let addrs: Vec<SocketAddr> = ["[fe80::1]:80", "[fd00::1]:80", "[2001:db8::1]:80", "[::1]:80"]
///     .iter()
///     .map(|a| a.parse().unwrap())
///     .collect();
/// let order: Vec<String> = sorted(addrs).iter().map(|a| a.ip().to_string()).collect();
/// // Loopback, then global, then unique-local; link-local last.
/// assert_eq!(order, ["::1", "2001:db8::1", "fd00::1", "fe80::1"]);
/// ```
pub fn sorted(mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    sort(&mut addrs);
    addrs
}

/// Sorts one family's addresses in place (stable), as [`sorted`] does.
///
/// There are at most sixteen ranks, so one pass per rank present gathers
/// them in order: linear in the number of addresses however many a DNS
/// answer over TCP holds, and some 6 KiB less code in the binary than the
/// standard library's stable sort instantiated for this one key. A list
/// already in order (one address, or one rank) is left as it is, with no
/// allocation.
pub fn sort(addrs: &mut [SocketAddr]) {
    if addrs.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])) {
        return;
    }
    let scratch = addrs.to_vec();
    let mut out = 0;
    let mut next = scratch.iter().map(rank).min();
    while let Some(r) = next {
        next = None;
        for a in &scratch {
            let k = rank(a);
            if k == r {
                addrs[out] = *a;
                out += 1;
            } else if k > r && next.is_none_or(|n| k < n) {
                next = Some(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_global_then_the_rest() {
        let got = sorted(vec![
            sa("[fe80::1]:80"),
            sa("[fd00::1]:80"),
            sa("[2001:db8::1]:80"),
            sa("[2002:c000:204::1]:80"),
            sa("[::1]:80"),
            sa("[2001:0:4136:e378::1]:80"),
        ]);
        let want = [
            "[::1]:80",
            "[2001:db8::1]:80",
            "[2002:c000:204::1]:80",
            "[2001:0:4136:e378::1]:80",
            "[fd00::1]:80",
            "[fe80::1]:80",
        ];
        assert_eq!(got.iter().map(|a| a.to_string()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn ipv4_keeps_resolver_order_except_link_local() {
        let got = sorted(vec![
            sa("169.254.1.1:80"),
            sa("192.0.2.2:80"),
            sa("192.0.2.1:80"),
        ]);
        assert_eq!(
            got,
            [sa("192.0.2.2:80"), sa("192.0.2.1:80"), sa("169.254.1.1:80")]
        );
    }

    #[test]
    fn matches_the_standard_stable_sort_on_long_mixed_lists() {
        // Addresses of every rank class in both families, each drawn many
        // times with distinct ports so that stability is visible.
        let kinds = [
            "[::1]",
            "[2001:db8::1]",
            "[2002:c000:204::1]",
            "[2001:0:4136:e378::1]",
            "[fd00::1]",
            "[fec0::1]",
            "[::ffff:192.0.2.1]",
            "[fe80::1]",
            "[::]",
            "192.0.2.7",
            "169.254.0.1",
            "0.0.0.0",
            "255.255.255.255",
        ];
        let mut seed = 0x2545_f491_u32;
        for len in [0, 1, 2, 3, 17, 400] {
            let addrs: Vec<SocketAddr> = (0..len)
                .map(|port| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let kind = kinds[(seed >> 16) as usize % kinds.len()];
                    sa(&format!("{kind}:{port}"))
                })
                .collect();
            let mut want = addrs.clone();
            want.sort_by_key(rank);
            assert_eq!(sorted(addrs), want, "{len} addresses");
        }
    }
}
