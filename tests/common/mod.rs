//! Shared harness for the live integration tests: the interpreter matrix,
//! spawning target scripts (directly or inside a chroot), reading their
//! in-process truth, running `leakspy`, and comparing the two.
#![allow(dead_code)]

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long a target may take to print its truth line. Targets are ready in
/// ~0.1 s; the margin is for a loaded 2-core machine running tests in parallel.
const TARGET_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `leakspy` invocation may take before we kill it.
const LEAKSPY_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Tolerances for the heap totals.
//
// The target computes its truth (gc.get_objects() + the whole permanent
// generation, sys.getsizeof of each) as late as possible: after the snapshot it
// only serialises the truth (temporaries freed again), writes it with
// os.write and calls os.read(0, 1).  Automatic GC is disabled before the
// snapshot, so nothing gets collected or untracked afterwards.
//
// Measured on every interpreter of the matrix by re-walking the heap
// in-process right before os.read: the drift is exactly 0 objects and 0
// bytes.  (Before platform.python_version() was hoisted out of the truth code
// it was +2 objects / +280 bytes: a cached regex-match tuple and a dict.)
// Totals are ~12-17k objects / 1.9-3.1 MB.
//
// The margins below only absorb a few unforeseen small allocations (a couple of
// dicts/tuples); they are deliberately smaller than e.g. the 8 KiB buffer of
// one io.BufferedWriter, so a wrong sizeof for such a type fails the test.
// Own types (`__main__.*`) must match exactly.
pub const OBJECTS_ABS_TOLERANCE: u64 = 10;
pub const OBJECTS_REL_TOLERANCE: f64 = 0.001;
pub const BYTES_ABS_TOLERANCE: u64 = 4096;
pub const BYTES_REL_TOLERANCE: f64 = 0.002;

pub fn objects_tolerance(truth: u64) -> u64 {
    OBJECTS_ABS_TOLERANCE.max((truth as f64 * OBJECTS_REL_TOLERANCE).ceil() as u64)
}

pub fn bytes_tolerance(truth: u64) -> u64 {
    BYTES_ABS_TOLERANCE.max((truth as f64 * BYTES_REL_TOLERANCE).ceil() as u64)
}

// ---------------------------------------------------------------------------
// Interpreter matrix.

#[derive(Debug, Clone)]
pub struct Interp {
    pub name: String,
    /// "/" = run directly; otherwise the root filesystem to chroot into.
    pub root: PathBuf,
    /// Path of the python binary inside `root`.
    pub python: String,
}

impl Interp {
    pub fn chrooted(&self) -> bool {
        self.root != Path::new("/")
    }
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("LEAKSPY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/leakspy"))
}

fn env_is(var: &str, val: &str) -> bool {
    std::env::var(var).map(|v| v == val).unwrap_or(false)
}

/// A required interpreter is unavailable: fail, unless the local opt-out
/// `LEAKSPY_SKIP_MISSING_PYTHONS=1` is set (never honoured when `CI=true`).
/// Returns `None` when the test should be skipped.
fn missing(reason: String) -> Option<Interp> {
    let ci = env_is("CI", "true");
    if !ci && env_is("LEAKSPY_SKIP_MISSING_PYTHONS", "1") {
        eprintln!("SKIPPED (LEAKSPY_SKIP_MISSING_PYTHONS=1): {reason}");
        return None;
    }
    panic!(
        "{reason}\nRun scripts/setup-pythons.sh to install the interpreter matrix{}",
        if ci {
            " (CI=true: missing interpreters are always a failure)."
        } else {
            ", or set LEAKSPY_SKIP_MISSING_PYTHONS=1 to skip missing interpreters locally."
        }
    );
}

/// Look up `name` in `$LEAKSPY_CACHE/matrix.tsv`.
pub fn interpreter(name: &str) -> Option<Interp> {
    let matrix = cache_dir().join("matrix.tsv");
    let text = match std::fs::read_to_string(&matrix) {
        Ok(t) => t,
        Err(e) => {
            return missing(format!(
                "interpreter matrix {} not readable: {e}",
                matrix.display()
            ))
        }
    };
    let found = text.lines().find_map(|line| {
        let mut it = line.split('\t');
        match (it.next(), it.next(), it.next()) {
            (Some(n), Some(root), Some(py)) if n == name => Some(Interp {
                name: n.to_string(),
                root: PathBuf::from(root),
                python: py.trim().to_string(),
            }),
            _ => None,
        }
    });
    let Some(interp) = found else {
        return missing(format!(
            "interpreter {name} not listed in {}",
            matrix.display()
        ));
    };
    let on_host = interp.root.join(interp.python.trim_start_matches('/'));
    if !on_host.exists() {
        return missing(format!(
            "interpreter {name}: {} does not exist",
            on_host.display()
        ));
    }
    Some(interp)
}

