//! Every limit and timeout of the client in one struct, each with a
//! documented default (DESIGN.md principle 4: everything is bounded).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Limits and timeouts. Build with `Config::default()` and change fields,
/// or through [`ClientBuilder`](crate::ClientBuilder).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest response head (status line and fields), and largest 1xx
    /// head, in bytes. Default 64 KiB.
    pub max_head_size: usize,
    /// Most fields in one response head. Default 100.
    pub max_headers: usize,
    /// Most informational (1xx) responses before the final one. Default 20.
    pub max_1xx_responses: usize,
    /// Longest chunk-size line, extensions included. Default 4 KiB.
    pub max_chunk_line: usize,
    /// Largest chunked trailer section. Default 16 KiB.
    pub max_trailer_size: usize,
    /// Receive buffer per connection: reading from the socket stops when
    /// this much response data waits for the caller (back-pressure).
    /// Default 64 KiB; grown to `max_head_size` if that is larger.
    pub recv_buffer_size: usize,
    /// How much of a streaming request body is read per step. Default 16 KiB.
    pub send_chunk_size: usize,
    /// Idle connections kept per (scheme, host, port). Default 8.
    pub max_idle_per_host: usize,
    /// Idle connections kept in all. Default 100 (Go's `MaxIdleConns`).
    pub max_idle: usize,
    /// How long an idle connection is kept. Default 90 s (Go's).
    pub idle_timeout: Duration,
    /// A pooled connection idle for at least this long is checked before
    /// reuse with one non-blocking poll of the loop, so that a close or a
    /// stray response the server already sent is noticed before a request
    /// is written behind it. Requests that follow each other more closely
    /// skip the check and its system call; a server closing within that
    /// window is met by the retry rules instead. Default 1 ms; zero checks
    /// every time.
    pub idle_probe_after: Duration,
    /// Limit on establishing a connection (all attempts). Default 30 s.
    pub connect_timeout: Duration,
    /// How long to wait for `100 Continue` before sending the body anyway.
    /// Default 1 s (Go's `ExpectContinueTimeout`).
    pub expect_continue_timeout: Duration,
    /// `User-Agent` sent when the request has none; `None` sends none.
    /// Default `roundtrip/<version>`.
    pub user_agent: Option<String>,
    /// The hosts file to read at client start; `None` reads none.
    /// Default `/etc/hosts`.
    pub hosts_file: Option<PathBuf>,
    /// Extra name → address entries, consulted with the hosts file.
    /// Default empty.
    pub hosts: Vec<(String, IpAddr)>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_1xx_responses: 20,
            max_chunk_line: 4 * 1024,
            max_trailer_size: 16 * 1024,
            recv_buffer_size: 64 * 1024,
            send_chunk_size: 16 * 1024,
            max_idle_per_host: 8,
            max_idle: 100,
            idle_timeout: Duration::from_secs(90),
            idle_probe_after: Duration::from_millis(1),
            connect_timeout: Duration::from_secs(30),
            expect_continue_timeout: Duration::from_secs(1),
            user_agent: Some(concat!("roundtrip/", env!("CARGO_PKG_VERSION")).to_owned()),
            hosts_file: Some(PathBuf::from("/etc/hosts")),
            hosts: Vec::new(),
        }
    }
}
