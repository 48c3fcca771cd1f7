//! Just enough X.509 (RFC 5280 §4.1) to describe a server's certificate in
//! a trace: subject, subject alternative names (§4.2.1.6) and the validity
//! dates. Verification is rustls's job; this only reads, with every length
//! checked, and gives up (`None`) on anything unexpected — it never panics
//! on hostile bytes. DER (X.690 §8, §10) with definite lengths only.

use std::fmt::Write;

/// What a trace shows of a certificate.
///
/// ```no_run
/// use roundtrip::Trace;
///
/// // What `tls_handshake_done` shows of the server's certificate.
/// let trace = Trace::new().on_tls_handshake_done(|_, info, _| {
///     if let Some(leaf) = info.and_then(|i| i.leaf.as_ref()) {
///         println!("{} for {:?}, {} to {}", leaf.subject, leaf.sans, leaf.not_before, leaf.not_after);
///     }
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject, as `CN=…, O=…` (RFC 4514 order reversed as written).
    pub subject: String,
    /// DNS names and IP addresses from the subjectAltName extension.
    pub sans: Vec<String>,
    /// notBefore, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_before: String,
    /// notAfter, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_after: String,
}

/// One DER element: its tag and contents; advances `input`.
fn element<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    *input = after;
    Some((tag, contents))
}

fn expect<'a>(input: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    match element(input)? {
        (t, c) if t == tag => Some(c),
        _ => None,
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// Summarizes a DER certificate, or `None` if it cannot be read.
///
/// ```
/// // A self-signed certificate made with rcgen (a dev-dependency).
/// let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
/// let cert = rcgen::generate_simple_self_signed(names)?.cert;
/// let summary = roundtrip::x509::summarize(cert.der()).expect("a certificate");
/// assert_eq!(summary.sans, ["localhost", "127.0.0.1"]);
/// assert_eq!(summary.subject, "CN=rcgen self signed cert");
/// assert!(summary.not_before < summary.not_after); // the format sorts as text
///
/// assert_eq!(roundtrip::x509::summarize(b"not DER"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn summarize(der: &[u8]) -> Option<CertSummary> {
    let mut input = der;
    let mut cert = expect(&mut input, SEQUENCE)?;
    let mut tbs = expect(&mut cert, SEQUENCE)?;
    if tbs.first() == Some(&0xa0) {
        element(&mut tbs)?; // [0] version
    }
    element(&mut tbs)?; // serialNumber
    element(&mut tbs)?; // signature
    element(&mut tbs)?; // issuer
    let mut validity = expect(&mut tbs, SEQUENCE)?;
    let not_before = time(element(&mut validity)?)?;
    let not_after = time(element(&mut validity)?)?;
    let subject = name(expect(&mut tbs, SEQUENCE)?)?;
    element(&mut tbs)?; // subjectPublicKeyInfo
    let mut sans = Vec::new();
    while !tbs.is_empty() {
        let (tag, contents) = element(&mut tbs)?;
        if tag == 0xa3 {
            let mut exts_outer = contents;
            let mut exts = expect(&mut exts_outer, SEQUENCE)?;
            while !exts.is_empty() {
                let mut ext = expect(&mut exts, SEQUENCE)?;
                let oid = expect(&mut ext, OID)?;
                if oid != [0x55, 0x1d, 0x11] {
                    continue; // not 2.5.29.17
                }
                if ext.first() == Some(&0x01) {
                    element(&mut ext)?; // critical
                }
                let mut value = expect(&mut ext, 0x04)?;
                let mut names = expect(&mut value, SEQUENCE)?;
                while !names.is_empty() {
                    let (tag, v) = element(&mut names)?;
                    match (tag, v.len()) {
                        (0x82, _) => sans.push(String::from_utf8_lossy(v).into_owned()),
                        (0x87, 4) => sans.push(format!("{}.{}.{}.{}", v[0], v[1], v[2], v[3])),
                        (0x87, 16) => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(v);
                            sans.push(std::net::Ipv6Addr::from(b).to_string());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Some(CertSummary {
        subject,
        sans,
        not_before,
        not_after,
    })
}

/// UTCTime (YYMMDDHHMMSSZ, RFC 5280 §4.1.2.5.1) or GeneralizedTime
/// (YYYYMMDDHHMMSSZ, §4.1.2.5.2).
fn time((tag, v): (u8, &[u8])) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    if !s.ends_with('Z') || !s[..s.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match (tag, s.len()) {
        (0x17, 13) => {
            let yy: u32 = s[..2].parse().ok()?;
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{s}")
        }
        (0x18, 15) => s.to_owned(),
        _ => return None,
    };
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        &full[..4],
        &full[4..6],
        &full[6..8],
        &full[8..10],
        &full[10..12],
        &full[12..14]
    ))
}

/// A Name as `CN=…, O=…`, attributes in the order written.
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut out = String::new();
    while !rdns.is_empty() {
        let mut set = expect(&mut rdns, SET)?;
        while !set.is_empty() {
            let mut atv = expect(&mut set, SEQUENCE)?;
            let oid = expect(&mut atv, OID)?;
            let (_, value) = element(&mut atv)?;
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            if !out.is_empty() {
                out.push_str(", ");
            }
            let _ = write!(out, "{label}={}", String::from_utf8_lossy(value));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_rcgen_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["www.example.test".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("192.0.2.7".parse().unwrap()));
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("2001:db8::7".parse().unwrap()));
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "www.example.test");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Roundtrip Tests");
        params.not_before = rcgen::date_time_ymd(2024, 3, 1);
        params.not_after = rcgen::date_time_ymd(2051, 6, 30);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let s = summarize(cert.der()).unwrap();
        assert_eq!(s.subject, "CN=www.example.test, O=Roundtrip Tests");
        assert_eq!(s.sans, ["www.example.test", "192.0.2.7", "2001:db8::7"]);
        assert_eq!(s.not_before, "2024-03-01T00:00:00Z");
        assert_eq!(s.not_after, "2051-06-30T00:00:00Z");
    }

    #[test]
    fn hostile_bytes_give_none_not_a_panic() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        assert!(summarize(&der).is_some());
        for cut in 0..der.len() {
            let _ = summarize(&der[..cut]);
        }
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            let _ = summarize(&bad);
        }
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
