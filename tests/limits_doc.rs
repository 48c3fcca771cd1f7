//! docs/limits.md is the one table of every limit and timeout: it must name
//! every field of `Config` (read from src/config.rs) and every `Limit`
//! variant, so that a new setting cannot be added without its row.

#![forbid(unsafe_code)]

use std::fs;
use std::path::Path;

fn read(rel: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The body of `pub struct NAME { ... }` or `pub enum NAME { ... }`.
fn block<'a>(src: &'a str, head: &str) -> &'a str {
    let start = src.find(head).unwrap_or_else(|| panic!("{head} not found"));
    let open = start + src[start..].find('{').unwrap();
    let mut depth = 0;
    for (i, c) in src[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &src[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("{head}: unbalanced braces")
}

#[test]
fn every_config_field_and_limit_is_in_docs_limits_md() {
    let doc = read("docs/limits.md");
    let config = read("src/config.rs");
    let fields: Vec<&str> = block(&config, "pub struct Config")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub ")?.split_once(':'))
        .map(|(name, _)| name.trim())
        .collect();
    assert!(fields.len() > 30, "parsed only {fields:?}");
    let missing: Vec<_> = fields
        .iter()
        .filter(|f| !doc.contains(&format!("`{f}`")))
        .collect();
    assert!(missing.is_empty(), "docs/limits.md lacks {missing:?}");

    let error = read("src/error.rs");
    let limits: Vec<&str> = block(&error, "pub enum Limit")
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.is_empty())
        .map(|l| l.trim_end_matches(','))
        .collect();
    assert!(limits.len() >= 5, "parsed only {limits:?}");
    let missing: Vec<_> = limits
        .iter()
        .filter(|v| !doc.contains(&format!("Limit::{v}")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/limits.md lacks Limit::{missing:?}"
    );
}
