//! Bounded mode (issue 13): a heap that does not fit in the memory leakspy may use.
//!
//! On pyenv 3.9.18, 3.12.1 and 3.13.0. `tests/targets/bounded_target.py` holds 200,000 `Holder`s, each with a 1,500-byte bytes object,
//! and 20,000 `Pair`s: ~330 MB resident, more than 3 times the 100 MiB leakspy is given, in ~0.7M
//! objects (a census that fits). The target counts its own instances with gc.get_objects and blocks
//! reading stdin (static: the paused walk must be exact).
//!
//! leakspy runs under a real limit:
//! - in a memory cgroup of its own (v2 `memory.max`, else v1 `memory.limit_in_bytes`) when the
//!   cgroup tree is writable here, without `--max-memory`: the default must notice the cgroup's
//!   headroom and go bounded (the container sidecar case); the cgroup's peak
//!   (`memory.peak` / `memory.max_usage_in_bytes`) must stay under the limit;
//! - under `prlimit --as` (address space, 300 MiB: leakspy's threads and binary reserve ~100 MB
//!   more than they touch) with `--max-memory 100M`.
//!
//! Both must exit 0, announce bounded mode (text note, JSON `bounded`, exact), report the target's
//! Holder and Pair counts exactly, and report their own peak (VmHWM) under 100 MiB. Then the
//! refusals, each exit 12 with one line on stderr: `--max-memory 30M` (leakspy itself does not
//! fit), `--max-memory 50M` (the census outgrows it during the walk; the target is not harmed and
//! the next dump works) and `refs` under 60M (the graph, 64 bytes per object, outgrows it). Then
//! `refs` bounded: under prlimit and `--max-memory 100M` its peak stays under 100 MiB and its
//! answer (instances, referrers, paths, retained sizes) equals the ordinary copy's exactly.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const LIMIT: u64 = 100 << 20;

/// A fresh memory cgroup limited to LIMIT under leakspy's own, removed on drop.
struct Cgroup {
    dir: PathBuf,
    /// v2 (`memory.max`, `memory.peak`) or v1 (`memory.limit_in_bytes`, `memory.max_usage_in_bytes`).
    v2: bool,
}

impl Cgroup {
    /// `tag` keeps the tests of one binary (run in parallel) in cgroups of their own.
    fn new(tag: &str) -> Option<Cgroup> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let name = format!("leakspy-bounded-{}-{tag}", std::process::id());
        for line in own.lines() {
            let mut f = line.splitn(3, ':');
            let (Some(id), Some(ctrl), Some(path)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let path = path.trim_end_matches('/');
            let (base, v2) = if id == "0" && ctrl.is_empty() {
                let root = "/sys/fs/cgroup";
                let ctrls = std::fs::read_to_string(format!("{root}{path}/cgroup.controllers"))
                    .unwrap_or_default();
                if !ctrls.split_whitespace().any(|c| c == "memory") {
                    continue;
                }
                (format!("{root}{path}"), true)
            } else if ctrl.split(',').any(|c| c == "memory") {
                (format!("/sys/fs/cgroup/memory{path}"), false)
            } else {
                continue;
            };
            let dir = PathBuf::from(base).join(&name);
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let cg = Cgroup { dir, v2 };
            let limit_file = if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            if std::fs::write(cg.dir.join(limit_file), LIMIT.to_string()).is_ok() {
                return Some(cg);
            }
        }
        None
    }

