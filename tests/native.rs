//! `leakspy dump --native` against gdb: tests/targets/native_target.py blocks threads in known C
//! places (time.sleep, Lock.acquire, queue.get, os.read on a pipe, select.select, a ctypes call into
//! libc, and Python -> C extension -> Python); gdb prints every thread's stack
//! (`thread apply all bt`), detaches, then leakspy reads the same stopped-in-place threads.
//!
//! Truth is gdb's: every frame gdb prints must be in leakspy's `native_frames`, in the same order,
//! with the same function and (where gdb prints one) the same address. The merge is checked against
//! leakspy's own two halves: the Python frames of `merged` equal `frames`, and they sit exactly where
//! the `_PyEval_EvalFrameDefault` frames of `native_frames` were.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One frame of gdb's `bt`: its function and, when gdb prints it, its address.
#[derive(Debug, Clone)]
struct GdbFrame {
    function: String,
    address: Option<u64>,
    /// The instruction before `address` is a jump (read from the live target while gdb's picture
    /// is taken): see the tail-call rule in `check_report`.
    after_jump: bool,
}

/// `thread apply all bt` parsed: LWP -> frames, innermost first.
/// A chrooted target's files (and debug files) are under `root`, so gdb is pointed there.
fn gdb_stacks(interp: &Interp, pid: u32) -> std::collections::HashMap<i64, Vec<GdbFrame>> {
    let root = &interp.root;
    let mut cmd = Command::new("gdb");
    cmd.args(["-nx", "-batch", "-ex", "set pagination off"]);
    if root != Path::new("/") {
        cmd.args(["-ex", &format!("set sysroot {}", root.display())]);
        cmd.args([
            "-ex",
            &format!(
                "set debug-file-directory {}",
                root.join("usr/lib/debug").display()
            ),
        ]);
        let exe = root.join(interp.python.trim_start_matches('/'));
        cmd.args(["-ex", &format!("file {}", exe.display())]);
    }
    cmd.args([
        "-ex",
        &format!("attach {pid}"),
        "-ex",
        "thread apply all bt",
    ]);
    let out = run_with_timeout(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut stacks = std::collections::HashMap::new();
    let mut cur: Option<i64> = None;
    for line in text.lines() {
        if line.starts_with("Thread ") {
            cur = line.split("(LWP ").nth(1).and_then(|s| {
                let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            });
            if let Some(t) = cur {
                stacks.insert(t, Vec::new());
            }
            continue;
        }
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some(t) = cur else { continue };
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit()).trim();
        let (address, rest) = match rest.strip_prefix("0x") {
            Some(r) => {
                let (hex, tail) = r.split_once(" in ").unwrap_or((r, ""));
                (u64::from_str_radix(hex.trim(), 16).ok(), tail)
            }
            None => (None, rest),
        };
        let function = rest.split(" (").next().unwrap_or("").trim().to_string();
        let after_jump = address.is_some_and(|a| is_after_jump(pid, a));
        stacks.get_mut(&t).unwrap().push(GdbFrame {
            function,
            address,
            after_jump,
        });
    }
    assert!(
        !stacks.is_empty(),
        "gdb printed no threads:\n{}",
        show_output(&out)
    );
    stacks
}

