//! Export flags (`--heapsnapshot`, `--pprof`, `--html`, `--speedscope`; docs/formats.md): which files to write besides the report, and
//! writing them. The formats themselves are in `leakspy_report`.

use anyhow::Result;
use clap::{Args, ValueHint};
use leakspy_python::dump::{DumpOptions, DumpReport};
use leakspy_report::snapshot::{Delta, Snapshot, SurvivorGroup};
use leakspy_report::{html, pprof, speedscope};
use std::path::{Path, PathBuf};

/// Files `dump` can write besides its report.
#[derive(Debug, Args)]
pub struct DumpExports {
    /// Also write the reference graph as a Chrome DevTools / V8 heap snapshot (open it in
    /// DevTools' Memory tab or memlab; docs/formats.md). Object contents are never written; dict
    /// keys are named by their kind unless --show-keys.
    #[arg(long, value_name = "FILE.heapsnapshot", value_hint = ValueHint::FilePath)]
    pub heapsnapshot: Option<PathBuf>,

    /// Also write live objects and bytes by type and allocation site as a gzipped pprof profile
    /// (`go tool pprof`, Pyroscope, Parca, Grafana; docs/formats.md).
    #[arg(long, value_name = "FILE.pb.gz", value_hint = ValueHint::FilePath)]
    pub pprof: Option<PathBuf>,

    /// Also write a self-contained HTML report (threads, sortable type table, treemaps, flame
    /// graph, memory breakdown; no network needed; docs/formats.md).
    #[arg(long, value_name = "FILE.html", value_hint = ValueHint::FilePath)]
    pub html: Option<PathBuf>,

    /// Also write live bytes and objects by allocation traceback in speedscope's format
    /// (speedscope.app; docs/formats.md).
    #[arg(long, value_name = "FILE.speedscope.json", value_hint = ValueHint::FilePath)]
    pub speedscope: Option<PathBuf>,

    /// With --heapsnapshot: name the keys of plain dicts by their value (they may be secrets).
    #[arg(long)]
    pub show_keys: bool,
}

/// Files `refs` can write besides its report.
#[derive(Debug, Args)]
pub struct RefsExports {
    /// Also write the whole reference graph as a Chrome DevTools / V8 heap snapshot
    /// (docs/formats.md); --show-keys names plain dicts' keys there too.
    #[arg(long, value_name = "FILE.heapsnapshot", value_hint = ValueHint::FilePath)]
    pub heapsnapshot: Option<PathBuf>,

    /// Also write a self-contained HTML report: the paths as a tree, referrers, retained sizes,
    /// and the heap as `dump --html` shows it (docs/formats.md).
    #[arg(long, value_name = "FILE.html", value_hint = ValueHint::FilePath)]
    pub html: Option<PathBuf>,
}

/// Files `diff` and `leaks` can write besides their report.
#[derive(Debug, Args)]
pub struct GrowthExports {
    /// Also write the growth (diff) or the survivors (leaks) by type and allocation site as a
    /// gzipped pprof profile (docs/formats.md); diff's values may be negative.
    #[arg(long, value_name = "FILE.pb.gz", value_hint = ValueHint::FilePath)]
    pub pprof: Option<PathBuf>,

    /// Also write a self-contained HTML report: the growth (diff) or survivors (leaks) as
    /// sortable tables and a treemap (docs/formats.md).
    #[arg(long, value_name = "FILE.html", value_hint = ValueHint::FilePath)]
    pub html: Option<PathBuf>,
}

impl GrowthExports {
    /// Refuse what cannot be written before any work is done.
    pub fn check(&self, subprocesses: bool) -> Result<()> {
        if subprocesses && (self.pprof.is_some() || self.html.is_some()) {
            anyhow::bail!(crate::cli::UsageError(
                "--pprof and --html write one process: they do not go with --subprocesses".into()
            ));
        }
        check_dir("--pprof", self.pprof.as_deref())?;
        check_dir("--html", self.html.as_deref())
    }

