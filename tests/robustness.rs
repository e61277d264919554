//! Robustness (issue #7): never harm the target, never fall over.
//!
//! - `stress_nonblocking_*`: hundreds of `leakspy dump --nonblocking --json` in a row against
//!   `tests/targets/mutator.py`, whose threads rewrite their heap and stacks as fast as they can. Every
//!   dump must finish (per-dump timeout), exit 0 or 1 (1 = partial), never panic, and print valid JSON
//!   whose `partial` agrees with the exit code. The partial rate is printed.
//!   `LEAKSPY_STRESS_DUMPS=N` sets the number of dumps per interpreter.
//! - `kill_leakspy_*`: a paused dump of a ~1.5M-object target is interrupted with SIGINT, SIGTERM or
//!   SIGKILL at random moments — very early, anywhere in the run, and while the target is stopped —
//!   and the target must run on: no thread in state `T`/`t`, `TracerPid` 0, and it echoes a line.
//!   `LEAKSPY_KILL_RUNS=N` sets the runs per signal.
//! - Hostile or odd pids: a zombie, a target that exits mid-dump, a kernel thread, a Python still
//!   starting.
//! - Object contents are never printed: a secret held by the target (global, dict key and value,
//!   attribute, bytes, locals) appears in no output.
//!
//! Summaries are written straight to stderr (not captured by the test harness), so they show in the
//! `scripts/test.sh` log.

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A dump that takes longer than this is a hang.
const DUMP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a resumed target may take to echo a line.
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Uncaptured summary line (shows in the test log even when the test passes).
fn summary(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Small PRNG for delays (xorshift64), seeded from the clock; the seed is printed.
struct Rng(u64);

impl Rng {
    fn new(what: &str) -> Rng {
        let seed = std::env::var("LEAKSPY_ROBUSTNESS_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        summary(&format!(
            "{what}: delays from seed {seed} (LEAKSPY_ROBUSTNESS_SEED)"
        ));
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, max].
    fn below(&mut self, max: Duration) -> Duration {
        let us = max.as_micros() as u64;
        Duration::from_micros(if us == 0 { 0 } else { self.next() % (us + 1) })
    }
}

/// No panic: exit code 101 or "panicked" on stderr.
fn assert_no_panic(out: &Output, ctx: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(101) && !stderr.contains("panicked"),
        "{ctx}: leakspy panicked\n{}",
        show_output(out)
    );
}

// ---------------------------------------------------------------------------------------------------
// /proc checks of a target.

fn status_field(pid: u32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_string())
}

fn tracer_pid(pid: u32) -> Option<u32> {
    status_field(pid, "TracerPid:").and_then(|v| v.parse().ok())
}

/// State letter of every thread of `pid` (tid, state).
fn thread_states(pid: u32) -> Vec<(u32, char)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let tid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
        let state = stat[stat.rfind(')')? + 1..].trim_start().chars().next()?;
        Some((tid, state))
    })
    .collect()
}

/// Every thread of `pid` runs (not stopped or traced), nothing traces it, and it echoes a line.
/// Thread states may lag a detach by a scheduler tick: they are polled for up to a second.
fn assert_target_runs(t: &mut ChildGuard, ctx: &str) {
    let pid = t.pid();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let states = thread_states(pid);
        let stopped: Vec<&(u32, char)> = states
            .iter()
            .filter(|(_, s)| matches!(s, 'T' | 't'))
            .collect();
        let tracer = tracer_pid(pid);
        if stopped.is_empty() && tracer == Some(0) && !states.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "{ctx}: target {pid} left stopped or traced: stopped threads {stopped:?}, \
                 TracerPid {tracer:?}, states {states:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if let Err(e) = t.echo(
        &format!("ping {}", Instant::now().elapsed().as_nanos()),
        ECHO_TIMEOUT,
    ) {
        panic!("{ctx}: target {pid} does not answer: {e}");
    }
}

// ---------------------------------------------------------------------------------------------------
// 1. --nonblocking stress.

