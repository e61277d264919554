//! Spawning target scripts (directly, in a chroot, in a pid namespace, core-dumping) and waiting
//! for their readiness line; `ChildGuard`, the chroot scratch directories, pid-namespace helpers,
//! `unused_pid`, `repo_root` and `run_python_script`.

use super::interpreters::Interp;
use super::leakspy::{run_with_timeout, show_output};
use super::truth::Truth;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long a target may take to print its truth line. Targets are ready in
/// ~0.1 s; the margin is for a loaded 2-core machine running tests in parallel.
pub(super) const TARGET_READY_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Write one line to the target's stdin (the test protocols' "go", "truth", ...).
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("target stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to the target");
    }

    /// The next line the target prints on stdout, waiting at most `wait` (`name` for the panic).
    pub fn next_line(&mut self, wait: Duration, name: &str) -> String {
        self.lines
            .as_ref()
            .expect("target stdout")
            .recv_timeout(wait)
            .unwrap_or_else(|_| panic!("{name}: the target printed nothing"))
    }

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

pub(super) static SCRATCH_COUNTER: AtomicUsize = AtomicUsize::new(0);

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
    /// Through `sh -c 'ulimit -c unlimited; cd SCRATCH; exec python ...'`: a fatal signal makes
    /// the kernel write its core into the scratch directory (with core_pattern `core`). The scratch
    /// directory is inside the chroot for chroot interpreters, a host temporary one otherwise.
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

/// [`spawn_target_args`], started the way `launch` says.
pub fn spawn_target_args_with(
    interp: &Interp,
    script: &str,
    py_args: &[&str],
    script_args: &[&str],
    launch: Launch,
) -> (ChildGuard, String) {
    spawn_target_full(interp, script, py_args, script_args, launch)
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
        let mut argv: Vec<std::ffi::OsString> = vec![interp.python.clone().into(), "-I".into()];
        argv.extend(py_args.iter().map(Into::into));
        argv.push(src.clone().into());
        argv.extend(script_args.iter().map(Into::into));
        if launch == Launch::CoreDumping {
            // A host scratch directory to be the working directory the kernel writes `core` into.
            let dir = std::env::temp_dir().join(format!(
                "leakspy-test-core-{}-{}-{}",
                interp.name,
                std::process::id(),
                SCRATCH_COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
            let script = format!(
                "ulimit -c unlimited && cd '{}' && exec \"$@\"",
                dir.display()
            );
            let mut wrapped: Vec<std::ffi::OsString> =
                vec!["/bin/sh".into(), "-c".into(), script.into(), "sh".into()];
            wrapped.extend(argv);
            (wrapped, Some(dir))
        } else {
            (argv, None)
        }
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

/// The repository's root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