/// Build tests/targets/native_ext.c against `interp`'s headers (inside its chroot for chrooted
/// ones); returns the module's path as the target sees it, or `None` (with the reason printed)
/// where the interpreter ships no headers.
fn build_ext(interp: &Interp, dir: &Path) -> Option<String> {
    let mut q = if interp.chrooted() {
        let mut c = Command::new("chroot");
        c.arg(&interp.root).arg(&interp.python);
        c
    } else {
        Command::new(&interp.python)
    };
    let inc = q
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .ok()?;
    let inc_inside = String::from_utf8_lossy(&inc.stdout).trim().to_string();
    let inc = interp.root.join(inc_inside.trim_start_matches('/'));
    if !inc.join("Python.h").is_file() {
        eprintln!(
            "{}: no Python.h in {}: the extension thread is left out",
            interp.name,
            inc.display()
        );
        return None;
    }
    let so = dir.join("native_ext.so");
    let out = run_with_timeout(
        Command::new("cc").args([
            "-shared",
            "-fPIC",
            "-O1",
            "-g",
            "-I",
            inc.to_str().unwrap(),
            // Debian's pyconfig.h includes its multiarch twin from <x86_64-linux-gnu/...>.
            "-idirafter",
            interp.root.join("usr/include").to_str().unwrap(),
            "-o",
            so.to_str().unwrap(),
            repo_root()
                .join("tests/targets/native_ext.c")
                .to_str()
                .unwrap(),
        ]),
    );
    assert!(
        out.status.success(),
        "building native_ext:\n{}",
        show_output(&out)
    );
    let inside = so.strip_prefix(&interp.root).ok()?;
    Some(format!("/{}", inside.display()))
}

