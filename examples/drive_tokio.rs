//! The same round trip as `drive_blocking` (DNS through body), driven
//! through the sans-IO `roundtrip::core::Core` from a tokio current-thread
//! runtime: one task owns the core and every socket, and waits on all of
//! them and the core's deadline at once. The loop is in
//! examples/support/tokio_driver.rs, which tests/drivers_agree.rs runs
//! too. tokio is a dev-dependency of this example only, never a
//! dependency of the library. See docs/embedding.md.
//!
//! Its DNS and HTTP servers run on 127.0.0.1: `cargo run --example drive_tokio`.

#![forbid(unsafe_code)]

mod support;
#[path = "support/tokio_driver.rs"]
mod tokio_driver;

use roundtrip::{proxy::ProxyConfig, Config, Trace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dns, http) = (support::start_dns_server()?, support::start_http_server()?);
    let mut config = Config::default();
    (config.dns_servers, config.resolv_conf) = (Some(vec![dns]), None); // only our server
    (config.hosts_file, config.proxy) = (None, ProxyConfig::Off);
    let trace = Trace::new().on_event(|e| println!("{}", e.kind.name()));
    let url = format!("http://www.example.test:{}/", http.port());
    let (status, body) = tokio_driver::get(config, trace, &url)?;
    println!("{}", http::StatusCode::from_u16(status)?);
    print!("{body}");
    Ok(())
}
