//! The same requests through `Client` and through the drivers of the
//! examples, run here as they are there. The tokio loop of
//! examples/drive_tokio.rs must produce the same trace as `Client` (event
//! names and key fields, times and ephemeral ports aside; it and the
//! blocking loop of examples/drive_blocking.rs are compared with `Client`
//! on every scenario in tests/core_driver.rs). The simulated network of
//! examples/drive_simulated.rs, whose addresses are made up, plays each of
//! its scenarios — a plain GET, a second GET on the pooled connection,
//! HTTPS against an in-memory rustls server, a lost A query asked again —
//! and must give the same event names, in the same order, as `Client`
//! doing the same against real loopback servers; and the same timeline
//! on every run (byte for byte, but for the TLS records' sizes on HTTPS).

#![forbid(unsafe_code)]

#[path = "../examples/support/mod.rs"]
mod example_support;
mod support;
#[path = "../examples/support/tokio_driver.rs"]
mod tokio_driver;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use example_support::simulated::{self, Scenario, DNS_RETRY_TIMEOUT};
use roundtrip::Trace;
use support::compare::{config, http_server, recorder, starts, via_client};
use support::dns::{Act, DnsServer, Zone};
use support::tls::{server_config, Ca, TlsServer};

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

/// The event names of `Client` doing what `scenario` does, against real
/// servers on 127.0.0.1 that www.example.test resolves to.
fn client_names(scenario: Scenario) -> Vec<String> {
    let zone = Zone::new().a("www.example.test", "127.0.0.1", 60);
    let dns = match scenario {
        Scenario::DnsRetry => {
            // The first A query goes unanswered, as on the simulated network.
            let a_queries = AtomicUsize::new(0);
            DnsServer::start(move |q| {
                if q.type_name() == "A" && a_queries.fetch_add(1, Ordering::SeqCst) == 0 {
                    Vec::new()
                } else {
                    vec![Act::Send(zone.answer(q).bytes())]
                }
            })
        }
        _ => DnsServer::start(zone.script()),
    };
    let mut config = config(&dns);
    let mut tls_server = None;
    let origin = match scenario {
        Scenario::Https => {
            let ca = Ca::new("drivers_agree CA");
            let leaf = ca.leaf(&["www.example.test"], &[], None);
            let ok: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            let tls = TlsServer::start(server_config(&leaf), 1, ok);
            config.tls_ca_files = vec![ca.pem_path.clone()];
            config.tls_builtin_roots = false;
            let origin = format!("https://www.example.test:{}", tls.addr.port());
            tls_server = Some(tls);
            origin
        }
        _ => format!("http://www.example.test:{}", http_server()),
    };
    if scenario == Scenario::DnsRetry {
        config.dns_timeout = Some(DNS_RETRY_TIMEOUT);
        config.dns_attempts = Some(2);
    }
    let urls: Vec<String> = (scenario.urls().iter())
        .map(|u| format!("{origin}{}", u.split_once(".test").unwrap().1))
        .collect();
    let (events, out) = via_client(&config, &urls);
    assert_eq!(out.len(), urls.len());
    assert!(out.iter().all(|(status, _)| *status == 200), "{out:?}");
    if let Some(tls) = tls_server {
        tls.join();
    }
    events
        .iter()
        .map(|e| e.split(' ').next().unwrap().to_string())
        .collect()
}

