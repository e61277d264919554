//! Rendering of leakspy results for humans (text) and machines (JSON). Renderers only format data
//! they are given; they never read target memory.
#![forbid(unsafe_code)]

pub mod flame;
pub mod fleet;
pub mod heapsnapshot;
pub mod html;
pub mod leak_births;
mod native;
pub mod pprof;
pub mod record;
pub mod refs;
pub mod series;
pub mod snapshot;
pub mod speedscope;

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

/// The JSON document (schema in docs/json-schema.md).
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
    if let Some(core) = &report.core {
        writeln!(
            w,
            "Read from core file {core}; total {:.1} ms",
            report.total_ms
        )?;
    } else if report.paused {
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
    for note in &report.notes {
        writeln!(w, "note: {note}")?;
    }
    render_warnings(report, w)?;
    writeln!(w)?;
    for t in &report.threads {
        render_thread(t, w)?;
    }
    for cycle in &report.deadlocks {
        let ids: Vec<String> = cycle.iter().map(|t| format!("{t:#x}")).collect();
        writeln!(
            w,
            "DEADLOCK: thread {} waits for thread {}\n",
            ids.join(" waits for thread "),
            ids.first().map_or("?", String::as_str)
        )?;
    }
    let h = &report.heap;
    if let Some(m) = &report.memory {
        let pct = |n: u64| {
            if m.rss > 0 {
                100.0 * n as f64 / m.rss as f64
            } else {
                0.0
            }
        };
        match (m.heap, m.stack) {
            (Some(heap), Some(stack)) => writeln!(
                w,
                "Memory: RSS {} = anonymous {} ({:.0}%), [heap] {} ({:.0}%), files {} ({:.0}%), [stack] {}, other {}",
                human_bytes(m.rss),
                human_bytes(m.anonymous),
                pct(m.anonymous),
                human_bytes(heap),
                pct(heap),
                human_bytes(m.file),
                pct(m.file),
                human_bytes(stack),
                human_bytes(m.other)
            )?,
            // The kernel's counters (stacks only): no split by mapping, and approximate.
            _ => writeln!(
                w,
                "Memory: RSS ~{} = anonymous ~{} ({:.0}%), files ~{} ({:.0}%), shared ~{} (the kernel's counters, approximate; without --no-heap: exact, by mapping)",
                human_bytes(m.rss),
                human_bytes(m.anonymous),
                pct(m.anonymous),
                human_bytes(m.file),
                pct(m.file),
                human_bytes(m.other)
            )?,
        }
        if !h.types.is_empty() && h.untracked_counted {
            writeln!(
                w,
                "        Python objects hold {} ({:.0}% of RSS): GC-tracked {}, untracked {}; {}",
                human_bytes(h.bytes),
                pct(h.bytes),
                human_bytes(h.tracked_bytes),
                human_bytes(h.bytes.saturating_sub(h.tracked_bytes)),
                beyond_objects(h.bytes, m.rss, "allocator slack and native memory"),
            )?;
            if let Some(out) = h.outside_arenas_bytes {
                writeln!(
                    w,
                    "        of which in pymalloc's arenas {}, outside them {} (objects over 512 bytes and the buffers objects own: list items, dict tables, bytearray, array and numpy data)",
                    human_bytes(h.bytes.saturating_sub(out)),
                    human_bytes(out),
                )?;
            }
        } else if !h.types.is_empty() {
            writeln!(
                w,
                "        GC-tracked objects hold {} ({:.0}% of RSS); {}",
                human_bytes(h.bytes),
                pct(h.bytes),
                beyond_objects(
                    h.bytes,
                    m.rss,
                    "untracked objects (str, bytes, int, ...; not counted with --gc-only), allocator slack and native memory"
                ),
            )?;
        }
    }
    if let Some(p) = &h.pymalloc {
        writeln!(
            w,
            "pymalloc: {} arenas, {} allocated, {} in {} used blocks ({:.0}%)",
            thousands(p.arenas),
            human_bytes(p.arena_bytes),
            human_bytes(p.block_bytes),
            thousands(p.blocks),
            if p.arena_bytes > 0 {
                100.0 * p.block_bytes as f64 / p.arena_bytes as f64
            } else {
                0.0
            }
        )?;
    }
    match &h.tracemalloc {
        Some(tm) if !tm.tracing => {
            writeln!(w, "Allocation sites: tracemalloc is not tracing in the target; {}", tm.hint.as_deref().unwrap_or(""))?;
        }
        Some(tm) => writeln!(
            w,
            "Allocation sites from the target's tracemalloc: {} of {} objects traced (the rest were allocated before tracing started)",
            thousands(tm.traced_objects),
            thousands(tm.traced_objects + tm.untraced_objects)
        )?,
        None => {}
    }
    if !h.walked {
        writeln!(w, "Heap: not walked (--no-heap)")?;
        return Ok(());
    }
    if h.untracked_counted {
        writeln!(
            w,
            "Heap (every live object found): {} objects, {}; GC-tracked {} objects, {}",
            thousands(h.objects),
            human_bytes(h.bytes),
            thousands(h.tracked_objects),
            human_bytes(h.tracked_bytes)
        )?;
    } else {
        writeln!(
            w,
            "Heap (GC-tracked objects only): {} objects, {}",
            thousands(h.objects),
            human_bytes(h.bytes)
        )?;
    }
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
        "  {:>12}  {:>12}  {:>10}  {:>6}  {:<width$}",
        "count", "tracked", "bytes", "share", "type"
    )?;
    for t in h.types.iter().take(top) {
        let share = if h.bytes > 0 {
            100.0 * t.bytes as f64 / h.bytes as f64
        } else {
            0.0
        };
        // `~`: at least this much (the type's own `__sizeof__` is not modelled).
        let bytes = if t.size_exact {
            human_bytes(t.bytes)
        } else {
            format!("~{}", human_bytes(t.bytes))
        };
        writeln!(
            w,
            "  {:>12}  {:>12}  {:>10}  {:>5.1}%  {}",
            thousands(t.count),
            thousands(t.tracked),
            bytes,
            share,
            t.type_name
        )?;
        render_sites(t, w)?;
        render_origins(t, w)?;
    }
    if h.types.len() > top {
        let rest: u64 = h.types.iter().skip(top).map(|t| t.bytes).sum();
        let count: u64 = h.types.iter().skip(top).map(|t| t.count).sum();
        let tracked: u64 = h.types.iter().skip(top).map(|t| t.tracked).sum();
        writeln!(
            w,
            "  {:>12}  {:>12}  {:>10}  {:>5.1}%  ({} more types; --top N shows more)",
            thousands(count),
            thousands(tracked),
            human_bytes(rest),
            if h.bytes > 0 {
                100.0 * rest as f64 / h.bytes as f64
            } else {
                0.0
            },
            h.types.len() - top
        )?;
    }
    render_inexact(h, w)
}