    pub fn write_diff(
        &self,
        a: &Snapshot,
        b: &Snapshot,
        types: &[Delta],
        sites: &[Delta],
    ) -> Result<()> {
        if let Some(path) = &self.pprof {
            let comment = format!(
                "leakspy diff: growth of pid {} over {:.1}s by type and allocation site",
                b.pid,
                b.taken_at_ms.saturating_sub(a.taken_at_ms) as f64 / 1e3
            );
            write_pprof(
                path,
                &pprof::samples_of_deltas(types, sites),
                b.taken_at_ms,
                &comment,
            )?;
        }
        if let Some(path) = &self.html {
            let data = serde_json::json!({
                "before": {"pid": a.pid, "taken_at_ms": a.taken_at_ms, "objects": a.objects, "bytes": a.bytes},
                "after": {"pid": b.pid, "taken_at_ms": b.taken_at_ms, "objects": b.objects, "bytes": b.bytes},
                "types": types, "sites": sites,
            });
            let mut svg = Vec::new();
            let lines = leakspy_report::flame::folded_diff(types, sites);
            let flame = (!lines.is_empty()
                && leakspy_report::flame::svg(
                    &lines,
                    "leakspy diff: bytes, before vs after",
                    &mut svg,
                )
                .is_ok())
            .then_some(svg.as_slice());
            let title = format!("leakspy diff: growth of pid {}", b.pid);
            write_html(path, html::Kind::Diff, &title, &data, flame)?;
        }
        Ok(())
    }

    pub fn write_leaks(&self, snaps: &[Snapshot], groups: &[SurvivorGroup]) -> Result<()> {
        if let (Some(path), Some(last)) = (&self.pprof, snaps.last()) {
            let comment = format!(
                "leakspy leaks: objects of pid {} born after the first snapshot and alive at the third",
                last.pid
            );
            write_pprof(
                path,
                &pprof::samples_of_survivors(groups),
                last.taken_at_ms,
                &comment,
            )?;
        }
        if let (Some(path), Some(first), Some(last)) = (&self.html, snaps.first(), snaps.last()) {
            let secs = |s: &Snapshot| s.taken_at_ms.saturating_sub(first.taken_at_ms) as f64 / 1e3;
            let data = serde_json::json!({
                "pid": last.pid,
                "snapshots_s": snaps.iter().map(secs).collect::<Vec<_>>(),
                "survivors": groups,
            });
            let title = format!("leakspy leaks: what pid {} kept", last.pid);
            write_html(path, html::Kind::Leaks, &title, &data, None)?;
        }
        Ok(())
    }
}

