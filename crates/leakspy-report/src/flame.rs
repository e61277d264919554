//! Flame graphs of live bytes (inferno): one stack per allocation traceback, outermost frame first,
//! with the type as the leaf; differential graphs for `diff` (inferno's two-count folded lines).

use crate::snapshot::{Delta, Snapshot};
use leakspy_python::analysis::tracemalloc::SiteFrame;
use std::io::{self, Write};

fn stack(type_name: &str, frames: &[SiteFrame]) -> String {
    // Folded format: frames separated by ';', outermost first. Semicolons inside names would split
    // frames, so they are replaced.
    let mut parts: Vec<String> = frames
        .iter()
        .rev()
        .map(|f| format!("{}:{}", f.filename, f.line).replace(';', ":"))
        .collect();
    parts.push(type_name.replace(';', ":"));
    parts.join(";")
}

/// Folded lines of a snapshot: bytes by traceback and type (types without sites as a bare stack).
pub fn folded(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for t in &s.types {
        let mut sited = 0;
        for site in t.allocated_at.iter().flatten() {
            sited += site.bytes;
            if site.bytes > 0 {
                out.push(format!(
                    "{} {}",
                    stack(&t.type_name, &site.frames),
                    site.bytes
                ));
            }
        }
        let rest = t.bytes.saturating_sub(sited);
        if rest > 0 {
            let label = if t.allocated_at.is_some() {
                "<allocated before tracing>"
            } else {
                "<no allocation site>"
            };
            out.push(format!("{label};{} {rest}", t.type_name.replace(';', ":")));
        }
    }
    out
}

/// Two-count folded lines (before, after) for a differential graph.
pub fn folded_diff(types: &[Delta], sites: &[Delta]) -> Vec<String> {
    let source = if sites.is_empty() { types } else { sites };
    source
        .iter()
        .map(|d| {
            format!(
                "{} {} {}",
                stack(&d.type_name, &d.frames),
                d.bytes_before,
                d.bytes_after
            )
        })
        .collect()
}

/// Render folded lines as an SVG flame graph.
pub fn svg(lines: &[String], title: &str, w: impl Write) -> io::Result<()> {
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = "bytes".into();
    opt.deterministic = true;
    if lines.is_empty() {
        // inferno refuses empty input; an empty graph still says what was graphed.
        let placeholder = ["(no objects) 1".to_string()];
        return inferno::flamegraph::from_lines(
            &mut opt,
            placeholder.iter().map(String::as_str),
            w,
        )
        .map_err(io::Error::other);
    }
    inferno::flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), w)
        .map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{SnapSite, SnapType, FORMAT, VERSION};

    #[test]
    fn folded_stacks_are_outermost_first_with_the_type_as_leaf() {
        let s = Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            taken_at_ms: 0,
            pid: 1,
            python_version: "3.12.1".into(),
            objects: 3,
            bytes: 300,
            types: vec![SnapType {
                type_name: "app.Session".into(),
                count: 3,
                bytes: 300,
                allocated_at: Some(vec![SnapSite {
                    frames: vec![
                        SiteFrame {
                            filename: "app.py".into(),
                            line: 12,
                        },
                        SiteFrame {
                            filename: "main.py".into(),
                            line: 3,
                        },
                    ],
                    count: 2,
                    bytes: 200,
                }]),
            }],
            identities: None,
        };
        let lines = folded(&s);
        assert_eq!(
            lines,
            vec![
                "main.py:3;app.py:12;app.Session 200",
                "<allocated before tracing>;app.Session 100"
            ]
        );
        let mut out = Vec::new();
        svg(&lines, "t", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("<?xml") && text.contains("app.Session"));
    }
}