    fn peak(&self) -> Option<u64> {
        let f = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        std::fs::read_to_string(self.dir.join(f))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Run `leakspy ARGS` inside the cgroup (the shell moves itself in, then execs leakspy).
fn leakspy_in(cg: &Cgroup, args: &[&str]) -> std::process::Output {
    let procs = cg.dir.join("cgroup.procs");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("echo $$ > \"$0\" && exec \"$@\"")
        .arg(&procs)
        .arg(env!("CARGO_BIN_EXE_leakspy"))
        .args(args);
    run_with_timeout(&mut cmd)
}

/// Run `leakspy ARGS` with its address space limited to `bytes`.
fn leakspy_prlimit(bytes: u64, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={bytes}"))
        .arg(env!("CARGO_BIN_EXE_leakspy"))
        .args(args);
    run_with_timeout(&mut cmd)
}

/// The report of a run that must have gone bounded, exactly, under the limit: it and leakspy's
/// peak RSS.
fn bounded_report(ctx: &str, out: &std::process::Output) -> (Value, u64) {
    assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let b = &report["bounded"];
    assert!(
        b.is_object(),
        "{ctx}: bounded mode not announced\n{report:#}"
    );
    assert_eq!(b["exact"], true, "{ctx}");
    let peak = b["peak_rss_bytes"].as_u64().expect("peak_rss_bytes");
    assert!(
        peak < LIMIT,
        "{ctx}: leakspy's peak {peak} >= the limit {LIMIT}"
    );
    (report, peak)
}

fn check_bounded(ctx: &str, out: &std::process::Output, truth: &Value) -> Value {
    let (report, peak) = bounded_report(ctx, out);
    let b = &report["bounded"];
    assert_eq!(b["paused_whole_walk"], true, "{ctx}");
    assert_eq!(report["partial"], false, "{ctx}: {:?}", report["warnings"]);
    assert!(
        b["planned_copy_bytes"].as_u64().unwrap() > LIMIT,
        "{ctx}: the copy would have fit\n{b:#}"
    );
    assert!(
        report["notes"].as_array().is_some_and(|n| n
            .iter()
            .any(|x| x.as_str().unwrap_or("").starts_with("bounded mode"))),
        "{ctx}: no bounded-mode note"
    );
    let types = report["heap"]["types"].as_array().expect("types");
    for (ty, n) in truth["counts"].as_object().expect("counts") {
        let ours = types.iter().find(|t| t["type"] == ty.as_str());
        let ours = ours.unwrap_or_else(|| panic!("{ctx}: {ty} missing"));
        assert_eq!(ours["count"], *n, "{ctx}: {ty}");
        assert_eq!(ours["tracked"], *n, "{ctx}: {ty} (GC-tracked)");
    }
    eprintln!(
        "{ctx}: peak {} MiB, {} evictions, pause {:.0} ms",
        peak >> 20,
        b["evictions"],
        report["pause_ms"].as_f64().unwrap_or(0.0)
    );
    report
}

fn check(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (t, ready) = spawn_target(&interp, "bounded_target.py", &[]);
    let truth: Value = serde_json::from_str(&ready).expect("truth line");
    let pid = t.pid().to_string();
    let rss = truth["rss"].as_u64().unwrap();
    assert!(rss >= 3 * LIMIT, "the target is too small: RSS {rss}");

    match Cgroup::new(name) {
        Some(cg) => {
            let ctx = format!(
                "[cgroup {}] leakspy dump --pid {pid} --json",
                cg.dir.display()
            );
            let out = leakspy_in(&cg, &["dump", "--pid", &pid, "--json", "-q"]);
            let report = check_bounded(&ctx, &out, &truth);
            assert_eq!(report["bounded"]["reason"], "cgroup", "{ctx}");
            let peak = cg.peak().expect("cgroup peak");
            assert!(peak < LIMIT, "{ctx}: cgroup peak {peak}");
            eprintln!("{ctx}: cgroup peak {} MiB", peak >> 20);
        }
        None => eprintln!("no writable memory cgroup here: only the prlimit run"),
    }

    let ctx = format!("[prlimit --as=300M] leakspy dump --pid {pid} --max-memory 100M --json");
    let out = leakspy_prlimit(
        300 << 20,
        &[
            "dump",
            "--pid",
            &pid,
            "--max-memory",
            "100M",
            "--json",
            "-q",
        ],
    );
    let report = check_bounded(&ctx, &out, &truth);
    assert_eq!(report["bounded"]["reason"], "max-memory", "{ctx}");

    // The refusals: one line, exit 12.
    let out = run_leakspy(["dump", "--pid", &pid, "--max-memory", "30M", "-q"]);
    let line = assert_clean_error(&out, 12, "dump --max-memory 30M");
    assert!(line.contains("--max-memory"), "{line}");
    // The census outgrowing the limit during the walk: 100M would fit, 50M does not (0.68M objects
    // at 32 bytes beside leakspy's 40 MiB and the cache): refused once the walk counts too many.
    let out = run_leakspy(["dump", "--pid", &pid, "--max-memory", "50M", "-q"]);
    let line = assert_clean_error(&out, 12, "dump --max-memory 50M");
    assert!(line.contains("the walk had found"), "{line}");
    // The census outgrowing the limit applies to the graph too: at 64 bytes per object, 0.68M
    // objects do not fit in 60M (they do in 100M, below).
    let out = run_leakspy([
        "refs",
        "--pid",
        &pid,
        "--type",
        "__main__.Holder",
        "--max-memory",
        "60M",
        "-q",
    ]);
    let line = assert_clean_error(&out, 12, "refs --max-memory 60M");
    assert!(line.contains("the walk had found"), "{line}");

    // `refs` bounded: under the same limit, the same answer as the ordinary copy's, exactly.
    let refs_args = |bounded: bool| {
        let mut a = vec![
            "refs",
            "--pid",
            &pid,
            "--type",
            "__main__.Holder",
            "--json",
            "-q",
        ];
        if bounded {
            a.extend(["--max-memory", "100M"]);
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = refs_args(true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ctx = format!("[prlimit --as=300M] leakspy {}", args.join(" "));
    let out = leakspy_prlimit(300 << 20, &args);
    let (bounded, peak) = bounded_report(&ctx, &out);
    let b = &bounded["bounded"];
    assert_eq!(b["bytes_per_object"], 64, "{ctx}");
    let out = run_leakspy(refs_args(false));
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let ordinary: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        ordinary["bounded"].is_null(),
        "the ordinary refs ran bounded"
    );
    let answer = |v: &Value| {
        let mut r = v["refs"].clone();
        r.as_object_mut().expect("refs").remove("cost"); // timings
        r
    };
    assert_eq!(answer(&bounded), answer(&ordinary), "{ctx}");
    assert_eq!(
        bounded["refs"]["instances"], truth["counts"]["__main__.Holder"],
        "{ctx}"
    );
    assert_eq!(
        bounded["refs"]["cost"]["objects"], ordinary["refs"]["cost"]["objects"],
        "{ctx}: graph sizes"
    );
    eprintln!(
        "{ctx}: peak {} MiB, {} evictions",
        peak >> 20,
        b["evictions"]
    );
    drop(t);
}

#[test]
fn bounded_pyenv_3_9_18() {
    check("pyenv-3.9.18");
}

#[test]
fn bounded_pyenv_3_12_1() {
    check("pyenv-3.12.1");
}

#[test]
fn bounded_pyenv_3_13_0() {
    check("pyenv-3.13.0");
}
