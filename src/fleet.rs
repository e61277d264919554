//! `--subprocesses` on `dump`, `refs` and `snapshot`: the given process and every Python
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
use crate::hunt::SnapshotArgs;
use anyhow::{Context, Result};
use leakspy_python::dump::DumpOptions;
use leakspy_python::fleet::{self, Fleet, FleetOptions};
use std::io::Write;

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
