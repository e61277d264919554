//! Leak hunting over time: `watch`, `snapshot`, `diff`, `leaks`. Each is a loop or a pair of dumps
//! around the same library calls as `dump`; the analysis is in `leakspy_report::snapshot`.

use crate::cli::parse_duration;
use anyhow::{Context, Result};
use clap::Args;
use leakspy_python::dump::{self, DumpOptions};
use leakspy_report::snapshot::{self, Snapshot};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Process id of the Python process to watch.
    #[arg(long, short = 'p', value_name = "PID")]
    pub pid: Option<i32>,
    /// Time between samples.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// Stop after this many samples (default: until interrupted or the target exits).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Rows per sample.
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub top: usize,
    /// One JSON object per sample on stdout (JSON lines).
    #[arg(long)]
    pub json: bool,
    /// With a command: how long to let it run before the first sample.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub after: Duration,
    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also watch every Python descendant (each paused on its own): one line per process with its
    /// growth since its first sample (new and gone workers marked), then the aggregate growth with
    /// its spread over the processes.
    #[arg(long)]
    pub subprocesses: bool,
    /// Also write a self-contained HTML report, rewritten after every sample: the growth table
    /// with a sparkline per type (objects and bytes over the samples; the 100 types that grew most,
    /// at most 256 points: older samples are thinned out; docs/formats.md).
    #[arg(long, value_name = "FILE.html", value_hint = clap::ValueHint::FilePath)]
    pub html: Option<PathBuf>,
    /// Start this program and watch it (stopped when watching ends).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Process id of the Python process.
    #[arg(long, short = 'p', value_name = "PID")]
    pub pid: i32,
    /// Where to write the snapshot (JSON).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Leave out object identities (smaller file; `leaks`-style survivor analysis needs them).
    #[arg(long)]
    pub no_identities: bool,
    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also snapshot every Python descendant (each paused on its own): -o then names a directory,
    /// which gets one snapshot file per process (PID.json) and service.json (the processes, their
    /// roles, the skipped ones and the aggregate).
    #[arg(long)]
    pub subprocesses: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier snapshot.
    pub before: PathBuf,
    /// The later snapshot.
    pub after: PathBuf,
    /// Rows per table.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub top: usize,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write a differential flame graph of bytes (SVG).
    #[arg(long, value_name = "FILE.svg")]
    pub flamegraph: Option<PathBuf>,
    #[command(flatten)]
    pub exports: crate::formats::GrowthExports,
}

#[derive(Debug, Args)]
pub struct LeaksArgs {
    /// Process id of the Python process (three snapshots are taken, --interval apart; births are
    /// sampled between the first two, so survivors without a tracemalloc site get birth stacks).
    #[arg(long, short = 'p', value_name = "PID", conflicts_with = "snapshots")]
    pub pid: Option<i32>,
    /// Or three snapshot files of one process, oldest first (made with `leakspy snapshot`).
    #[arg(value_name = "SNAPSHOT", num_args = 3)]
    pub snapshots: Vec<PathBuf>,
    /// Time between the three snapshots.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// Rows in the table.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub top: usize,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// With --pid: read every Python descendant too (each paused on its own): the survivors per
    /// process (new and gone workers marked), then summed with their spread over the processes.
    #[arg(long, requires = "pid")]
    pub subprocesses: bool,
    #[command(flatten)]
    pub exports: crate::formats::GrowthExports,
}

/// One paused dump of `pid` as a snapshot; a spinner on stderr during the walk unless `quiet`.
/// Warnings of the dump go to stderr (a partial sample is still a sample).
fn take(pid: i32, identities: bool, quiet: bool) -> Result<Snapshot> {
    let opts = DumpOptions {
        collect_objects: identities,
        ..DumpOptions::default()
    };
    let bar = crate::progress_bar(quiet);
    let report = dump::dump(pid, &opts, &mut |n| {
        bar.set_message(format!("walking the heap: {n} objects"))
    });
    bar.finish_and_clear();
    let report = report?;
    if report.partial {
        for w in &report.warnings {
            eprintln!("leakspy: warning: {w}");
        }
    }
    Ok(Snapshot::from_report(&report))
}

