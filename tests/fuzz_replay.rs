//! Replays the checked-in fuzz corpora (fuzz/corpus/<target>/) through the
//! fuzz targets' own code (fuzz/src/targets.rs, compiled here too), so the
//! corpora and the targets cannot rot (DESIGN.md, "Testing layers", 5).
//! A missing or empty corpus directory fails the test. Running the fuzzer
//! itself: fuzz/README.md.

#![forbid(unsafe_code)]

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = corpus(target);
    for path in &files {
        let data = std::fs::read(path).expect("readable corpus file");
        let name = path.display().to_string();
        // Name the input that broke before the panic propagates.
        let result = std::panic::catch_unwind(|| run(&data));
        if let Err(panic) = result {
            eprintln!("{target}: {name} failed");
            std::panic::resume_unwind(panic);
        }
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn dns_answer_corpus() {
    replay("dns_answer", targets::dns_answer);
}

#[test]
fn dns_wire_corpus() {
    replay("dns_wire", targets::dns_wire);
}

#[path = "../fuzz/src/tls_records.rs"]
mod tls_records;

#[test]
fn tls_records_corpus() {
    replay("tls_records", tls_records::tls_records);
}

#[path = "../fuzz/src/core_driver.rs"]
mod core_driver;

#[test]
fn core_driver_corpus() {
    replay("core_driver", core_driver::core_driver);
}

#[path = "../fuzz/src/h1.rs"]
mod h1;

#[test]
fn h1_head_corpus() {
    replay("h1_head", h1::h1_head);
}

#[test]
fn h1_body_corpus() {
    replay("h1_body", h1::h1_body);
}

// The exchange and h1_writer corpora drive the private exchange module:
// they are replayed by the unit tests in src/fuzzing.rs (`cargo test
// --lib`, part of a plain `cargo test`). This test only checks they exist.
#[test]
fn exchange_and_h1_writer_corpora_exist() {
    corpus("exchange");
    corpus("h1_writer");
}
