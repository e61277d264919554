//! leakspy: look inside a running CPython process from the outside.
//!
//! This binary is the thin layer over the library crates: argument parsing (clap), progress on stderr
//! (indicatif), errors turned into one line with the fix and a distinct exit code.

mod cli;
mod exit;
mod fleet;
mod formats;
mod hunt;
mod leak_births;
mod record;

use anyhow::Result;
use cli::{Cli, Command, DumpArgs, TraceArgs};
use leakspy_python::dump::{self, DumpOptions};
use std::io::{IsTerminal, Write};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Dump(args) => cmd_dump(&args),
        Command::Trace(args) => cmd_trace(&args),
        Command::Watch(args) => hunt::cmd_watch(&args),
        Command::Snapshot(args) => hunt::cmd_snapshot(&args),
        Command::Diff(args) => hunt::cmd_diff(&args),
        Command::Leaks(args) => hunt::cmd_leaks(&args),
        Command::Record(args) => record::cmd_record(&args),
        Command::Refs(args) => cmd_refs(&args),
        Command::Completions(args) => {
            let mut out = Vec::new();
            cli::write_completions(args.shell, &mut out);
            write_stdout(&out)
        }
        Command::Man => {
            let mut out = Vec::new();
            cli::write_man_page(&mut out)?;
            write_stdout(&out)
        }
    }
}

/// Write generated text on stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn cmd_dump(args: &DumpArgs) -> Result<i32> {
    let layout = match &args.layout {
        Some(path) => {
            // A --layout FILE that cannot be read is a mistake on the command line (exit 2), like an
            // invalid one (LayoutError), not a failure reading the target.
            let text = std::fs::read_to_string(path).map_err(|e| {
                cli::UsageError(format!("--layout {}: cannot read it: {e}", path.display()))
            })?;
            Some(leakspy_layout::parse(&path.display().to_string(), &text)?)
        }
        None => None,
    };
    let opts = DumpOptions {
        nonblocking: args.nonblocking,
        layout,
        no_heap: args.no_heap,
        group_by: args.output.group_by.into(),
        collect_objects: false,
        gc_only: args.gc_only,
        refs: None,
        export_graph: None,
        native: args.native,
        retained_of: None,
        max_memory: args.max_memory,
    };
    let mut opts = opts;
    args.exports.configure(&mut opts, args.fleet.subprocesses)?;
    if args.core.is_none() && (args.exe.is_some() || args.sysroot.is_some()) {
        // clap's `requires` is waived when --pid is given (it conflicts with --core).
        anyhow::bail!(cli::UsageError(
            "--exe and --sysroot go with --core FILE".into()
        ));
    }
    if args.fleet.subprocesses && (args.core.is_some() || args.flamegraph.is_some()) {
        anyhow::bail!(cli::UsageError(
            "--subprocesses reads live processes: it does not go with --core or --flamegraph"
                .into()
        ));
    }
    if let Some(core) = &args.core {
        let copts = leakspy_python::coredump::CoreOptions {
            core: core.clone(),
            exe: args.exe.clone(),
            sysroot: args.sysroot.clone(),
        };
        let bar = progress_bar(args.output.quiet);
        bar.set_message("reading the core file");
        let result = leakspy_python::coredump::dump_core(&copts, &opts, &mut |n| {
            bar.set_message(format!("walking the heap: {n} objects"))
        });
        bar.finish_and_clear();
        let report = result?;
        write_flamegraph(&report, args.flamegraph.as_deref())?;
        args.exports.write(&report)?;
        return print_report(&report, args.output.json, args.output.top);
    }
    let (pid, child) = cli::pid_or_spawn(
        args.pid,
        &args.command,
        args.after,
        "give one of --pid PID, --core FILE or -- COMMAND [ARGS...]",
    )?;
    if args.fleet.subprocesses {
        let result = fleet::cmd_dump(pid, opts, args);
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
        return result;
    }
    let bar = progress_bar(args.output.quiet);
    let result = dump::dump(pid, &opts, &mut |n| {
        bar.set_message(format!("walking the heap: {n} objects"))
    });
    bar.finish_and_clear();
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    let report = result?;
    write_flamegraph(&report, args.flamegraph.as_deref())?;
    args.exports.write(&report)?;
    print_report(&report, args.output.json, args.output.top)
}

