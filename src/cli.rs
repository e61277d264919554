//! Command-line arguments.

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum, ValueHint};
use std::io::Write;
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
    /// Sample where objects are born, without writing to the target: per type the objects born
    /// during the recording, those still alive at its end, and their allocation stacks.
    ///
    /// Many times a second (never pausing the target unless --pause), each sample reads the GC
    /// lists' tails (every tracked object born since the last sample, by type) and every thread's
    /// stack: a born object held by a frame (a fresh local, the `self` of an `__init__`) is charged
    /// to that frame or its caller. Sites are the shares of those sampled pairs (exact when the
    /// target traces with tracemalloc). One short pause at the end counts the survivors.
    Record(crate::record::RecordArgs),
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
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    ///
    /// bash: `leakspy completions bash > ~/.local/share/bash-completion/completions/leakspy`;
    /// zsh: `leakspy completions zsh > ~/.zfunc/_leakspy` (with `fpath+=(~/.zfunc)` before
    /// `compinit` in ~/.zshrc); fish: `leakspy completions fish >
    /// ~/.config/fish/completions/leakspy.fish`. The wheel (`pip install leakspy`) installs all
    /// three under the environment's share/ directory.
    Completions(CompletionsArgs),
    /// Print leakspy's man page (roff) on stdout: every command and option, exit status, examples.
    ///
    /// Read it with `leakspy man | man -l -`, or install it: `leakspy man >
    /// /usr/local/share/man/man1/leakspy.1`. The wheel installs it as share/man/man1/leakspy.1.
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: CompletionShell,
}

/// Shells `leakspy completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
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

    /// The most memory leakspy may use (512M, 2G). When the copy and the graph would not fit,
    /// refs runs bounded (no copy, a block cache, the target paused until the answer is worked
    /// out); exit 12 when even the graph does not fit. Default: the smaller of MemAvailable and
    /// leakspy's cgroup headroom.
    #[arg(long, value_name = "SIZE", value_parser = leakspy_python::budget::parse_size)]
    pub max_memory: Option<u64>,

    /// Do not pause the target (results may be inconsistent).
    #[arg(long)]
    pub nonblocking: bool,

    /// Print JSON on stdout (schema in docs/json-schema.md).
    #[arg(long)]
    pub json: bool,

    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    #[command(flatten)]
    pub exports: crate::formats::RefsExports,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `--subprocesses`: the given process and every Python descendant (gunicorn, uWSGI, Celery,
/// multiprocessing workers), each paused on its own.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Also read every descendant that is a Python process (each with its own short pause, several
    /// at a time, never all at once), and sum their heaps; the others are listed as skipped.
    #[arg(long)]
    pub subprocesses: bool,

    /// With --subprocesses: print every process's full report too, not only the table and the
    /// aggregate.
    #[arg(long, requires = "subprocesses")]
    pub per_process: bool,
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
    /// Print JSON on stdout (schema in docs/json-schema.md) instead of the text report.
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
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath,
          conflicts_with_all = ["pid", "command", "nonblocking", "after"])]
    pub core: Option<PathBuf>,

    /// With --core: the program's executable, when it is not at the path the core names (it must
    /// be the same build: the build-id is checked).
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath, requires = "core")]
    pub exe: Option<PathBuf>,

    /// With --core: the target's root filesystem (container image, chroot); the core's file names
    /// are looked up under it first.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, requires = "core")]
    pub sysroot: Option<PathBuf>,

    /// Do not pause the target: read it while it runs (results may be inconsistent and are marked
    /// partial when a race is detected).
    #[arg(long)]
    pub nonblocking: bool,

    /// Stacks only: skip the heap walk (the memory line comes from the kernel's approximate
    /// counters in /proc/PID/status, without the split by mapping).
    #[arg(long)]
    pub no_heap: bool,

    /// The most memory leakspy may use (512M, 2G; K/M/G/T are powers of 1024). When the copy of
    /// the heap and its census would not fit, the dump runs in bounded mode: no whole copy, reads
    /// through a small evicting cache, the target paused for the whole walk (see README, "A heap
    /// that does not fit"). Default: the smaller of MemAvailable and leakspy's cgroup headroom.
    #[arg(long, value_name = "SIZE", value_parser = leakspy_python::budget::parse_size)]
    pub max_memory: Option<u64>,

    /// Count only the objects the GC tracks (containers): skip pymalloc's arenas and the reference
    /// walk that find str, bytes, int, float and other untracked objects. Faster on huge heaps.
    #[arg(long)]
    pub gc_only: bool,

    /// Use this layout file instead of the shipped ones (see python-layouts/README.md).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub layout: Option<PathBuf>,

    /// Also read each thread's native (C) stack, unwound with DWARF CFI, and merge it with its
    /// Python stack (JSON: native_frames, merged; see docs/json-schema.md). Not with --nonblocking.
    #[arg(long, conflicts_with = "nonblocking")]
    pub native: bool,

    /// Also write a flame graph (SVG) of live bytes by type and allocation traceback.
    #[arg(long, value_name = "FILE.svg", value_hint = ValueHint::FilePath)]
    pub flamegraph: Option<PathBuf>,

    /// With a command: how long to let it run before dumping it.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub after: Duration,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub exports: crate::formats::DumpExports,

    #[command(flatten)]
    pub fleet: FleetArgs,

    /// Start this program, let it run for --after, dump it, then stop it.
    #[arg(last = true, value_name = "COMMAND", value_hint = ValueHint::CommandWithArguments)]
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

