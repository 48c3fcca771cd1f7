//! The waterfall as a standalone SVG image (`--waterfall-svg FILE`), for
//! docs and bug reports: the same rows as the terminal waterfall — one bar
//! per phase on each request's own time axis, skipped phases, durations,
//! notes and the summary line — for one or more requests, one after the
//! other.
//!
//! Rendering is a pure function from recordings to the document text, so
//! it is tested on fixed timelines. All text is escaped for XML, and
//! characters XML cannot carry are replaced, so any recording gives a
//! well-formed document.

use std::fmt::Write as _;

use crate::waterfall::{self, Outcome, Recording};

/// Width of the image, px.
const WIDTH: f64 = 900.0;
/// Height of one row, px.
const ROW: f64 = 20.0;
/// Margin around everything, px.
const PAD: f64 = 12.0;
/// Advance of one character of the 12 px monospace font, px.
const CHAR_W: f64 = 7.2;
/// Label column width bounds, characters.
const LABEL_MIN: usize = 8;
const LABEL_MAX: usize = 40;
/// Columns after the bar: the duration (right-aligned) and the note.
const DUR_CHARS: usize = 9;
const NOTE_CHARS: usize = 22;

const TEXT: &str = "#1f2328";
const DIM: &str = "#6e7781";
const TRACK: &str = "#f0f2f4";
const GREEN: &str = "#2da44e";
const AMBER: &str = "#d4a72c";
const RED: &str = "#cf222e";

/// Escapes `text` for XML character data and attribute values. Tabs and
/// line breaks become spaces (each row is one line); other control
/// characters, which XML 1.0 cannot carry, become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, ending in "…" when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut t: String = text.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Splits `text` into lines of at most `max` characters, at spaces where
/// possible; always at least one line.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        loop {
            let len = line.chars().count();
            let wlen = word.chars().count();
            if len == 0 && wlen <= max {
                line = word;
                break;
            }
            if len > 0 && len + 1 + wlen <= max {
                line.push(' ');
                line.push_str(&word);
                break;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a line: cut it.
            let head: String = word.chars().take(max).collect();
            word = word.chars().skip(max).collect();
            lines.push(head);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => GREEN,
        Outcome::Cancelled => AMBER,
        Outcome::Failure => RED,
    }
}

/// Where things go across the image, shared by every request so the
/// columns line up.
struct Columns {
    label_x: f64,
    label_chars: usize,
    bar_x: f64,
    bar_w: f64,
    dur_x: f64,
    note_x: f64,
    note_chars: usize,
    wrap_chars: usize,
}

impl Columns {
    fn new(requests: &[(&str, &Recording)]) -> Columns {
        let label_chars = requests
            .iter()
            .flat_map(|(_, r)| r.spans.iter().map(|s| s.label.chars().count()))
            .max()
            .unwrap_or(0)
            .clamp(LABEL_MIN, LABEL_MAX);
        let label_x = PAD + 2.0 * CHAR_W;
        let bar_x = label_x + (label_chars + 1) as f64 * CHAR_W;
        let tail = (1 + DUR_CHARS + 2 + NOTE_CHARS) as f64 * CHAR_W;
        let bar_w = WIDTH - PAD - tail - bar_x;
        let dur_x = bar_x + bar_w + (1 + DUR_CHARS) as f64 * CHAR_W;
        let note_x = dur_x + 2.0 * CHAR_W;
        Columns {
            label_x,
            label_chars,
            bar_x,
            bar_w,
            dur_x,
            note_x,
            note_chars: ((WIDTH - PAD - note_x) / CHAR_W) as usize,
            wrap_chars: ((WIDTH - 2.0 * PAD - 2.0 * CHAR_W) / CHAR_W) as usize,
        }
    }
}

/// Appends one `<text>` element; `extra` holds more attributes.
fn text(out: &mut String, x: f64, top: f64, extra: &str, content: &str) {
    let y = top + ROW * 0.7;
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}"{extra}>{}</text>"#,
        escape(content)
    );
}

