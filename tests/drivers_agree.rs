//! The same request through `Client` and through the drivers of the
//! examples, run here as they are there: the tokio loop of
//! examples/drive_tokio.rs must produce the same trace as `Client` (event
//! names and key fields, times and ephemeral ports aside); the simulated
//! network of examples/drive_simulated.rs, whose addresses are made up,
//! must give the same event names as `Client` does for the same GET, and
//! the same timeline, byte for byte, on every run.

#![forbid(unsafe_code)]

#[path = "../examples/support/mod.rs"]
mod example_support;
mod support;
#[path = "../examples/support/tokio_driver.rs"]
mod tokio_driver;

use std::sync::{Arc, Mutex};

use roundtrip::Trace;
use support::compare::{config, http_server, recorder, starts, via_client};
use support::dns::{DnsServer, Zone};

#[test]
fn a_plain_get_through_a_name_lookup_traces_the_same_through_tokio() {
    let dns = DnsServer::start(Zone::new().a("origin.test", "127.0.0.1", 60).script());
    let port = http_server();
    let url = format!("http://origin.test:{port}/");
    let config = config(&dns);
    let (client_events, client_out) = via_client(&config, std::slice::from_ref(&url));
    let (log, trace) = recorder();
    let response = tokio_driver::get(config, trace, &url).unwrap();
    let tokio_events = log.lock().unwrap().clone();
    assert_eq!(client_out, [response]);
    assert_eq!(
        client_events,
        tokio_events,
        "Client:\n{}\n\ntokio:\n{}",
        client_events.join("\n"),
        tokio_events.join("\n")
    );
    assert_eq!(
        starts(&client_events, "dns_query_done"),
        2,
        "{client_events:#?}"
    );
    assert_eq!(starts(&client_events, "request_done"), 1);
    assert_eq!(starts(&client_events, "conn_closed"), 1);
}

#[test]
fn the_simulated_network_traces_like_client_and_the_same_on_every_run() {
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let n = names.clone();
    let trace = Trace::new().on_event(move |e| n.lock().unwrap().push(e.kind.name().into()));
    let (timeline, outcome) = example_support::simulated::run(trace).unwrap();
    assert_eq!(outcome, "HTTP/1.1 200 OK: hello");
    let (again, _) = example_support::simulated::run(Trace::new()).unwrap();
    assert_eq!(
        timeline, again,
        "the virtual clock makes every run the same"
    );
    assert!(timeline.iter().any(|l| l.contains("event request_done")));

    // The same GET through `Client`, to real loopback servers: the same
    // events in the same order. The simulated run leaves its connection
    // in the pool (no shutdown), where dropping `Client` closes it.
    let dns = DnsServer::start(Zone::new().a("www.example.test", "127.0.0.1", 60).script());
    let port = http_server();
    let url = format!("http://www.example.test:{port}/hello");
    let (client_events, _) = via_client(&config(&dns), &[url]);
    let mut client_names: Vec<String> = client_events
        .iter()
        .map(|e| e.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(client_names.pop().as_deref(), Some("conn_closed"));
    assert_eq!(*names.lock().unwrap(), client_names);
}
