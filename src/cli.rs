//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Look inside a running CPython process from the outside: thread stacks and which objects fill the
/// heap, read-only, without restarting or injecting anything.
#[derive(Debug, Parser)]
#[command(name = "leakspy", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every thread's stack and the heap by type (every live object, GC-tracked or not), from a
    /// live process or a core file.
    ///
    /// The target is paused (ptrace) while its memory is copied and resumed before the report is
    /// built; it is never modified. With --core the same report is read from an ELF core file
    /// (gcore, kernel or systemd-coredump). Object contents are never printed.
    Dump(DumpArgs),
    /// Start tracemalloc in a running 3.14+ target, let it run, then dump with allocation sites.
    ///
    /// This WRITES to the target: it asks the interpreter to run a two-line script through the
    /// PEP 768 remote-execution interface (the same as `sys.remote_exec`). The script file is placed
    /// in the target's /tmp (through /proc/PID/root) and removed once run. Refused when the target
    /// disabled remote debugging. Use `dump` for read-only inspection.
    Trace(TraceArgs),
    /// Repeated heap histograms: per type the growth since the first and the last sample.
    ///
    /// A live view when stdout is a terminal, plain lines otherwise (--json: one JSON object per
    /// sample). Each sample is a read-only paused dump; give --pid or -- COMMAND.
    Watch(crate::hunt::WatchArgs),
    /// Write a snapshot file (types, allocation sites, object identities) for `diff` and later
    /// comparison.
    Snapshot(crate::hunt::SnapshotArgs),
    /// Growth by type and by allocation site between two snapshot files.
    Diff(crate::hunt::DiffArgs),
    /// Three snapshots; the objects born after the first and still alive at the third, by type and
    /// allocation site: what separates a leak from churn.
    Leaks(crate::hunt::LeaksArgs),
    /// What keeps the instances of a type alive: referrer types, shortest paths from the roots,
    /// retained size.
    ///
    /// Reads the whole heap like `dump` (paused, read-only), keeps every reference it can decode,
    /// and searches from the roots: every thread's frame locals, module globals, class attributes,
    /// then the frozen generation. Paths are grouped by shape and print like
    /// `__main__.registry -> dict[<str>] -> list[*] -> app.Session` (JSON also gives one instance's
    /// path, indices included); the keys of plain dicts are data and only shown with --show-keys
    /// (attribute and global names always are).
    Refs(RefsArgs),
}

#[derive(Debug, Args)]
pub struct RefsArgs {
    /// Process id of the Python process.
    #[arg(long, short = 'p', value_name = "PID")]
    pub pid: i32,

    /// The type, as leakspy prints it (`app.models.Session`; builtins may drop `builtins.`).
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub type_name: String,

    /// How many path shapes to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub paths: usize,

    /// Print the keys of plain dicts in paths (they may be secrets; off by default).
    #[arg(long)]
    pub show_keys: bool,

    /// Do not pause the target (results may be inconsistent).
    #[arg(long)]
    pub nonblocking: bool,

    /// Print JSON on stdout (schema in README.md).
    #[arg(long)]
    pub json: bool,

    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Process id of the Python 3.14+ process.
    #[arg(long, short = 'p', value_name = "PID")]
    pub pid: i32,

    /// Frames per allocation traceback (tracemalloc.start(N)).
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub frames: u32,

    /// How long to let the target allocate before dumping.
    #[arg(long = "for", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,

    /// Stop tracemalloc again after the dump (otherwise it keeps tracing).
    #[arg(long)]
    pub stop: bool,

    /// How long to wait for the target to run the script.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Output options shared by the commands that print a dump.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON on stdout (schema in README.md) instead of the text report.
    #[arg(long)]
    pub json: bool,

    /// How many types the text report lists (JSON always lists all).
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub top: usize,

    /// How allocation sites are grouped (like `Snapshot.statistics(key_type)`).
    #[arg(long, value_enum, default_value_t = GroupByArg::Traceback)]
    pub group_by: GroupByArg,

    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Process id of the Python process to inspect.
    #[arg(long, short = 'p', value_name = "PID")]
    pub pid: Option<i32>,