// ---------------------------------------------------------------------------
// Processes.

/// Owns a child process: kills and reaps it on drop, and removes its scratch
/// directory (the copy of the script inside a chroot).
pub struct ChildGuard {
    pub child: Child,
    /// Kept open so the target stays blocked in os.read(0, 1).
    pub stdin: Option<ChildStdin>,
    pub scratch: Option<PathBuf>,
    /// Lines the target printed on stdout after its first (readiness) line.
    pub lines: Option<mpsc::Receiver<String>>,
}

impl ChildGuard {
    pub fn new(child: Child) -> Self {
        ChildGuard {
            child,
            stdin: None,
            scratch: None,
            lines: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Write `line` to the target's stdin and wait up to `timeout` for it to come back on stdout
    /// (for targets that echo: mutator.py, big_heap.py, secret_target.py). A stopped target
    /// cannot answer.
    pub fn echo(&mut self, line: &str, timeout: Duration) -> Result<(), String> {
        use std::io::Write as _;
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("write to the target's stdin: {e}"))?;
        let lines = self.lines.as_ref().ok_or("stdout not kept")?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(got) if got.trim_end() == line => return Ok(()),
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no echo of {line:?} within {timeout:?}"))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("the target closed stdout before echoing {line:?}"))
                }
            }
        }
    }

    /// Kill the child (if still running) and return whatever it wrote on stderr.
    fn kill_and_collect_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.stdin.take());
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

static SCRATCH_COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn target_script(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/targets")
        .join(file)
}

/// A running target script plus the truth it printed.
pub struct Target {
    pub guard: ChildGuard,
    pub truth_line: String,
    pub truth: Truth,
    /// The target's pid as the host (and leakspy) sees it: the spawned child, or for
    /// [`Launch::PidNamespace`] the child of `unshare`'s fork.
    pub host_pid: u32,
}

impl Target {
    pub fn pid(&self) -> u32 {
        self.host_pid
    }
}

/// How a target is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// As a child of the test (inside `chroot` for chroot interpreters).
    Direct,
    /// In new pid and mount namespaces, the way a container runs it (`unshare --pid --fork
    /// --mount-proc --kill-child`, then `chroot` for chroot interpreters): the target is pid 1 of its
    /// namespace and its thread ids are small numbers.
    PidNamespace,
    /// Through `sh -c 'ulimit -c unlimited; cd SCRATCH; exec python ...'` (chroot interpreters
    /// only): a fatal signal makes the kernel write its core into the scratch directory (with
    /// core_pattern `core`).
    CoreDumping,
}

/// Start `tests/targets/<script>` under `interp` and wait (without sleeping)
/// for its single truth line on stdout.
pub fn start_target(interp: &Interp, script: &str) -> Target {
    start_target_with(interp, script, Launch::Direct)
}

/// [`start_target`], started the way `launch` says.
pub fn start_target_with(interp: &Interp, script: &str, launch: Launch) -> Target {
    let (guard, line) = spawn_target_with(interp, script, &[], launch);
    let truth: Truth = serde_json::from_str(&line).unwrap_or_else(|e| {
        panic!(
            "{}: truth line is not valid JSON ({e}): {line}",
            interp.name
        )
    });
    let host_pid = if launch == Launch::PidNamespace {
        let host = forked_child(guard.pid())
            .unwrap_or_else(|| panic!("{}: no child of unshare ({})", interp.name, guard.pid()));
        let ns = ns_pid(host);
        assert_eq!(
            Some(truth.pid),
            ns,
            "{}: the truth pid is not host pid {host}'s pid in its namespace",
            interp.name
        );
        host
    } else {
        assert_eq!(
            truth.pid,
            guard.pid() as i64,
            "{}: truth pid differs from the spawned pid (chroot must exec python)",
            interp.name
        );
        guard.pid()
    };
    Target {
        guard,
        truth_line: line,
        truth,
        host_pid,
    }
}

/// The (single) child of `pid`, e.g. the process `unshare --fork` started.
pub fn forked_child(pid: u32) -> Option<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    if let Some(c) = children.split_whitespace().next() {
        return c.parse().ok();
    }
    // Kernels without /proc/PID/task/TID/children: scan for the parent pid.
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let p: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let ppid: u32 = stat[stat.rfind(')')? + 1..]
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == pid).then_some(p)
    })
}

/// A task's id in its own (innermost) pid namespace (`NSpid:` of /proc/TID/status).
pub fn ns_pid(tid: u32) -> Option<i64> {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// Host TID -> TID in the target's own pid namespace, for every thread of `pid`.
pub fn host_to_ns_tids(pid: u32) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(ns) = ns_pid(tid) {
            out.insert(i64::from(tid), ns);
        }
    }
    out
}