impl From<GroupByArg> for leakspy_python::analysis::GroupBy {
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

/// The target of a command that takes `--pid PID` or `-- COMMAND`: its pid, and the child when
/// leakspy started it. `usage` is the error when neither or both are given.
pub fn pid_or_spawn(
    pid: Option<i32>,
    command: &[String],
    after: Duration,
    usage: &str,
) -> anyhow::Result<(i32, Option<std::process::Child>)> {
    match (pid, command.is_empty()) {
        (Some(pid), true) => Ok((pid, None)),
        (None, false) => {
            let c = spawn_and_wait(command, after)?;
            Ok((c.id() as i32, Some(c)))
        }
        _ => anyhow::bail!(UsageError(usage.into())),
    }
}

/// How long a started command is given to become a readable Python (after `--after`).
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Start `command` and give it `after` to get going, then wait until its interpreter is up. Its stdout goes to leakspy's stderr, so
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
    // Then until its interpreter is up (`record` starts at once by default: the loader and
    // `Py_Initialize` take a few milliseconds). Not Python after READY_TIMEOUT: the command's own
    // error says why.
    let pid = child.id() as i32;
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{prog} exited ({status}) before it could be read; lower --after");
        }
        if std::time::Instant::now() >= deadline || leakspy_python::attach::process::is_ready(pid) {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// --version, completions and the man page (issue 16).

/// The git commit the binary was built from (build.rs; "unknown" outside a git checkout).
pub const GIT_COMMIT: &str = env!("LEAKSPY_GIT_COMMIT");
/// That commit's date (YYYY-MM-DD), empty when unknown.
const GIT_COMMIT_DATE: &str = env!("LEAKSPY_GIT_COMMIT_DATE");
const BUILD_TARGET: &str = env!("LEAKSPY_BUILD_TARGET");

/// The supported CPython versions, derived from the layouts embedded in the binary
/// (`leakspy_layout::shipped()`): "3.6-3.15 (default builds, not free-threaded; 3.14 from 3.14.5)".
/// Free-threaded builds (`3.Xt.toml`) are named after it, with what is read of them.
pub fn supported_cpython() -> String {
    let all = leakspy_layout::shipped();
    let triples = |ft: bool| {
        all.iter().filter(move |l| l.free_threaded == ft).map(|l| {
            (
                l.python.minor.as_str(),
                l.python.min_patch,
                l.python.max_patch,
            )
        })
    };
    let span = |it: &mut dyn Iterator<Item = &str>| {
        let v = describe_versions(it.map(|m| (m, 0, None)));
        v.split(' ').next().unwrap_or_default().to_string()
    };
    let ft = span(&mut triples(true).map(|(m, _, _)| m));
    let heap = span(
        &mut all
            .iter()
            .filter(|l| l.free_threaded && l.heap)
            .map(|l| l.python.minor.as_str()),
    );
    let heap = if heap.is_empty() {
        String::new()
    } else {
        format!(" (the heap too: {heap}t)")
    };
    format!(
        "{}; free-threaded {ft}: threads and stacks{heap}",
        describe_versions(triples(false))
    )
}

/// [`supported_cpython`] over (minor "3.X", min_patch, max_patch) triples, one per layout file
/// (several files may cover one minor: variants, patch ranges).
fn describe_versions<'a>(layouts: impl Iterator<Item = (&'a str, u32, Option<u32>)>) -> String {
    use std::collections::BTreeMap;
    // (major, minor) -> lowest patch covered, highest patch covered (None: no upper bound).
    let mut minors: BTreeMap<(u32, u32), (u32, Option<u32>)> = BTreeMap::new();
    for (minor, lo, hi) in layouts {
        let Some((Ok(a), Ok(b))) = minor.split_once('.').map(|(a, b)| (a.parse(), b.parse()))
        else {
            continue;
        };
        let e = minors.entry((a, b)).or_insert((lo, hi));
        e.0 = e.0.min(lo);
        e.1 = match (e.1, hi) {
            (Some(x), Some(y)) => Some(x.max(y)),
            _ => None,
        };
    }
    let keys: Vec<(u32, u32)> = minors.keys().copied().collect();
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return "none".into();
    };
    let contiguous = keys
        .windows(2)
        .all(|w| w[0].0 == w[1].0 && w[0].1 + 1 == w[1].1);
    let span = if keys.len() == 1 {
        format!("{}.{}", first.0, first.1)
    } else if contiguous {
        format!("{}.{}-{}.{}", first.0, first.1, last.0, last.1)
    } else {
        keys.iter()
            .map(|(a, b)| format!("{a}.{b}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut notes = vec!["default builds, not free-threaded".to_string()];
    for ((a, b), (lo, hi)) in &minors {
        match (lo, hi) {
            (0, None) => {}
            (lo, None) => notes.push(format!("{a}.{b} from {a}.{b}.{lo}")),
            (lo, Some(hi)) => notes.push(format!("{a}.{b}.{lo}-{a}.{b}.{hi}")),
        }
    }
    format!("{span} ({})", notes.join("; "))
}

/// `-V`: one line.
fn short_version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| format!("{} ({GIT_COMMIT})", env!("CARGO_PKG_VERSION")))
}

