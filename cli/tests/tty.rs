//! The waterfall in a real terminal: the binary runs inside a detached
//! `tmux` session of a chosen size, and the screen is read back with
//! `capture-pane` (with `-e`, the colour escapes too; with `-J`, wrapped
//! rows joined, so a line wider than the terminal shows up as one long
//! line). Needs tmux (Debian: tmux); skipped loudly without it, an error
//! under `ROUNDTRIP_INTEROP=require`.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A server on 127.0.0.1 that answers every connection with one small
/// response and closes.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            );
        }
    });
    format!("http://{addr}/")
}

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("ROUNDTRIP_INTEROP").as_deref() != Ok("require"),
            "tmux is required (Debian: tmux)"
        );
        eprintln!("SKIPPED: tmux not installed");
    }
    ok
}

/// Runs the binary on `url` in a `width`×40 tmux pane with `env` set and
/// returns the screen: colour escapes kept, wrapped rows joined.
fn screen(width: u16, env: &[(&str, &str)], url: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let socket = format!(
        "roundtrip-tty-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    };
    let bin = env!("CARGO_BIN_EXE_roundtrip");
    // Output to /dev/null keeps the body off the screen; the waterfall
    // goes to stderr, the terminal.
    let command = format!("{bin} -o /dev/null {url}; echo __DONE__; sleep 30");
    let mut args = vec![
        "new-session".to_owned(),
        "-d".into(),
        "-x".into(),
        width.to_string(),
        "-y".into(),
        "40".into(),
    ];
    // Whatever the test's own environment says, the pane starts from the
    // same settings (an empty value counts as unset), then `env`'s.
    let base = [
        ("NO_COLOR", ""),
        ("COLUMNS", ""),
        ("LC_ALL", ""),
        ("LC_CTYPE", ""),
    ];
    let mut vars: std::collections::BTreeMap<&str, &str> = base.into_iter().collect();
    vars.extend(env.iter().copied());
    for (k, v) in vars {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push(command);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = tmux(&args);
    assert!(
        started.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let out = tmux(&["capture-pane", "-p", "-e", "-J", "-t", "0"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("__DONE__") {
            break text;
        }
        if Instant::now() > deadline {
            tmux(&["kill-server"]);
            panic!("the run did not finish within 15 s; screen:\n{text}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    tmux(&["kill-server"]);
    text
}

/// `s` without ANSI escape sequences (CSI … final byte).
fn visible(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn waterfall_fits_the_terminal_and_colours_only_when_allowed() {
    if !have_tmux() {
        return;
    }
    let url = serve();
    for width in [120u16, 64] {
        let text = screen(width, &[("LANG", "C.UTF-8")], &url);
        let plain = visible(&text);
        assert!(plain.contains("total") && plain.contains("wait"), "{plain}");
        assert!(text.contains("\u{1b}["), "colour on a terminal:\n{text}");
        assert!(plain.contains('█'), "UTF-8 locale: block bars\n{plain}");
        for line in plain.lines() {
            assert!(
                line.chars().count() <= width as usize,
                "a line wider than the {width}-column terminal wrapped:\n{line}"
            );
        }
    }
    let text = screen(100, &[("LANG", "C.UTF-8"), ("NO_COLOR", "1")], &url);
    assert!(visible(&text).contains("total"), "{text}");
    assert!(!text.contains("\u{1b}["), "NO_COLOR: no escapes\n{text}");
    let text = screen(100, &[("LANG", "C"), ("LC_ALL", "C")], &url);
    let plain = visible(&text);
    assert!(
        plain.contains("total") && !plain.contains('█'),
        "ASCII fallback:\n{plain}"
    );
}
