//! `--subprocesses` on `dump`, `refs`, `snapshot`, `watch` and `leaks --pid`: the given process and every Python
//! descendant, each read with its own pause (`leakspy_python::fleet`), printed side by side with
//! the aggregate (`leakspy_report::fleet`).
//!
//! Exit codes: 0 when every Python process found was read completely; 1 (partial) when a process's
//! own report is partial, a process exited during the dump (listed as gone), or a Python process
//! could not be read (listed as skipped with the reason); processes that are not Python are listed
//! as skipped and do not change the code. The usual codes (3, 4, 5, ...) only when no process at
//! all could be read.

use crate::cli::{self, DumpArgs, RefsArgs};
use crate::exit;
use crate::hunt::{LeaksArgs, SnapshotArgs, WatchArgs};
use anyhow::{Context, Result};
use leakspy_python::dump::DumpOptions;
use leakspy_python::fleet::{self, Fleet, FleetOptions};
use leakspy_report::fleet::{GrowthSpread as TypeGrowthSpread, ProcessGrowth, TypeGrowth};
use leakspy_report::snapshot::{self, Snapshot};
use std::io::{IsTerminal, Write};
use std::time::Instant;

fn read(pid: i32, opts: DumpOptions, quiet: bool) -> Result<Fleet> {
    let bar = crate::progress_bar(quiet);
    bar.set_message("finding the processes");
    let fopts = FleetOptions {
        dump: opts,
        jobs: std::env::var("LEAKSPY_JOBS")
            .ok()
            .and_then(|j| j.parse().ok()),
    };
    let bar_ref = &bar;
    let result = fleet::dump_fleet(pid, &fopts, &|done, total| {
        bar_ref.set_message(format!("read {done} of {total} processes"))
    });
    bar.finish_and_clear();
    let f = result?;
    for m in &f.members {
        if m.report.partial {
            for w in &m.report.warnings {
                log::info!("pid {}: {w}", m.pid);
            }
        }
    }
    Ok(f)
}

fn finish(f: &Fleet, written: std::io::Result<()>, out: &mut dyn Write) -> Result<i32> {
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
        Err(e) => return Err(e.into()),
    }
    Ok(if f.partial() { exit::PARTIAL } else { 0 })
}

pub fn cmd_dump(pid: i32, opts: DumpOptions, args: &DumpArgs) -> Result<i32> {
    let f = read(pid, opts, args.output.quiet)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.output.json {
        leakspy_report::fleet::render_json(&f, &mut out)
    } else {
        leakspy_report::fleet::render_text(&f, args.output.top, args.fleet.per_process, &mut out)
    };
    finish(&f, written, &mut out)
}

pub fn cmd_refs(opts: DumpOptions, args: &RefsArgs) -> Result<i32> {
    let f = read(args.pid, opts, args.quiet)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        leakspy_report::fleet::render_refs_json(&f, &args.type_name, &mut out)
    } else {
        leakspy_report::fleet::render_refs_text(
            &f,
            &args.type_name,
            args.fleet.per_process,
            &mut out,
        )
    };
    finish(&f, written, &mut out)
}

