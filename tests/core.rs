//! Core files (issue 6): `leakspy dump --core` must give the same report as a live dump.
//!
//! For every interpreter of the matrix: start tests/targets/heap_target.py, take a core with gdb's
//! `gcore` (as a user would), kill the target, read the core, and compare with the truth the target
//! computed about itself, exactly as tests/live.rs does (except `idle`: a core cannot tell, so it
//! must be null). Chroot interpreters get `--sysroot`.
//!
//! gcore, run from the host, records host paths in NT_FILE. A kernel core of a chrooted process
//! records the paths as the process saw them (`/usr/bin/python3.14`), which do not exist on the host
//! or are other builds (that is where py-spy gives up): `kernel_core_*` crash a chrooted target with
//! SIGABRT and read its kernel-written core with and without `--sysroot`.
//!
//! Bad input: truncated cores, garbage files, executables passed as cores, and a mismatched `--exe`
//! are refused with one line on stderr and their exit code (9 binaries, 10 unusable core).

mod common;

use common::*;
use std::path::{Path, PathBuf};

macro_rules! core_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_core($interp);
            }
        )*
    };
}

core_tests! {
    core_pyenv_3_6_15 => "pyenv-3.6.15",
    core_pyenv_3_7_16 => "pyenv-3.7.16",
    core_pyenv_3_8_18 => "pyenv-3.8.18",
    core_pyenv_3_9_18 => "pyenv-3.9.18",
    core_pyenv_3_10_13 => "pyenv-3.10.13",
    core_pyenv_3_11_7 => "pyenv-3.11.7",
    core_pyenv_3_12_1 => "pyenv-3.12.1",
    core_pyenv_3_13_0 => "pyenv-3.13.0",
    core_debian_3_11 => "debian-3.11",
    core_debian_bullseye_3_9 => "debian-bullseye-3.9",
    core_debian_sid_3_13 => "debian-sid-3.13",
    core_debian_sid_3_14 => "debian-sid-3.14",
    core_debian_sid_3_15 => "debian-sid-3.15",
    core_debian_sid_3_13_debug => "debian-sid-3.13d",
    core_debian_sid_3_14_debug => "debian-sid-3.14d",
    core_debian_sid_3_15_debug => "debian-sid-3.15d",
    core_debian_sid_3_13t => "debian-sid-3.13t",
}

/// `leakspy dump --core FILE [--sysroot ROOT] --json` plus extra arguments.
fn dump_core(core: &Path, interp: &Interp, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["dump".into(), "--core".into(), core.display().to_string()];
    if interp.chrooted() {
        args.push("--sysroot".into());
        args.push(interp.root.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    run_leakspy(args)
}

/// The threads of a report of an un-namespaced target: both id views are the same TID.
fn assert_same_ids(ctx: &str, report: &Report) {
    for t in &report.threads {
        assert_eq!(
            t.host_native_id, t.native_id,
            "{ctx}: thread {}: host_native_id differs from native_id in the same pid namespace",
            t.thread_id
        );
    }
}

fn check_core(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    let pid = target.pid();
    let dir = TempDir::new(name);
    let taken = gcore(pid, &dir.0);
    let core = taken.path;
    let Target { guard, truth, .. } = target;
    drop(guard); // the target is gone: everything must come from the core and the files on disk

    let out = dump_core(&core, &interp, &["--json"]);
    let ctx = format!("[{name}] leakspy dump --core {} --json", core.display());
    if !taken.unreadable.is_empty() {
        eprintln!(
            "{ctx}: gcore could not copy {} regions (thread stacks): {:?}",
            taken.unreadable.len(),
            taken.unreadable
        );
    }
    let expect = Expect {
        stacks_missing: !taken.unreadable.is_empty(),
        ..Expect::CORE
    };
    let report = check_report(&ctx, &out, &truth, i64::from(pid), expect);
    assert_same_ids(&ctx, &report);
}

/// Text output of a core: the header names the core; no thread claims to be idle or running.
#[test]
fn core_text_pyenv_3_12_1() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    let dir = TempDir::new("text");
    let core = gcore(target.pid(), &dir.0).path;
    let nthreads = target.truth.threads.len();
    drop(target);
    let out = dump_core(&core, &interp, &[]);
    let ctx = show_output(&out);
    assert!(out.status.success(), "{ctx}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Read from core file {}", core.display())),
        "header does not name the core\n{ctx}"
    );
    let threads: Vec<&str> = text.lines().filter(|l| l.starts_with("Thread ")).collect();
    assert_eq!(threads.len(), nthreads, "{ctx}");
    for l in threads {
        assert!(
            !l.contains("idle") && !l.contains("running"),
            "a core cannot tell idle from running: {l}"
        );
    }
    for needle in ["MainThread", "block_forever", "nested_3", "__main__.Plain"] {
        assert!(text.contains(needle), "no {needle:?}\n{ctx}");
    }
}

