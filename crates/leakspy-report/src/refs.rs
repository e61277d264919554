//! `leakspy refs` output: what keeps the instances of a type alive.

use crate::{human_bytes, thousands};
use leakspy_python::analysis::refs::RefsReport;
use leakspy_python::dump::DumpReport;
use serde::Serialize;
use std::io::{self, Write};

/// The JSON document of `leakspy refs` (schema in docs/json-schema.md).
#[derive(Serialize)]
struct RefsJson<'a> {
    pid: i32,
    python_version: &'a str,
    pause_ms: f64,
    total_ms: f64,
    paused: bool,
    partial: bool,
    warnings: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
    /// Bounded mode (a heap that did not fit): the same object as `dump --json`'s `bounded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    bounded: Option<&'a leakspy_python::budget::BoundedInfo>,
    refs: &'a RefsReport,
}

pub fn render_json(report: &DumpReport, refs: &RefsReport, w: &mut dyn Write) -> io::Result<()> {
    let doc = RefsJson {
        pid: report.pid,
        python_version: &report.python_version,
        pause_ms: report.pause_ms,
        total_ms: report.total_ms,
        paused: report.paused,
        partial: report.partial,
        warnings: &report.warnings,
        notes: &report.notes,
        bounded: report.bounded.as_ref(),
        refs,
    };
    serde_json::to_writer(&mut *w, &doc)?;
    writeln!(w)
}

pub fn render_text(report: &DumpReport, refs: &RefsReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "Process {}: Python {}; {} {:.1} ms, total {:.1} ms",
        report.pid,
        report.python_version,
        if report.paused {
            "paused"
        } else {
            "not paused"
        },
        report.pause_ms,
        report.total_ms
    )?;
    for note in &report.notes {
        writeln!(w, "note: {note}")?;
    }
    crate::render_warnings(report, w)?;
    writeln!(
        w,
        "\n{}: {} instances, {}; retained {} (what freeing them all would free)",
        refs.type_name,
        thousands(refs.instances),
        human_bytes(refs.bytes),
        human_bytes(refs.retained_bytes)
    )?;
    if refs.instances == 0 {
        return Ok(());
    }
    writeln!(w, "\nReferred to by (references into the instances):")?;
    for r in refs.referrers.iter().take(15) {
        writeln!(w, "  {:>12}  {}", thousands(r.references), r.type_name)?;
    }
    if refs.referrers.len() > 15 {
        writeln!(w, "  ({} more types)", refs.referrers.len() - 15)?;
    }
    writeln!(
        w,
        "\nShortest paths from the roots (instances per path shape):"
    )?;
    for p in &refs.paths {
        writeln!(w, "  {:>12}  {}", thousands(p.count), p.shape)?;
    }
    if refs.paths_not_walked > 0 {
        writeln!(
            w,
            "  {:>12}  (reachable, path not worked out: more than 2,000,000 instances)",
            thousands(refs.paths_not_walked)
        )?;
    }
    if refs.unreachable > 0 {
        writeln!(
            w,
            "  {:>12}  (no path from module globals, class attributes, frame locals or the frozen generation: held from C, or garbage awaiting collection)",
            thousands(refs.unreachable)
        )?;
    }
    writeln!(
        w,
        "\nRoots searched: {} frame locals, {} module globals, {} class attributes, {} frozen objects",
        thousands(refs.roots.frame_locals),
        thousands(refs.roots.module_globals),
        thousands(refs.roots.class_attributes),
        thousands(refs.roots.frozen)
    )?;
    writeln!(
        w,
        "\nRetained size by type (top {}; --json lists 25):",
        refs.retained_by_type.len().min(10)
    )?;
    writeln!(
        w,
        "  {:>12}  {:>10}  {:>10}  type",
        "count", "bytes", "retained"
    )?;
    for t in refs.retained_by_type.iter().take(10) {
        writeln!(
            w,
            "  {:>12}  {:>10}  {:>10}  {}",
            thousands(t.count),
            human_bytes(t.bytes),
            human_bytes(t.retained_bytes),
            t.type_name
        )?;
    }
    let c = &refs.cost;
    writeln!(
        w,
        "\nGraph: {} objects, {} references, {} in memory; paths {:.0} ms, dominator tree {:.0} ms",
        thousands(c.objects),
        thousands(c.references),
        human_bytes(c.graph_bytes),
        c.paths_ms,
        c.dominators_ms
    )?;
    Ok(())
}
