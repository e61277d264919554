//! Allocation sites read from the target's tracemalloc (issue 3), on every interpreter of the matrix,
//! stripped distro builds included. Truth is by construction: tests/targets/alloc_target.py makes
//! known numbers of objects at marked lines and reports those lines.

mod common;

use common::*;
use serde_json::Value;

macro_rules! site_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_sites($interp, false);
            }
        )*
    };
}

site_tests! {
    sites_pyenv_3_6_15 => "pyenv-3.6.15",
    sites_pyenv_3_7_16 => "pyenv-3.7.16",
    sites_pyenv_3_8_18 => "pyenv-3.8.18",
    sites_pyenv_3_9_18 => "pyenv-3.9.18",
    sites_pyenv_3_10_13 => "pyenv-3.10.13",
    sites_pyenv_3_11_7 => "pyenv-3.11.7",
    sites_pyenv_3_12_1 => "pyenv-3.12.1",
    sites_pyenv_3_13_0 => "pyenv-3.13.0",
    sites_debian_3_11 => "debian-3.11",
    sites_debian_bullseye_3_9 => "debian-bullseye-3.9",
    sites_debian_sid_3_13 => "debian-sid-3.13",
    sites_debian_sid_3_14 => "debian-sid-3.14",
    sites_debian_sid_3_15 => "debian-sid-3.15",
    sites_debian_sid_3_13t => "debian-sid-3.13t",
}

/// Tracing from start-up (`-X tracemalloc=5`, the same as PYTHONTRACEMALLOC=5): objects made before
/// `tracemalloc.start()` would be called are traced too.
#[test]
fn sites_from_startup_pyenv_3_12_1() {
    check_sites("pyenv-3.12.1", true);
}

#[test]
fn sites_from_startup_stripped_debian_3_11() {
    check_sites("debian-3.11", true);
}

fn frames_of(site: &Value) -> Vec<(String, u64)> {
    site["frames"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        f["filename"].as_str().unwrap_or("").to_string(),
                        f["line"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn expected_frames(v: &Value) -> Vec<(String, u64)> {
    v["frames"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        f[0].as_str().unwrap_or("").to_string(),
                        f[1].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_sites(name: &str, env_var: bool) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let py_args: &[&str] = if env_var {
        &["-X", "tracemalloc=5"]
    } else {
        &[]
    };
    let (target, line) = spawn_target(&interp, "alloc_target.py", py_args);
    let truth: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{name}: bad truth {e}: {line}"));
    assert_eq!(
        truth["early_traced"].as_bool(),
        Some(env_var),
        "{name}: tracing mode"
    );
    let pid = target.pid();
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json", "-q"]);
    let ctx = format!(
        "[{name}] leakspy dump --pid {pid} --json\n{}",
        show_output(&out)
    );
    assert!(out.status.success(), "{ctx}");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{ctx}"));
    let tm = &report["heap"]["tracemalloc"];
    assert_eq!(
        tm["tracing"].as_bool(),
        Some(true),
        "tracemalloc info: {tm}\n{ctx}"
    );
    let types = report["heap"]["types"].as_array().expect("types");
    let find = |ty: &str| {
        types
            .iter()
            .find(|t| t["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty}\n{ctx}"))
    };

    let mut problems = Vec::new();
    let mut expect_site = |ty: &str, want: &Value| {
        let t = find(ty);
        let want_count = want["count"].as_u64().unwrap_or(0);
        let want_frames = expected_frames(want);
        let sites = t["allocated_at"].as_array().cloned().unwrap_or_default();
        let total: u64 = sites.iter().map(|s| s["count"].as_u64().unwrap_or(0)).sum();
        if total != want_count {
            problems.push(format!(
                "{ty}: {total} instances with a site, expected {want_count}; sites: {sites:?}"
            ));
        }
        let Some(top) = sites.first() else {
            problems.push(format!("{ty}: no allocation site"));
            return;
        };
        let got = frames_of(top);
        if top["count"].as_u64() != Some(want_count)
            || got.get(..want_frames.len()) != Some(&want_frames[..])
        {
            problems.push(format!(
                "{ty}: top site {:?} x{}, expected innermost frames {want_frames:?} x{want_count}",
                got, top["count"]
            ));
        }
        let bytes: u64 = sites.iter().map(|s| s["bytes"].as_u64().unwrap_or(0)).sum();
        if bytes != t["bytes"].as_u64().unwrap_or(0) {
            problems.push(format!(
                "{ty}: site bytes {bytes} != type bytes {}",
                t["bytes"]
            ));
        }
    };
    for (ty, want) in truth["sites"].as_object().expect("sites") {
        expect_site(ty, want);
    }
    let early = &truth["early"];
    let early_type = early["type"].as_str().unwrap_or("");
    if env_var {
        expect_site(early_type, early);
    } else {
        let sites = find(early_type)["allocated_at"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !sites.is_empty() {
            problems.push(format!(
                "{early_type}: made before tracing started, yet has sites {sites:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n- {}\n{ctx}",
        problems.len(),
        problems.join("\n- ")
    );

    // The text report shows the innermost site under the type.
    let text = run_leakspy(["dump", "--pid", &pid.to_string(), "--top", "500", "-q"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    let direct_line = expected_frames(&truth["sites"]["__main__.Direct"])[0].1;
    assert!(
        stdout.contains(&format!(":{direct_line}"))
            && stdout.contains("Allocation sites from the target's tracemalloc"),
        "[{name}] text report lacks the site line {direct_line}:\n{stdout}"
    );
}

/// A target that does not trace: said plainly, with how to turn it on, and no sites.
#[test]
fn not_tracing_is_reported_with_a_hint() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    let out = run_leakspy(["dump", "--pid", &target.pid().to_string(), "--json", "-q"]);
    let ctx = show_output(&out);
    assert!(out.status.success(), "{ctx}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let tm = &report["heap"]["tracemalloc"];
    assert_eq!(tm["tracing"].as_bool(), Some(false), "{ctx}");
    assert!(
        tm["hint"]
            .as_str()
            .unwrap_or("")
            .contains("PYTHONTRACEMALLOC"),
        "{ctx}"
    );
    assert!(report["heap"]["types"]
        .as_array()
        .expect("types")
        .iter()
        .all(|t| t.get("allocated_at").is_none()));
    let text = run_leakspy(["dump", "--pid", &target.pid().to_string(), "-q"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("tracemalloc is not tracing"));
}
