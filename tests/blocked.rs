//! Why each thread is blocked (`threads[].blocked`, `deadlocks`): tests/targets/blocked_target.py
//! blocks threads in known places and prints who they are (idents, fds, its socket's addresses);
//! every thread's `blocked` must name the right system call, fd, fd kind and peer, the RLock cycle
//! must be the one deadlock, and, once the target's spinner holds the GIL in a C loop, the main
//! thread must be waiting for the GIL held by the spinner. Live, then from a gcore core (system
//! calls from the registers; fd targets unknown there), then the first picture from a kernel core
//! of a second target (`check_blocked_kernel_core`).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, serde::Deserialize)]
struct TThread {
    thread_id: u64,
    native_id: i64,
    fd: Option<i64>,
    local: Option<String>,
    remote: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Truth {
    pid: i64,
    threads: BTreeMap<String, TThread>,
}

/// What one thread's `blocked` must say.
struct Want {
    /// Acceptable system call names (and their x86_64 numbers, for waiting on /proc).
    syscalls: &'static [(&'static str, u64)],
    what: String,
    fd: Option<i64>,
    target: Option<String>,
    waits_for: Option<u64>,
}

const SLEEP: &[(&str, u64)] = &[
    ("clock_nanosleep", 230),
    ("nanosleep", 35),
    ("select", 23),
    ("pselect6", 270),
];
const FUTEX: &[(&str, u64)] = &[("futex", 202)];
const READ: &[(&str, u64)] = &[("read", 0)];
const RECV: &[(&str, u64)] = &[("recvfrom", 45)];
const SELECT: &[(&str, u64)] = &[("select", 23), ("pselect6", 270)];

fn wants(t: &Truth) -> BTreeMap<String, Want> {
    let th = |n: &str| &t.threads[n];
    let fd = |n: &str| th(n).fd;
    let io = |name: &str, verb: &str, sc: &'static [(&'static str, u64)], target: String| Want {
        syscalls: sc,
        what: format!("{verb} on fd {}: {target}", fd(name).unwrap_or(-1)),
        fd: fd(name),
        target: Some(target),
        waits_for: None,
    };
    let wait = |what: &str| Want {
        syscalls: FUTEX,
        what: what.into(),
        fd: None,
        target: None,
        waits_for: None,
    };
    let rlock = |other: &str| Want {
        syscalls: FUTEX,
        what: format!(
            "waiting on threading.RLock (held by thread {:#x})",
            th(other).thread_id
        ),
        fd: None,
        target: None,
        waits_for: Some(th(other).thread_id),
    };
    let recv = th("recv");
    let peer = format!(
        "socket tcp {} -> {}",
        recv.local.clone().unwrap_or_default(),
        recv.remote.clone().unwrap_or_default()
    );
    let mut w = BTreeMap::new();
    w.insert(
        "sleep".into(),
        Want {
            syscalls: SLEEP,
            what: "sleeping".into(),
            fd: None,
            target: None,
            waits_for: None,
        },
    );
    w.insert("lock".into(), wait("waiting on threading.Lock"));
    w.insert("event".into(), wait("waiting on threading.Event"));
    w.insert("queue".into(), wait("waiting on queue.Queue"));
    w.insert("pipe".into(), io("pipe", "read", READ, "pipe".into()));
    w.insert("recv".into(), io("recv", "recv", RECV, peer));
    w.insert(
        "select".into(),
        io("select", "select", SELECT, "pipe".into()),
    );
    w.insert("rlock-a".into(), rlock("rlock-b"));
    w.insert("rlock-b".into(), rlock("rlock-a"));
    // The harness's stdin pipe.
    w.insert("main".into(), io("main", "read", READ, "pipe".into()));
    w
}