/// Most types the not-exact line names.
const INEXACT_SHOWN: usize = 8;

/// One line under the table: the types whose bytes are a lower bound, and why.
fn render_inexact(
    h: &leakspy_python::analysis::HeapHistogram,
    w: &mut dyn Write,
) -> io::Result<()> {
    let inexact: Vec<_> = h.types.iter().filter(|t| !t.size_exact).collect();
    if inexact.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> = inexact
        .iter()
        .take(INEXACT_SHOWN)
        .map(|t| match &t.sizeof_owner {
            Some(o) => format!("{} (__sizeof__ of {o})", t.type_name),
            None => t.type_name.clone(),
        })
        .collect();
    if inexact.len() > INEXACT_SHOWN {
        names.push(format!("{} more in --json", inexact.len() - INEXACT_SHOWN));
    }
    let bytes: u64 = inexact.iter().map(|t| t.bytes).sum();
    writeln!(
        w,
        "  ~ not exact: {} type(s) with a __sizeof__ leakspy does not model, counted at their basic size ({} in all): {}",
        inexact.len(),
        human_bytes(bytes),
        names.join(", ")
    )
}

/// The report's warnings, and the partial-result line when it is partial.
pub(crate) fn render_warnings(report: &DumpReport, w: &mut dyn Write) -> io::Result<()> {
    for warning in &report.warnings {
        writeln!(w, "warning: {warning}")?;
    }
    if report.partial {
        writeln!(
            w,
            "PARTIAL RESULT: some structures could not be read completely (see warnings)"
        )?;
    }
    Ok(())
}

/// How many allocation sites the text report shows under each type.
const SITES_PER_TYPE: usize = 3;

