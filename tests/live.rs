//! Live integration tests: run `leakspy dump` against real CPython processes
//! (see tests/targets/heap_target.py) and compare with the truth the target
//! computed about itself.
//!
//! Interpreters come from `$LEAKSPY_CACHE/matrix.tsv` (default
//! /var/cache/leakspy), written by scripts/setup-pythons.sh.  A missing
//! interpreter fails the test unless LEAKSPY_SKIP_MISSING_PYTHONS=1 (ignored
//! when CI=true).

mod common;

use common::*;
use std::process::{Command, Stdio};

macro_rules! dump_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_dump($interp);
            }
        )*
    };
}

dump_tests! {
    dump_pyenv_3_9_18 => "pyenv-3.9.18",
    dump_pyenv_3_10_13 => "pyenv-3.10.13",
    dump_pyenv_3_11_7 => "pyenv-3.11.7",
    dump_pyenv_3_12_1 => "pyenv-3.12.1",
    dump_pyenv_3_13_0 => "pyenv-3.13.0",
    dump_debian_3_11 => "debian-3.11",
    dump_debian_bullseye_3_9 => "debian-bullseye-3.9",
    dump_debian_sid_3_13 => "debian-sid-3.13",
    dump_debian_sid_3_14 => "debian-sid-3.14",
    dump_debian_sid_3_15 => "debian-sid-3.15",
    dump_debian_sid_3_13_debug => "debian-sid-3.13d",
    dump_debian_sid_3_14_debug => "debian-sid-3.14d",
    dump_debian_sid_3_15_debug => "debian-sid-3.15d",
}

/// Human-readable output (no --json): a type table and a thread section.
#[test]
fn dump_text_pyenv_3_12_1() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    let pid = target.pid();
    let out = run_leakspy(["dump", "--pid", &pid.to_string()]);
    let ctx = format!("leakspy dump --pid {pid} (text)\n{}", show_output(&out));
    assert!(out.status.success(), "{ctx}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        serde_json::from_str::<serde_json::Value>(&stdout).is_err(),
        "text mode printed JSON\n{ctx}"
    );
    let plain_count = target.truth.own_types["__main__.Plain"].count.to_string();
    let plain_line = stdout.lines().find(|l| l.contains("__main__.Plain"));
    let plain_line =
        plain_line.unwrap_or_else(|| panic!("no __main__.Plain row in the type table\n{ctx}"));
    assert!(
        // Accept digit grouping ("1,000", "1_000", "1'000").
        plain_line
            .replace([',', '_', '\''], "")
            .split(|c: char| !c.is_ascii_digit())
            .any(|tok| tok == plain_count),
        "__main__.Plain row does not show its count {plain_count}: {plain_line:?}\n{ctx}"
    );
    for needle in [
        "MainThread",
        "block_forever",
        "nested-0",
        "nested_3",
        "gen-worker",
        "lambda-worker",
    ] {
        assert!(
            stdout.contains(needle),
            "thread section lacks {needle:?}\n{ctx}"
        );
    }
    drop(target);
}

// ---------------------------------------------------------------------------
// Bad input: clean errors, one line on stderr, documented exit codes.

#[test]
fn error_no_such_pid() {
    let pid = unused_pid();
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json"]);
    assert_clean_error(&out, 3, &format!("dump of unused pid {pid}"));
}

#[test]
fn error_not_a_python_process() {
    let child = Command::new("sleep")
        .arg("infinity")
        .stdin(Stdio::null())
        .spawn()
        .expect("start sleep");
    // spawn() returns after the exec succeeded, so the pid is already `sleep`.
    let guard = ChildGuard::new(child);
    let out = run_leakspy(["dump", "--pid", &guard.pid().to_string(), "--json"]);
    assert_clean_error(&out, 5, "dump of `sleep`");
    drop(guard);
}

#[test]
fn error_unsupported_python_3_8() {
    let Some(interp) = interpreter("pyenv-3.8.18") else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    assert!(
        target.truth.version.starts_with("3.8."),
        "{}",
        target.truth.version
    );
    let out = run_leakspy(["dump", "--pid", &target.pid().to_string(), "--json"]);
    let stderr = assert_clean_error(&out, 6, "dump of a Python 3.8 process");
    assert!(
        stderr.contains("3.8"),
        "message should name the version 3.8\n{}",
        show_output(&out)
    );
    drop(target);
}

#[test]
fn error_permission_denied() {
    // Run leakspy as `nobody` against a root-owned process.
    if !std::path::Path::new("/usr/bin/setpriv").exists() || !is_root() {
        eprintln!("SKIPPED: needs root and /usr/bin/setpriv to drop privileges");
        return;
    }
    let child = Command::new("sleep")
        .arg("infinity")
        .stdin(Stdio::null())
        .spawn()
        .expect("start sleep");
    let guard = ChildGuard::new(child);
    let out = run_with_timeout(
        Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_leakspy"))
            .args(["dump", "--pid", &guard.pid().to_string(), "--json"]),
    );
    assert_clean_error(&out, 4, "dump of a root process as nobody");
    drop(guard);
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn error_usage() {
    let out = run_leakspy(["dump", "--pid", "not-a-pid"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "bad --pid value\n{}",
        show_output(&out)
    );
    let out = run_leakspy(["dump"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "missing --pid\n{}",
        show_output(&out)
    );
}

/// `memory`: resident bytes by mapping kind. The target holds 64 MiB of written anonymous memory
/// and reads its own /proc/self/smaps just before it blocks; leakspy's breakdown (read before its
/// pause) must agree within 1 MiB per kind (the target's own reading allocates a little), and the
/// 64 MiB must be in `anonymous`.
#[test]
fn memory_breakdown() {
    // Not the chroot interpreters: their root has no /proc for the target to read its own truth.
    for name in [
        "pyenv-3.12.1",
        "pyenv-3.13.0",
        "pyenv-3.9.18",
        "debian-3.11",
    ] {
        let Some(interp) = interpreter(name) else {
            continue;
        };
        let (t, ready) = spawn_target(&interp, "memory_target.py", &[]);
        let truth: serde_json::Value = serde_json::from_str(&ready).expect("truth");
        let pid = t.pid().to_string();
        let out = run_leakspy(["dump", "--pid", &pid, "--json", "-q", "--no-heap"]);
        assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let m = &report["memory"];
        for kind in ["rss", "heap", "anonymous", "file", "stack", "other"] {
            let ours = m[kind]
                .as_i64()
                .unwrap_or_else(|| panic!("[{name}] memory.{kind}"));
            let theirs = truth["memory"][kind].as_i64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1 << 20,
                "[{name}] memory.{kind}: leakspy {ours}, target's own smaps {theirs}"
            );
        }
        assert!(m["anonymous"].as_i64().unwrap() >= 64 << 20, "[{name}] {m}");
        drop(t);
    }
}