/// Warnings with numbers and addresses taken out, so that the same kind of race counts once.
fn warning_kind(w: &str) -> String {
    let words: Vec<String> = w
        .split(' ')
        .map(|word| {
            if word.starts_with(|c: char| c.is_ascii_digit()) {
                "N".to_string()
            } else {
                word.to_string()
            }
        })
        .collect();
    words.join(" ").chars().take(100).collect()
}

fn stress(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let dumps = env_count("LEAKSPY_STRESS_DUMPS", 300);
    let (mut t, _) = spawn_target(&interp, "mutator.py", &[]);
    let pid = t.pid().to_string();
    let t0 = Instant::now();
    let (mut partial, mut no_threads, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for i in 1..=dumps {
        let ctx = format!("[{name}] stress dump {i}/{dumps} of pid {pid}");
        let started = Instant::now();
        let out = try_run_leakspy(
            ["dump", "--pid", &pid, "--nonblocking", "--json", "-q"],
            DUMP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{ctx}: hang: {e}"));
        slowest = slowest.max(started.elapsed());
        assert_no_panic(&out, &ctx);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "{ctx}: exit code {code:?} (want 0, or 1 for partial)\n{}",
            show_output(&out)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{ctx}: stdout is not JSON ({e})\n{}", show_output(&out)));
        let is_partial = report["partial"].as_bool();
        assert_eq!(
            is_partial,
            Some(code == Some(1)),
            "{ctx}: \"partial\" disagrees with the exit code\n{}",
            show_output(&out)
        );
        assert_eq!(report["paused"].as_bool(), Some(false), "{ctx}");
        if code == Some(1) {
            partial += 1;
            for w in report["warnings"].as_array().into_iter().flatten() {
                let w = w.as_str().unwrap_or_default();
                if !w.starts_with("--nonblocking") {
                    *kinds.entry(warning_kind(w)).or_default() += 1;
                }
            }
        }
        if report["threads"].as_array().is_none_or(|a| a.is_empty()) {
            no_threads += 1;
        }
    }
    assert_target_runs(&mut t, &format!("[{name}] after {dumps} dumps"));
    let rate = 100.0 * partial as f64 / dumps as f64;
    summary(&format!(
        "[{name}] --nonblocking stress: {dumps} dumps in {:.1} s (slowest {:.0} ms), 0 panics, 0 hangs, \
         {partial} partial ({rate:.1}%), {no_threads} without threads",
        t0.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3
    ));
    let mut kinds: Vec<(String, usize)> = kinds.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    for (k, n) in kinds.iter().take(6) {
        summary(&format!("[{name}]   {n:>5} x {k}"));
    }
}

#[test]
fn stress_nonblocking_pyenv_3_12_1() {
    stress("pyenv-3.12.1");
}

#[test]
fn stress_nonblocking_debian_sid_3_14() {
    stress("debian-sid-3.14");
}

// ---------------------------------------------------------------------------------------------------
// 2. The paused target always resumes.

fn send(pid: u32, sig: Signal) {
    // A child this test spawned and has not reaped; it may have exited already (ignored).
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

/// Wait for `child` to exit, killing it after `timeout`; returns whether it exited in time.
fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn kill_leakspy(sig: Signal, signame: &str) {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let runs = env_count("LEAKSPY_KILL_RUNS", 30);
    let objects = env_count("LEAKSPY_KILL_OBJECTS", 1_500_000).to_string();
    let size = format!("leakspy_objects={objects}");
    let (mut t, _) = spawn_target(&interp, "big_heap.py", &["-X", &size]);
    let pid = t.pid();
    let ctx0 = format!("[{signame}] target {pid} ({objects} objects)");

    // One undisturbed dump: how long the phases take, so that kills can be placed in them.
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json", "-q"]);
    assert!(
        out.status.success(),
        "{ctx0}: reference dump\n{}",
        show_output(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = Duration::from_secs_f64(report["total_ms"].as_f64().unwrap() / 1e3);
    let pause = Duration::from_secs_f64(report["pause_ms"].as_f64().unwrap() / 1e3);
    assert_target_runs(&mut t, &format!("{ctx0}: after the reference dump"));

    let mut rng = Rng::new(&format!("kill_leakspy {signame}"));
    let mut during_pause = 0usize;
    let mut early = 0usize;
    for i in 0..runs {
        let mode = i % 3;
        let mut child = Command::new(env!("CARGO_BIN_EXE_leakspy"))
            .args(["dump", "--pid", &pid.to_string(), "--json", "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start leakspy");
        let lpid = child.id();
        let started = Instant::now();
        let what = match mode {
            // Very early: argument parsing, identification, buffer preparation.
            0 => {
                let d = rng.below(Duration::from_millis(50));
                std::thread::sleep(d);
                early += 1;
                format!("after {d:?}")
            }
            // Anywhere in a run.
            1 => {
                let d = rng.below(total + total / 5);
                std::thread::sleep(d);
                format!("after {d:?}")
            }
            // While the target is stopped: as soon as leakspy traces it, plus up to half the pause.
            _ => {
                while tracer_pid(pid) != Some(lpid) && started.elapsed() < DUMP_TIMEOUT {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    std::hint::spin_loop();
                }
                let d = rng.below(pause / 2);
                let spin = Instant::now();
                while spin.elapsed() < d {
                    std::hint::spin_loop();
                }
                format!("{d:?} into the pause")
            }
        };
        if tracer_pid(pid) == Some(lpid) {
            during_pause += 1;
        }
        send(lpid, sig);
        let ctx = format!("{ctx0}: run {i}, {signame} {what}");
        assert!(
            wait_exit(&mut child, DUMP_TIMEOUT),
            "{ctx}: leakspy did not exit after {signame}"
        );
        assert_target_runs(&mut t, &ctx);
    }
    summary(&format!(
        "[{signame}] {runs} kills of a paused dump of {objects} objects (pause {:.0} ms, total {:.0} ms): \
         target ran on every time; {during_pause} landed while it was stopped, {early} within 50 ms of start",
        pause.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3
    ));
}

#[test]
fn kill_leakspy_sigint() {
    kill_leakspy(Signal::SIGINT, "SIGINT");
}

#[test]
fn kill_leakspy_sigterm() {
    kill_leakspy(Signal::SIGTERM, "SIGTERM");
}

#[test]
fn kill_leakspy_sigkill() {
    kill_leakspy(Signal::SIGKILL, "SIGKILL");
}

// ---------------------------------------------------------------------------------------------------
// 4. Hostile and odd pids.

#[test]
fn error_zombie() {
    let mut child = Command::new("true")
        .stdin(Stdio::null())
        .spawn()
        .expect("start true");
    let pid = child.id();
    // Not reaped: once it has exited it stays a zombie until we wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while thread_states(pid).first().map(|s| s.1) != Some('Z') {
        assert!(Instant::now() < deadline, "pid {pid} never became a zombie");
        std::thread::sleep(Duration::from_millis(1));
    }
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json"]);
    let stderr = assert_clean_error(&out, 5, "dump of a zombie");
    assert!(
        stderr.contains("zombie"),
        "the message should say it is a zombie\n{}",
        show_output(&out)
    );
    let _ = child.wait();
}

/// Start leakspy with `args` (output captured); its pid and a channel that delivers its output.
fn spawn_leakspy(args: &[String]) -> (u32, std::sync::mpsc::Receiver<std::io::Result<Output>>) {
    let child = Command::new(env!("CARGO_BIN_EXE_leakspy"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start leakspy");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    (pid, rx)
}

/// The target is SIGKILLed at random moments of a dump (paused and not; early, anywhere, and while
/// leakspy has it stopped): a report, or one clear line with a documented exit code; never a panic
/// or a hang.
#[test]
fn target_exits_mid_dump() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let runs = env_count("LEAKSPY_EXIT_RUNS", 12);
    let mut rng = Rng::new("target_exits_mid_dump");
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    let mut while_paused = 0;
    for i in 0..runs {
        let (t, _) = spawn_target(&interp, "big_heap.py", &["-X", "leakspy_objects=300000"]);
        let pid = t.pid();
        let mut args = vec![
            "dump".to_string(),
            "--pid".into(),
            pid.to_string(),
            "--json".into(),
        ];
        let nonblocking = i % 4 == 3;
        if nonblocking {
            args.push("--nonblocking".into());
        }
        let (lpid, rx) = spawn_leakspy(&args);
        let started = Instant::now();
        let when = match i % 4 {
            0 => {
                let d = rng.below(Duration::from_millis(60));
                std::thread::sleep(d);
                format!("after {d:?}")
            }
            1 | 3 => {
                let d = rng.below(Duration::from_millis(700));
                std::thread::sleep(d);
                format!("after {d:?}")
            }
            _ => {
                while tracer_pid(pid) != Some(lpid) && started.elapsed() < DUMP_TIMEOUT {
                    std::hint::spin_loop();
                }
                while_paused += 1;
                "while paused".to_string()
            }
        };
        send(pid, Signal::SIGKILL);
        let ctx = format!("run {i} ({}): target killed {when}", args.join(" "));
        let out = match rx.recv_timeout(DUMP_TIMEOUT) {
            Ok(out) => out.expect("leakspy output"),
            Err(_) => {
                send(lpid, Signal::SIGKILL);
                panic!("{ctx}: leakspy hangs");
            }
        };
        assert_no_panic(&out, &ctx);
        let code = out.status.code().unwrap_or(-1);
        *codes.entry(code).or_default() += 1;
        match code {
            0 | 1 => {
                serde_json::from_slice::<serde_json::Value>(&out.stdout)
                    .unwrap_or_else(|e| panic!("{ctx}: not JSON ({e})\n{}", show_output(&out)));
            }
            // Gone (3), a zombie (5), structures unreadable (7), read failed (8).
            3 | 5 | 7 | 8 => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr.lines().last().unwrap_or_default();
                assert!(
                    last.starts_with("leakspy: ") && out.stdout.is_empty(),
                    "{ctx}: want one clear error line\n{}",
                    show_output(&out)
                );
            }
            _ => panic!("{ctx}: undocumented exit code\n{}", show_output(&out)),
        }
        drop(t);
    }
    summary(&format!(
        "target SIGKILLed mid-dump: {runs} runs ({while_paused} while paused), exit codes {codes:?} \
         (0/1 report, 3 gone, 5 zombie, 8 read or pause failed)"
    ));
}

/// A kernel thread (no memory map): "not a Python process". Skipped when none is visible (a
/// container's own pid namespace shows no kernel threads).
#[test]
fn error_kernel_thread() {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let is_kthread = |pid: u32| -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let rest = &s[s.rfind(')')? + 1..];
                // Fields after comm: state ppid pgrp session tty_nr tpgid flags
                rest.split_whitespace().nth(6)?.parse::<u64>().ok()
            })
            .is_some_and(|flags| flags & PF_KTHREAD != 0)
    };
    let pid = [2u32]
        .into_iter()
        .chain((3..200).filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists()))
        .find(|&p| is_kthread(p));
    let Some(pid) = pid else {
        eprintln!(
            "SKIPPED: no kernel thread visible in this pid namespace (pid 2 is not kthreadd)"
        );
        return;
    };
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json"]);
    assert_clean_error(&out, 5, &format!("dump of kernel thread {pid}"));
}

/// Dumps right after exec, while the interpreter initialises: a report or a clean documented error.
#[test]
fn python_still_starting() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    assert!(!interp.chrooted());
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    for delay_ms in [0u64, 0, 1, 2, 3, 5, 8, 12, 20, 30] {
        let child = Command::new(&interp.python)
            .args(["-I", "-c", "import sys; sys.stdin.read()"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python");
        let guard = ChildGuard::new(child);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let out = try_run_leakspy(
            ["dump", "--pid", &guard.pid().to_string(), "--json"],
            DUMP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("dump {delay_ms} ms after start: hang: {e}"));
        let ctx = format!("dump {delay_ms} ms after start");
        assert_no_panic(&out, &ctx);
        let code = out.status.code().unwrap_or(-1);
        assert!(
            matches!(code, 0 | 1 | 5 | 7 | 8),
            "{ctx}: exit code {code}\n{}",
            show_output(&out)
        );
        if code >= 2 {
            assert_clean_error(&out, code, &ctx);
        }
        *codes.entry(code).or_default() += 1;
        drop(guard);
    }
    summary(&format!("python still starting: exit codes {codes:?}"));
}

// ---------------------------------------------------------------------------------------------------
// 5. Object contents are never printed.

#[test]
fn secrets_never_printed() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    for py_args in [&[][..], &["-X", "tracemalloc=5"][..]] {
        let (t, first_line) = spawn_target(&interp, "secret_target.py", py_args);
        let ready: serde_json::Value = serde_json::from_str(&first_line).unwrap();
        let secret = ready["secret"].as_str().unwrap().to_string();
        let pid = t.pid().to_string();
        for args in [
            vec!["dump", "--pid", &pid],
            vec!["dump", "--pid", &pid, "--json"],
            vec!["dump", "--pid", &pid, "--json", "--nonblocking"],
            vec!["dump", "--pid", &pid, "--top", "100000"],
        ] {
            let out = run_leakspy(&args);
            let ctx = format!("leakspy {} (target {py_args:?})", args.join(" "));
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{ctx}\n{}",
                show_output(&out)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            // The dump did see the thread that holds the secret in a local.
            assert!(
                stdout.contains("keep_local"),
                "{ctx}: no holder thread\n{stdout}"
            );
            for (stream, text) in [
                ("stdout", &stdout),
                ("stderr", &String::from_utf8_lossy(&out.stderr)),
            ] {
                assert!(
                    !text.contains("leakspy-secret-") && !text.contains(&secret[15..]),
                    "{ctx}: the secret appears on {stream}\n{}",
                    show_output(&out)
                );
            }
        }
        drop(t);
    }
}

// ---------------------------------------------------------------------------------------------------
// 5. A pause never lands inside a garbage collection.

/// `tests/targets/gc_busy.py` is inside `gc.collect()` about a third of the time (it measures its own
/// duty cycle, which must be at least 20%: otherwise this test could not fail). Twenty paused dumps
/// must each be complete (exit 0, not partial, no torn-list warning) and count the target's 100,000
/// `Node` objects exactly.
#[test]
fn pause_outside_gc() {
    for name in ["pyenv-3.12.1", "debian-sid-3.14"] {
        let Some(interp) = interpreter(name) else {
            continue;
        };
        let (mut t, ready) = spawn_target(&interp, "gc_busy.py", &[]);
        let truth: serde_json::Value = serde_json::from_str(&ready).expect("ready line");
        let nodes = truth["nodes"].as_u64().expect("nodes");
        let pid = t.pid().to_string();
        let (mut retried, dumps) = (0usize, 20usize);
        for i in 1..=dumps {
            let ctx = format!("[{name}] dump {i}/{dumps} of gc_busy.py {pid}");
            let out = try_run_leakspy(["dump", "--pid", &pid, "--json", "-q"], DUMP_TIMEOUT)
                .unwrap_or_else(|e| panic!("{ctx}: hang: {e}"));
            assert_no_panic(&out, &ctx);
            assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(&out));
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("JSON report");
            let warnings = report["warnings"].to_string();
            assert!(
                !warnings.contains("garbage collection was running"),
                "{ctx}: {warnings}"
            );
            retried += usize::from(warnings.contains("landed inside a garbage collection"));
            let node = report["heap"]["types"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "__main__.Node")
                .unwrap_or_else(|| panic!("{ctx}: no __main__.Node in the heap"));
            assert_eq!(node["count"].as_u64(), Some(nodes), "{ctx}");
        }
        let stats = gc_busy_stats(&mut t);
        let duty = stats["duty"].as_f64().expect("duty");
        summary(&format!(
            "[{name}] gc_busy: target inside a collection {:.0}% of the time ({} collections); \
             {retried}/{dumps} dumps paused again to leave a collection; all complete",
            duty * 100.0,
            stats["collections"]
        ));
        assert!(
            duty >= 0.2,
            "[{name}] the target collected only {:.0}% of the time",
            duty * 100.0
        );
    }
}

