//! One GET, DNS through body, driven through the sans-IO `roundtrip::core::Core` by a
//! plain loop over std sockets (docs/embedding.md): the whole round trip in under 100
//! lines, in examples/support/blocking.rs, which tests/core_driver.rs runs too. Its
//! servers run on 127.0.0.1: `cargo run --example drive_blocking`.

#![forbid(unsafe_code)]

mod support;

use roundtrip::{proxy::ProxyConfig, Config, Trace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dns, http) = (support::start_dns_server()?, support::start_http_server()?);
    let mut config = Config::default();
    (config.dns_servers, config.resolv_conf) = (Some(vec![dns]), None); // only our server
    (config.hosts_file, config.proxy) = (None, ProxyConfig::Off);
    let trace = Trace::new().on_event(|e| println!("{}", e.kind.name()));
    let url = format!("http://www.example.test:{}/", http.port());
    for (status, body) in support::blocking::get_all(config, trace, &[url])? {
        println!("{}", http::StatusCode::from_u16(status)?);
        print!("{body}");
    }
    Ok(())
}