/// Wait until the kernel shows thread `tid` of `pid` inside one of `nrs` (with `fd` as its first
/// argument when given): polls /proc, with a deadline.
fn wait_in_syscall(pid: u32, tid: i64, nrs: &[(&str, u64)], fd: Option<i64>) {
    let path = format!("/proc/{pid}/task/{tid}/syscall");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sc = std::fs::read_to_string(&path).unwrap_or_default();
        let mut f = sc.split_whitespace();
        let nr = f.next().and_then(|n| n.parse::<u64>().ok());
        let a0 = f
            .next()
            .and_then(|a| i64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
        let in_it = nr.is_some_and(|n| nrs.iter().any(|&(_, x)| x == n));
        // select's first argument is nfds (fd + 1); read/recv's is the fd.
        let fd_ok = match (fd, nr) {
            (None, _) => true,
            (Some(fd), Some(23 | 270)) => a0 == Some(fd + 1),
            (Some(fd), _) => a0 == Some(fd),
        };
        if in_it && fd_ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "thread {tid} of pid {pid} never got into {nrs:?} (syscall: {sc:?})"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn dump_json(args: &[String], ctx: &str) -> Value {
    let out = run_leakspy(args);
    // Exit 1: a partial report (a core whose thread stacks gdb could not copy), still complete JSON.
    let partial_ok = ctx.contains("stacks not in the core") && out.status.code() == Some(1);
    assert!(
        out.status.code() == Some(0) || partial_ok,
        "{ctx}\n{}",
        show_output(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{ctx}: not a report ({e})\n{}", show_output(&out)))
}

/// Every mismatch between the report's threads and `wants` (by thread id). `core`: fd targets
/// must be null and the words of fd waits lose their `: target` part.
fn mismatches(
    report: &Value,
    truth: &Truth,
    wants: &BTreeMap<String, Want>,
    core: bool,
    regs_only: bool,
) -> Vec<String> {
    let mut fails = Vec::new();
    let threads = report["threads"].as_array().cloned().unwrap_or_default();
    for (name, want) in wants {
        let id = truth.threads[name].thread_id;
        let Some(t) = threads.iter().find(|t| t["thread_id"].as_u64() == Some(id)) else {
            fails.push(format!("{name}: thread {id:#x} missing"));
            continue;
        };
        let b = &t["blocked"];
        let sc = b["syscall"].as_str().unwrap_or("null");
        if !want.syscalls.iter().any(|&(n, _)| n == sc) {
            fails.push(format!("{name}: syscall {sc} not in {:?}", want.syscalls));
        }
        // select's fd_set lives on the thread's stack: without the stacks its fd is unknown.
        let from_memory = matches!(sc, "select" | "pselect6" | "poll" | "ppoll");
        if b["fd"].as_i64() != want.fd && !(regs_only && from_memory && b["fd"].is_null()) {
            fails.push(format!("{name}: fd {} != {:?}", b["fd"], want.fd));
        }
        if regs_only {
            // The thread stacks are not in the core: only the registers' part can be right.
            continue;
        }
        let what = b["what"].as_str().unwrap_or("");
        let want_what = match (&want.target, core) {
            (Some(_), true) => want.what.split(": ").next().unwrap_or("").to_string(),
            _ => want.what.clone(),
        };
        if what != want_what {
            fails.push(format!("{name}: what {what:?} != {want_what:?}"));
        }
        let want_target = if core { None } else { want.target.clone() };
        if b["target"].as_str().map(str::to_string) != want_target {
            fails.push(format!("{name}: target {} != {want_target:?}", b["target"]));
        }
        if b["waits_for_thread"].as_u64() != want.waits_for {
            fails.push(format!(
                "{name}: waits_for_thread {} != {:?}",
                b["waits_for_thread"], want.waits_for
            ));
        }
    }
    let (a, b) = (
        truth.threads["rlock-a"].thread_id,
        truth.threads["rlock-b"].thread_id,
    );
    let want_cycle = Value::from(vec![vec![a.min(b), a.max(b)]]);
    if !regs_only && report["deadlocks"] != want_cycle {
        fails.push(format!("deadlocks {} != {want_cycle}", report["deadlocks"]));
    }
    fails
}

/// Dump up to `tries` times until `check` finds nothing wrong (a thread may be a moment away
/// from its wait when the kernel first shows it there); fail with the last picture's problems.
fn dump_until(
    args: &[String],
    ctx: &str,
    tries: usize,
    check: &dyn Fn(&Value) -> Vec<String>,
) -> Value {
    let mut last = Vec::new();
    for i in 0..tries {
        let report = dump_json(args, &format!("{ctx} (dump {})", i + 1));
        last = check(&report);
        if last.is_empty() {
            return report;
        }
    }
    panic!("{ctx}: {} problem(s):\n- {}", last.len(), last.join("\n- "));
}

fn dump_core(core: &Path, interp: &Interp) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "dump".into(),
        "--core".into(),
        core.display().to_string(),
        "--json".into(),
        "-q".into(),
        "--no-heap".into(),
    ];
    if interp.chrooted() {
        args.push("--sysroot".into());
        args.push(interp.root.display().to_string());
    }
    args
}

fn check_blocked(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (mut guard, line) = spawn_target(&interp, "blocked_target.py", &[]);
    let truth: Truth = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("[{name}] readiness line is not the truth ({e}): {line}"));
    let pid = guard.pid();
    assert_eq!(truth.pid, i64::from(pid), "[{name}] truth pid");
    let wants = wants(&truth);
    for (n, w) in &wants {
        let t = &truth.threads[n];
        wait_in_syscall(pid, t.native_id, w.syscalls, w.fd);
    }
    let live: Vec<String> = [
        "dump",
        "--pid",
        &pid.to_string(),
        "--json",
        "-q",
        "--no-heap",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ctx = format!("[{name}] live pid {pid}");
    let report = dump_until(&live, &ctx, 5, &|r| {
        mismatches(r, &truth, &wants, false, false)
    });
    // Every other thread of the report is accounted for (no stray ones).
    assert_eq!(
        report["threads"].as_array().map_or(0, Vec::len),
        wants.len(),
        "{ctx}: thread count"
    );

    // The same picture from a core: system calls from the registers.
    let dir = TempDir::new("blocked");
    let core = gcore(pid, &dir.0);
    let regs_only = !core.unreadable.is_empty();
    let ctx = format!(
        "[{name}] core {}{}",
        core.path.display(),
        if regs_only {
            " (stacks not in the core)"
        } else {
            ""
        }
    );
    // Where gdb could not copy the thread stacks (see docs/testing.md#core-files) the frames are
    // gone, so only the system calls and fds (from the registers) are checked.
    dump_until(&dump_core(&core.path, &interp), &ctx, 1, &|r| {
        mismatches(r, &truth, &wants, true, regs_only)
    });
    if regs_only {
        eprintln!(
            "{ctx}: gdb could not copy thread stacks; only system calls and fds checked ({:?})",
            core.unreadable
        );
    }
    drop(dir);

    // Phase 2: the spinner takes the GIL for good; the main thread waits for it.
    use std::io::Write as _;
    let stdin = guard.stdin.as_mut().expect("target stdin");
    stdin
        .write_all(b"go\n")
        .and_then(|()| stdin.flush())
        .expect("write go");
    let next = guard
        .lines
        .as_ref()
        .expect("target stdout")
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("[{name}] no spinner line: {e}"));
    let spinner: Value =
        serde_json::from_str(&next).unwrap_or_else(|e| panic!("[{name}] {e}: {next}"));
    let spinner = spinner["spinner"].as_u64().expect("spinner ident");
    let main_id = truth.threads["main"].thread_id;
    let ctx = format!("[{name}] live pid {pid}, spinner {spinner:#x} holding the GIL");
    dump_until(&live, &ctx, 40, &|r| {
        let mut fails = Vec::new();
        let threads = r["threads"].as_array().cloned().unwrap_or_default();
        let by_id = |id: u64| threads.iter().find(|t| t["thread_id"].as_u64() == Some(id));
        match by_id(spinner) {
            Some(s) if s["holds_gil"] == Value::Bool(true) && s["blocked"]["what"] == "running" => {
            }
            other => fails.push(format!("spinner not running with the GIL: {other:?}")),
        }
        match by_id(main_id) {
            Some(m)
                if m["blocked"]["syscall"] == "futex"
                    && m["blocked"]["waits_for_thread"].as_u64() == Some(spinner)
                    && m["blocked"]["what"]
                        == format!("waiting for the GIL (held by thread {spinner:#x})")
                            .as_str() => {}
            other => fails.push(format!(
                "main not waiting for the spinner's GIL: {:?}",
                other.map(|m| &m["blocked"])
            )),
        }
        fails
    });
}

/// The first picture again from a kernel core, on a second target of the same script started with
/// RLIMIT_CORE unlimited and killed by SIGABRT once every thread sits in its wait. The kernel
/// gives the signal to the main thread (in read(0)) and stops the others for the dump inside their
/// system calls, so every thread's registers are those of its wait (rip after the `syscall`
/// instruction, orig_rax the call, the arguments in place), the signalled one's included: the
/// same checks as the gcore, with the stacks in the core on every interpreter (gcore on sid has
/// none: glibc 2.42's guard regions).
fn check_blocked_kernel_core(interp: &Interp) {
    let name = &interp.name;
    if !kernel_cores_in_cwd() {
        return;
    }
    let (mut guard, line) =
        spawn_target_args_with(interp, "blocked_target.py", &[], &[], Launch::CoreDumping);
    let truth: Truth = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("[{name}] readiness line is not the truth ({e}): {line}"));
    let pid = guard.pid();
    assert_eq!(truth.pid, i64::from(pid), "[{name}] truth pid");
    let wants = wants(&truth);
    for (n, w) in &wants {
        wait_in_syscall(pid, truth.threads[n].native_id, w.syscalls, w.fd);
    }
    let dir = TempDir::new("blocked-kernel-core");
    let core = kernel_core_of(&mut guard, &dir.0, "ABRT");
    let ctx = format!("[{name}] kernel core {}", core.display());
    let report = dump_until(&dump_core(&core, interp), &ctx, 1, &|r| {
        mismatches(r, &truth, &wants, true, false)
    });
    assert_eq!(
        report["threads"].as_array().map_or(0, Vec::len),
        wants.len(),
        "{ctx}: thread count"
    );
}