/// A wrong `--exe` is refused by build-id (exit 9); the right one is accepted; a cut core and
/// non-cores are refused (exit 10).
#[test]
fn core_refusals_pyenv_3_12_1() {
    let (Some(interp), Some(other)) = (interpreter("pyenv-3.12.1"), interpreter("pyenv-3.11.7"))
    else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    let dir = TempDir::new("refusals");
    let core = gcore(target.pid(), &dir.0).path;
    drop(target);

    // The executable of another build (another version here; a rebuilt one would do the same).
    let out = dump_core(&core, &interp, &["--json", "--exe", &other.python]);
    let err = assert_clean_error(&out, 9, "--exe of another build");
    assert!(
        err.contains("build-id") && err.contains(&other.python),
        "the refusal should name the file and the build-id\n{}",
        show_output(&out)
    );
    // The right executable, named explicitly.
    let out = dump_core(
        &core,
        &interp,
        &["--json", "--no-heap", "--exe", &interp.python],
    );
    assert!(
        out.status.success(),
        "--exe of the right build\n{}",
        show_output(&out)
    );
    // --exe that does not exist.
    let out = dump_core(&core, &interp, &["--exe", "/nonexistent/python3.12"]);
    assert_clean_error(&out, 9, "--exe of a missing file");

    // Truncated (a full disk, a size limit): gcore writes the notes after the memory, so a cut
    // loses the threads and mapped files.
    let len = std::fs::metadata(&core).unwrap().len();
    for (i, keep) in [len / 2, 1000].into_iter().enumerate() {
        let cut = dir.0.join(format!("cut{i}"));
        copy_prefix(&core, &cut, keep);
        let out = dump_core(&cut, &interp, &["--json"]);
        let err = assert_clean_error(&out, 10, &format!("core cut to {keep} bytes"));
        assert!(err.contains("truncated"), "{}", show_output(&out));
    }
}

/// Write the first `len` bytes of `src` to `dst` (cores are large: no whole-file reads).
fn copy_prefix(src: &Path, dst: &Path, len: u64) {
    use std::io::Read;
    let mut from = std::fs::File::open(src).unwrap().take(len);
    let mut to = std::fs::File::create(dst).unwrap();
    std::io::copy(&mut from, &mut to).unwrap();
}

#[test]
fn core_error_garbage_file() {
    let dir = TempDir::new("garbage");
    let g = dir.0.join("garbage");
    let bytes: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&g, bytes).unwrap();
    let out = run_leakspy(["dump", "--core", g.to_str().unwrap(), "--json"]);
    let err = assert_clean_error(&out, 10, "garbage file as --core");
    assert!(err.contains("not an ELF core"), "{}", show_output(&out));
    let empty = dir.0.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let out = run_leakspy(["dump", "--core", empty.to_str().unwrap()]);
    assert_clean_error(&out, 10, "empty file as --core");
    let out = run_leakspy(["dump", "--core", "/nonexistent/core.1"]);
    assert_clean_error(&out, 10, "missing file as --core");
}

#[test]
fn core_error_executable_is_not_a_core() {
    let out = run_leakspy(["dump", "--core", env!("CARGO_BIN_EXE_leakspy")]);
    let err = assert_clean_error(&out, 10, "an executable as --core");
    assert!(err.contains("not a core"), "{}", show_output(&out));
}

#[test]
fn core_usage_errors() {
    for args in [
        &["dump", "--core", "x", "--pid", "1"][..],
        &["dump", "--exe", "/bin/true", "--pid", "1"],
        &["dump", "--sysroot", "/", "--pid", "1"],
        &["dump", "--core", "x", "--nonblocking"],
        &["dump", "--core", "x", "--", "python3"],
    ] {
        let out = run_leakspy(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}\n{}",
            show_output(&out)
        );
    }
}