/// `snapshot --subprocesses -o DIR`: DIR/PID.json per process (the usual snapshot file, readable
/// by `diff` and `leaks`), and DIR/service.json (the `dump --subprocesses --json` document without
/// the per-process heaps: pid, role, command line, objects, bytes; the aggregate; the skipped).
pub fn cmd_snapshot(args: &SnapshotArgs) -> Result<i32> {
    let opts = DumpOptions {
        collect_objects: !args.no_identities,
        ..DumpOptions::default()
    };
    let dir = &args.output;
    if dir.is_file() {
        anyhow::bail!(cli::UsageError(format!(
            "--subprocesses: -o names a directory (one snapshot per process); {} is a file",
            dir.display()
        )));
    }
    let f = read(args.pid, opts, args.quiet)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut processes = Vec::new();
    for m in &f.members {
        let snap = leakspy_report::snapshot::Snapshot::from_report(&m.report);
        let path = dir.join(format!("{}.json", m.pid));
        snap.write(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        processes.push(serde_json::json!({
            "pid": m.pid, "ppid": m.ppid, "role": m.role.as_str(), "cmdline": m.cmdline,
            "server": m.server, "objects": m.report.heap.objects, "bytes": m.report.heap.bytes,
            "partial": m.report.partial, "snapshot": format!("{}.json", m.pid),
        }));
    }
    let reports: Vec<_> = f.members.iter().map(|m| &m.report).collect();
    let doc = serde_json::json!({
        "root": f.root, "jobs": f.jobs, "wall_ms": f.wall_ms, "partial": f.partial(),
        "processes": processes,
        "aggregate": leakspy_report::fleet::aggregate(&reports),
        "skipped": f.skipped,
    });
    let path = dir.join("service.json");
    std::fs::write(&path, format!("{doc}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "leakspy: wrote {} snapshots into {} (and service.json); {} skipped",
        f.members.len(),
        dir.display(),
        f.skipped.len()
    );
    Ok(if f.partial() { exit::PARTIAL } else { 0 })
}

/// A process followed across the readings of `watch`/`leaks --subprocesses`, by pid and start time
/// (a pid reused by another process is another process).
type Key = (i32, Option<u64>);

struct Followed {
    ppid: i32,
    role: &'static str,
    cmdline: String,
    first: Snapshot,
    last: Snapshot,
}

fn growth_row(
    k: &Key,
    p: &Followed,
    status: &'static str,
    growth: Vec<TypeGrowth>,
    objects_growth: i64,
    bytes_growth: i64,
) -> ProcessGrowth {
    ProcessGrowth {
        pid: k.0,
        ppid: p.ppid,
        role: p.role,
        cmdline: p.cmdline.clone(),
        status,
        objects: p.last.objects,
        bytes: p.last.bytes,
        objects_growth,
        bytes_growth,
        growth,
    }
}

/// The aggregate of the processes still there (new ones add nothing yet), and each row's growth
/// cut to `top` types.
fn spread_and_cut(rows: &mut [ProcessGrowth], top: usize) -> Vec<TypeGrowthSpread> {
    let per: Vec<(i32, &[TypeGrowth])> = rows
        .iter()
        .filter(|r| r.status != "gone")
        .map(|r| (r.pid, r.growth.as_slice()))
        .collect();
    let spread = leakspy_report::fleet::growth_spread(&per);
    for r in rows.iter_mut() {
        r.growth.truncate(top);
    }
    spread
}

fn follow(f: &Fleet) -> Vec<(Key, Followed)> {
    f.members
        .iter()
        .map(|m| {
            let snap = Snapshot::from_report(&m.report);
            (
                (m.pid, m.start),
                Followed {
                    ppid: m.ppid,
                    role: m.role.as_str(),
                    cmdline: m.cmdline.clone(),
                    first: snap.clone(),
                    last: snap,
                },
            )
        })
        .collect()
}

fn no_such_process(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<leakspy_python::Error>(),
        Some(leakspy_python::Error::NoSuchProcess(_))
    )
}

/// `watch --subprocesses`: every sample reads the service; each process's growth is against its
/// own first sample (a worker that appears is `new`, one that went away `gone`), and the aggregate
/// sums the growth of the processes read in this sample, with its spread.
pub fn watch_loop(pid: i32, args: &WatchArgs) -> Result<i32> {
    let live_view = !args.json && std::io::stdout().is_terminal();
    let start = Instant::now();
    let opts = DumpOptions {
        collect_objects: false,
        ..DumpOptions::default()
    };
    let mut seen: Vec<(Key, Followed)> = Vec::new();
    let mut n = 0u64;
    loop {
        let f = match read(pid, opts.clone(), args.quiet) {
            Ok(f) => f,
            Err(e) if n > 0 && no_such_process(&e) => {
                eprintln!("leakspy: pid {pid} exited; watch ended after {n} samples");
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        n += 1;
        let mut rows = Vec::new();
        let mut next: Vec<(Key, Followed)> = Vec::new();
        for (k, mut now) in follow(&f) {
            match seen.iter().position(|(s, _)| *s == k) {
                Some(i) => {
                    let (_, before) = seen.remove(i);
                    let deltas = snapshot::diff_types(&before.first, &now.last);
                    now.first = before.first;
                    rows.push(growth_row(
                        &k,
                        &now,
                        "read",
                        leakspy_report::fleet::growth_of_deltas(&deltas),
                        now.last.objects as i64 - now.first.objects as i64,
                        now.last.bytes as i64 - now.first.bytes as i64,
                    ));
                }
                None => rows.push(growth_row(
                    &k,
                    &now,
                    if n == 1 { "read" } else { "new" },
                    Vec::new(),
                    0,
                    0,
                )),
            }
            next.push((k, now));
        }
        for (k, gone) in &seen {
            rows.push(growth_row(k, gone, "gone", Vec::new(), 0, 0));
        }
        seen = next;
        let spread = spread_and_cut(&mut rows, args.top);
        let here = rows.iter().filter(|r| r.status != "gone");
        let (objects, bytes) = here.fold((0, 0), |(o, b), r| (o + r.objects, b + r.bytes));
        let elapsed = start.elapsed().as_secs_f64();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if args.json {
            let line = serde_json::json!({
                "sample": n, "elapsed_s": elapsed, "root": pid, "partial": f.partial(),
                "objects": objects, "bytes": bytes, "processes": rows,
                "aggregate": {
                    "objects_growth": rows.iter().filter(|r| r.status != "gone").map(|r| r.objects_growth).sum::<i64>(),
                    "bytes_growth": rows.iter().filter(|r| r.status != "gone").map(|r| r.bytes_growth).sum::<i64>(),
                    "growth": spread.iter().take(args.top).collect::<Vec<_>>(),
                },
                "skipped": f.skipped,
            });
            writeln!(out, "{line}")?;
        } else {
            if live_view {
                write!(out, "\x1b[2J\x1b[H")?;
            }
            let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
            let title = format!(
                "sample {n} at +{elapsed:.1}s (service of pid {pid}): {} Python processes, {} objects, {}; {} new, {} gone, {} skipped\n  growth of each process since its first sample:",
                rows.len() - count("gone"),
                leakspy_report::thousands(objects),
                leakspy_report::human_bytes(bytes),
                count("new"),
                count("gone"),
                f.skipped.len()
            );
            leakspy_report::fleet::render_growth_text(&title, &rows, &spread, args.top, &mut out)?;
            writeln!(out)?;
        }
        out.flush()?;
        drop(out);
        if args.count.is_some_and(|c| n >= c) {
            return Ok(0);
        }
        std::thread::sleep(args.interval);
    }
}

/// `leaks --pid --subprocesses`: three readings of the service, `--interval` apart, with object
/// identities; per process read all three times, the objects created after its first reading and
/// still alive in its last (`leaks`' survivors); processes not read all three times are `new` (not
/// in the first) or `gone` (not in the last); then the survivors summed over the processes.
pub fn cmd_leaks(pid: i32, args: &LeaksArgs, quiet: bool) -> Result<i32> {
    let opts = DumpOptions {
        collect_objects: true,
        ..DumpOptions::default()
    };
    let t0 = Instant::now();
    let mut readings = Vec::new();
    let mut at = Vec::new();
    for i in 0..3 {
        if i > 0 {
            if !quiet {
                eprintln!(
                    "leakspy: reading {i} of 3 taken; next in {:?}",
                    args.interval
                );
            }
            std::thread::sleep(args.interval);
        }
        at.push(t0.elapsed().as_secs_f64());
        readings.push(read(pid, opts.clone(), quiet)?);
    }
    let [r1, r2, r3] = [0, 1, 2].map(|i| follow(&readings[i]));
    let find = |r: &[(Key, Followed)], k: &Key| r.iter().position(|(x, _)| x == k);
    let mut rows = Vec::new();
    let mut survivors = Vec::new();
    let mut keys: Vec<Key> = Vec::new();
    for (k, _) in r1.iter().chain(&r2).chain(&r3) {
        if !keys.contains(k) {
            keys.push(*k);
        }
    }
    for k in &keys {
        let (a, b, c) = (find(&r1, k), find(&r2, k), find(&r3, k));
        match (a, b, c) {
            (Some(a), Some(b), Some(c)) => {
                let groups = snapshot::survivors(&r1[a].1.last, &r2[b].1.last, &r3[c].1.last)
                    .unwrap_or_default();
                let growth = leakspy_report::fleet::growth_of_survivors(&groups);
                let (n, bytes) = groups
                    .iter()
                    .fold((0, 0), |(n, b), g| (n + g.count as i64, b + g.bytes as i64));
                rows.push(growth_row(k, &r3[c].1, "read", growth, n, bytes));
                survivors.push(groups);
            }
            (_, _, Some(c)) => {
                rows.push(growth_row(k, &r3[c].1, "new", Vec::new(), 0, 0));
                survivors.push(Vec::new());
            }
            _ => {
                let last = b.map(|b| &r2[b].1).or(a.map(|a| &r1[a].1));
                if let Some(p) = last {
                    rows.push(growth_row(k, p, "gone", Vec::new(), 0, 0));
                    survivors.push(Vec::new());
                }
            }
        }
    }
    let spread = spread_and_cut(&mut rows, args.top);
    let last = &readings[2];
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        let processes: Vec<serde_json::Value> = rows
            .iter()
            .zip(&survivors)
            .map(|(r, s)| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("survivors".into(), serde_json::json!(s));
                }
                v
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "root": pid, "snapshots_s": at, "partial": readings.iter().any(Fleet::partial),
                "processes": processes,
                "aggregate": {
                    "count": rows.iter().map(|r| r.objects_growth).sum::<i64>(),
                    "bytes": rows.iter().map(|r| r.bytes_growth).sum::<i64>(),
                    "types": spread,
                },
                "skipped": last.skipped,
            })
        )
    } else {
        leakspy_report::fleet::render_growth_text(
            &format!(
                "Service of pid {pid}: objects created after each process's first reading and still alive in its last ({:.1}s apart), per process:",
                at[2] - at[0]
            ),
            &rows,
            &spread,
            args.top,
            &mut out,
        )
    };
    let code = finish(last, written, &mut out)?;
    Ok(if readings.iter().any(Fleet::partial) {
        exit::PARTIAL
    } else {
        code
    })
}