    /// Read this ELF core file (gcore, kernel or systemd-coredump core) instead of a live process.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["pid", "command", "nonblocking", "after"])]
    pub core: Option<PathBuf>,

    /// With --core: the program's executable, when it is not at the path the core names (it must
    /// be the same build: the build-id is checked).
    #[arg(long, value_name = "PATH", requires = "core")]
    pub exe: Option<PathBuf>,

    /// With --core: the target's root filesystem (container image, chroot); the core's file names
    /// are looked up under it first.
    #[arg(long, value_name = "DIR", requires = "core")]
    pub sysroot: Option<PathBuf>,

    /// Do not pause the target: read it while it runs (results may be inconsistent and are marked
    /// partial when a race is detected).
    #[arg(long)]
    pub nonblocking: bool,

    /// Stacks only: skip the heap walk.
    #[arg(long)]
    pub no_heap: bool,

    /// Count only the objects the GC tracks (containers): skip pymalloc's arenas and the reference
    /// walk that find str, bytes, int, float and other untracked objects. Faster on huge heaps.
    #[arg(long)]
    pub gc_only: bool,

    /// Use this layout file instead of the shipped ones (see python-layouts/README.md).
    #[arg(long, value_name = "FILE")]
    pub layout: Option<PathBuf>,

    /// Also write a flame graph (SVG) of live bytes by type and allocation traceback.
    #[arg(long, value_name = "FILE.svg")]
    pub flamegraph: Option<PathBuf>,

    /// With a command: how long to let it run before dumping it.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub after: Duration,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Start this program, let it run for --after, dump it, then stop it.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `--group-by` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupByArg {
    /// The whole allocation traceback.
    Traceback,
    /// The innermost frame's file and line.
    Line,
    /// The innermost frame's file.
    File,
}

impl From<GroupByArg> for leakspy_python::heap::GroupBy {
    fn from(g: GroupByArg) -> Self {
        match g {
            GroupByArg::Traceback => Self::Traceback,
            GroupByArg::Line => Self::Line,
            GroupByArg::File => Self::File,
        }
    }
}

/// A usage problem found after parsing (exit code 2, like clap's own).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// "500ms", "2s", "1.5s", "3m", "1h"; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (try 500ms, 2s, 1m)"))?;
    if !(0.0..=86400.0 * 365.0).contains(&v) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Start `command` and give it `after` to get going. Its stdout goes to leakspy's stderr, so
/// leakspy's stdout carries only the report (and `--json` stays parseable).
pub fn spawn_and_wait(command: &[String], after: Duration) -> anyhow::Result<std::process::Child> {
    let (prog, args) = command
        .split_first()
        .ok_or_else(|| UsageError("empty command".into()))?;
    let mut child = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {prog}: {e}"))?;
    std::thread::sleep(after);
    if let Some(status) = child.try_wait()? {
        anyhow::bail!("{prog} exited ({status}) before it could be dumped; lower --after");
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn cli_parses() {
        use clap::Parser;
        let c = Cli::try_parse_from(["leakspy", "dump", "--pid", "12", "--json", "--top", "5"])
            .unwrap();
        let Command::Dump(d) = c.command else {
            panic!("not dump")
        };
        assert_eq!((d.pid, d.output.json, d.output.top), (Some(12), true, 5));
        let c = Cli::try_parse_from(["leakspy", "dump", "--", "python3", "x.py"]).unwrap();
        let Command::Dump(d) = c.command else {
            panic!("not dump")
        };
        assert_eq!(d.command, vec!["python3", "x.py"]);
        let c = Cli::try_parse_from([
            "leakspy", "trace", "--pid", "7", "--for", "1s", "--stop", "--json",
        ])
        .unwrap();
        let Command::Trace(t) = c.command else {
            panic!("not trace")
        };
        assert_eq!(
            (t.pid, t.duration, t.stop, t.output.json),
            (7, Duration::from_secs(1), true, true)
        );
    }
}