/// Start `tests/targets/<script>` under `interp` with extra interpreter
/// options (e.g. `-X tracemalloc=5`; targets run with `-I`, which ignores
/// PYTHON* variables), and return it with the first line it printed on stdout
/// (its readiness signal), waiting without sleeping.
pub fn spawn_target(interp: &Interp, script: &str, py_args: &[&str]) -> (ChildGuard, String) {
    spawn_target_with(interp, script, py_args, Launch::Direct)
}

/// [`spawn_target`], started the way `launch` says.
pub fn spawn_target_with(
    interp: &Interp,
    script: &str,
    py_args: &[&str],
    launch: Launch,
) -> (ChildGuard, String) {
    spawn_target_full(interp, script, py_args, &[], launch)
}

/// [`spawn_target`] with arguments for the script (`sys.argv[1:]`).
pub fn spawn_target_args(
    interp: &Interp,
    script: &str,
    py_args: &[&str],
    script_args: &[&str],
) -> (ChildGuard, String) {
    spawn_target_full(interp, script, py_args, script_args, Launch::Direct)
}

fn spawn_target_full(
    interp: &Interp,
    script: &str,
    py_args: &[&str],
    script_args: &[&str],
    launch: Launch,
) -> (ChildGuard, String) {
    let src = target_script(script);
    let (inner, scratch) = if interp.chrooted() {
        let unique = format!(
            "{}-{}-{}",
            interp.name,
            std::process::id(),
            SCRATCH_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let inside = PathBuf::from("/tmp/leakspy-tests").join(unique);
        let on_host = interp.root.join(inside.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&on_host)
            .unwrap_or_else(|e| panic!("create {}: {e}", on_host.display()));
        std::fs::copy(&src, on_host.join(script))
            .unwrap_or_else(|e| panic!("copy {} into {}: {e}", src.display(), on_host.display()));
        let mut argv: Vec<std::ffi::OsString> = vec!["chroot".into(), interp.root.clone().into()];
        if launch == Launch::CoreDumping {
            argv.extend(["/bin/sh".into(), "-c".into()]);
            argv.push(
                format!(
                    "ulimit -c unlimited && cd '{}' && exec '{}' \"$@\"",
                    inside.display(),
                    interp.python
                )
                .into(),
            );
            argv.push("sh".into());
        } else {
            argv.push(interp.python.clone().into());
        }
        argv.push("-I".into());
        argv.extend(py_args.iter().map(Into::into));
        argv.push(inside.join(script).into());
        argv.extend(script_args.iter().map(Into::into));
        (argv, Some(on_host))
    } else {
        assert!(
            launch != Launch::CoreDumping,
            "{}: Launch::CoreDumping is for chroot interpreters",
            interp.name
        );
        let mut argv: Vec<std::ffi::OsString> = vec![interp.python.clone().into(), "-I".into()];
        argv.extend(py_args.iter().map(Into::into));
        argv.push(src.clone().into());
        argv.extend(script_args.iter().map(Into::into));
        (argv, None)
    };
    let mut argv = inner;
    if launch == Launch::PidNamespace {
        let wrap = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];
        argv.splice(0..0, wrap.iter().map(Into::into));
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{}: cannot start {:?}: {e}", interp.name, cmd));
    let mut guard = ChildGuard::new(child);
    guard.scratch = scratch;
    guard.stdin = guard.child.stdin.take();

    let stdout = guard.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let (more_tx, more_rx) = mpsc::channel();
    guard.lines = Some(more_rx);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let r = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
        // Keep the pipe open and pass on later lines (`ChildGuard::echo`) until the target closes it.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let _ = more_tx.send(line);
                }
            }
        }
    });
    let line = match rx.recv_timeout(TARGET_READY_TIMEOUT) {
        Ok(Ok(line)) if line.ends_with('\n') => line,
        Ok(Ok(partial)) => {
            let err = guard.kill_and_collect_stderr();
            panic!(
                "{}: target exited before printing its truth line (stdout: {partial:?})\nstderr:\n{err}",
                interp.name
            );
        }
        Ok(Err(e)) => panic!("{}: reading target stdout: {e}", interp.name),
        Err(_) => {
            let err = guard.kill_and_collect_stderr();
            panic!(
                "{}: target not ready after {:?}\nstderr:\n{err}",
                interp.name, TARGET_READY_TIMEOUT
            );
        }
    };
    // Debugging aid: LEAKSPY_TEST_TRUTH_DIR=dir keeps every truth line as dir/<pid>.json.
    if let Some(dir) = std::env::var_os("LEAKSPY_TEST_TRUTH_DIR") {
        let path = Path::new(&dir).join(format!("{}.json", guard.pid()));
        let _ = std::fs::write(path, &line);
    }
    (guard, line)
}

/// Run the leakspy binary with `args`, killing it after LEAKSPY_TIMEOUT.
pub fn run_leakspy<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run_with_timeout(Command::new(env!("CARGO_BIN_EXE_leakspy")).args(args))
}

