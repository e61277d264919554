//! `leakspy trace` (issue 3): starting tracemalloc in a running 3.14+ target through PEP 768, then
//! reporting what was allocated since. The only command that writes to a target.

mod common;

use common::*;
use serde_json::Value;

fn check_trace(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (target, line) = spawn_target(&interp, "busy_target.py", &[]);
    let truth: Value = serde_json::from_str(&line).expect("truth");
    let pid = target.pid().to_string();
    let out = run_leakspy([
        "trace", "--pid", &pid, "--for", "300ms", "--stop", "--frames", "3", "--json", "-q",
    ]);
    let ctx = format!("[{name}] leakspy trace --pid {pid}\n{}", show_output(&out));
    assert!(out.status.success(), "{ctx}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("started") && notes.contains("stopped"),
        "notes: {notes}\n{ctx}"
    );
    let churn = report["heap"]["types"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["type"] == "__main__.Churn"))
        .unwrap_or_else(|| panic!("no __main__.Churn\n{ctx}"));
    let top = &churn["allocated_at"][0];
    let frame = &top["frames"][0];
    assert_eq!(frame["filename"], truth["file"], "{ctx}");
    assert_eq!(frame["line"], truth["line"], "{ctx}");
    assert!(top["count"].as_u64().unwrap_or(0) > 0, "{ctx}");
    assert!(
        top["frames"].as_array().map_or(0, Vec::len) <= 3,
        "--frames 3 not honoured\n{ctx}"
    );

    // --stop took effect, and the script file is gone from the target's /tmp.
    let after = run_leakspy(["dump", "--pid", &pid, "--json", "-q", "--no-heap"]);
    assert!(after.status.success(), "{}", show_output(&after));
    let dump = run_leakspy(["dump", "--pid", &pid, "--json", "-q"]);
    let report: Value = serde_json::from_slice(&dump.stdout).expect("json");
    assert_eq!(
        report["heap"]["tracemalloc"]["tracing"].as_bool(),
        Some(false),
        "still tracing after --stop"
    );
    let tmp = std::path::PathBuf::from(format!("/proc/{pid}/root/tmp"));
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !left.iter().any(|f| f.starts_with("leakspy-trace")),
        "script left behind: {left:?}"
    );
}

#[test]
fn trace_debian_sid_3_14() {
    check_trace("debian-sid-3.14");
}

#[test]
fn trace_debian_sid_3_15() {
    check_trace("debian-sid-3.15");
}

/// Targets that turned remote debugging off are refused, untouched.
#[test]
fn trace_refused_when_remote_debug_disabled() {
    let Some(interp) = interpreter("debian-sid-3.14") else {
        return;
    };
    let (target, _) = spawn_target(&interp, "busy_target.py", &["-X", "disable-remote-debug"]);
    let out = run_leakspy(["trace", "--pid", &target.pid().to_string(), "--for", "10ms"]);
    let msg = assert_clean_error(&out, 6, "remote debugging disabled");
    assert!(msg.contains("disable-remote-debug"), "{msg}");
}

/// Before 3.14 there is no remote-execution interface: refused with the alternative.
#[test]
fn trace_refused_before_3_14() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let (target, _) = spawn_target(&interp, "busy_target.py", &[]);
    let out = run_leakspy(["trace", "--pid", &target.pid().to_string(), "--for", "10ms"]);
    let msg = assert_clean_error(&out, 6, "trace on 3.12");
    assert!(msg.contains("PYTHONTRACEMALLOC"), "{msg}");
}