fn cmd_refs(args: &cli::RefsArgs) -> Result<i32> {
    let opts = DumpOptions {
        nonblocking: args.nonblocking,
        refs: Some(leakspy_python::analysis::refs::RefsQuery {
            type_name: args.type_name.clone(),
            max_paths: args.paths,
            show_keys: args.show_keys,
        }),
        max_memory: args.max_memory,
        ..DumpOptions::default()
    };
    let mut opts = opts;
    args.exports
        .configure(&mut opts, args.show_keys, args.fleet.subprocesses)?;
    if args.fleet.subprocesses {
        return fleet::cmd_refs(opts, args);
    }
    let bar = progress_bar(args.quiet);
    let result = dump::dump(args.pid, &opts, &mut |n| {
        bar.set_message(format!("walking the heap: {n} objects"))
    });
    bar.finish_and_clear();
    let report = result?;
    let Some(refs) = report.heap.refs.as_ref() else {
        anyhow::bail!("the heap could not be walked, so there is no reference graph");
    };
    args.exports.write(&report)?;
    if refs.instances == 0 {
        // Help with the spelling: types whose name contains what was asked.
        let needle = args.type_name.to_lowercase();
        let close: Vec<&str> = report
            .heap
            .types
            .iter()
            .map(|t| t.type_name.as_str())
            .filter(|n| n.to_lowercase().contains(&needle))
            .take(5)
            .collect();
        eprintln!(
            "leakspy: no instances of {} in the heap{}",
            refs.type_name,
            if close.is_empty() {
                String::new()
            } else {
                format!(" (similar: {})", close.join(", "))
            }
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        leakspy_report::refs::render_json(&report, refs, &mut out)
    } else {
        leakspy_report::refs::render_text(&report, refs, &mut out)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
        Err(e) => return Err(e.into()),
    }
    Ok(if report.partial { exit::PARTIAL } else { 0 })
}

/// `--flamegraph FILE.svg`: live bytes by type and allocation traceback (inferno).
fn write_flamegraph(
    report: &leakspy_python::dump::DumpReport,
    path: Option<&std::path::Path>,
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let snap = leakspy_report::snapshot::Snapshot::from_report(report);
    let lines = leakspy_report::flame::folded(&snap);
    let f = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    let title = format!(
        "leakspy: live bytes of pid {} by type and allocation site",
        report.pid
    );
    leakspy_report::flame::svg(&lines, &title, std::io::BufWriter::new(f))?;
    Ok(())
}

fn cmd_trace(args: &TraceArgs) -> Result<i32> {
    let out = &args.output;
    let opts = leakspy_python::trace::TraceOptions {
        frames: args.frames,
        duration: args.duration,
        stop: args.stop,
        timeout: args.timeout,
        dump: DumpOptions {
            group_by: out.group_by.into(),
            ..DumpOptions::default()
        },
    };
    let bar = progress_bar(out.quiet);
    bar.set_message(format!("tracing for {:?}", args.duration));
    let result = leakspy_python::trace::trace(args.pid, &opts, &mut |n| {
        bar.set_message(format!("walking the heap: {n} objects"))
    });
    bar.finish_and_clear();
    print_report(&result?, out.json, out.top)
}

/// Print a report on stdout; the exit code says whether it was complete.
fn print_report(report: &leakspy_python::dump::DumpReport, json: bool, top: usize) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if json {
        leakspy_report::render_json(report, &mut out)
    } else {
        leakspy_report::render_text(report, top, &mut out)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
        Err(e) => return Err(e.into()),
    }
    Ok(if report.partial { exit::PARTIAL } else { 0 })
}

pub(crate) fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar.set_message("reading the target");
    bar
}