/// Ask gc_busy.py for its duty-cycle line.
fn gc_busy_stats(t: &mut ChildGuard) -> serde_json::Value {
    let stdin = t.stdin.as_mut().expect("stdin");
    stdin
        .write_all(b"stats\n")
        .and_then(|()| stdin.flush())
        .expect("write stats");
    let line = t
        .lines
        .as_ref()
        .expect("stdout lines")
        .recv_timeout(ECHO_TIMEOUT)
        .expect("stats line");
    serde_json::from_str(&line).expect("stats JSON")
}

// ---------------------------------------------------------------------------------------------------
// 6. A paused dump is a consistent picture, however busy the target.

/// Thirty paused dumps of `mutator.py` (threads rewriting heap and stacks as fast as they can) must
/// each be complete: exit 0, no warning other than "took N pictures" (a pause that caught the GIL
/// holder halfway through an update is retaken), no truncated stack. This needs the stack pieces on
/// the threads' C stacks (3.11/3.12 `_PyCFrame`, 3.12+ entry frames) read while the target is
/// stopped.
fn paused_mutator(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (mut t, _) = spawn_target(&interp, "mutator.py", &[]);
    let pid = t.pid().to_string();
    let dumps = env_count("LEAKSPY_PAUSED_DUMPS", 30);
    let retaken = |w: &str| w.starts_with("took ") && w.contains(" pictures: ");
    let mut retakes = 0;
    for i in 1..=dumps {
        let ctx = format!("[{name}] paused dump {i}/{dumps} of mutator.py {pid}");
        let out = try_run_leakspy(["dump", "--pid", &pid, "--json", "-q"], DUMP_TIMEOUT)
            .unwrap_or_else(|e| panic!("{ctx}: hang: {e}"));
        assert_no_panic(&out, &ctx);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{ctx}: not JSON ({e})\n{}", show_output(&out)));
        let truncated: Vec<String> = report["threads"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                t["truncated"]
                    .as_str()
                    .map(|w| format!("{}: {w}", t["name"]))
            })
            .collect();
        assert!(
            truncated.is_empty(),
            "{ctx}: truncated stacks {truncated:?}"
        );
        let warnings: Vec<String> = report["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .filter(|w| !w.contains("landed inside a garbage collection"))
            .filter(|w| !retaken(w))
            // a fact about free-threaded builds, not about this picture
            .filter(|w| !w.starts_with("free-threaded build: there is no GIL"))
            .collect();
        assert!(
            warnings.is_empty(),
            "{ctx}: warnings {warnings:?} (exit {:?}, all warnings {})",
            out.status.code(),
            report["warnings"]
        );
        retakes += report["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|w| w.as_str().is_some_and(retaken))
            .count();
        assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(&out));
    }
    assert_target_runs(&mut t, &format!("[{name}] after {dumps} paused dumps"));
    summary(&format!(
        "[{name}] {dumps} paused dumps of mutator.py: all complete; {retakes} needed another picture"
    ));
}

#[test]
fn paused_mutator_pyenv_3_11_7() {
    paused_mutator("pyenv-3.11.7");
}

#[test]
fn paused_mutator_pyenv_3_12_1() {
    paused_mutator("pyenv-3.12.1");
}

#[test]
fn paused_mutator_pyenv_3_9_18() {
    paused_mutator("pyenv-3.9.18");
}

#[test]
fn paused_mutator_pyenv_3_8_18() {
    paused_mutator("pyenv-3.8.18");
}

#[test]
fn paused_mutator_pyenv_3_7_16() {
    paused_mutator("pyenv-3.7.16");
}

#[test]
fn paused_mutator_pyenv_3_6_15() {
    paused_mutator("pyenv-3.6.15");
}

#[test]
fn paused_mutator_debian_sid_3_14() {
    paused_mutator("debian-sid-3.14");
}

/// Free-threaded: the mutator's threads run truly in parallel (no GIL), so the pause stops each
/// of them anywhere, not only where the GIL is released.
#[test]
fn paused_mutator_debian_sid_3_13t() {
    paused_mutator("debian-sid-3.13t");
}

#[test]
fn stress_nonblocking_debian_sid_3_13t() {
    stress("debian-sid-3.13t");
}