/// Plays `scenario` on the simulated network, checks that its event names
/// are `Client`'s and its responses the web server's: (timeline, names).
fn simulated_like_client(scenario: Scenario) -> (Vec<String>, Vec<String>) {
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let n = names.clone();
    let trace = Trace::new().on_event(move |e| n.lock().unwrap().push(e.kind.name().into()));
    let (timeline, outcomes) = simulated::run(scenario, trace).unwrap();
    assert_eq!(
        outcomes,
        vec!["HTTP/1.1 200 OK: hello"; scenario.urls().len()],
        "{scenario:?}"
    );
    let names = names.lock().unwrap().clone();
    // The simulated run leaves its connection in the pool (no shutdown),
    // where dropping `Client` closes it.
    let mut client = client_names(scenario);
    assert_eq!(client.pop().as_deref(), Some("conn_closed"), "{client:?}");
    assert_eq!(
        names,
        client,
        "{scenario:?}: simulated:\n{}\n\nClient:\n{}",
        names.join("\n"),
        client.join("\n")
    );
    (timeline, names)
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

/// The timeline of a second run of `scenario`.
fn again(scenario: Scenario) -> Vec<String> {
    simulated::run(scenario, Trace::new()).unwrap().0
}

#[test]
fn the_simulated_network_traces_like_client_and_the_same_on_every_run() {
    let (timeline, names) = simulated_like_client(Scenario::Plain);
    assert_eq!(
        timeline,
        again(Scenario::Plain),
        "the virtual clock makes every run the same"
    );
    assert!(timeline.iter().any(|l| l.contains("event request_done")));
    assert_eq!(count(&names, "dns_query_start"), 2, "{names:?}");
    assert_eq!(count(&names, "request_done"), 1);
}

#[test]
fn a_pooled_second_request_on_the_simulated_network_traces_like_client() {
    let (timeline, names) = simulated_like_client(Scenario::Pooled);
    assert_eq!(timeline, again(Scenario::Pooled), "every run the same");
    let connects: Vec<_> = timeline
        .iter()
        .filter(|l| l.contains("connect to"))
        .collect();
    assert_eq!(connects.len(), 1, "one connection for both: {timeline:#?}");
    assert_eq!(count(&names, "request_done"), 2);
    assert_eq!(count(&names, "got_conn"), 2);
    assert_eq!(count(&names, "connect_start"), 1);
    assert_eq!(count(&names, "put_idle_conn"), 2);
}

/// A timeline line with the byte counts blotted out.
fn without_sizes(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let blotted = words.iter().enumerate().map(|(i, w)| {
        let next = words.get(i + 1).copied().unwrap_or("");
        if next.starts_with("bytes") && w.trim_start_matches('(').parse::<u32>().is_ok() {
            "#"
        } else {
            w
        }
    });
    blotted.collect::<Vec<_>>().join(" ")
}

#[test]
fn https_on_the_simulated_network_traces_like_client() {
    let (timeline, names) = simulated_like_client(Scenario::Https);
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("connect to 192.0.2.80:443")),
        "{timeline:#?}"
    );
    assert_eq!(count(&names, "tls_handshake_start"), 1, "{names:?}");
    assert_eq!(count(&names, "tls_handshake_done"), 1);
    assert_eq!(count(&names, "request_done"), 1);
    // Fresh keys and signatures each run: the records' sizes may differ,
    // what happens when may not.
    let shape = |t: &[String]| t.iter().map(|l| without_sizes(l)).collect::<Vec<_>>();
    assert_eq!(shape(&timeline), shape(&again(Scenario::Https)));
    assert!(shape(&timeline)
        .iter()
        .any(|l| l.ends_with(": write # bytes")));
}

#[test]
fn a_lost_a_query_on_the_simulated_network_is_asked_again_like_client() {
    let (timeline, names) = simulated_like_client(Scenario::DnsRetry);
    assert_eq!(timeline, again(Scenario::DnsRetry), "every run the same");
    assert_eq!(count(&names, "dns_query_start"), 3, "{names:?}");
    assert_eq!(count(&names, "dns_query_done"), 3);
    assert_eq!(count(&names, "request_done"), 1);
    let lost: Vec<_> = timeline.iter().filter(|l| l.contains("lost")).collect();
    assert_eq!(lost.len(), 1, "{timeline:#?}");
    // Asked again when the DNS timeout passes on the virtual clock.
    let ms = DNS_RETRY_TIMEOUT.as_secs_f64() * 1e3;
    let retry = format!("{ms:7.3} ms  event dns_query_start");
    assert!(timeline.contains(&retry), "{retry:?} in {timeline:#?}");
}