macro_rules! blocked_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_blocked($interp);
                if let Some(interp) = interpreter($interp) {
                    check_blocked_kernel_core(&interp);
                }
            }
        )*
    };
}

blocked_tests! {
    blocked_pyenv_3_6_15 => "pyenv-3.6.15",
    blocked_pyenv_3_7_16 => "pyenv-3.7.16",
    blocked_pyenv_3_8_18 => "pyenv-3.8.18",
    blocked_pyenv_3_9_18 => "pyenv-3.9.18",
    blocked_pyenv_3_10_13 => "pyenv-3.10.13",
    blocked_pyenv_3_11_7 => "pyenv-3.11.7",
    blocked_pyenv_3_12_1 => "pyenv-3.12.1",
    blocked_pyenv_3_13_0 => "pyenv-3.13.0",
    blocked_debian_3_11 => "debian-3.11",
    blocked_debian_bullseye_3_9 => "debian-bullseye-3.9",
    blocked_debian_sid_3_13 => "debian-sid-3.13",
    blocked_debian_sid_3_14 => "debian-sid-3.14",
    blocked_debian_sid_3_15 => "debian-sid-3.15",
    blocked_debian_sid_3_13_debug => "debian-sid-3.13d",
    blocked_debian_sid_3_14_debug => "debian-sid-3.14d",
    blocked_debian_sid_3_15_debug => "debian-sid-3.15d",
}