/// Wait until every thread of `pid` sits in a system call (not "running").
fn wait_all_in_syscalls(pid: u32, tids: &[i64]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = tids.iter().all(|t| {
            let sc = std::fs::read_to_string(format!("/proc/{pid}/task/{t}/syscall"))
                .unwrap_or_default();
            !sc.is_empty() && !sc.starts_with("running")
        });
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "threads of {pid} never all blocked"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether the instruction that ends at `addr` in the target is a `jmp rel32` / `jmp rel8` (what
/// gdb prints as the address of a tail-call frame), read from `/proc/PID/mem`.
fn is_after_jump(pid: u32, addr: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::File::open(format!("/proc/{pid}/mem")) else {
        return false;
    };
    let mut b = [0u8; 5];
    if f.read_exact_at(&mut b, addr - 5).is_err() {
        return false;
    }
    b[0] == 0xe9 || b[3] == 0xeb
}

fn is_eval(f: &Value) -> bool {
    f["function"] == "_PyEval_EvalFrameDefault" && f["inlined"] == false
}

/// gdb's name for a function as leakspy would print it: gdb adds `@plt`, `@GLIBC_...`, and prints
/// the symbol-table name of GCC's clones (`_PyObject_MakeTpCall.constprop.1`) where DWARF (which
/// leakspy prints) names the function.
fn gdb_name(s: &str) -> &str {
    let s = s.split('@').next().unwrap_or(s);
    s.split('.').next().unwrap_or(s)
}

fn check_native(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    // Inside the chroot for chrooted interpreters, so that the target can load the extension.
    let dir = if interp.chrooted() {
        let d = interp.root.join(format!(
            "tmp/leakspy-tests/native-ext-{}-{}",
            name,
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    } else {
        TempDir::new(&format!("native-{name}"))
    };
    let ext = build_ext(&interp, &dir.0);
    let args: Vec<&str> = ext.iter().map(String::as_str).collect();
    // Started with RLIMIT_CORE unlimited in a scratch working directory, so that the kernel can
    // write its core at the end; the live and gcore halves do not notice.
    let (mut child, line) =
        spawn_target_args_with(&interp, "native_target.py", &[], &args, Launch::CoreDumping);
    let pid = child.pid();
    let truth: Value = serde_json::from_str(&line).expect("readiness line");
    let tids: Vec<i64> = truth["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["native_id"].as_i64().unwrap())
        .collect();
    // native_ids are the target's view; the harness runs in the same pid namespace.
    wait_all_in_syscalls(pid, &tids);
    let gdb = gdb_stacks(&interp, pid);
    let out = run_leakspy([
        "dump",
        "--pid",
        &pid.to_string(),
        "--native",
        "--no-heap",
        "--json",
    ]);
    check_report(
        &format!("{name} live"),
        &out,
        &gdb,
        tids.len(),
        ext.is_some(),
    );
    // The same threads from a gcore of the same moment (they stay blocked where gdb saw them).
    let cores = TempDir::new(&format!("native-core-{name}"));
    let core = gcore(pid, &cores.0);
    if core.unreadable.is_empty() {
        let out = run_leakspy(core_args(&core.path, &interp));
        check_report(
            &format!("{name} gcore"),
            &out,
            &gdb,
            tids.len(),
            ext.is_some(),
        );
    } else {
        eprintln!(
            "{name}: gcore could not copy some memory; gcore part skipped (the kernel core \
             below has the stacks): {:?}",
            core.unreadable
        );
    }
    std::fs::remove_file(&core.path).ok();
    // The same threads from the kernel's core: SIGABRT (default action: core) to the process.
    // The kernel hands a process-directed signal to one thread (the main thread, blocked in
    // read(0)); it wakes and dumps, and every other thread is stopped for the dump where it
    // sleeps. No thread runs user code on the way: each one's registers are those of its system
    // call (rip after the `syscall` instruction, rsp unchanged, as gdb saw them; only rax holds
    // -ERESTARTSYS and the like instead of what gdb sees), so every frame gdb printed must be there
    // exactly, the signalled thread's included.
    if kernel_cores_in_cwd() {
        let core = kernel_core_of(&mut child, &cores.0, "ABRT");
        let out = run_leakspy(core_args(&core, &interp));
        check_report(
            &format!("{name} kernel core"),
            &out,
            &gdb,
            tids.len(),
            ext.is_some(),
        );
    }
    drop(child);
}

/// `leakspy dump --core CORE --native --no-heap --json`, with `--sysroot` for chroot interpreters
/// (where the chroot's files, and its debug files, are; a kernel core also names its files as the
/// chroot saw them).
fn core_args(core: &Path, interp: &Interp) -> Vec<String> {
    let mut args: Vec<String> = ["dump", "--core"].iter().map(|s| s.to_string()).collect();
    args.push(core.display().to_string());
    args.extend(["--native", "--no-heap", "--json"].map(String::from));
    if interp.chrooted() {
        args.extend(["--sysroot".to_string(), interp.root.display().to_string()]);
    }
    args
}

/// The per-thread checks of one `dump --native --json` output against gdb's stacks.
fn check_report(
    name: &str,
    out: &std::process::Output,
    gdb: &std::collections::HashMap<i64, Vec<GdbFrame>>,
    nthreads: usize,
    ext: bool,
) {
    let ctx = format!("{name}: leakspy dump --native\n{}", show_output(out));
    assert!(out.status.success(), "{ctx}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let threads = report["threads"].as_array().unwrap();
    assert_eq!(threads.len(), nthreads, "{ctx}");
    for t in threads {
        let tname = t["name"].as_str().unwrap_or("?");
        let host = t["host_native_id"].as_i64().unwrap();
        let tctx = format!("{name} thread {tname} (tid {host})");
        let native = t["native_frames"]
            .as_array()
            .unwrap_or_else(|| panic!("{tctx}: no native_frames"));
        assert!(
            t.get("native_truncated").is_none(),
            "{tctx}: {:?}",
            t["native_truncated"]
        );
        // Every gdb frame, in order, with its function and address.
        let want = gdb
            .get(&host)
            .unwrap_or_else(|| panic!("{tctx}: gdb has no such thread"));
        let mut at = 0;
        for g in want {
            let found = native[at..].iter().position(|f| {
                let fun = f["function"].as_str().unwrap_or("??");
                gdb_name(fun) == gdb_name(&g.function)
                    && g.address.is_none_or(|a| f["address"].as_u64() == Some(a))
            });
            let Some(i) = found else {
                // gdb synthesizes frames for tail calls from DWARF call-site information
                // (`_PyObject_VectorcallTstate` jumping to `_PyObject_MakeTpCall`): no return
                // address of theirs is on the stack, so a stack walk cannot see them. Such a frame
                // is let go only when the instruction before its address is a jump, not a call.
                if g.after_jump {
                    continue;
                }
                panic!(
                    "{tctx}: gdb frame {g:?} is not in leakspy's native frames after #{at}\n\
                     gdb: {want:#?}\nleakspy: {}",
                    serde_json::to_string_pretty(native).unwrap()
                );
            };
            at += i + 1;
        }
        // The merge: Python frames equal `frames`, and each run sits where an eval frame was.
        let merged = t["merged"].as_array().unwrap();
        let py: Vec<&Value> = merged.iter().filter(|f| f["kind"] == "python").collect();
        let frames = t["frames"].as_array().unwrap();
        assert_eq!(py.len(), frames.len(), "{tctx}: python frames of merged");
        for (m, f) in py.iter().zip(frames) {
            for k in ["function", "filename", "line"] {
                assert_eq!(m[k], f[k], "{tctx}: merged python frame {m} vs {f}");
            }
        }
        let mut j = 0;
        let mut k = 0;
        while k < merged.len() {
            let m = &merged[k];
            assert!(
                j < native.len(),
                "{tctx}: merged has more frames than native"
            );
            if m["kind"] == "python" {
                assert!(
                    is_eval(&native[j]),
                    "{tctx}: Python frames at #{k} replace {}",
                    native[j]
                );
                while k < merged.len() && merged[k]["kind"] == "python" {
                    k += 1;
                }
            } else {
                assert_eq!(m["address"], native[j]["address"], "{tctx}: merged #{k}");
                assert_eq!(m["function"], native[j]["function"], "{tctx}: merged #{k}");
                assert!(
                    !is_eval(m) || frames.is_empty(),
                    "{tctx}: eval frame left at #{k}"
                );
                k += 1;
            }
            j += 1;
        }
        assert_eq!(j, native.len(), "{tctx}: merged ends early");
    }
    // The extension thread runs Python -> C -> Python: its merged stack has both Python runs with
    // the extension's C frame between them.
    if ext {
        let t = threads
            .iter()
            .find(|t| t["name"] == "ext")
            .expect("ext thread");
        let merged = t["merged"].as_array().unwrap();
        let pos = |p: &dyn Fn(&Value) -> bool| merged.iter().position(p);
        let cb = pos(&|f| f["function"] == "ext_callback").expect("ext_callback in merged");
        let c = pos(&|f| f["function"] == "call" && f["kind"] == "native").expect("call in merged");
        let outer = pos(&|f| f["function"] == "in_ext").expect("in_ext in merged");
        assert!(
            cb < c && c < outer,
            "{name}: order of Python -> C -> Python in {merged:#?}"
        );
    }
}

macro_rules! native_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_native($interp);
            }
        )*
    };
}

native_tests! {
    native_pyenv_3_6_15 => "pyenv-3.6.15",
    native_pyenv_3_7_16 => "pyenv-3.7.16",
    native_pyenv_3_8_18 => "pyenv-3.8.18",
    native_pyenv_3_9_18 => "pyenv-3.9.18",
    native_pyenv_3_10_13 => "pyenv-3.10.13",
    native_pyenv_3_11_7 => "pyenv-3.11.7",
    native_pyenv_3_12_1 => "pyenv-3.12.1",
    native_pyenv_3_13_0 => "pyenv-3.13.0",
    native_debian_3_11 => "debian-3.11",
    native_debian_bullseye_3_9 => "debian-bullseye-3.9",
    native_debian_sid_3_13 => "debian-sid-3.13",
    native_debian_sid_3_14 => "debian-sid-3.14",
    native_debian_sid_3_15 => "debian-sid-3.15",
    native_debian_sid_3_13_debug => "debian-sid-3.13d",
    native_debian_sid_3_14_debug => "debian-sid-3.14d",
    native_debian_sid_3_15_debug => "debian-sid-3.15d",
    native_debian_sid_3_13t => "debian-sid-3.13t",
}
