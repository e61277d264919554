//! Rendering of leakspy results for humans (text) and machines (JSON). Renderers only format data
//! they are given; they never read target memory.
#![forbid(unsafe_code)]

use leakspy_python::dump::{DumpReport, ThreadReport};
use std::io::{self, Write};

/// `1536` -> `"1.5 KiB"`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `1234567` -> `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The JSON document (schema in README.md).
pub fn render_json(report: &DumpReport, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *w, report)?;
    writeln!(w)
}

/// The human report: header, threads, then the top `top` types by bytes.
pub fn render_text(report: &DumpReport, top: usize, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "Process {}: Python {} ({})",
        report.pid, report.python_version, report.executable
    )?;
    writeln!(
        w,
        "Layout: {} (version from {})",
        report.layout.source, report.layout.version_source
    )?;
    if report.paused {
        writeln!(
            w,
            "Paused for {:.1} ms; total {:.1} ms",
            report.pause_ms, report.total_ms
        )?;
    } else {
        writeln!(
            w,
            "Not paused (--nonblocking); total {:.1} ms",
            report.total_ms
        )?;
    }
    for warning in &report.warnings {
        writeln!(w, "warning: {warning}")?;
    }
    if report.partial {
        writeln!(
            w,
            "PARTIAL RESULT: some structures could not be read completely (see warnings)"
        )?;
    }
    writeln!(w)?;
    for t in &report.threads {
        render_thread(t, w)?;
    }
    let h = &report.heap;
    writeln!(
        w,
        "Heap (GC-tracked objects): {} objects, {}",
        thousands(h.objects),
        human_bytes(h.bytes)
    )?;
    let width = h
        .types
        .iter()
        .take(top)
        .map(|t| t.type_name.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    writeln!(
        w,
        "  {:>12}  {:>10}  {:>6}  {:<width$}",
        "count", "bytes", "share", "type"
    )?;
    for t in h.types.iter().take(top) {
        let share = if h.bytes > 0 {
            100.0 * t.bytes as f64 / h.bytes as f64
        } else {
            0.0
        };
        writeln!(
            w,
            "  {:>12}  {:>10}  {:>5.1}%  {}",
            thousands(t.count),
            human_bytes(t.bytes),
            share,
            t.type_name
        )?;
    }
    if h.types.len() > top {
        let rest: u64 = h.types.iter().skip(top).map(|t| t.bytes).sum();
        let count: u64 = h.types.iter().skip(top).map(|t| t.count).sum();
        writeln!(
            w,
            "  {:>12}  {:>10}  {:>5.1}%  ({} more types; --top N shows more)",
            thousands(count),
            human_bytes(rest),
            if h.bytes > 0 {
                100.0 * rest as f64 / h.bytes as f64
            } else {
                0.0
            },
            h.types.len() - top
        )?;
    }
    Ok(())
}

fn render_thread(t: &ThreadReport, w: &mut dyn Write) -> io::Result<()> {
    let name = t.name.as_deref().unwrap_or("?");
    let native = match (t.native_id, t.host_native_id) {
        (Some(n), Some(h)) if i64::from(h) != n => format!("native {n} (host {h})"),
        (Some(n), _) => format!("native {n}"),
        _ => "native ?".into(),
    };
    let mut status = vec![if t.idle { "idle" } else { "running" }];
    if t.holds_gil {
        status.push("holds GIL");
    }
    writeln!(
        w,
        "Thread {:#x} \"{name}\" ({native}) [{}]",
        t.thread_id,
        status.join(", ")
    )?;
    for f in &t.frames {
        let line = f.line.map_or_else(|| "?".to_string(), |l| l.to_string());
        writeln!(w, "    {} ({}:{line})", f.function, f.filename)?;
    }
    if let Some(why) = &t.truncated {
        writeln!(w, "    ... stack truncated: {why}")?;
    }
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
