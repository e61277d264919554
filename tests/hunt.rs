//! Leak hunting over time (issue #5): `snapshot`, `diff`, `leaks`, `watch`, `--flamegraph`.
//!
//! `tests/targets/leak_target.py` leaks a known type (`Leaked`) at a known line, replaces a set of
//! `Temp` objects and makes and drops `Churn` objects. In "tick" mode it acts only when told (one
//! stdin line = 100 more `Leaked`, 30 fresh `Temp`, 200 `Churn` made and dropped) and answers with
//! its own counts, so snapshots taken between ticks have exactly known contents: growth and
//! survivors are checked exactly against the target's truth. In "timer"/"forever" mode it leaks on
//! its own clock (for `leaks --pid` and `watch`, whose timing the test does not control): there the
//! test checks that the leak, and only the leak, is found.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const TICK_TIMEOUT: Duration = Duration::from_secs(10);

/// Send one tick; return the target's own (Leaked, Temp) counts.
fn tick(t: &mut ChildGuard) -> (u64, u64) {
    use std::io::Write as _;
    let stdin = t.stdin.as_mut().expect("stdin");
    stdin
        .write_all(b"t\n")
        .and_then(|()| stdin.flush())
        .expect("tick");
    let line = t
        .lines
        .as_ref()
        .expect("stdout lines")
        .recv_timeout(TICK_TIMEOUT)
        .expect("the target answers a tick");
    let mut it = line.split_whitespace();
    assert_eq!(it.next(), Some("ok"), "tick answer {line:?}");
    let n = |x: Option<&str>| x.and_then(|v| v.parse().ok()).expect("a count");
    (n(it.next()), n(it.next()))
}

fn json_of(out: &std::process::Output, ctx: &str) -> Value {
    assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{ctx}: not JSON ({e})\n{}", show_output(out)))
}

fn snapshot(pid: &str, path: &Path, ctx: &str) -> Value {
    let out = run_leakspy(["snapshot", "--pid", pid, "-o", path.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(&out));
    let text = std::fs::read_to_string(path).expect("snapshot file");
    serde_json::from_str(&text).expect("snapshot is JSON")
}

/// Count of `ty` in a snapshot's histogram (0 when absent).
fn type_count(snap: &Value, ty: &str) -> u64 {
    snap["types"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["type"] == ty)
        .map_or(0, |t| t["count"].as_u64().unwrap())
}

/// Count of objects of `ty` in a snapshot's identity table.
fn identity_count(snap: &Value, ty: &str) -> u64 {
    let ids = &snap["identities"];
    let types = ids["types"].as_array().expect("identity types");
    let Some(ix) = types.iter().position(|t| t == ty) else {
        return 0;
    };
    ids["objects"]
        .as_array()
        .expect("identity objects")
        .iter()
        .filter(|o| o[1].as_u64() == Some(ix as u64))
        .count() as u64
}

fn delta<'a>(rows: &'a Value, ty: &str) -> Option<&'a Value> {
    rows.as_array()
        .into_iter()
        .flatten()
        .find(|d| d["type"] == ty)
}