pub fn run_with_timeout(cmd: &mut Command) -> Output {
    try_run_with_timeout(cmd, LEAKSPY_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

/// Run the leakspy binary with `args`; `Err` (after killing it) if it takes longer than `timeout`.
pub fn try_run_leakspy<I, S>(args: I, timeout: Duration) -> Result<Output, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    try_run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_leakspy")).args(args),
        timeout,
    )
}

/// Run `cmd` (stdin closed, output captured); `Err` with its stderr if it had to be killed after
/// `timeout`.
pub fn try_run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => Ok(out.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"))),
        Err(_) => {
            // Our own child, killed by its pid; the waiting thread reaps it.
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            let out = rx.recv_timeout(Duration::from_secs(10));
            let stderr = out
                .ok()
                .and_then(|o| o.ok())
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            Err(format!(
                "{cmd:?} did not finish within {timeout:?}; killed.\nstderr:\n{stderr}"
            ))
        }
    }
}

pub fn show_output(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        truncate(&String::from_utf8_lossy(&out.stdout), 20_000),
        truncate(&String::from_utf8_lossy(&out.stderr), 20_000)
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... [{} bytes total]", &s[..end], s.len())
}

// ---------------------------------------------------------------------------
// Truth (printed by the target) and report (printed by leakspy).

