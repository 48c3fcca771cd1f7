//! The teaching docs name real code. Every code reference written in
//! backticks (or as a relative link) in docs/anatomy.md, docs/trace.md and
//! docs/design.md must exist in this tree, so renaming a function the docs
//! talk about fails this test until the docs follow:
//!
//! - a path such as `src/exchange/send.rs` must be a file or directory;
//! - `roundtrip::h1::writer::write_request_line` must lead through module
//!   files (`mod` declarations) to a definition (`fn`, `struct`, `enum`,
//!   `trait`, `type`, `const`, `static`, `mod`) or a `pub use` of one;
//! - `Type::member` (`Exchange::write_head`, `Config::resolve`,
//!   `EventKind::GotConn`) needs a `struct`/`enum`/`trait Type` in `src/` or
//!   `cli/src/` and a `fn member` in one of its `impl` blocks, or a field or
//!   variant of that name;
//! - paths of other crates must start with the crate's name (`std::`,
//!   `rustls::`, …); any other `a::b` form is refused, so that nothing
//!   slips through unchecked.
//!
//! docs/trace.md must also have a section and a table row for every event
//! name in `EventKind::name`, and name every JSON key that
//! `src/trace/json.rs` writes for an event in that event's section.
//!
//! Definitions are searched in the source with comments and string literals
//! blanked out, so an example in a doc comment does not count.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const DOCS: [&str; 3] = ["docs/anatomy.md", "docs/trace.md", "docs/design.md"];
const SOURCE_DIRS: [&str; 2] = ["src", "cli/src"];
const TOP_DIRS: [&str; 8] = [
    "src/",
    "tests/",
    "cli/",
    "docs/",
    "benches/",
    "fuzz/",
    "examples/",
    ".ci/",
];
const EXTERNAL_CRATES: [&str; 13] = [
    "std",
    "core",
    "alloc",
    "http",
    "rustls",
    "mio",
    "socket2",
    "simple_dns",
    "httparse",
    "webpki_roots",
    "bytes",
    "rcgen",
    "ring",
];
const DEFINITION_KEYWORDS: [&str; 8] = [
    "fn", "struct", "enum", "trait", "type", "const", "static", "mod",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

// ----- Rust source, with comments and literals blanked ----------------------

/// `code` with comments, string literals and char literals replaced by
/// spaces (newlines kept), so that braces and words inside them are not
/// mistaken for code.
fn blank(code: &str) -> String {
    let c: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let space = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(space(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (i == 0 || !ident(c[i - 1]) || c[i - 1] == 'b')
            && matches!(next, Some('"') | Some('#'))
        {
            // A raw string r"…", r#"…"#, or the identifier `r` / r#ident.
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            out.push_str(&" ".repeat(j - i + 1));
            i = j + 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    out.push_str(&" ".repeat(hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(space(c[i]));
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    out.push(space(c[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' {
            // A char literal ('{', '\n', '\u{7f}') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..c.len().min(i + 12)).find(|&k| c[k] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push_str(&" ".repeat(e - i + 1));
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

struct SourceFile {
    rel: String,
    code: String,
}

fn load_sources() -> Vec<SourceFile> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    for dir in SOURCE_DIRS {
        walk(&root().join(dir), &mut paths);
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root())
                .expect("under the root")
                .to_string_lossy()
                .into_owned();
            let code = blank(&fs::read_to_string(&p).expect("readable source"));
            SourceFile { rel, code }
        })
        .collect()
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte offsets where `word` occurs as a whole word.
fn word_positions(code: &str, word: &str) -> Vec<usize> {
    let bytes = code.as_bytes();
    code.match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| {
            let before = i == 0 || !is_ident_char(bytes[i - 1]);
            let end = i + word.len();
            let after = end >= bytes.len() || !is_ident_char(bytes[end]);
            before && after
        })
        .collect()
}

/// The word before offset `i`, skipping whitespace.
fn word_before(code: &str, i: usize) -> &str {
    let head = code[..i].trim_end();
    let start = head
        .bytes()
        .rposition(|b| !is_ident_char(b))
        .map_or(0, |p| p + 1);
    &head[start..]
}

/// Offsets of `<keyword> name` definitions in `code`.
fn definitions(code: &str, keywords: &[&str], name: &str) -> Vec<usize> {
    word_positions(code, name)
        .into_iter()
        .filter(|&i| keywords.contains(&word_before(code, i)))
        .collect()
}

/// The text between the `{` that opens the block after `from` and its
/// matching `}`; `None` when a `;` comes first (`mod x;`, `struct X(u8);`).
fn block_after(code: &str, from: usize) -> Option<&str> {
    let bytes = code.as_bytes();
    let open = from + code[from..].find(['{', ';'])?;
    if bytes[open] == b';' {
        return None;
    }
    let mut depth = 0usize;
    for (k, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&code[open + 1..k]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The items of a struct or enum body at its top level (split at commas
/// outside brackets), each without its attributes and visibility.
fn top_level_items(body: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    let mut prev = ' ';
    for ch in body.chars() {
        match ch {
            '{' | '(' | '[' | '<' => depth += 1,
            '>' if prev == '-' => {}
            '}' | ')' | ']' | '>' => depth -= 1,
            _ => {}
        }
        prev = ch;
        if ch == ',' && depth == 0 {
            items.push(std::mem::take(&mut current));
        } else {
            current.push(ch);
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|item| {
            let mut s = item.trim();
            // Attributes were blanked only inside strings; drop `#[...]`.
            while s.starts_with("#[") {
                let end = s.find(']').map_or(s.len(), |e| e + 1);
                s = s[end..].trim_start();
            }
            if let Some(rest) = s.strip_prefix("pub") {
                s = rest.trim_start();
                if s.starts_with('(') {
                    let end = s.find(')').map_or(s.len(), |e| e + 1);
                    s = s[end..].trim_start();
                }
            }
            s.to_owned()
        })
        .collect()
}

fn leading_ident(s: &str) -> &str {
    let end = s.bytes().position(|b| !is_ident_char(b)).unwrap_or(s.len());
    &s[..end]
}

/// The self type of the `impl` header starting at `at` (`impl<T> Foo<T>`,
/// `impl Trait for Foo`): its last path segment.
fn impl_self_type(code: &str, at: usize) -> Option<&str> {
    let rest = &code[at + "impl".len()..];
    let header = &rest[..rest.find(['{', ';'])?];
    let mut h = header.trim_start();
    if h.starts_with('<') {
        let mut depth = 0;
        let end = h.char_indices().find_map(|(k, ch)| {
            match ch {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(k)
        })?;
        h = &h[end + 1..];
    }
    let ty = match word_positions(h, "for").last() {
        Some(&f) => &h[f + 3..],
        None => h,
    };
    let ty = ty.trim().trim_start_matches('&').trim_start();
    let path = &ty[..ty
        .find(|c: char| c == '<' || c.is_whitespace())
        .unwrap_or(ty.len())];
    path.rsplit("::").next()
}

struct Tree {
    files: Vec<SourceFile>,
}

impl Tree {
    fn file(&self, rel: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.rel == rel)
    }

    /// Files that define `struct|enum|trait|union|type name`.
    fn type_definitions(&self, name: &str) -> Vec<(&SourceFile, usize)> {
        let kinds = ["struct", "enum", "trait", "union", "type"];
        self.files
            .iter()
            .flat_map(|f| {
                definitions(&f.code, &kinds, name)
                    .into_iter()
                    .map(move |i| (f, i))
            })
            .collect()
    }

    fn is_defined_anywhere(&self, name: &str) -> bool {
        self.files
            .iter()
            .any(|f| !definitions(&f.code, &DEFINITION_KEYWORDS, name).is_empty())
    }

    /// `Type::member`: a method or associated item in an `impl Type`, a
    /// field of `struct Type`, or a variant of `enum Type`.
    fn check_member(&self, ty: &str, member: &str) -> Result<(), String> {
        let defs = self.type_definitions(ty);
        if defs.is_empty() {
            return Err(format!(
                "no struct, enum or trait `{ty}` in src/ or cli/src/ (write other crates' paths with their crate name)"
            ));
        }
        for (f, at) in &defs {
            let kind = word_before(&f.code, *at);
            if let (true, Some(body)) = (
                kind == "struct" || kind == "enum",
                block_after(&f.code, *at),
            ) {
                if top_level_items(body)
                    .iter()
                    .any(|item| leading_ident(item) == member)
                {
                    return Ok(());
                }
            }
        }
        for f in &self.files {
            for at in word_positions(&f.code, "impl") {
                if impl_self_type(&f.code, at) != Some(ty) {
                    continue;
                }
                if let Some(body) = block_after(&f.code, at) {
                    if !definitions(body, &["fn", "const", "type"], member).is_empty() {
                        return Ok(());
                    }
                }
            }
        }
        Err(format!("`{ty}` has no method, field or variant `{member}`"))
    }

    /// `roundtrip::a::b::item` or `roundtrip::a::Type::member`.
    fn check_crate_path(&self, segments: &[&str]) -> Result<(), String> {
        let mut file = "src/lib.rs".to_owned();
        let mut dir = PathBuf::from("src");
        let mut i = 0;
        while i < segments.len() {
            let seg = segments[i];
            let code = &self.file(&file).ok_or(format!("{file} missing"))?.code;
            let declared = !definitions(code, &["mod"], seg).is_empty();
            let flat = dir.join(format!("{seg}.rs"));
            let nested = dir.join(seg).join("mod.rs");
            let child = [flat, nested]
                .into_iter()
                .find(|p| self.file(&p.to_string_lossy()).is_some());
            match (declared, child) {
                (true, Some(path)) => {
                    dir = dir.join(seg);
                    file = path.to_string_lossy().into_owned();
                    i += 1;
                }
                _ => break,
            }
        }
        let code = &self.file(&file).expect("found above").code;
        let item_here = |name: &str| {
            !definitions(code, &DEFINITION_KEYWORDS, name).is_empty()
                || (reexported(code, name) && self.is_defined_anywhere(name))
        };
        match &segments[i..] {
            [] => Ok(()),
            [item] if item_here(item) => Ok(()),
            [item] => Err(format!("no item `{item}` in {file}")),
            [ty, member] if item_here(ty) => self.check_member(ty, member),
            [ty, _] => Err(format!("no type `{ty}` in {file}")),
            _ => Err(format!(
                "no module `{}` under {}",
                segments[i],
                dir.display()
            )),
        }
    }
}

/// True if a `pub use` statement in `code` names `name`.
fn reexported(code: &str, name: &str) -> bool {
    word_positions(code, "use").into_iter().any(|at| {
        let before = code[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')');
        let stmt = &code[at..at + code[at..].find(';').unwrap_or(code.len() - at)];
        public && !word_positions(stmt, name).is_empty()
    })
}

// ----- the docs ---------------------------------------------------------------

/// Inline code spans outside fenced blocks, with their line numbers.
fn inline_code(doc: &str) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for (n, line) in doc.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find('`') {
            let ticks = rest[open..].bytes().take_while(|&b| b == b'`').count();
            let after = &rest[open + ticks..];
            let fence = "`".repeat(ticks);
            let Some(close) = after.find(&fence) else {
                break;
            };
            spans.push((n + 1, after[..close].trim().to_owned()));
            rest = &after[close + ticks..];
        }
    }
    spans
}

/// Relative link targets `](path#anchor)` outside fenced blocks, as
/// (line, path, anchor); the path is empty for a link within the page.
fn relative_links(doc: &str) -> Vec<(usize, String, Option<String>)> {
    let mut links = Vec::new();
    let mut fenced = false;
    for (n, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (at, _) in line.match_indices("](") {
            let target = &line[at + 2..];
            let Some(end) = target.find(')') else {
                continue;
            };
            let target = &target[..end];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a.to_owned())),
                None => (target, None),
            };
            links.push((n + 1, path.to_owned(), anchor));
        }
    }
    links
}

/// The anchors GitHub gives a page's headings: lower case, punctuation
/// dropped, spaces turned into hyphens.
fn heading_anchors(doc: &str) -> Vec<String> {
    let mut fenced = false;
    let mut anchors = Vec::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#').trim();
        let slug: String = text
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        anchors.push(slug);
    }
    anchors
}

fn is_rust_path(s: &str) -> bool {
    let s = s.strip_suffix("()").unwrap_or(s);
    let segments: Vec<&str> = s.split("::").collect();
    segments.len() >= 2
        && segments.iter().all(|seg| {
            !seg.is_empty() && seg.bytes().all(is_ident_char) && !seg.as_bytes()[0].is_ascii_digit()
        })
}

fn check_reference(tree: &Tree, span: &str) -> Option<Result<(), String>> {
    if TOP_DIRS.iter().any(|d| span.starts_with(d)) && !span.contains(char::is_whitespace) {
        let exists = root().join(span).exists();
        return Some(if exists {
            Ok(())
        } else {
            Err("no such file or directory".to_owned())
        });
    }
    if !is_rust_path(span) {
        return None;
    }
    let path = span.strip_suffix("()").unwrap_or(span);
    let segments: Vec<&str> = path.split("::").collect();
    Some(match segments[0] {
        "roundtrip" => tree.check_crate_path(&segments[1..]),
        first if EXTERNAL_CRATES.contains(&first) => Ok(()),
        first if first.as_bytes()[0].is_ascii_uppercase() && segments.len() == 2 => {
            tree.check_member(first, segments[1])
        }
        _ => Err(
            "write this crate's paths from `roundtrip::` (or as `Type::member`), other crates' with the crate's name"
                .to_owned(),
        ),
    })
}

#[test]
fn every_code_reference_in_the_docs_exists() {
    let tree = Tree {
        files: load_sources(),
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for doc_path in DOCS {
        let doc = read(doc_path);
        for (line, span) in inline_code(&doc) {
            if let Some(result) = check_reference(&tree, &span) {
                checked += 1;
                if let Err(why) = result {
                    failures.push(format!("{doc_path}:{line}: `{span}`: {why}"));
                }
            }
        }
        let dir = Path::new(doc_path).parent().expect("docs/");
        for (line, path, anchor) in relative_links(&doc) {
            checked += 1;
            let file = if path.is_empty() {
                root().join(doc_path)
            } else {
                root().join(dir).join(&path)
            };
            if !file.exists() {
                failures.push(format!("{doc_path}:{line}: link ({path}): no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            let target = fs::read_to_string(&file).unwrap_or_default();
            if !heading_anchors(&target).contains(&anchor) {
                failures.push(format!(
                    "{doc_path}:{line}: link ({path}#{anchor}): no such heading"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} code references in the docs do not match the source:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked > 100,
        "only {checked} references found: is the parser broken?"
    );
}

/// `EventKind` variant → event name, from `EventKind::name`.
fn event_names() -> BTreeMap<String, String> {
    let code = read("src/trace/mod.rs");
    let start = code
        .find("pub fn name(&self) -> &'static str")
        .expect("EventKind::name in src/trace/mod.rs");
    let mut names = BTreeMap::new();
    for line in code[start..].lines().skip(1) {
        let t = line.trim();
        if t == "}" {
            break;
        }
        let (Some(v), Some(q)) = (t.strip_prefix("EventKind::"), t.split("=> \"").nth(1)) else {
            continue;
        };
        names.insert(
            leading_ident(v).to_owned(),
            q.split('"').next().expect("closing quote").to_owned(),
        );
    }
    assert!(names.len() > 20, "parsed only {names:?}");
    names
}

/// The JSON keys written in `s`: `key(out, "x")` and `\"x\":`.
fn json_keys(s: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for (at, _) in s.match_indices("key(out, \"") {
        let rest = &s[at + "key(out, \"".len()..];
        keys.push(rest[..rest.find('"').unwrap_or(0)].to_owned());
    }
    for (at, _) in s.match_indices("\\\"") {
        let rest = &s[at + 2..];
        let name = leading_ident(rest);
        if !name.is_empty() && rest[name.len()..].starts_with("\\\":") {
            keys.push(name.to_owned());
        }
    }
    keys
}

/// Variant → JSON keys written by its arm in `write_json`.
fn keys_per_variant() -> BTreeMap<String, Vec<String>> {
    let code = read("src/trace/json.rs");
    let start = code
        .find("match &event.kind {")
        .expect("write_json's match");
    let end = code[start..]
        .find("#[cfg(test)]")
        .map_or(code.len(), |e| start + e);
    let mut per = BTreeMap::<String, Vec<String>>::new();
    let mut current: Vec<String> = Vec::new();
    let mut in_pattern = false;
    for line in code[start..end].lines().skip(1) {
        let t = line.trim_start();
        if t.starts_with("EventKind::") || t.starts_with("| EventKind::") {
            if !in_pattern {
                current.clear();
                in_pattern = true;
            }
            let v = t.trim_start_matches("| ").trim_start_matches("EventKind::");
            current.push(leading_ident(v).to_owned());
        }
        if in_pattern && t.contains("=>") {
            in_pattern = false;
        }
        for key in json_keys(line) {
            for v in &current {
                per.entry(v.clone()).or_default().push(key.clone());
            }
        }
    }
    per
}

fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let start = doc.find(&format!("\n{heading}\n"))? + 1;
    let body = &doc[start + heading.len()..];
    let end = body
        .find("\n### ")
        .into_iter()
        .chain(body.find("\n## "))
        .min()
        .unwrap_or(body.len());
    Some(&body[..end])
}

#[test]
fn every_event_and_field_is_documented_in_trace_md() {
    let doc = read("docs/trace.md");
    let names = event_names();
    let keys = keys_per_variant();
    let mut missing = Vec::new();
    for (variant, name) in &names {
        let heading = format!("### `{name}`");
        let Some(text) = section(&doc, &heading) else {
            missing.push(format!("no section `{heading}`"));
            continue;
        };
        if !doc.contains(&format!("\n| `{name}` |")) {
            missing.push(format!("no row for `{name}` in the mapping table"));
        }
        for key in keys.get(variant).into_iter().flatten() {
            if !text.contains(&format!("`{key}`")) {
                missing.push(format!(
                    "section `{name}` does not name its JSON key `{key}`"
                ));
            }
        }
    }
    for key in ["t_us", "req", "event", "resend", "hop"] {
        if !doc.contains(&format!("`{key}`")) {
            missing.push(format!("common key `{key}` not described"));
        }
    }
    // And no section for an event that does not exist.
    let from = doc
        .find("\n## The events\n")
        .expect("a section `## The events`");
    let events = &doc[from + 1..];
    let events = &events[..events[3..].find("\n## ").map_or(events.len(), |e| e + 3)];
    for line in events.lines() {
        if let Some(rest) = line.strip_prefix("### `") {
            let name = rest.trim_end_matches('`');
            if !names.values().any(|n| n == name) {
                missing.push(format!("section for unknown event `{name}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/trace.md is out of step with src/trace:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_checker_catches_what_it_should() {
    let tree = Tree {
        files: load_sources(),
    };
    let ok = |s: &str| check_reference(&tree, s) == Some(Ok(()));
    assert!(ok("roundtrip::h1::writer::write_request_line"));
    assert!(ok("roundtrip::Client"));
    assert!(ok("Exchange::write_head"));
    assert!(ok("EventKind::GotConn"));
    assert!(ok("Config::resolve"));
    assert!(ok("src/exchange/send.rs"));
    assert!(!ok("roundtrip::h1::writer::write_request_lines"));
    assert!(!ok("Exchange::write_heads"));
    assert!(!ok("EventKind::GotConnection"));
    assert!(!ok("src/exchange/sent.rs"));
    assert!(!ok("writer::write_field"));
    assert_eq!(check_reference(&tree, "std::time::Instant"), Some(Ok(())));
    // The event tables are read.
    let keys = keys_per_variant();
    assert!(keys["GotConn"].contains(&"idle_time_us".to_owned()));
    assert!(keys["TlsHandshakeDone"].contains(&"leaf_sans".to_owned()));
    assert!(keys["ConnectCancelled"].contains(&"attempt".to_owned()));
    assert_eq!(event_names()["GetConn"], "get_conn");
    assert_eq!(check_reference(&tree, "connect_start"), None);
    // Anchors as GitHub makes them.
    assert_eq!(
        heading_anchors("## 1. `send`: the loop\n### Two GETs to an HTTP/1.0 server\n"),
        ["1-send-the-loop", "two-gets-to-an-http10-server"]
    );
    // Comments and strings do not define anything.
    let code = blank("// fn ghost() {}\nlet s = \"fn phantom() {\";\nfn real() {}\n");
    assert!(definitions(&code, &["fn"], "ghost").is_empty());
    assert!(definitions(&code, &["fn"], "phantom").is_empty());
    assert_eq!(definitions(&code, &["fn"], "real").len(), 1);
}