/// The survivor groups of the target's own (`__main__`) types in a `leaks --json` report.
fn own_survivors(l: &Value) -> Vec<&Value> {
    l["survivors"]
        .as_array()
        .expect("survivors")
        .iter()
        .filter(|g| {
            g["type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("__main__.")
        })
        .collect()
}

fn innermost(row: &Value) -> (String, u64) {
    let f = &row["frames"][0];
    (
        f["filename"].as_str().unwrap_or_default().to_string(),
        f["line"].as_u64().unwrap_or(0),
    )
}

/// tick; A; tick; B; tick; C — then diff A C, leaks A B C, and the snapshot files themselves.
fn snapshots_diff_leaks(name: &str, traced: bool) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let py_args: &[&str] = if traced {
        &["-X", "tracemalloc=5"]
    } else {
        &[]
    };
    let (mut t, ready) = spawn_target_args(&interp, "leak_target.py", py_args, &["tick"]);
    let truth: Value = serde_json::from_str(&ready).expect("ready line");
    let (file, leak_line) = (
        truth["file"].as_str().unwrap().to_string(),
        truth["leak_line"].as_u64().unwrap(),
    );
    let pid = t.pid().to_string();
    let dir = TempDir::new("hunt");
    let path = |n: &str| dir.0.join(n);
    let ctx = format!("[{name}{}]", if traced { ", traced" } else { "" });

    let mut truths = Vec::new();
    let mut snaps = Vec::new();
    for n in ["a.json", "b.json", "c.json"] {
        truths.push(tick(&mut t));
        snaps.push(snapshot(&pid, &path(n), &format!("{ctx} snapshot {n}")));
    }
    // The files: versioned, with the target's own counts, in the histogram and the identities.
    for (i, (s, (leaked, temp))) in snaps.iter().zip(&truths).enumerate() {
        let c = format!("{ctx} snapshot {i}");
        assert_eq!(s["format"], "leakspy-snapshot", "{c}");
        assert_eq!(s["version"], 1, "{c}");
        assert_eq!(type_count(s, "__main__.Leaked"), *leaked, "{c}: Leaked");
        assert_eq!(type_count(s, "__main__.Temp"), *temp, "{c}: Temp");
        assert_eq!(
            type_count(s, "__main__.Churn"),
            0,
            "{c}: Churn is never alive between ticks"
        );
        assert_eq!(
            identity_count(s, "__main__.Leaked"),
            *leaked,
            "{c}: identities"
        );
        assert_eq!(
            identity_count(s, "__main__.Temp"),
            *temp,
            "{c}: Temp identities"
        );
    }

    // diff A C: Leaked grew by exactly the target's own growth; Temp and Churn did not grow.
    let svg = path("diff.svg");
    let out = run_leakspy([
        "diff",
        path("a.json").to_str().unwrap(),
        path("c.json").to_str().unwrap(),
        "--json",
        "--flamegraph",
        svg.to_str().unwrap(),
    ]);
    let d = json_of(&out, &format!("{ctx} diff"));
    let grown = truths[2].0 - truths[0].0;
    assert_eq!(grown, 200, "{ctx}: the target's own growth");
    let leaked = delta(&d["types"], "__main__.Leaked").expect("Leaked in the diff");
    assert_eq!(
        leaked["count_after"].as_u64().unwrap() - leaked["count_before"].as_u64().unwrap(),
        grown,
        "{ctx}"
    );
    assert!(
        delta(&d["types"], "__main__.Temp").is_none(),
        "{ctx}: Temp did not grow\n{d}"
    );
    assert!(
        delta(&d["types"], "__main__.Churn").is_none(),
        "{ctx}: Churn\n{d}"
    );
    // The largest growth in bytes by type is the leak (nothing else in the target grows by 200
    // objects between ticks) or, where an instance `__dict__` is a separate object (3.9/3.10, and
    // untracked while it holds only atoms), the leaked instances' dicts: exactly one per instance,
    // with the leak itself next.
    let top = &d["types"][0];
    if top["type"] == "builtins.dict" {
        assert_eq!(
            top["count_after"].as_u64().unwrap() - top["count_before"].as_u64().unwrap(),
            grown,
            "{ctx}: dict growth is the leaked instances' __dict__s\n{d}"
        );
        assert_eq!(
            d["types"][1]["type"], "__main__.Leaked",
            "{ctx}: top growth\n{d}"
        );
    } else {
        assert_eq!(top["type"], "__main__.Leaked", "{ctx}: top growth\n{d}");
    }
    if traced {
        let site = delta(&d["sites"], "__main__.Leaked").expect("Leaked site growth");
        assert_eq!(
            innermost(site),
            (file.clone(), leak_line),
            "{ctx}: leak site"
        );
        assert_eq!(
            site["count_after"].as_u64().unwrap() - site["count_before"].as_u64().unwrap(),
            grown,
            "{ctx}: growth at the leak site"
        );
    } else {
        assert_eq!(
            d["sites"].as_array().map_or(0, Vec::len),
            0,
            "{ctx}: no sites untraced"
        );
    }
    let svg_text = std::fs::read_to_string(&svg).expect("diff SVG written");
    assert!(
        svg_text.contains("<svg") && svg_text.contains("Leaked"),
        "{ctx}: diff SVG"
    );

    // leaks A B C: born after A, alive at C = the 100 Leaked of the second tick, and no own type
    // but Leaked (the Temp objects of tick 2 died at tick 3; Churn never outlives a tick).
    let out = run_leakspy([
        "leaks",
        path("a.json").to_str().unwrap(),
        path("b.json").to_str().unwrap(),
        path("c.json").to_str().unwrap(),
        "--json",
    ]);
    let l = json_of(&out, &format!("{ctx} leaks"));
    let own = own_survivors(&l);
    assert_eq!(own.len(), 1, "{ctx}: own survivor groups {own:?}");
    assert_eq!(own[0]["type"], "__main__.Leaked", "{ctx}");
    assert_eq!(
        own[0]["count"].as_u64(),
        Some(truths[1].0 - truths[0].0),
        "{ctx}: survivors"
    );
    if traced {
        assert_eq!(
            innermost(own[0]),
            (file.clone(), leak_line),
            "{ctx}: survivor site"
        );
    }

    // Refusals: a file that is not a snapshot; snapshots without identities for leaks.
    let bogus = path("bogus.json");
    std::fs::write(&bogus, "{\"pid\": 1}").unwrap();
    let out = run_leakspy([
        "diff",
        bogus.to_str().unwrap(),
        path("c.json").to_str().unwrap(),
    ]);
    let err = assert_clean_error(&out, 2, &format!("{ctx} diff of a non-snapshot"));
    assert!(err.contains("not a leakspy snapshot"), "{ctx}: {err}");
    let bare = path("bare.json");
    let out = run_leakspy([
        "snapshot",
        "--pid",
        &pid,
        "-o",
        bare.to_str().unwrap(),
        "--no-identities",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let out = run_leakspy([
        "leaks",
        path("a.json").to_str().unwrap(),
        path("b.json").to_str().unwrap(),
        bare.to_str().unwrap(),
    ]);
    let err = assert_clean_error(&out, 2, &format!("{ctx} leaks without identities"));
    assert!(err.contains("no object identities"), "{ctx}: {err}");
}

#[test]
fn snapshots_pyenv_3_12_1_traced() {
    snapshots_diff_leaks("pyenv-3.12.1", true);
}

#[test]
fn snapshots_pyenv_3_9_18() {
    snapshots_diff_leaks("pyenv-3.9.18", false);
}

#[test]
fn snapshots_debian_sid_3_14_traced() {
    snapshots_diff_leaks("debian-sid-3.14", true);
}

#[test]
fn snapshots_debian_sid_3_15() {
    snapshots_diff_leaks("debian-sid-3.15", false);
}

/// `leaks --pid` on a target that leaks on its own clock: the only own type among the survivors is
/// Leaked, at the leak line; the churn (made and dropped every 10 ms) is not reported.
fn leaks_live(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (t, ready) = spawn_target_args(
        &interp,
        "leak_target.py",
        &["-X", "tracemalloc=5"],
        &["timer"],
    );
    let truth: Value = serde_json::from_str(&ready).expect("ready line");
    let pid = t.pid().to_string();
    let out = run_leakspy([
        "leaks",
        "--pid",
        &pid,
        "--interval",
        "300ms",
        "--json",
        "-q",
    ]);
    let l = json_of(&out, &format!("[{name}] leaks --pid"));
    let own = own_survivors(&l);
    assert_eq!(own.len(), 1, "[{name}]: own survivor groups {own:?}");
    assert_eq!(own[0]["type"], "__main__.Leaked");
    // 5 every 10 ms over at least the 300 ms between the first two snapshots.
    assert!(
        own[0]["count"].as_u64().unwrap() >= 50,
        "[{name}]: {:?}",
        own[0]
    );
    assert_eq!(
        innermost(own[0]),
        (
            truth["file"].as_str().unwrap().to_string(),
            truth["leak_line"].as_u64().unwrap()
        ),
        "[{name}]"
    );
    assert_eq!(
        l["survivors"][0]["type"], "__main__.Leaked",
        "[{name}]: the biggest group\n{l}"
    );
    drop(t);
}

#[test]
fn leaks_live_pyenv_3_12_1() {
    leaks_live("pyenv-3.12.1");
}

#[test]
fn leaks_live_debian_sid_3_14() {
    leaks_live("debian-sid-3.14");
}

/// `watch --json --count 3` of a running target and of a command it starts: one JSON line per
/// sample, and by the last sample the leak is the top growth since the first.
#[test]
fn watch_pid_and_command() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let (t, _) = spawn_target_args(&interp, "leak_target.py", &[], &["timer"]);
    let pid = t.pid().to_string();
    let out = run_leakspy([
        "watch",
        "--pid",
        &pid,
        "--count",
        "3",
        "--interval",
        "200ms",
        "--json",
        "-q",
    ]);
    check_watch(&out, "watch --pid");
    drop(t);

    let script = target_script("leak_target.py");
    let out = run_leakspy([
        "watch",
        "--count",
        "3",
        "--interval",
        "200ms",
        "--after",
        "500ms",
        "--json",
        "-q",
        "--",
        &interp.python,
        script.to_str().unwrap(),
        "forever",
    ]);
    check_watch(&out, "watch -- COMMAND");
}

fn check_watch(out: &std::process::Output, ctx: &str) {
    assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{ctx}: {e}: {l}")))
        .collect();
    assert_eq!(
        lines.len(),
        3,
        "{ctx}: one line per sample\n{}",
        show_output(out)
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["sample"].as_u64(), Some(i as u64 + 1), "{ctx}");
    }
    let last = &lines[2];
    let top = &last["growth"][0];
    assert_eq!(top["type"], "__main__.Leaked", "{ctx}: top growth\n{last}");
    assert!(top["count_since_first"].as_i64().unwrap() > 0, "{ctx}");
    assert!(
        delta(&last["growth"], "__main__.Churn")
            .is_none_or(|c| c["count_since_first"].as_i64().unwrap() <= 50),
        "{ctx}: churn is bounded\n{last}"
    );
}

/// `dump --flamegraph`: an SVG of live bytes with the leak's type and its allocation line.
#[test]
fn dump_flamegraph() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let (mut t, _) = spawn_target_args(
        &interp,
        "leak_target.py",
        &["-X", "tracemalloc=5"],
        &["tick"],
    );
    tick(&mut t);
    let dir = TempDir::new("flame");
    let svg = dir.0.join("live.svg");
    let pid = t.pid().to_string();
    let out = run_leakspy([
        "dump",
        "--pid",
        &pid,
        "--json",
        "-q",
        "--flamegraph",
        svg.to_str().unwrap(),
    ]);
    json_of(&out, "dump --flamegraph");
    let text = std::fs::read_to_string(&svg).expect("SVG written");
    assert!(text.contains("<svg"), "an SVG");
    assert!(
        text.contains("__main__.Leaked"),
        "the leaked type is in the graph"
    );
    assert!(
        text.contains("leak_target.py:"),
        "allocation lines are in the graph"
    );
}