fn render_sites(t: &leakspy_python::analysis::TypeStat, w: &mut dyn Write) -> io::Result<()> {
    let Some(sites) = &t.allocated_at else {
        return Ok(());
    };
    for site in sites.iter().take(SITES_PER_TYPE) {
        let mut frames = site.frames.iter().map(|f| {
            if f.line == 0 {
                f.filename.clone()
            } else {
                format!("{}:{}", f.filename, f.line)
            }
        });
        let first = frames.next().unwrap_or_else(|| "<no frames>".into());
        let rest: Vec<String> = frames.take(2).collect();
        let via = if rest.is_empty() {
            String::new()
        } else {
            format!("  <- {}", rest.join(" <- "))
        };
        writeln!(
            w,
            "  {:>12}  {:>10}          at {first}{via}",
            thousands(site.count),
            human_bytes(site.bytes)
        )?;
    }
    if sites.len() > SITES_PER_TYPE {
        writeln!(
            w,
            "  {:>12}  {:>10}          ({} more sites in --json)",
            "",
            "",
            sites.len() - SITES_PER_TYPE
        )?;
    }
    Ok(())
}

/// Origin hints (generators, coroutines, functions, asyncio futures and tasks) under their type,
/// when no allocation sites are shown for it.
fn render_origins(t: &leakspy_python::analysis::TypeStat, w: &mut dyn Write) -> io::Result<()> {
    let Some(origins) = &t.origins else {
        return Ok(());
    };
    if t.allocated_at.as_ref().is_some_and(|s| !s.is_empty()) {
        return Ok(());
    }
    // A function defined once is no hint; many from one `def` (closures, lambdas per request) are.
    let shown: Vec<_> = origins
        .iter()
        .filter(|o| o.kind != "defined_at" || o.count > 1)
        .collect();
    for o in shown.iter().take(SITES_PER_TYPE) {
        let what = match o.kind {
            "suspended_at" => "suspended at",
            "finished" => "finished, def at",
            "created_at" => "created at",
            "not_recorded" => {
                writeln!(
                    w,
                    "  {:>12}  {:>10}          creation site not recorded (asyncio debug mode was off: \
                     PYTHONASYNCIODEBUG=1, -X dev or loop.set_debug(True) records it)",
                    thousands(o.count),
                    human_bytes(o.bytes),
                )?;
                continue;
            }
            _ => "defined at",
        };
        let line = o.line.map_or_else(|| "?".into(), |l| l.to_string());
        writeln!(
            w,
            "  {:>12}  {:>10}          {what} {}:{line} ({})",
            thousands(o.count),
            human_bytes(o.bytes),
            o.filename,
            o.function
        )?;
    }
    if shown.len() > SITES_PER_TYPE {
        writeln!(
            w,
            "  {:>12}  {:>10}          ({} more in --json)",
            "",
            "",
            shown.len() - SITES_PER_TYPE
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
    let mut status = match t.idle {
        Some(true) => vec!["idle"],
        Some(false) => vec!["running"],
        None => vec![],
    };
    if t.holds_gil {
        status.push("holds GIL");
    }
    let status = if status.is_empty() {
        String::new()
    } else {
        format!(" [{}]", status.join(", "))
    };
    writeln!(
        w,
        "Thread {:#x} \"{name}\" ({native}){status}: {}",
        t.thread_id, t.blocked.what
    )?;
    if let Some(merged) = &t.merged {
        return native::render_merged(t, merged, w);
    }
    for f in &t.frames {
        let line = f.line.map_or_else(|| "?".to_string(), |l| l.to_string());
        writeln!(w, "    {} ({}:{line})", f.function, f.filename)?;
    }
    if let Some(why) = &t.truncated {
        writeln!(w, "    ... stack truncated: {why}")?;
    }
    writeln!(w)
}

/// What the RSS holds besides the objects' `bytes` (`rest`), or why the objects can hold more than
/// the RSS: `sys.getsizeof` counts buffers whose pages were never touched (the kernel backs them
/// only when written: `numpy.zeros`, calloc) or were swapped out.
fn beyond_objects(bytes: u64, rss: u64, rest: &str) -> String {
    if bytes <= rss {
        return format!("the rest is {rest}");
    }
    format!(
        "{} more than the RSS: their sizes count pages not resident (buffers never written, such as \
         numpy.zeros' and calloc's, or swapped out)",
        human_bytes(bytes - rss)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_beyond_the_rss_are_explained() {
        assert_eq!(
            beyond_objects(10, 20, "slack"),
            "the rest is slack",
            "under the RSS"
        );
        assert_eq!(beyond_objects(20, 20, "slack"), "the rest is slack");
        let over = beyond_objects(26_138_354, 26_112_000, "slack");
        assert!(over.starts_with("25.7 KiB more than the RSS"), "{over}");
        assert!(over.contains("not resident"), "{over}");
    }

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