/// Draws one request's rows from `top`; returns the top of the next row.
fn request(out: &mut String, cols: &Columns, title: &str, rec: &Recording, mut top: f64) -> f64 {
    let end = waterfall::axis_end(rec);
    let track = |out: &mut String, top: f64| {
        let _ = writeln!(
            out,
            r#"<rect class="track" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{TRACK}"/>"#,
            cols.bar_x,
            top + 3.0,
            cols.bar_w,
            ROW - 6.0
        );
    };
    for line in wrap(title, cols.wrap_chars + 2) {
        text(out, PAD, top, r#" font-weight="bold""#, &line);
        top += ROW;
    }
    for span in &rec.spans {
        if let Some(why) = &span.skipped {
            text(
                out,
                cols.label_x,
                top,
                &format!(r#" fill="{DIM}""#),
                &truncate(&span.label, cols.label_chars),
            );
            track(out, top);
            text(
                out,
                cols.bar_x + CHAR_W,
                top,
                &format!(r#" fill="{DIM}" font-style="italic""#),
                &format!("skipped ({why})"),
            );
            top += ROW;
            continue;
        }
        text(
            out,
            cols.label_x,
            top,
            "",
            &truncate(&span.label, cols.label_chars),
        );
        track(out, top);
        let to = span.to.unwrap_or(end).clamp(span.from, end.max(span.from));
        let x = cols.bar_x + span.from.min(end) as f64 / end as f64 * cols.bar_w;
        let w = ((to - span.from) as f64 / end as f64 * cols.bar_w)
            .clamp(1.0, (cols.bar_x + cols.bar_w - x).max(1.0));
        let dur = match span.to {
            Some(t) => waterfall::ms(t.saturating_sub(span.from)),
            None => "open".into(),
        };
        let tip = if span.note.is_empty() {
            format!("{}: {dur}", span.label)
        } else {
            format!("{}: {dur}, {}", span.label, span.note)
        };
        let _ = writeln!(
            out,
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" rx="2" fill="{}"><title>{}</title></rect>"#,
            top + 3.0,
            ROW - 6.0,
            colour(waterfall::outcome(&span.note)),
            escape(&tip)
        );
        text(out, cols.dur_x, top, r#" text-anchor="end""#, &dur);
        if !span.note.is_empty() {
            let fill = match waterfall::outcome(&span.note) {
                Outcome::Success => DIM,
                other => colour(other),
            };
            text(
                out,
                cols.note_x,
                top,
                &format!(r#" fill="{fill}""#),
                &truncate(&span.note, cols.note_chars),
            );
        }
        top += ROW;
    }
    let (fill, weight) = if rec.error.is_some() {
        (RED, "bold")
    } else {
        (TEXT, "normal")
    };
    for line in wrap(&waterfall::summary(rec), cols.wrap_chars) {
        text(
            out,
            cols.label_x,
            top,
            &format!(r#" fill="{fill}" font-weight="{weight}""#),
            &line,
        );
        top += ROW;
    }
    top
}

/// Draws the waterfalls of `requests` (title and recording each), in
/// order, as one SVG document.
pub fn render(requests: &[(&str, &Recording)]) -> String {
    let cols = Columns::new(requests);
    let mut body = String::new();
    let mut top = PAD;
    for (i, (title, rec)) in requests.iter().enumerate() {
        if i > 0 {
            top += ROW / 2.0;
        }
        top = request(&mut body, &cols, title, rec, top);
    }
    if requests.is_empty() {
        text(&mut body, PAD, top, "", "no requests were made");
        top += ROW;
    }
    let height = (top + PAD).ceil();
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace" font-size="12" fill="{TEXT}" xml:space="preserve">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waterfall::Span;

    /// The value of attribute `name` in `element`.
    fn attr(element: &str, name: &str) -> f64 {
        let key = format!(" {name}=\"");
        let start = element.find(&key).unwrap() + key.len();
        let len = element[start..].find('"').unwrap();
        element[start..start + len].parse().unwrap()
    }

    fn span(label: &str, from: u64, to: u64, note: &str) -> Span {
        Span {
            label: label.into(),
            from,
            to: Some(to),
            note: note.into(),
            skipped: None,
        }
    }

    #[test]
    fn escapes_markup_and_replaces_what_xml_cannot_carry() {
        assert_eq!(
            escape(r#"a&b<c>"d"'e'"#),
            "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;"
        );
        assert_eq!(escape("x\ny\tz\u{1}\u{ffff}é→"), "x y z\u{fffd}\u{fffd}é→");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 3), [""]);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn bars_are_placed_and_scaled_on_the_time_axis() {
        let rec = Recording {
            spans: vec![
                Span {
                    skipped: Some("not TLS".into()),
                    ..span("tls", 0, 0, "")
                },
                span("connect #1 tcp4 127.0.0.1:80", 0, 1000, "won"),
                span("send", 1000, 1500, ""),
                span("wait", 1500, 3000, ""),
                span("receive", 3000, 4000, "<cut> & \"gone\""),
            ],
            status: Some(200),
            bytes: 12,
            reused: Some(false),
            remote: Some("127.0.0.1:80".into()),
            end: Some(4000),
            ..Recording::default()
        };
        let svg = render(&[("GET http://a/?x=1&y=<2>", &rec)]);
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
        assert!(svg.contains(r#"viewBox="0 0 900 "#), "{svg}");
        assert!(svg.ends_with("</svg>\n"));
        let track = svg
            .lines()
            .find(|l| l.contains(r#"class="track""#))
            .unwrap();
        let (x0, w0) = (attr(track, "x"), attr(track, "width"));
        let bars: Vec<(f64, f64)> = svg
            .lines()
            .filter(|l| l.contains(r#"class="bar""#))
            .map(|l| (attr(l, "x"), attr(l, "width")))
            .collect();
        assert_eq!(bars.len(), 4, "one bar per span, none for skipped: {svg}");
        for ((x, w), (from, to)) in
            bars.iter()
                .zip([(0, 1000), (1000, 1500), (1500, 3000), (3000, 4000)])
        {
            let want_x = x0 + w0 * from as f64 / 4000.0;
            let want_w = w0 * (to - from) as f64 / 4000.0;
            assert!((x - want_x).abs() < 0.2, "x {x} vs {want_x}");
            assert!((w - want_w).abs() < 0.2, "width {w} vs {want_w}");
        }
        assert!(svg.contains("GET http://a/?x=1&amp;y=&lt;2&gt;"), "{svg}");
        assert!(svg.contains("skipped (not TLS)"), "{svg}");
        assert!(svg.contains("&lt;cut&gt; &amp; &quot;gone&quot;"), "{svg}");
        assert!(svg.contains("total 4.0 ms  200, 12 bytes, new connection to 127.0.0.1:80"));
        assert!(svg.contains("1.5 ms"), "{svg}");
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert_eq!(
            svg.matches("<rect").count(),
            svg.matches("/>").count() + svg.matches("</rect>").count()
        );
    }

    #[test]
    fn colours_follow_the_outcome_and_failures_show_the_error() {
        let rec = Recording {
            spans: vec![
                span("connect #1 tcp6 [::1]:80", 0, 300, "cancelled"),
                span(
                    "connect #2 tcp4 127.0.0.1:80",
                    10,
                    200,
                    "Connection refused",
                ),
                span("connect #3 tcp4 127.0.0.2:80", 200, 400, "won"),
            ],
            error: Some("connect failed: <refused>".into()),
            end: Some(400),
            ..Recording::default()
        };
        let svg = render(&[("GET http://b/", &rec)]);
        let fills: Vec<&str> = svg
            .lines()
            .filter(|l| l.contains(r#"class="bar""#))
            .map(|l| {
                l.split(" fill=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(fills, [AMBER, RED, GREEN]);
        assert!(
            svg.contains("failed: connect failed: &lt;refused&gt;"),
            "{svg}"
        );
        // An open span runs to the end; nothing panics on odd input.
        let odd = Recording {
            spans: vec![Span {
                label: "x\u{0}".into(),
                from: 500,
                to: None,
                note: String::new(),
                skipped: None,
            }],
            ..Recording::default()
        };
        let svg = render(&[("", &odd), ("t", &Recording::default())]);
        assert!(svg.contains("open") && !svg.contains('\u{0}'), "{svg}");
        assert!(render(&[]).contains("no requests"));
    }
}