/// `--version`: the version, the commit, the CPython versions it reads, how it was linked.
fn long_version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let date = if GIT_COMMIT_DATE.is_empty() {
            String::new()
        } else {
            format!(" ({GIT_COMMIT_DATE})")
        };
        let linked = if cfg!(target_feature = "crt-static") {
            "statically linked"
        } else {
            "dynamically linked"
        };
        format!(
            "{}\ncommit: {GIT_COMMIT}{date}\nCPython: {}\nbuild: {BUILD_TARGET}, {linked}",
            env!("CARGO_PKG_VERSION"),
            supported_cpython()
        )
    })
}

/// The full command-line definition, with the version strings filled in. Parse with this (not
/// `Cli::parse`), and generate completions and the man page from it.
pub fn command() -> clap::Command {
    Cli::command()
        .version(short_version())
        .long_version(long_version())
}

/// Parse the process's arguments (exits with clap's usage error, or after --help/--version).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `leakspy completions SHELL`.
pub fn write_completions(shell: CompletionShell, out: &mut dyn Write) {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command(), "leakspy", out);
}

/// `leakspy man`: one page, leakspy(1), with a subsection per command (its synopsis, description
/// and options), then exit status, environment, examples.
pub fn write_man_page(out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone())
        .title("LEAKSPY")
        .section("1")
        .date(GIT_COMMIT_DATE)
        .source(format!("leakspy {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    // Synopsis and description of the whole tool (clap's would repeat the one-line about).
    page.extend_from_slice(MAN_HEAD.as_bytes());
    man.render_options_section(&mut page)?;
    writeln!(page, ".SH COMMANDS")?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let sman = clap_mangen::Man::new(sub.clone());
        let mut synopsis = Vec::new();
        sman.render_synopsis_section(&mut synopsis)?;
        let mut description = Vec::new();
        sman.render_description_section(&mut description)?;
        let mut options = Vec::new();
        sman.render_options_section(&mut options)?;
        writeln!(page, ".SS \"leakspy {}\"", sub.get_name())?;
        // The sections' own .SH headings become plain paragraphs of this subsection.
        for part in [&synopsis, &description, &options] {
            for line in String::from_utf8_lossy(part).lines() {
                if line.starts_with(".SH ") {
                    writeln!(page, ".PP")?;
                } else {
                    writeln!(page, "{line}")?;
                }
            }
        }
    }
    page.extend_from_slice(MAN_TAIL.as_bytes());
    writeln!(page, ".SH VERSION")?;
    for line in long_version().lines() {
        writeln!(page, "{}\n.br", roff_escape(line))?;
    }
    // Each clap_mangen render starts with roff's preamble (the `Aq` string): keep the first.
    let text = String::from_utf8_lossy(&page);
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
        if !preamble || seen.insert(line) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// Plain text for a roff text line: backslashes doubled, no line starting with a control
/// character.
fn roff_escape(s: &str) -> String {
    let s = s.replace('\\', "\\e");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

const MAN_HEAD: &str = r#".SH SYNOPSIS
\fBleakspy\fR \fICOMMAND\fR [\fIOPTIONS\fR]
.br
\fBleakspy\fR \fBhelp\fR [\fICOMMAND\fR]
.br
\fBleakspy\fR \fB--version\fR
.SH DESCRIPTION
leakspy looks inside a \fBrunning\fR CPython process from the outside and answers the first
questions of a memory-leak hunt: what every thread is doing, which object types fill the heap
(every live object, GC-tracked or not), where they were allocated (when the target traces with
tracemalloc), and what keeps them alive. It reads the same report from an ELF core file.
.PP
It reads the target with \fBprocess_vm_readv\fR(2) and pauses it with \fBptrace\fR(2) while
its memory is copied (not with \fB--nonblocking\fR). It never runs code in the target and never
writes to it, except \fBleakspy trace\fR, which says so. Object contents (strings, values) are
never printed: only type names, counts, sizes, function and file names and line numbers.
.PP
It needs permission to ptrace the target: root, or the target's user with CAP_SYS_PTRACE (and
/proc/sys/kernel/yama/ptrace_scope 0 or 1). A process in a container is given by its pid as seen
where leakspy runs: the host's pid from the host, the container's pid from a container that
shares its pid namespace.
"#;

const MAN_TAIL: &str = r#".SH EXIT STATUS
.TP
\fB0\fR
The report is complete.
.TP
\fB1\fR
The report was printed, but some structures could not be read completely (the report says which; JSON \fB"partial": true\fR).
.TP
\fB2\fR
Usage error (arguments, an unreadable or invalid \fB--layout\fR file).
.TP
\fB3\fR
No process with that pid.
.TP
\fB4\fR
Permission denied (ptrace): run as root, or as the target's user with CAP_SYS_PTRACE; in containers add \fB--cap-add SYS_PTRACE\fR or use \fBkubectl debug --profile=general\fR.
.TP
\fB5\fR
Not a Python process.
.TP
\fB6\fR
This CPython version or build is not supported (see VERSION).
.TP
\fB7\fR
The interpreter's structures were not found (an interpreter still starting or finalizing, for example).
.TP
\fB8\fR
Any other failure (the target exited mid-dump, for example).
.TP
\fB9\fR
With \fB--core\fR: the interpreter's binaries are missing, or are other builds than the core was made with.
.TP
\fB10\fR
With \fB--core\fR: the file is not a usable core (not an ELF core, truncated, unreadable).
.TP
\fB11\fR
The target is already traced by another process (gdb, strace, py-spy); \fB--nonblocking\fR reads without attaching.
.TP
\fB12\fR
Even bounded mode does not fit in the memory leakspy may use (\fB--max-memory\fR, MemAvailable, the cgroup's limit): raise the limit, or try \fB--gc-only\fR (or \fBdump\fR instead of \fBrefs\fR).
.SH ENVIRONMENT
.TP
\fBRUST_LOG\fR
Diagnostics on stderr (env_logger syntax; default \fBwarn\fR), e.g. \fBRUST_LOG=debug\fR.
.SH EXAMPLES
.TP
\fBleakspy dump --pid 1234\fR
Every thread's stack and the heap by type.
.TP
\fBleakspy refs --pid 1234 --type app.models.Session\fR
What keeps the \fBSession\fR objects alive.
.TP
\fBleakspy leaks --pid 1234 --interval 30s\fR
Three snapshots: the objects born after the first and still alive at the third.
.TP
\fBleakspy dump --core core.1234 --sysroot /var/lib/docker/overlay2/.../merged\fR
The same report from a core file of a containerised process.
.TP
\fBkubectl debug -it POD --image=busybox --target=APP --profile=general -- sh\fR
Then copy the static binary in (\fBkubectl cp\fR) and run \fBleakspy dump --pid 1\fR.
.SH SEE ALSO
\fBgcore\fR(1), \fBptrace\fR(2), \fBprocess_vm_readv\fR(2), \fBcore\fR(5)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions_text() {
        let v = describe_versions(
            [("3.9", 0, None), ("3.13", 0, None), ("3.13", 0, None)]
                .into_iter()
                .chain([("3.10", 0, None), ("3.11", 0, None), ("3.12", 0, None)]),
        );
        assert_eq!(v, "3.9-3.13 (default builds, not free-threaded)");
        let v = describe_versions([("3.14", 5, None), ("3.15", 0, Some(2))].into_iter());
        assert_eq!(
            v,
            "3.14-3.15 (default builds, not free-threaded; 3.14 from 3.14.5; 3.15.0-3.15.2)"
        );
        assert_eq!(
            describe_versions([("3.9", 0, None), ("3.11", 0, None)].into_iter()),
            "3.9, 3.11 (default builds, not free-threaded)"
        );
        // The shipped layouts: at least one minor, and the text names the oldest one.
        let shipped = supported_cpython();
        assert!(shipped.starts_with("3."), "{shipped}");
    }

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
