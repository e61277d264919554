//! `leakspy record`: CLI glue around `leakspy_python::record` (arguments, progress bar, Ctrl-C,
//! outputs). The sampling is in the library, the rendering in `leakspy_report::record`.

use crate::cli::parse_duration;
use anyhow::Result;
use clap::Args;
use leakspy_python::record::{self, Progress, RecordOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Process id of the Python process to record.
    #[arg(long, short = 'p', value_name = "PID")]
    pub pid: Option<i32>,
    /// How long to record (Ctrl-C ends earlier and still reports).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Samples per second.
    #[arg(long, default_value_t = 200, value_name = "HZ",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,
    /// Pause the target for each sample (consistent reads; the target stops briefly every sample).
    /// By default the target is never paused while sampling.
    #[arg(long)]
    pub pause: bool,
    /// End with a whole-heap census and its reference graph (a longer final pause and more memory,
    /// like `leakspy refs`): per type and site, what the survivors keep alive, the untracked objects
    /// they hold (str, int, dicts of atoms) included.
    #[arg(long)]
    pub retained: bool,
    /// Print JSON on stdout (schema in docs/json-schema.md).
    #[arg(long)]
    pub json: bool,
    /// How many types the text report lists (JSON always lists all).
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub top: usize,
    /// Also write a flame graph (SVG) of the bytes still alive at the end, by birth stack.
    #[arg(long, value_name = "FILE.svg")]
    pub flamegraph: Option<PathBuf>,
    /// Also write a flame graph (SVG) of the stack samples (where the GIL-holding thread spent its
    /// time), like py-spy record.
    #[arg(long, value_name = "FILE.svg")]
    pub flamegraph_time: Option<PathBuf>,
    /// Also write a speedscope file (speedscope.app): bytes alive at the end by birth stack, and the
    /// stack samples as a time profile.
    #[arg(long, value_name = "FILE")]
    pub speedscope: Option<PathBuf>,
    /// Also write a self-contained HTML report: the summary, the types born (sortable, filterable,
    /// each with its allocation sites), a treemap of alive bytes by site and the flame graph
    /// (no network needed; docs/formats.md).
    #[arg(long, value_name = "FILE.html", value_hint = clap::ValueHint::FilePath)]
    pub html: Option<PathBuf>,
    /// With a command: how long to let it run before recording starts.
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub after: Duration,
    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Start this program and record it (stopped when the recording ends).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn cmd_record(args: &RecordArgs) -> Result<i32> {
    // Before a command is started or a target read.
    crate::formats::check_dir("--html", args.html.as_deref())?;
    let (pid, child) = crate::cli::pid_or_spawn(
        args.pid,
        &args.command,
        args.after,
        "give either --pid PID or -- COMMAND [ARGS...]",
    )?;
    leakspy_memory::interrupt::catch_sigint();
    let opts = RecordOptions {
        duration: args.duration,
        rate: args.rate,
        pause: args.pause,
        retained: args.retained,
    };
    let bar = progress_bar(args.quiet, args.duration);
    let terminal = std::io::stderr().is_terminal();
    let quiet = args.quiet;
    let result = record::record(
        pid,
        &opts,
        &leakspy_memory::interrupt::interrupted,
        &mut |p| match p {
            Progress::Started { baseline } => {
                // Also said when stderr is not a terminal: scripts wait for this line before
                // starting the workload they want recorded.
                if !quiet {
                    let line = format!(
                        "leakspy: recording pid {pid} ({baseline} objects already tracked); \
                         Ctrl-C to stop"
                    );
                    if terminal {
                        bar.println(line);
                    } else {
                        eprintln!("{line}");
                    }
                }
            }
            Progress::Sample {
                elapsed,
                samples,
                births,
            } => {
                bar.set_position(elapsed.as_millis() as u64);
                bar.set_message(format!("{samples} samples, {births} births"));
            }
            Progress::Census => bar.set_message("counting the survivors (one short pause)"),
        },
    );
    bar.finish_and_clear();
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    let rep = result?;
    if let Some(path) = &args.flamegraph {
        let lines = leakspy_report::record::folded_alive(&rep);
        let title = format!("leakspy record: bytes alive at the end of pid {pid} by birth stack");
        write_svg(path, &lines, &title, "bytes")?;
    }
    if let Some(path) = &args.flamegraph_time {
        let lines = leakspy_report::record::folded_time(&rep);
        let title = format!("leakspy record: stack samples of pid {pid}");
        write_svg(path, &lines, &title, "samples")?;
    }
    if let Some(path) = &args.speedscope {
        let f = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let profiles = leakspy_report::record::speedscope_profiles(&rep);
        let name = format!("leakspy record of pid {pid}");
        leakspy_report::speedscope::write(&name, &profiles, &mut std::io::BufWriter::new(f))?;
    }
    if let Some(path) = &args.html {
        crate::formats::write_record_html(path, &rep)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        leakspy_report::record::render_json(&rep, &mut out)
    } else {
        leakspy_report::record::render_text(&rep, args.top, &mut out)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

fn write_svg(path: &Path, lines: &[String], title: &str, unit: &str) -> Result<()> {
    let f = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    leakspy_report::record::svg(lines, title, unit, std::io::BufWriter::new(f))?;
    Ok(())
}

fn progress_bar(quiet: bool, duration: Duration) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(duration.as_millis() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} recording [{elapsed_precise}] {wide_bar} {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
