//! `--html FILE`: one self-contained HTML page (no network: a Content-Security-Policy forbids every
//! load; the data inline as JSON, a small hand-written script and style sheet) for `dump`, `refs`,
//! `diff`, `leaks`, `record` and `watch`: a summary, the threads, a sortable and filterable type
//! table, treemaps of bytes by type and by allocation site, the flame graph (the SVG of
//! [`crate::flame`], as an image), `refs`' paths merged into a tree, the resident-memory breakdown
//! as a bar; the growth tables with a sparkline per type for `diff` and `watch`, the survivors for
//! `leaks`; `record`'s births by type with each type's sites.
//!
//! The page is built in the browser from the data (`html.js`, `html-time.js`), so a heap of 1,000
//! types and 10,000 sites is one JSON blob; a table puts its first 500 rows in the DOM (more on
//! request) and is rendered once per sort or filter.

use leakspy_python::analysis::refs::RefsReport;
use leakspy_python::dump::DumpReport;
use serde_json::Value;
use std::io::{self, Write};

const CSS: &str = include_str!("html.css");
const JS: &str = include_str!("html.js");
const JS_TIME: &str = include_str!("html-time.js");

/// Which report the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dump,
    Refs,
    Diff,
    Leaks,
    Record,
    Watch,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dump => "dump",
            Kind::Refs => "refs",
            Kind::Diff => "diff",
            Kind::Leaks => "leaks",
            Kind::Record => "record",
            Kind::Watch => "watch",
        }
    }
}

/// The data of a `dump` page: the report as `--json` writes it.
pub fn dump_data(report: &DumpReport) -> io::Result<Value> {
    Ok(serde_json::to_value(report)?)
}

/// The data of a `refs` page: the dump report and, under `refs`, the answer.
pub fn refs_data(report: &DumpReport, refs: &RefsReport) -> io::Result<Value> {
    let mut v = serde_json::to_value(report)?;
    if let Value::Object(m) = &mut v {
        m.insert("refs".into(), serde_json::to_value(refs)?);
    }
    Ok(v)
}

/// The data of a `record` page: the report as `--json` writes it.
pub fn record_data(report: &leakspy_python::record::RecordReport) -> io::Result<Value> {
    Ok(serde_json::to_value(report)?)
}

/// Text safe inside an HTML element or attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (for the flame graph's data: URL).
fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Write the page. `flame_svg`: a flame graph to show (an SVG document), if any.
pub fn write(
    kind: Kind,
    title: &str,
    data: &Value,
    flame_svg: Option<&[u8]>,
    out: &mut dyn Write,
) -> io::Result<()> {
    // In a <script> element only "</script" (and "<!--") can end it early: escape every '<' as
    // \u003c, which JSON.parse reads back (it only occurs inside strings in JSON).
    let json = serde_json::to_string(data)?.replace('<', "\\u003c");
    let t = escape(title);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"leakspy {}\">\n<title>{t}</title>\n<style>\n{CSS}</style></head>\n\
         <body data-kind=\"{}\">\n<header><h1 id=\"leakspy-title\">{t}</h1><div class=\"sub\" id=\"leakspy-sub\"></div></header>\n\
         <main id=\"leakspy-main\"><noscript>This report is drawn by its inline script: allow JavaScript for this file.</noscript>\
         <div id=\"leakspy-error\"></div></main>\n",
        env!("CARGO_PKG_VERSION"),
        kind.name()
    )?;
    if let Some(svg) = flame_svg {
        writeln!(
            out,
            "<template id=\"leakspy-flame\" data-src=\"data:image/svg+xml;base64,{}\"></template>",
            base64(svg)
        )?;
    }
    write!(
        out,
        "<script id=\"leakspy-data\" type=\"application/json\">{json}</script>\n\
         <script>window.addEventListener('error', function (e) {{ document.body.dataset.errors = \
         String((Number(document.body.dataset.errors) || 0) + 1); \
         document.getElementById('leakspy-error').textContent += 'error: ' + e.message + '\\n'; }});</script>\n\
         <script>\n'use strict';\n(function () {{\n{JS}{JS_TIME}  body.dataset.rendered = 'ok';\n  body.dataset.renderMs = String(Math.round(performance.now()));\n}})();\n</script>\n</body></html>\n"
    )?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn data_cannot_end_the_script_early() {
        let data = serde_json::json!({"heap": {"types": [{"type": "</script><b>x"}]}});
        let mut out = Vec::new();
        write(Kind::Dump, "a <title>", &data, Some(b"<svg/>"), &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(!html.contains("</script><b>"));
        assert!(html.contains("\\u003c/script>\\u003cb>x"));
        assert!(html.contains("<title>a &lt;title&gt;</title>"));
        assert!(html.contains("data:image/svg+xml;base64,PHN2Zy8+"));
        // Nothing is loaded from anywhere: no src/href to another place.
        assert!(!html.contains("http://") && !html.contains("https://"));
        // The JSON between the tags parses back to the data.
        let start = html.find("application/json\">").unwrap() + "application/json\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let back: Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(back, data);
    }
}