fn write_pprof(
    path: &Path,
    samples: &[pprof::Sample],
    taken_at_ms: u64,
    comment: &str,
) -> Result<()> {
    let mut out = create(path)?;
    let nanos = i64::try_from(taken_at_ms.saturating_mul(1_000_000)).unwrap_or(0);
    pprof::write(samples, nanos, &[comment.to_string()], &mut out)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

impl DumpExports {
    /// Ask the dump for what the exports need; refuse what cannot be written before any work.
    pub fn configure(&self, opts: &mut DumpOptions, subprocesses: bool) -> Result<()> {
        check_dir("--heapsnapshot", self.heapsnapshot.as_deref())?;
        check_dir("--pprof", self.pprof.as_deref())?;
        check_dir("--html", self.html.as_deref())?;
        check_dir("--speedscope", self.speedscope.as_deref())?;
        if subprocesses
            && (self.heapsnapshot.is_some() || self.pprof.is_some() || self.html.is_some())
        {
            anyhow::bail!(crate::cli::UsageError(
                "--heapsnapshot, --pprof, --html and --speedscope write one process: they do not go with --subprocesses"
                    .into()
            ));
        }
        if self.heapsnapshot.is_some() {
            if opts.gc_only {
                anyhow::bail!(crate::cli::UsageError(
                    "--heapsnapshot needs the whole heap: it does not go with --gc-only".into()
                ));
            }
            opts.export_graph = Some(leakspy_python::analysis::export::ExportOptions {
                show_keys: self.show_keys,
            });
        }
        Ok(())
    }

    /// Write the files asked for.
    pub fn write(&self, report: &DumpReport) -> Result<()> {
        write_heapsnapshot(report, self.heapsnapshot.as_deref())?;
        if let Some(path) = &self.pprof {
            let snap = Snapshot::from_report(report);
            let comment = format!(
                "leakspy dump of pid {} (Python {}): live objects by type and allocation site",
                report.pid, report.python_version
            );
            write_pprof(
                path,
                &pprof::samples_of_snapshot(&snap),
                snap.taken_at_ms,
                &comment,
            )?;
        }
        if let Some(path) = &self.speedscope {
            let snap = Snapshot::from_report(report);
            let name = format!(
                "leakspy dump of pid {} (Python {})",
                report.pid, report.python_version
            );
            let mut out = create(path)?;
            speedscope::write(&name, &speedscope::allocation_profiles(&snap), &mut out)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        if let Some(path) = &self.html {
            let title = format!("leakspy dump of pid {}", report.pid);
            let flame = dump_flame(report);
            let data = html::dump_data(report)?;
            write_html(path, html::Kind::Dump, &title, &data, flame.as_deref())?;
        }
        Ok(())
    }
}

impl RefsExports {
    pub fn configure(
        &self,
        opts: &mut DumpOptions,
        show_keys: bool,
        subprocesses: bool,
    ) -> Result<()> {
        check_dir("--heapsnapshot", self.heapsnapshot.as_deref())?;
        check_dir("--html", self.html.as_deref())?;
        if subprocesses && (self.heapsnapshot.is_some() || self.html.is_some()) {
            anyhow::bail!(crate::cli::UsageError(
                "--heapsnapshot and --html write one process: they do not go with --subprocesses"
                    .into()
            ));
        }
        if self.heapsnapshot.is_some() {
            opts.export_graph = Some(leakspy_python::analysis::export::ExportOptions { show_keys });
        }
        Ok(())
    }

    pub fn write(&self, report: &DumpReport) -> Result<()> {
        write_heapsnapshot(report, self.heapsnapshot.as_deref())?;
        if let (Some(path), Some(refs)) = (&self.html, report.heap.refs.as_ref()) {
            let title = format!("leakspy refs {} in pid {}", refs.type_name, report.pid);
            let flame = dump_flame(report);
            let data = html::refs_data(report, refs)?;
            write_html(path, html::Kind::Refs, &title, &data, flame.as_deref())?;
        }
        Ok(())
    }
}

/// The flame graph of a dump's live bytes (SVG), as `--flamegraph` writes it.
fn dump_flame(report: &DumpReport) -> Option<Vec<u8>> {
    let snap = Snapshot::from_report(report);
    let lines = leakspy_report::flame::folded(&snap);
    let mut svg = Vec::new();
    let title = format!(
        "leakspy: live bytes of pid {} by type and allocation site",
        report.pid
    );
    (!lines.is_empty() && leakspy_report::flame::svg(&lines, &title, &mut svg).is_ok())
        .then_some(svg)
}

/// `record --html`: the report and the flame graph of `record --flamegraph`.
pub fn write_record_html(path: &Path, rep: &leakspy_python::record::RecordReport) -> Result<()> {
    let lines = leakspy_report::record::folded_alive(rep);
    let title = format!(
        "leakspy record: bytes alive at the end of pid {} by birth stack",
        rep.pid
    );
    let mut svg = Vec::new();
    let flame = (!lines.is_empty()
        && leakspy_report::record::svg(&lines, &title, "bytes", &mut svg).is_ok())
    .then_some(svg.as_slice());
    let data = html::record_data(rep)?;
    let title = format!("leakspy record of pid {}", rep.pid);
    write_html(path, html::Kind::Record, &title, &data, flame)
}

/// `watch --html`: the series so far, rewritten after each sample (through a temporary file and a
/// rename, so a browser reloading it never sees half a page).
pub fn write_watch_html(
    path: &Path,
    series: &leakspy_report::series::Series,
    pid: i32,
    python_version: &str,
) -> Result<()> {
    let out = series.out(pid, python_version, leakspy_report::series::TOP_TYPES);
    let data = serde_json::to_value(&out)?;
    let title = format!("leakspy watch of pid {pid}");
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write_html(&tmp, html::Kind::Watch, &title, &data, None)?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

fn write_html(
    path: &Path,
    kind: html::Kind,
    title: &str,
    data: &serde_json::Value,
    flame: Option<&[u8]>,
) -> Result<()> {
    let mut out = create(path)?;
    html::write(kind, title, data, flame, &mut out)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// A file to write must go into a directory that exists (checked before the target is read, so a
/// typo does not cost a pause).
pub fn check_dir(flag: &str, path: Option<&Path>) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(crate::cli::UsageError(format!(
            "{flag} {}: the directory {} does not exist (create it, or write elsewhere)",
            path.display(),
            dir.display()
        )));
    }
    if path.is_dir() {
        anyhow::bail!(crate::cli::UsageError(format!(
            "{flag} {}: is a directory (give a file name)",
            path.display()
        )));
    }
    Ok(())
}

/// Create `path` for writing, buffered; the error names the file.
pub fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let f = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok(std::io::BufWriter::with_capacity(1 << 20, f))
}

fn write_heapsnapshot(report: &DumpReport, path: Option<&Path>) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let Some(graph) = report.heap.graph.as_deref() else {
        anyhow::bail!(
            "--heapsnapshot: the heap could not be walked, so there is no reference graph to write"
        );
    };
    let mut out = create(path)?;
    leakspy_report::heapsnapshot::write(graph, &mut out)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}