// ---------------------------------------------------------------------------
// Kernel cores of chrooted processes: paths as the process saw them.

/// Crash a chrooted target with SIGABRT so that the kernel writes its core, and return the core
/// (moved to `dir`) with the target's truth. None (skip) when the kernel's core_pattern does not
/// write a plain `core` file into the working directory.
fn kernel_core(interp: &Interp, dir: &Path) -> Option<(PathBuf, Truth, u32)> {
    if !kernel_cores_in_cwd() {
        return None;
    }
    let target = start_target_with(interp, "heap_target.py", Launch::CoreDumping);
    let pid = target.pid();
    let Target {
        mut guard, truth, ..
    } = target;
    wait_blocked_in_read(pid);
    let core = kernel_core_of(&mut guard, dir, "ABRT");
    drop(guard);
    Some((core, truth, pid))
}

fn check_kernel_core(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    assert!(interp.chrooted(), "{name} is not a chroot interpreter");
    let dir = TempDir::new(name);
    let Some((core, truth, pid)) = kernel_core(&interp, &dir.0) else {
        return;
    };
    let ctx = format!(
        "[{name}] leakspy dump --core {} --sysroot {} --json",
        core.display(),
        interp.root.display()
    );
    let out = dump_core(&core, &interp, &["--json"]);
    let report = check_report(&ctx, &out, &truth, i64::from(pid), Expect::CORE);
    assert_same_ids(&ctx, &report);
    // The binary that holds the interpreter, named as the process saw it (not the host path under
    // the sysroot): the python executable itself, or, for a build with a shared libpython (the
    // 3.13t), the libpython of its own prefix (python at PREFIX/bin, libpython at PREFIX/lib).
    let prefix = Path::new(&interp.python)
        .parent()
        .and_then(Path::parent)
        .expect("python under PREFIX/bin");
    let exe = Path::new(&report.executable);
    let libpython = exe.parent() == Some(&prefix.join("lib"))
        && exe
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("libpython3"));
    assert!(
        report.executable == interp.python || libpython,
        "{ctx}: the executable {:?} is not named as the process saw it ({} or its libpython)",
        report.executable,
        interp.python
    );

    // Without --sysroot the chroot's files are not at the recorded paths (or are other builds):
    // refused, with the fix in the message.
    let out = run_leakspy(["dump", "--core", core.to_str().unwrap(), "--json"]);
    let err = assert_clean_error(&out, 9, &format!("[{name}] kernel core without --sysroot"));
    assert!(err.contains("--sysroot"), "{}", show_output(&out));

    // Kernel cores have their notes first: a cut core still names its threads and files, and is
    // read as far as it goes — a partial report (exit 1) or a clean error (exit 10), never a crash.
    let cut = dir.0.join("cut");
    copy_prefix(&core, &cut, std::fs::metadata(&core).unwrap().len() * 2 / 3);
    let out = dump_core(&cut, &interp, &["--json"]);
    match out.status.code() {
        Some(1) => {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}\n{}", show_output(&out)));
            assert_eq!(v["partial"], true);
            assert!(
                v["warnings"].to_string().contains("truncated"),
                "{}",
                show_output(&out)
            );
        }
        _ => {
            let err = assert_clean_error(&out, 10, &format!("[{name}] cut kernel core"));
            assert!(err.contains("truncated"), "{}", show_output(&out));
        }
    }
}

macro_rules! kernel_core_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_kernel_core($interp);
            }
        )*
    };
}

// Every chroot interpreter: with sid's glibc, gcore's cores lack the thread stacks (see
// `Gcore::unreadable`), so these are also the exact comparisons for 3.14+ thread stacks.
kernel_core_tests! {
    kernel_core_debian_bullseye_3_9 => "debian-bullseye-3.9",
    kernel_core_debian_sid_3_13 => "debian-sid-3.13",
    kernel_core_debian_sid_3_14 => "debian-sid-3.14",
    kernel_core_debian_sid_3_15 => "debian-sid-3.15",
    kernel_core_debian_sid_3_13_debug => "debian-sid-3.13d",
    kernel_core_debian_sid_3_14_debug => "debian-sid-3.14d",
    kernel_core_debian_sid_3_15_debug => "debian-sid-3.15d",
    kernel_core_debian_sid_3_13t => "debian-sid-3.13t",
}
