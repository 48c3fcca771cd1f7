//! `-w/--write-out FORMAT`: curl's `%{variable}` substitution, printed to
//! stdout after each transfer. Times are seconds with six decimals, as curl
//! prints them, measured from the start of the request (the library's
//! `Timings`, which follows curl's definitions).

use std::fmt::Write;
use std::time::Duration;

use roundtrip::{PhaseTime, Timings};

use crate::args::UsageError;

/// One variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `time_namelookup`
    Namelookup,
    /// `time_connect`
    Connect,
    /// `time_appconnect`
    Appconnect,
    /// `time_pretransfer`
    Pretransfer,
    /// `time_posttransfer`
    Posttransfer,
    /// `time_starttransfer`
    Starttransfer,
    /// `time_total`
    Total,
    /// `time_redirect`
    Redirect,
    /// `time_queue`
    Queue,
    /// `http_code`
    HttpCode,
    /// `num_connects`
    NumConnects,
    /// `num_redirects`
    NumRedirects,
    /// `size_download`
    SizeDownload,
    /// `remote_ip`
    RemoteIp,
    /// `remote_port`
    RemotePort,
    /// `json`: every other variable as one object.
    Json,
}

const VARS: [(&str, Var); 16] = [
    ("time_namelookup", Var::Namelookup),
    ("time_connect", Var::Connect),
    ("time_appconnect", Var::Appconnect),
    ("time_pretransfer", Var::Pretransfer),
    ("time_posttransfer", Var::Posttransfer),
    ("time_starttransfer", Var::Starttransfer),
    ("time_total", Var::Total),
    ("time_redirect", Var::Redirect),
    ("time_queue", Var::Queue),
    ("http_code", Var::HttpCode),
    ("num_connects", Var::NumConnects),
    ("num_redirects", Var::NumRedirects),
    ("size_download", Var::SizeDownload),
    ("remote_ip", Var::RemoteIp),
    ("remote_port", Var::RemotePort),
    ("json", Var::Json),
];

/// A parsed format: literal text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Printed as is.
    Text(String),
    /// Replaced by its value.
    Var(Var),
}

/// Parses a `-w` format; an unknown variable is a usage error (exit 2).
pub fn parse(format: &str) -> Result<Vec<Piece>, UsageError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("%{") {
            let Some(end) = after.find('}') else {
                return Err(UsageError(format!("-w: unterminated %{{ in {format:?}")));
            };
            let name = &after[..end];
            let Some((_, var)) = VARS.iter().find(|(n, _)| *n == name) else {
                return Err(UsageError(format!("-w: unknown variable %{{{name}}}")));
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Var(*var));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix("%%") {
            text.push('%');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('\\') {
            match after.chars().next() {
                Some('n') => text.push('\n'),
                Some('t') => text.push('\t'),
                Some('r') => text.push('\r'),
                Some('\\') => text.push('\\'),
                _ => {
                    text.push('\\');
                    rest = after;
                    continue;
                }
            }
            rest = &after[1..];
        } else {
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// What a transfer produced, for substitution.
#[derive(Debug, Clone, Default)]
pub struct Info {
    /// The final status, if a response came.
    pub status: Option<u16>,
    /// The request's timeline.
    pub timings: Option<Timings>,
}

fn secs(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

fn value(var: Var, info: &Info) -> String {
    let t = info.timings.as_ref();
    let time = |f: fn(&Timings) -> Duration| t.map_or_else(|| secs(Duration::ZERO), |t| secs(f(t)));
    match var {
        Var::Namelookup => time(Timings::namelookup),
        Var::Connect => time(Timings::connect),
        Var::Appconnect => time(Timings::appconnect),
        Var::Pretransfer => time(Timings::pretransfer),
        Var::Posttransfer => time(Timings::posttransfer),
        Var::Starttransfer => time(Timings::starttransfer),
        Var::Total => time(|t| t.total().unwrap_or_default()),
        Var::Redirect => time(Timings::redirect),
        Var::Queue => time(|t| match t.queue() {
            PhaseTime::Took(d) => d,
            _ => Duration::ZERO,
        }),
        Var::HttpCode => format!("{:03}", info.status.unwrap_or(0)),
        Var::NumConnects => t.map_or(0, |t| t.num_connects()).to_string(),
        Var::NumRedirects => t.map_or(0, |t| t.num_redirects()).to_string(),
        Var::SizeDownload => t.map_or(0, |t| t.size_download()).to_string(),
        Var::RemoteIp => t
            .and_then(|t| t.remote_addr())
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        Var::RemotePort => t
            .and_then(|t| t.remote_addr())
            .map(|a| a.port().to_string())
            .unwrap_or_default(),
        Var::Json => {
            let mut out = String::from("{");
            for (i, (name, var)) in VARS.iter().filter(|(_, v)| *v != Var::Json).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let v = match var {
                    // Numbers in JSON: no leading zeros.
                    Var::HttpCode => info.status.unwrap_or(0).to_string(),
                    Var::RemoteIp | Var::RemotePort => format!("\"{}\"", value(*var, info)),
                    _ => value(*var, info),
                };
                let _ = write!(out, "\"{name}\":{v}");
            }
            out.push('}');
            out
        }
    }
}

/// The format with every variable replaced.
pub fn render(pieces: &[Piece], info: &Info) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(v) => out.push_str(&value(*v, info)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_variables_escapes_and_percent() {
        let p = parse("code=%{http_code}\\n100%% %{time_total}").unwrap();
        assert_eq!(
            p,
            [
                Piece::Text("code=".into()),
                Piece::Var(Var::HttpCode),
                Piece::Text("\n100% ".into()),
                Piece::Var(Var::Total),
            ]
        );
        assert!(parse("%{nope}").unwrap_err().0.contains("unknown variable"));
        assert!(parse("%{time_total")
            .unwrap_err()
            .0
            .contains("unterminated"));
    }

    #[test]
    fn json_has_every_variable() {
        let out = render(
            &parse("%{json}").unwrap(),
            &Info {
                status: Some(204),
                timings: None,
            },
        );
        assert!(out.starts_with("{\"time_namelookup\":0.000000,"), "{out}");
        assert!(out.contains("\"http_code\":204,"), "{out}");
        assert!(out.contains("\"remote_ip\":\"\","), "{out}");
        assert_eq!(out.matches(':').count(), 15);
    }

    #[test]
    fn renders_without_a_response() {
        let p = parse("%{http_code} %{time_connect} %{num_connects}").unwrap();
        assert_eq!(render(&p, &Info::default()), "000 0.000000 0");
    }
}