pub fn cmd_watch(args: &WatchArgs) -> Result<i32> {
    if args.subprocesses && args.html.is_some() {
        anyhow::bail!(crate::cli::UsageError(
            "--html writes one process: it does not go with --subprocesses".into()
        ));
    }
    crate::formats::check_dir("--html", args.html.as_deref())?;
    let (pid, child) = crate::cli::pid_or_spawn(
        args.pid,
        &args.command,
        args.after,
        "give either --pid PID or -- COMMAND [ARGS...]",
    )?;
    let result = if args.subprocesses {
        crate::fleet::watch_loop(pid, args)
    } else {
        watch_loop(pid, args)
    };
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

fn watch_loop(pid: i32, args: &WatchArgs) -> Result<i32> {
    let live_view = !args.json && std::io::stdout().is_terminal();
    let start = Instant::now();
    let mut first: Option<Snapshot> = None;
    let mut prev: Option<Snapshot> = None;
    let mut series = leakspy_report::series::Series::default();
    let mut n = 0u64;
    loop {
        let snap = match take(pid, false, args.quiet) {
            Ok(s) => s,
            // The target went away: the watch ends with what it saw.
            Err(e)
                if n > 0
                    && matches!(
                        e.downcast_ref::<leakspy_python::Error>(),
                        Some(leakspy_python::Error::NoSuchProcess(_))
                    ) =>
            {
                eprintln!("leakspy: pid {pid} exited; watch ended after {n} samples");
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        n += 1;
        let since_first = first
            .as_ref()
            .map(|f| snapshot::diff_types(f, &snap))
            .unwrap_or_default();
        let since_last = prev
            .as_ref()
            .map(|p| snapshot::diff_types(p, &snap))
            .unwrap_or_default();
        let elapsed = start.elapsed().as_secs_f64();
        if let Some(path) = &args.html {
            series.push(n, elapsed, &snap);
            crate::formats::write_watch_html(path, &series, pid, &snap.python_version)?;
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if args.json {
            let growth: Vec<serde_json::Value> = since_first
                .iter()
                .take(args.top)
                .map(|d| {
                    let last = since_last.iter().find(|x| x.type_name == d.type_name);
                    serde_json::json!({
                        "type": d.type_name, "count": d.count_after, "bytes": d.bytes_after,
                        "count_since_first": d.count_delta(), "bytes_since_first": d.bytes_delta(),
                        "count_since_last": last.map_or(0, |x| x.count_delta()),
                        "bytes_since_last": last.map_or(0, |x| x.bytes_delta()),
                    })
                })
                .collect();
            let line = serde_json::json!({
                "sample": n, "elapsed_s": elapsed, "pid": pid,
                "objects": snap.objects, "bytes": snap.bytes, "growth": growth,
            });
            writeln!(out, "{line}")?;
        } else {
            if live_view {
                write!(out, "\x1b[2J\x1b[H")?;
            }
            writeln!(
                out,
                "sample {n} at +{elapsed:.1}s (pid {pid}): {} objects, {}",
                leakspy_report::thousands(snap.objects),
                leakspy_report::human_bytes(snap.bytes)
            )?;
            if n > 1 {
                snapshot::render_deltas(
                    "  growth since the first sample:",
                    &since_first,
                    args.top,
                    &mut out,
                )?;
                snapshot::render_deltas(
                    "  growth since the last sample:",
                    &since_last,
                    args.top.min(5),
                    &mut out,
                )?;
            }
            writeln!(out)?;
        }
        out.flush()?;
        drop(out);
        if first.is_none() {
            first = Some(snap.clone());
        }
        prev = Some(snap);
        if args.count.is_some_and(|c| n >= c) {
            return Ok(0);
        }
        std::thread::sleep(args.interval);
    }
}

pub fn cmd_snapshot(args: &SnapshotArgs) -> Result<i32> {
    if args.subprocesses {
        return crate::fleet::cmd_snapshot(args);
    }
    let snap = take(args.pid, !args.no_identities, args.quiet)?;
    snap.write(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "leakspy: wrote {} ({} objects, {} types{})",
        args.output.display(),
        leakspy_report::thousands(snap.objects),
        snap.types.len(),
        if snap.identities.is_some() {
            ", with identities"
        } else {
            ""
        }
    );
    Ok(0)
}

pub fn cmd_diff(args: &DiffArgs) -> Result<i32> {
    args.exports.check(false)?;
    let a = Snapshot::read(&args.before).map_err(|e| crate::cli::UsageError(e.to_string()))?;
    let b = Snapshot::read(&args.after).map_err(|e| crate::cli::UsageError(e.to_string()))?;
    let types = snapshot::diff_types(&a, &b);
    let sites = snapshot::diff_sites(&a, &b);
    args.exports.write_diff(&a, &b, &types, &sites)?;
    if let Some(path) = &args.flamegraph {
        let f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let lines = leakspy_report::flame::folded_diff(&types, &sites);
        leakspy_report::flame::svg(
            &lines,
            "leakspy diff: bytes, before vs after",
            std::io::BufWriter::new(f),
        )?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let v = serde_json::json!({
            "before": {"pid": a.pid, "taken_at_ms": a.taken_at_ms, "objects": a.objects, "bytes": a.bytes},
            "after": {"pid": b.pid, "taken_at_ms": b.taken_at_ms, "objects": b.objects, "bytes": b.bytes},
            "types": types, "sites": sites,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "{} -> {}: objects {} -> {}, bytes {} -> {} over {:.1}s",
            args.before.display(),
            args.after.display(),
            leakspy_report::thousands(a.objects),
            leakspy_report::thousands(b.objects),
            leakspy_report::human_bytes(a.bytes),
            leakspy_report::human_bytes(b.bytes),
            b.taken_at_ms.saturating_sub(a.taken_at_ms) as f64 / 1e3
        )?;
        snapshot::render_deltas("Growth by type:", &types, args.top, &mut out)?;
        if !sites.is_empty() {
            writeln!(out)?;
            snapshot::render_deltas("Growth by allocation site:", &sites, args.top, &mut out)?;
        }
    }
    Ok(0)
}

pub fn cmd_leaks(args: &LeaksArgs) -> Result<i32> {
    let quiet = args.quiet || !std::io::stderr().is_terminal();
    let usage = |m: String| crate::cli::UsageError(m);
    args.exports.check(args.subprocesses)?;
    if let (true, Some(pid)) = (args.subprocesses, args.pid) {
        return crate::fleet::cmd_leaks(pid, args, quiet);
    }
    let mut births = None;
    let snaps = match (args.pid, args.snapshots.as_slice()) {
        (Some(pid), []) => {
            let mut snaps = Vec::new();
            for i in 0..3 {
                if i > 0 {
                    if !quiet {
                        eprintln!(
                            "leakspy: snapshot {i} of 3 taken; next in {:?}",
                            args.interval
                        );
                    }
                    if i == 1 {
                        // The survivors are born between the first two snapshots: record there.
                        births = crate::leak_births::record(pid, args.interval);
                    } else {
                        std::thread::sleep(args.interval);
                    }
                }
                snaps.push(take(pid, true, quiet)?);
            }
            snaps
        }
        (None, [_, _, _]) => {
            let mut snaps = Vec::new();
            for path in &args.snapshots {
                let s = Snapshot::read(path).map_err(|e| usage(e.to_string()))?;
                if s.identities.is_none() {
                    anyhow::bail!(usage(format!(
                        "{} has no object identities (taken with --no-identities)",
                        path.display()
                    )));
                }
                snaps.push(s);
            }
            if snaps.iter().any(|s| s.pid != snaps[0].pid) {
                anyhow::bail!(usage(
                    "the three snapshots are of different processes".into()
                ));
            }
            if snaps
                .windows(2)
                .any(|w| w[0].taken_at_ms > w[1].taken_at_ms)
            {
                anyhow::bail!(usage("give the snapshots oldest first".into()));
            }
            snaps
        }
        _ => anyhow::bail!(usage(
            "give --pid PID, or three snapshot files (oldest first)".into()
        )),
    };
    let objects = snapshot::survivor_objects(&snaps[0], &snaps[1], &snaps[2])
        .ok_or_else(|| anyhow::anyhow!("snapshots lack object identities"))?;
    let mut groups = snapshot::group_survivors(&objects);
    if let Some(b) = &births {
        leakspy_report::leak_births::attach(&mut groups, &objects, b);
    }
    args.exports.write_leaks(&snaps, &groups)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let secs =
            |a: &Snapshot, b: &Snapshot| b.taken_at_ms.saturating_sub(a.taken_at_ms) as f64 / 1e3;
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "pid": snaps[0].pid,
                "snapshots_s": [0.0, secs(&snaps[0], &snaps[1]), secs(&snaps[0], &snaps[2])],
                "survivors": groups,
                "births_recorded": births.as_ref().map(|b| serde_json::json!({
                    "samples": b.samples, "duration_s": b.duration_s,
                })),
            })
        )?;
    } else {
        if let Some(b) = &births {
            writeln!(out, "{}", leakspy_report::leak_births::header(b))?;
        }
        snapshot::render_survivors(&groups, args.top, &mut out)?;
    }
    Ok(0)
}