#[derive(Debug, Deserialize)]
pub struct Truth {
    pub pid: i64,
    pub version: String,
    pub threads: Vec<TruthThread>,
    pub own_types: BTreeMap<String, CountBytes>,
    pub types: BTreeMap<String, CountBytes>,
    pub total_objects: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct TruthThread {
    pub thread_id: u64,
    pub native_id: Option<i64>,
    pub name: String,
    pub frames: Vec<TruthFrame>,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct TruthFrame {
    pub function: String,
    pub filename: String,
    pub line: i64,
}

#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountBytes {
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct Report {
    pub pid: i64,
    pub python_version: String,
    pub executable: String,
    pub layout: Layout,
    pub pause_ms: f64,
    pub partial: bool,
    pub warnings: Vec<String>,
    pub threads: Vec<ReportThread>,
    pub heap: Heap,
}

#[derive(Debug, Deserialize)]
pub struct Layout {
    pub file: String,
    pub source: String,
    pub version_source: String,
}

#[derive(Debug, Deserialize)]
pub struct ReportThread {
    pub thread_id: u64,
    pub native_id: Option<i64>,
    #[serde(default)]
    pub host_native_id: Option<i64>,
    pub name: Option<String>,
    pub holds_gil: bool,
    /// null when unknown (core files).
    pub idle: Option<bool>,
    pub frames: Vec<ReportFrame>,
    #[serde(default)]
    pub truncated: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ReportFrame {
    pub function: String,
    pub filename: String,
    pub line: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Heap {
    pub objects: u64,
    pub bytes: u64,
    pub tracked_objects: u64,
    pub tracked_bytes: u64,
    pub types: Vec<HeapType>,
}

#[derive(Debug, Deserialize)]
pub struct HeapType {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub bytes: u64,
    pub tracked: u64,
    pub tracked_bytes: u64,
    /// False for types whose `__sizeof__` leakspy does not model (counted at their basic size).
    pub size_exact: bool,
}

// ---------------------------------------------------------------------------
// The check.

fn fmt_stack<'a>(frames: impl Iterator<Item = (&'a str, &'a str, Option<i64>)>) -> String {
    let mut s = String::new();
    for (i, (func, file, line)) in frames.enumerate() {
        let line = line.map_or("null".to_string(), |l| l.to_string());
        let _ = writeln!(s, "      #{i} {func} ({file}:{line})");
    }
    s
}

fn fmt_truth_stack(frames: &[TruthFrame]) -> String {
    fmt_stack(
        frames
            .iter()
            .map(|f| (f.function.as_str(), f.filename.as_str(), Some(f.line))),
    )
}

fn fmt_report_stack(frames: &[ReportFrame]) -> String {
    fmt_stack(
        frames
            .iter()
            .map(|f| (f.function.as_str(), f.filename.as_str(), f.line)),
    )
}

fn diff_u64(a: u64, b: u64) -> u64 {
    a.abs_diff(b)
}

/// Per-type differences (report - truth), the `n` largest by |bytes|, then |count|.
fn type_diff_table(
    truth: &BTreeMap<String, CountBytes>,
    got: &BTreeMap<String, CountBytes>,
    n: usize,
) -> String {
    let names: BTreeSet<&String> = truth.keys().chain(got.keys()).collect();
    let mut rows: Vec<(&String, i64, i64, CountBytes, CountBytes)> = names
        .into_iter()
        .map(|name| {
            let t = truth.get(name).copied().unwrap_or_default();
            let g = got.get(name).copied().unwrap_or_default();
            (
                name,
                g.count as i64 - t.count as i64,
                g.bytes as i64 - t.bytes as i64,
                t,
                g,
            )
        })
        .filter(|r| r.1 != 0 || r.2 != 0)
        .collect();
    let ndiff = rows.len();
    rows.sort_by_key(|r| std::cmp::Reverse((r.2.abs(), r.1.abs())));
    let mut s = format!(
        "  {ndiff} types differ; largest {} (report - truth):\n    {:<50} {:>9} {:>11} {:>16} {:>18}\n",
        n.min(ndiff),
        "type",
        "d_count",
        "d_bytes",
        "truth cnt/bytes",
        "report cnt/bytes"
    );
    for (name, dc, db, t, g) in rows.into_iter().take(n) {
        let _ = writeln!(
            s,
            "    {:<50} {:>+9} {:>+11} {:>16} {:>18}",
            name,
            dc,
            db,
            format!("{}/{}", t.count, t.bytes),
            format!("{}/{}", g.count, g.bytes)
        );
    }
    s
}

/// Run `leakspy dump --pid P --json` against a fresh target under the named
/// interpreter and compare everything with the target's own truth.
pub fn check_dump(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    let pid = target.pid();
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json"]);
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json");
    let report = check_report(&ctx, &out, &target.truth, i64::from(pid), Expect::LIVE);
    check_layout(&ctx, name, &report);
    // Keep the target alive until here; dropping it kills it.
    drop(target);
}

/// Which layout a live dump of each interpreter of the matrix must have used, where its version came
/// from, and (3.13+) how many fields the target's `_Py_DebugOffsets` supplied:
/// (interpreter, layout file, version source, debug-offsets fields).
pub const EXPECTED_LAYOUTS: &[(&str, &str, &str, Option<u32>)] = &[
    ("pyenv-3.9.18", "3.9.toml", "sys.version string", None),
    ("pyenv-3.10.13", "3.10.toml", "sys.version string", None),
    ("pyenv-3.11.7", "3.11.toml", "Py_Version", None),
    ("pyenv-3.12.1", "3.12.toml", "Py_Version", None),
    (
        "pyenv-3.13.0",
        "3.13.toml",
        "_Py_DebugOffsets.version",
        Some(43),
    ),
    ("debian-3.11", "3.11.toml", "Py_Version", None),
    (
        "debian-bullseye-3.9",
        "3.9.toml",
        "sys.version string",
        None,
    ),
    (
        "debian-sid-3.13",
        "3.13-debian.toml",
        "_Py_DebugOffsets.version",
        Some(43),
    ),
    (
        "debian-sid-3.14",
        "3.14.toml",
        "_Py_DebugOffsets.version",
        Some(50),
    ),
    (
        "debian-sid-3.15",
        "3.15.toml",
        "_Py_DebugOffsets.version",
        Some(57),
    ),
    (
        "debian-sid-3.13d",
        "3.13-debian.toml",
        "_Py_DebugOffsets.version",
        Some(43),
    ),
    (
        "debian-sid-3.14d",
        "3.14.toml",
        "_Py_DebugOffsets.version",
        Some(50),
    ),
    (
        "debian-sid-3.15d",
        "3.15.toml",
        "_Py_DebugOffsets.version",
        Some(57),
    ),
];

/// The layout a report used must be the one expected for `name` ([`EXPECTED_LAYOUTS`]), and no
/// field of it may disagree with the target's own `_Py_DebugOffsets` (3.13+): such a disagreement is
/// a wrong generated offset. That holds for the Py_DEBUG builds too (3.13d/3.14d/3.15d): measured,
/// every field `_Py_DebugOffsets` covers has the same offset as in the release build's layout file,
/// so no field is exempt. (leakspy uses the target's value and warns "layout field F differs".)
pub fn check_layout(ctx: &str, name: &str, report: &Report) {
    let Some(&(_, file, version_source, debug_fields)) =
        EXPECTED_LAYOUTS.iter().find(|e| e.0 == name)
    else {
        panic!("{ctx}: no expected layout for interpreter {name} (add it to EXPECTED_LAYOUTS)");
    };
    let mut fails = Vec::new();
    let l = &report.layout;
    if l.file != file {
        fails.push(format!("layout.file {:?}, expected {file:?}", l.file));
    }
    if l.version_source != version_source {
        fails.push(format!(
            "layout.version_source {:?}, expected {version_source:?}",
            l.version_source
        ));
    }
    let source = match debug_fields {
        Some(n) => format!("python-layouts/{file} + _Py_DebugOffsets ({n} fields)"),
        None => format!("python-layouts/{file}"),
    };
    if l.source != source {
        fails.push(format!("layout.source {:?}, expected {source:?}", l.source));
    }
    let layout_warnings: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("layout field") || w.contains("_Py_DebugOffsets"))
        .collect();
    if !layout_warnings.is_empty() {
        fails.push(format!(
            "the layout file disagrees with the target's _Py_DebugOffsets (or it is missing): {layout_warnings:?}"
        ));
    }
    assert!(
        fails.is_empty(),
        "{ctx}: layout cross-check:\n- {}",
        fails.join("\n- ")
    );
}

/// What a report must say beyond the truth, by where it was read from.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// Every thread's `idle` (the targets' threads are all blocked; a core cannot tell).
    pub idle: Option<bool>,
    /// The core lacks threads' C stacks (gcore could not copy them): the report must be partial
    /// and say so, and a thread marked truncated must show the innermost part of its stack.
    pub stacks_missing: bool,
}

impl Expect {
    pub const LIVE: Expect = Expect {
        idle: Some(true),
        stacks_missing: false,
    };
    pub const CORE: Expect = Expect {
        idle: None,
        stacks_missing: false,
    };
}

/// Compare `leakspy dump --json` output with the target's truth (the live test's
/// checks, shared by the core and container tests); panics listing every
/// difference. Returns the parsed report.
pub fn check_report(ctx: &str, out: &Output, truth: &Truth, pid: i64, expect: Expect) -> Report {
    // Exit 1 = a partial report, expected where the core lacks memory.
    let partial_exit = expect.stacks_missing && out.status.code() == Some(1);
    if !out.status.success() && !partial_exit {
        panic!("{ctx}: failed\n{}", show_output(out));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Report = match serde_json::from_str(&stdout) {
        Ok(r) => r,
        Err(e) => panic!(
            "{ctx}: stdout is not a report matching the contract: {e}\n{}",
            show_output(out)
        ),
    };

    let mut fails: Vec<String> = Vec::new();

    // --- process ---
    if report.pid != pid {
        fails.push(format!("pid: report {} != target {pid}", report.pid));
    }
    if report.python_version != truth.version {
        fails.push(format!(
            "python_version: report {:?} != truth {:?}",
            report.python_version, truth.version
        ));
    }
    if expect.stacks_missing {
        if !report.partial || !report.warnings.iter().any(|w| w.contains("C stacks")) {
            fails.push(format!(
                "the core lacks thread stacks but the report does not say so (partial {}, warnings {:?})",
                report.partial, report.warnings
            ));
        }
    } else if report.partial {
        fails.push(format!("partial is true (warnings: {:?})", report.warnings));
    }

    // --- heap ---
    // The truth is what the GC tracks (gc.get_objects() and the frozen generation): compared with
    // the tracked part of each type (whole-heap counts are checked by tests/whole_heap.rs).
    let heap = &report.heap;
    let mut heap_fail = false;
    let mut got: BTreeMap<String, CountBytes> = BTreeMap::new();
    let inexact: Vec<&str> = heap
        .types
        .iter()
        .filter(|t| !t.size_exact)
        .map(|t| t.type_name.as_str())
        .collect();
    for t in &heap.types {
        let e = got.entry(t.type_name.clone()).or_default();
        e.count += t.tracked;
        e.bytes += t.tracked_bytes;
    }
    let sum_tracked: u64 = heap.types.iter().map(|t| t.tracked).sum();
    if sum_tracked != heap.tracked_objects {
        fails.push(format!(
            "sum of heap.types tracked {sum_tracked} != heap.tracked_objects {}",
            heap.tracked_objects
        ));
    }
    if let Some(w) = heap.types.windows(2).find(|w| w[0].bytes < w[1].bytes) {
        fails.push(format!(
            "heap.types not sorted by bytes descending: {} ({} B) before {} ({} B)",
            w[0].type_name, w[0].bytes, w[1].type_name, w[1].bytes
        ));
    }
    let sum_count: u64 = heap.types.iter().map(|t| t.count).sum();
    let sum_bytes: u64 = heap.types.iter().map(|t| t.bytes).sum();
    if sum_count != heap.objects {
        fails.push(format!(
            "sum of heap.types counts {sum_count} != heap.objects {}",
            heap.objects
        ));
    }
    if sum_bytes != heap.bytes {
        fails.push(format!(
            "sum of heap.types bytes {sum_bytes} != heap.bytes {}",
            heap.bytes
        ));
    }
    for (ty, want) in &truth.own_types {
        let have = got.get(ty).copied().unwrap_or_default();
        if have != *want {
            heap_fail = true;
            fails.push(format!(
                "own type {ty}: report count {} bytes {} != truth count {} bytes {}",
                have.count, have.bytes, want.count, want.bytes
            ));
        }
    }
    // Every type the GC tracks, by name: counts and bytes exact. The targets hold only types
    // whose `__sizeof__` leakspy models (tests/sizes.rs covers the flag itself), so none may be
    // flagged not exact here: that would silently skip their bytes.
    if !inexact.is_empty() {
        heap_fail = true;
        fails.push(format!("types flagged size_exact=false: {inexact:?}"));
    }
    for (ty, want) in &truth.types {
        let have = got.get(ty).copied().unwrap_or_default();
        let bytes_ok = have.bytes == want.bytes || inexact.contains(&ty.as_str());
        if have.count != want.count || !bytes_ok {
            heap_fail = true;
            fails.push(format!(
                "type {ty}: report tracked count {} bytes {} != truth count {} bytes {}",
                have.count, have.bytes, want.count, want.bytes
            ));
        }
    }
    for (ty, have) in got.iter().filter(|(_, v)| v.count > 0) {
        if !truth.types.contains_key(ty) {
            heap_fail = true;
            fails.push(format!(
                "report has tracked type {ty} ({have:?}) that the target does not have"
            ));
        }
    }
    for (ty, have) in got.iter().filter(|(k, _)| k.starts_with("__main__.")) {
        if !truth.own_types.contains_key(ty) {
            heap_fail = true;
            fails.push(format!(
                "report has own type {ty} ({have:?}) that the target does not have"
            ));
        }
    }
    let (obj_tol, byte_tol) = (
        objects_tolerance(truth.total_objects),
        bytes_tolerance(truth.total_bytes),
    );
    let (obj_diff, byte_diff) = (
        diff_u64(heap.tracked_objects, truth.total_objects),
        diff_u64(heap.tracked_bytes, truth.total_bytes),
    );
    let totals = format!(
        "heap totals (tracked): objects report {} truth {} (diff {obj_diff}, tolerance \
         {obj_tol}); bytes report {} truth {} (diff {byte_diff}, tolerance {byte_tol})",
        heap.tracked_objects, truth.total_objects, heap.tracked_bytes, truth.total_bytes
    );
    eprintln!("{ctx}: {totals}");
    if obj_diff > obj_tol || byte_diff > byte_tol {
        heap_fail = true;
        fails.push(totals);
    }
    if heap_fail {
        fails.push(type_diff_table(&truth.types, &got, 15));
    }

    // --- threads ---
    let truth_ids: BTreeSet<u64> = truth.threads.iter().map(|t| t.thread_id).collect();
    let report_ids: BTreeSet<u64> = report.threads.iter().map(|t| t.thread_id).collect();
    if truth_ids != report_ids {
        let describe = |ids: &BTreeSet<u64>| -> Vec<String> {
            ids.iter()
                .map(|id| {
                    let name = truth
                        .threads
                        .iter()
                        .find(|t| t.thread_id == *id)
                        .map(|t| t.name.as_str());
                    format!("{id} ({})", name.unwrap_or("not in truth"))
                })
                .collect()
        };
        fails.push(format!(
            "thread ids differ: missing from report {:?}; unexpected in report {:?}",
            describe(&truth_ids.difference(&report_ids).copied().collect()),
            describe(&report_ids.difference(&truth_ids).copied().collect()),
        ));
    }
    if report.threads.len() != report_ids.len() {
        fails.push(format!(
            "report lists {} threads but only {} distinct ids",
            report.threads.len(),
            report_ids.len()
        ));
    }
    for tt in &truth.threads {
        let Some(rt) = report.threads.iter().find(|r| r.thread_id == tt.thread_id) else {
            continue;
        };
        let who = format!("thread {} ({})", tt.name, tt.thread_id);
        match &rt.name {
            None => fails.push(format!("{who}: name is null (names are required)")),
            Some(n) if *n != tt.name => fails.push(format!("{who}: name {n:?} != {:?}", tt.name)),
            _ => {}
        }
        if rt.native_id != tt.native_id {
            fails.push(format!(
                "{who}: native_id {:?} != {:?}",
                rt.native_id, tt.native_id
            ));
        }
        if rt.idle != expect.idle {
            fails.push(format!(
                "{who}: idle is {:?}, expected {:?} (threads are blocked in C; cores cannot tell)",
                rt.idle, expect.idle
            ));
        }
        if rt.holds_gil {
            fails.push(format!(
                "{who}: holds_gil is true (GIL is released while blocked)"
            ));
        }
        // A stack cut short for a reason the report states (only allowed where the core lacks
        // the C stacks) must still be the innermost part of the truth.
        let cut_ok = expect.stacks_missing && rt.truncated.is_some() && !rt.frames.is_empty();
        let same = (rt.frames.len() == tt.frames.len()
            || (cut_ok && rt.frames.len() < tt.frames.len()))
            && rt.frames.iter().zip(&tt.frames).all(|(r, t)| {
                r.function == t.function && r.filename == t.filename && r.line == Some(t.line)
            });
        if !same {
            fails.push(format!(
                "{who}: frames differ\n    truth:\n{}    report:\n{}",
                fmt_truth_stack(&tt.frames),
                fmt_report_stack(&rt.frames)
            ));
        }
    }

    if !fails.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        panic!(
            "{ctx}: {} problem(s):\n- {}\n--- leakspy stderr ---\n{}",
            fails.len(),
            fails.join("\n- "),
            truncate(&stderr, 5_000)
        );
    }
    report
}

/// Assert a clean failure: exit code `code` and exactly one non-empty line on stderr.
pub fn assert_clean_error(out: &Output, code: i32, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit code {code}\n{}",
        show_output(out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one line on stderr\n{}",
        show_output(out)
    );
    stderr
}

/// A pid with no process behind it right now.
pub fn unused_pid() -> u32 {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    (300..max)
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .expect("no free pid")
}

// ---------------------------------------------------------------------------
// Core files.

/// A scratch directory on the host, removed on drop (cores are large).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "leakspy-test-{tag}-{}-{}",
            std::process::id(),
            SCRATCH_COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A core taken by gcore.
pub struct Gcore {
    pub path: PathBuf,
    /// gdb's own warnings that it could not copy some memory (other than the kernel's vsyscall
    /// page): with glibc 2.42+ on Linux 6.13+ it cannot copy thread stacks (guard regions inside
    /// the stack mapping) and leaves them zero.
    pub unreadable: Vec<String>,
}

/// Wait until the main thread of `pid` is blocked in `read(0, ...)`: heap_target.py prints its
/// truth line a moment before it gets there, and a core (a picture of that instant) must not catch
/// it on the way.
pub fn wait_blocked_in_read(pid: u32) {
    let deadline = std::time::Instant::now() + TARGET_READY_TIMEOUT;
    loop {
        let sc = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        let mut f = sc.split_whitespace();
        if (f.next(), f.next()) == (Some("0"), Some("0x0")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} never blocked in read(0) (syscall: {sc:?})"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Take a core of the running process `pid` with gdb's `gcore` (as a user would), once its main
/// thread is blocked.
pub fn gcore(pid: u32, dir: &Path) -> Gcore {
    wait_blocked_in_read(pid);
    let prefix = dir.join("core");
    let out = run_with_timeout(
        Command::new("gcore")
            .arg("-o")
            .arg(&prefix)
            .arg(pid.to_string()),
    );
    let core = dir.join(format!("core.{pid}"));
    assert!(
        out.status.success() && core.is_file(),
        "gcore -o {} {pid} failed (is gdb installed? scripts/setup-pythons.sh installs it)\n{}",
        prefix.display(),
        show_output(&out)
    );
    let unreadable = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("Memory read failed") && !l.contains("0xffffffffff600000"))
        .map(str::to_string)
        .collect();
    Gcore {
        path: core,
        unreadable,
    }
}

/// The repository's root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A venv made by `scripts/setup-pythons.sh` (`$LEAKSPY_CACHE/venvs.tsv`: name, python path), as
/// an interpreter run directly. A missing one fails like a missing interpreter.
pub fn venv(name: &str) -> Option<Interp> {
    let list = cache_dir().join("venvs.tsv");
    let text = match std::fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) => return missing(format!("venv list {} not readable: {e}", list.display())),
    };
    let found = text.lines().find_map(|line| {
        let mut it = line.split('\t');
        match (it.next(), it.next()) {
            (Some(n), Some(py)) if n == name => Some(Interp {
                name: format!("venv-{n}"),
                root: PathBuf::from("/"),
                python: py.trim().to_string(),
            }),
            _ => None,
        }
    });
    match found {
        Some(i) => Some(i),
        None => missing(format!("venv {name} not listed in {}", list.display())),
    }
}

/// Run a Python script (any path on the host) to completion in `interp` (copied into its root
/// first when chrooted) and return its stdout; panics on failure.
pub fn run_python_script(interp: &Interp, script: &Path) -> String {
    let file = script.file_name().unwrap();
    let mut cmd = if interp.chrooted() {
        let inside = PathBuf::from("/tmp/leakspy-tests").join(format!(
            "{}-{}-{}",
            interp.name,
            std::process::id(),
            SCRATCH_COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let on_host = interp.root.join(inside.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&on_host).unwrap();
        std::fs::copy(script, on_host.join(file)).unwrap();
        let mut c = Command::new("chroot");
        c.arg(&interp.root)
            .arg(&interp.python)
            .arg(inside.join(file));
        c
    } else {
        let mut c = Command::new(&interp.python);
        c.arg(script);
        c
    };
    let out = run_with_timeout(cmd.stdin(Stdio::null()));
    assert!(
        out.status.success(),
        "{}: {} failed\n{}",
        interp.name,
        script.display(),
        show_output(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
