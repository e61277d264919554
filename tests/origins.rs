//! Origin hints without tracing (issue #3): generators, coroutines and async generators grouped by
//! the line they are suspended at, finished generators by their `def`, functions by their `def` line;
//! asyncio futures and tasks by the creation site asyncio debug mode keeps in `_source_traceback`.
//!
//! `tests/targets/origin_target.py` makes known numbers of each in known states (suspended at two
//! different yields, not started, finished; closures from one factory) and computes the truth from
//! the objects themselves (`gi_frame.f_lineno`, `cr_frame`, `ag_frame`, `co_firstlineno`). It also
//! makes asyncio tasks and futures at known lines (directly, through a helper, inside a running
//! task, inside `asyncio.sleep`) on a debug-mode loop, and some on a loop that is not in debug mode;
//! their truth is the innermost non-asyncio frame of each `_source_traceback` ("not_recorded" when
//! there is none), and the target checks it against the numbers it made at each line. Every
//! group the target reports must appear in the dump's `origins` of that type with exactly its count,
//! on every interpreter of the matrix.

mod common;

use common::*;
use serde_json::Value;

fn check_origins(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (t, ready) = spawn_target(&interp, "origin_target.py", &[]);
    let truth: Value = serde_json::from_str(&ready).expect("truth line");
    let file = truth["file"].as_str().unwrap();
    let pid = t.pid().to_string();
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json");
    let out = run_leakspy(["dump", "--pid", &pid, "--json", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let types = report["heap"]["types"].as_array().expect("types");
    let groups = truth["groups"].as_array().expect("groups");
    assert!(
        groups.len() >= 7,
        "{ctx}: the target's truth has {} groups",
        groups.len()
    );
    // asyncio: creation sites from a debug-mode loop, and the tasks/futures of a loop that is not.
    for (ty, kind) in [
        ("_asyncio.Task", "created_at"),
        ("_asyncio.Future", "created_at"),
        ("_asyncio.Task", "not_recorded"),
        ("_asyncio.Future", "not_recorded"),
    ] {
        assert!(
            groups.iter().any(|g| g["type"] == ty && g["kind"] == kind),
            "{ctx}: the target's truth has no {ty} {kind} group"
        );
    }
    for g in groups {
        let ty = types
            .iter()
            .find(|t| t["type"] == g["type"])
            .unwrap_or_else(|| panic!("{ctx}: no {} in the heap", g["type"]));
        let origins = ty["origins"]
            .as_array()
            .unwrap_or_else(|| panic!("{ctx}: {} has no origins", g["type"]));
        let found = origins.iter().find(|o| {
            o["kind"] == g["kind"]
                && o["function"] == g["function"]
                && o["filename"] == g["filename"]
                && o["line"] == g["line"]
        });
        let ours: Vec<&Value> = origins.iter().filter(|o| o["filename"] == file).collect();
        let found = found.unwrap_or_else(|| {
            panic!("{ctx}: truth group {g} not found; leakspy's for this file: {ours:?}")
        });
        assert_eq!(found["count"], g["count"], "{ctx}: {g} vs {found}");
    }
    // Nothing from the target's file that the truth does not know.
    for ty in types {
        for o in ty["origins"].as_array().into_iter().flatten() {
            if o["filename"] == file {
                assert!(
                    groups.iter().any(|g| g["type"] == ty["type"]
                        && g["kind"] == o["kind"]
                        && g["line"] == o["line"]
                        && g["function"] == o["function"]),
                    "{ctx}: leakspy reports {} {o} that the target does not have",
                    ty["type"]
                );
            }
        }
    }
    drop(t);
}

macro_rules! origin_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_origins($interp);
            }
        )*
    };
}

origin_tests! {
    origins_pyenv_3_6_15 => "pyenv-3.6.15",
    origins_pyenv_3_7_16 => "pyenv-3.7.16",
    origins_pyenv_3_8_18 => "pyenv-3.8.18",
    origins_pyenv_3_9_18 => "pyenv-3.9.18",
    origins_pyenv_3_10_13 => "pyenv-3.10.13",
    origins_pyenv_3_11_7 => "pyenv-3.11.7",
    origins_pyenv_3_12_1 => "pyenv-3.12.1",
    origins_pyenv_3_13_0 => "pyenv-3.13.0",
    origins_debian_3_11 => "debian-3.11",
    origins_debian_bullseye_3_9 => "debian-bullseye-3.9",
    origins_debian_sid_3_13 => "debian-sid-3.13",
    origins_debian_sid_3_14 => "debian-sid-3.14",
    origins_debian_sid_3_15 => "debian-sid-3.15",
    origins_debian_sid_3_13_debug => "debian-sid-3.13d",
    origins_debian_sid_3_14_debug => "debian-sid-3.14d",
    origins_debian_sid_3_15_debug => "debian-sid-3.15d",
    origins_debian_sid_3_13t => "debian-sid-3.13t",
}
