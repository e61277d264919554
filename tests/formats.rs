//! Export formats (docs/formats.md) read back by the consumers people use, never by leakspy itself:
//!
//! - `--heapsnapshot`: memlab (npm `@memlab/heap-analysis`) loads the file of a `dump` of
//!   `tests/targets/refs_target.py`; its per-class counts and self sizes must equal the `--json`
//!   report of that same dump, and, in the file `refs` writes, memlab's own shortest retainer path
//!   for an instance of each of the target's rooted classes must go through the holders the target
//!   says (the path shape `leakspy refs` prints), dict keys hidden unless `--show-keys`.
//!
//! - `--pprof`: npm `pprof-format` decodes the profiles of `dump`, `diff` and `leaks` of
//!   `tests/targets/leak_target.py` (traced by tracemalloc, driven tick by tick): per type and in
//!   total, objects and bytes equal the `--json` report (the growth for diff, the survivors for
//!   leaks), and the leaked type's only site is the target's leaking line.
//!
//! - `--html`: Debian's headless Chromium loads the pages of `dump`, `refs`, `diff` and `leaks` from
//!   disk with the network off; the DOM it dumps must show every type of the `--json` report in its
//!   order with its count and bytes, `refs`' path as a tree with the instance count at each step,
//!   `diff`'s growth and `leaks`' survivors as `--json` gives them; no console message, no error.
//!   A page of 1,000 made-up types and 10,000 sites renders its first 500 rows (tests/html_time.rs
//!   has real pages that size).
//!
//! - `--speedscope`: the file of a `dump` of `leak_target.py` (traced) must validate against the
//!   schema the npm package `speedscope` ships (with ajv); its bytes and objects profiles sum, per
//!   type and in total, to the `--json` report, and the leak's stack ends at the leaking line. A
//!   time profile written by the renderer `record` is to use validates too.
//!
//! The npm packages are installed by scripts/setup-formats.sh (called by scripts/test.sh) under
//! `$LEAKSPY_CACHE/npm-formats`.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where scripts/setup-formats.sh installed the npm packages.
fn node_modules() -> PathBuf {
    let dir = cache_dir().join("npm-formats/node_modules");
    assert!(
        dir.join("@memlab/heap-analysis").is_dir(),
        "{} is missing: run scripts/setup-formats.sh",
        dir.display()
    );
    dir
}

/// Run `node tests/formats/<script> args...`; its last stdout line is JSON.
fn node(script: &str, args: &[&str]) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/formats").join(script))
        .args(args)
        .env("NODE_PATH", node_modules());
    let out = run_with_timeout(&mut cmd);
    assert!(
        out.status.success(),
        "node {script} {args:?}\n{}",
        show_output(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rfind(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("node {script}: no JSON line\n{}", show_output(&out)));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("node {script}: {e}\n{last}"))
}

fn leakspy_ok<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(args: I, ctx: &str) -> Vec<u8> {
    let out = run_leakspy(args);
    assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(&out));
    out.stdout
}

fn short(name: &str) -> &str {
    name.strip_prefix("builtins.").unwrap_or(name)
}

/// memlab's retainer path (`[edge type, edge name, holder name]`, root first) as a `refs` shape:
/// `__main__.registry -> dict[<str>] -> list[*] -> __main__.Session` (an instance's `__dict__`
/// entry reads as an attribute, list and tuple indices fold to `*`, as `refs` prints them).
fn shape_of(steps: &[Value], target: &str) -> String {
    let s: Vec<(String, String, String)> = steps
        .iter()
        .map(|x| {
            let f = |i: usize| x[i].as_str().unwrap_or_default().to_string();
            (f(0), f(1), f(2))
        })
        .collect();
    // The first steps are synthetic: (GC roots) -> category -> owner -> first object.
    assert!(s.len() >= 3, "path too short: {steps:?}");
    let (_, member, owner) = &s[2];
    let root = if let Some(f) = owner.strip_suffix(" locals") {
        format!("{f} local {member}")
    } else {
        let o = owner
            .strip_prefix("module ")
            .or_else(|| owner.strip_prefix("class "))
            .unwrap_or(owner);
        format!("{o}.{member}")
    };
    let mut out = vec![root];
    let mut k = 3;
    while k < s.len() {
        let (kind, name, holder) = &s[k];
        let h = short(holder);
        if kind == "internal" && name == "__dict__" {
            if let Some((_, attr, _)) = s.get(k + 1) {
                out.push(format!("{h}.{attr}"));
                k += 2;
                continue;
            }
        }
        out.push(match kind.as_str() {
            "element" => format!("{h}[*]"),
            // An int dict key (`[0]`): leakspy's shapes fold those like list indices.
            _ if name.len() > 2
                && name.starts_with('[')
                && name.ends_with(']')
                && name[1..name.len() - 1]
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
            {
                format!("{h}[<int>]")
            }
            _ if name.starts_with('[') => format!("{h}{name}"),
            _ => format!("{h}.{name}"),
        });
        k += 1;
    }
    out.push(target.to_string());
    out.join(" -> ")
}

fn check_heapsnapshot(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    node_modules();
    let (t, ready) = spawn_target(&interp, "refs_target.py", &[]);
    let truth: Value = serde_json::from_str(&ready).expect("truth line");
    let pid = t.pid().to_string();
    let dir = TempDir::new("heapsnapshot");
    let file = |n: &str| -> String { dir.0.join(n).display().to_string() };

    // 1. A dump's file: memlab's per-class counts and self sizes are the report's.
    let snap = file("dump.heapsnapshot");
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json --heapsnapshot {snap}");
    let json = leakspy_ok(
        [
            "dump",
            "--pid",
            &pid,
            "--json",
            "-q",
            "--heapsnapshot",
            &snap,
        ],
        &ctx,
    );
    let report: Value = serde_json::from_slice(&json).expect("JSON");
    let m = node("memlab.js", &[&snap]);
    let counts = m["counts"].as_object().expect("counts");
    let types = report["heap"]["types"].as_array().expect("types");
    assert_eq!(counts.len(), types.len(), "{ctx}: classes\n{m}");
    for ty in types {
        let n = ty["type"].as_str().unwrap();
        let c = &counts
            .get(n)
            .unwrap_or_else(|| panic!("{ctx}: memlab has no class {n}"));
        assert_eq!(
            (c["count"].as_u64(), c["bytes"].as_u64()),
            (ty["count"].as_u64(), ty["bytes"].as_u64()),
            "{ctx}: {n} (memlab vs --json)"
        );
    }
    let objects = report["heap"]["objects"].as_u64().unwrap();
    let synthetic = m["synthetic"].as_u64().unwrap();
    assert_eq!(m["nodes"].as_u64(), Some(objects + synthetic), "{ctx}");
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(
        !text.contains("tenant-7"),
        "[{name}] a dict key (data) written without --show-keys"
    );

    // 2. A refs file: memlab's retainer path for each rooted class has the shape refs prints.
    let rooted: Vec<(&String, &Value)> = truth["types"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, w)| w.get("shape").is_some())
        .collect();
    let snap = file("refs.heapsnapshot");
    let classes: Vec<&str> = rooted.iter().map(|(c, _)| c.as_str()).collect();
    for show_keys in [false, true] {
        let ty = "__main__.Session";
        let mut args = vec![
            "refs",
            "--pid",
            &pid,
            "--type",
            ty,
            "--json",
            "-q",
            "--heapsnapshot",
            &snap,
        ];
        if show_keys {
            args.push("--show-keys");
        }
        let ctx = format!("[{name}] leakspy {}", args.join(" "));
        let r: Value = serde_json::from_slice(&leakspy_ok(&args, &ctx)).expect("JSON");
        let mut margs = vec![snap.as_str()];
        margs.extend(&classes);
        let m = node("memlab.js", &margs);
        for (class, want) in &rooted {
            let path = &m["paths"][class.as_str()];
            let steps = path["path"]
                .as_array()
                .unwrap_or_else(|| panic!("{ctx}: memlab found no path to {class}\n{m}"));
            let key = if show_keys && want.get("shape_keys").is_some() {
                "shape_keys"
            } else {
                "shape"
            };
            assert_eq!(
                shape_of(steps, class),
                want[key].as_str().unwrap(),
                "{ctx}: memlab's retainer path for {class}\n{path}"
            );
        }
        // The same holders as leakspy refs itself.
        assert_eq!(
            shape_of(m["paths"][ty]["path"].as_array().unwrap(), ty),
            r["refs"]["paths"][0]["shape"].as_str().unwrap(),
            "{ctx}"
        );
    }
    drop(t);
}

/// A pprof file decoded by npm pprof-format: (per type (count, bytes), total, decoded JSON).
/// Objects and bytes.
type Pair = (i64, i64);

fn decode_pprof(file: &str, ctx: &str) -> (BTreeMap<String, Pair>, Pair, Value) {
    let p = node("pprof.js", &[file]);
    assert_eq!(
        p["sampleTypes"],
        serde_json::json!([["objects", "count"], ["space", "bytes"]]),
        "{ctx}"
    );
    assert_eq!(p["defaultSampleType"], "space", "{ctx}");
    let pair = |v: &Value| (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
    let by_type = p["byType"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), pair(v)))
        .collect();
    (by_type, pair(&p["total"]), p)
}

/// The innermost frames of the samples of `ty` (`file:line`, the frame after the type).
fn innermost_frames(p: &Value, ty: &str) -> Vec<String> {
    p["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stack"][0] == ty)
        .map(|s| s["stack"][1].as_str().unwrap_or_default().to_string())
        .collect()
}

fn tick(t: &mut ChildGuard) {
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
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the target answers a tick");
    assert!(line.starts_with("ok "), "tick answer {line:?}");
}

fn check_pprof(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    node_modules();
    let (mut t, ready) = spawn_target_args(
        &interp,
        "leak_target.py",
        &["-X", "tracemalloc=5"],
        &["tick"],
    );
    let truth: Value = serde_json::from_str(&ready).expect("ready line");
    let leak_site = format!(
        "{}:{}",
        truth["file"].as_str().unwrap(),
        truth["leak_line"].as_u64().unwrap()
    );
    let pid = t.pid().to_string();
    let dir = TempDir::new("pprof");
    let file = |n: &str| -> String { dir.0.join(n).display().to_string() };
    for n in ["a.json", "b.json", "c.json"] {
        tick(&mut t);
        leakspy_ok(
            ["snapshot", "--pid", &pid, "-o", &file(n), "-q"],
            &format!("[{name}] snapshot {n}"),
        );
    }

    // dump: per type and in total, what --json says; the leak at its line.
    let pb = file("dump.pb.gz");
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json --pprof {pb}");
    let report: Value = serde_json::from_slice(&leakspy_ok(
        ["dump", "--pid", &pid, "--json", "-q", "--pprof", &pb],
        &ctx,
    ))
    .expect("JSON");
    let (by_type, total, p) = decode_pprof(&pb, &ctx);
    let types = report["heap"]["types"].as_array().unwrap();
    assert_eq!(by_type.len(), types.len(), "{ctx}");
    for ty in types {
        let n = ty["type"].as_str().unwrap();
        assert_eq!(
            by_type.get(n).copied(),
            Some((ty["count"].as_i64().unwrap(), ty["bytes"].as_i64().unwrap())),
            "{ctx}: {n}"
        );
    }
    let heap = &report["heap"];
    assert_eq!(
        total,
        (
            heap["objects"].as_i64().unwrap(),
            heap["bytes"].as_i64().unwrap()
        ),
        "{ctx}: totals"
    );
    let sites = innermost_frames(&p, "__main__.Leaked");
    assert_eq!(
        sites,
        vec![leak_site.clone()],
        "{ctx}: the leak's site\n{p}"
    );

    // diff A C: the growth per type, and in total.
    let pb = file("diff.pb.gz");
    let ctx = format!("[{name}] leakspy diff a c --json --pprof {pb}");
    let d: Value = serde_json::from_slice(&leakspy_ok(
        [
            "diff",
            &file("a.json"),
            &file("c.json"),
            "--json",
            "--pprof",
            &pb,
        ],
        &ctx,
    ))
    .expect("JSON");
    let (by_type, total, p) = decode_pprof(&pb, &ctx);
    let mut sum = (0, 0);
    for ty in d["types"].as_array().unwrap() {
        let n = ty["type"].as_str().unwrap();
        let g = |k: &str| ty[k].as_i64().unwrap();
        let want = (
            g("count_after") - g("count_before"),
            g("bytes_after") - g("bytes_before"),
        );
        sum = (sum.0 + want.0, sum.1 + want.1);
        assert_eq!(
            by_type.get(n).copied().unwrap_or((0, 0)),
            want,
            "{ctx}: {n}"
        );
    }
    assert_eq!(total, sum, "{ctx}: totals");
    assert_eq!(
        by_type["__main__.Leaked"].0, 200,
        "{ctx}: the target's own growth"
    );
    assert_eq!(
        innermost_frames(&p, "__main__.Leaked"),
        vec![leak_site.clone()],
        "{ctx}"
    );

    // leaks A B C: the survivors.
    let pb = file("leaks.pb.gz");
    let ctx = format!("[{name}] leakspy leaks a b c --json --pprof {pb}");
    let l: Value = serde_json::from_slice(&leakspy_ok(
        [
            "leaks",
            &file("a.json"),
            &file("b.json"),
            &file("c.json"),
            "--json",
            "--pprof",
            &pb,
        ],
        &ctx,
    ))
    .expect("JSON");
    let (by_type, total, p) = decode_pprof(&pb, &ctx);
    let mut sum = (0, 0);
    for g in l["survivors"].as_array().unwrap() {
        sum = (
            sum.0 + g["count"].as_i64().unwrap(),
            sum.1 + g["bytes"].as_i64().unwrap(),
        );
    }
    assert_eq!(total, sum, "{ctx}: totals");
    assert_eq!(
        by_type["__main__.Leaked"].0, 100,
        "{ctx}: the second tick's leak"
    );
    assert_eq!(
        innermost_frames(&p, "__main__.Leaked"),
        vec![leak_site],
        "{ctx}"
    );
    drop(t);
}

fn check_html(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let dir = TempDir::new("html");
    let file = |n: &str| -> String { dir.0.join(n).display().to_string() };

    // dump and refs of the refs target, traced (sites for the treemap and the flame graph).
    let (t, ready) = spawn_target(&interp, "refs_target.py", &["-X", "tracemalloc=5"]);
    let truth: Value = serde_json::from_str(&ready).expect("truth line");
    let pid = t.pid().to_string();
    let page = file("dump.html");
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json --html {page}");
    let report: Value = serde_json::from_slice(&leakspy_ok(
        ["dump", "--pid", &pid, "--json", "-q", "--html", &page],
        &ctx,
    ))
    .expect("JSON");
    let dom = dom_of(&page, &ctx);
    let shown = rows(&dom, "type-table");
    let types = report["heap"]["types"].as_array().unwrap();
    assert_eq!(shown.len(), types.len(), "{ctx}: one row per type");
    for (row, ty) in shown.iter().zip(types) {
        let want = [
            ("type", ty["type"].to_string().trim_matches('"').to_string()),
            ("count", ty["count"].to_string()),
            ("bytes", ty["bytes"].to_string()),
        ];
        for (k, v) in want {
            assert_eq!(
                row.get(k),
                Some(&v),
                "{ctx}: type table in --json's order\n{row:?}"
            );
        }
    }
    for section in [
        "threads",
        "memory",
        "treemap-types",
        "treemap-sites",
        "flame",
    ] {
        assert!(
            dom.contains(&format!("<section id=\"{section}\"")),
            "{ctx}: no {section}"
        );
    }
    assert!(
        dom.contains("data:image/svg+xml;base64,"),
        "{ctx}: the flame graph"
    );
    let main_tid = report["threads"][0]["native_id"].to_string();
    assert!(
        dom.contains(&format!("data-thread=\"{main_tid}\"")),
        "{ctx}: thread {main_tid}"
    );
    if name == "pyenv-3.12.1" {
        let shot = file("dump.png");
        let out = chromium(
            &["--window-size=1280,1800", &format!("--screenshot={shot}")],
            &page,
        );
        assert!(
            out.status.success() && Path::new(&shot).exists(),
            "{ctx}: screenshot\n{}",
            show_output(&out)
        );
    }

    let page = file("refs.html");
    let ty = "__main__.Session";
    let ctx = format!("[{name}] leakspy refs --pid {pid} --type {ty} --html {page}");
    leakspy_ok(
        ["refs", "--pid", &pid, "--type", ty, "-q", "--html", &page],
        &ctx,
    );
    let dom = dom_of(&page, &ctx);
    let want = &truth["types"][ty];
    assert!(
        dom.contains(&format!(
            "data-type=\"{ty}\" data-instances=\"{}\"",
            want["count"]
        )),
        "{ctx}"
    );
    for step in want["shape"].as_str().unwrap().split(" -> ") {
        let tag = format!(
            "data-step=\"{}\" data-count=\"{}\"",
            step.replace('<', "&lt;").replace('>', "&gt;"),
            want["count"]
        );
        assert!(dom.contains(&tag), "{ctx}: path tree lacks {tag}");
    }
    assert!(
        !dom.contains("tenant-7"),
        "{ctx}: a dict key without --show-keys"
    );
    drop(t);

    // diff and leaks of the leak target, tick by tick.
    let (mut t, _) = spawn_target_args(
        &interp,
        "leak_target.py",
        &["-X", "tracemalloc=5"],
        &["tick"],
    );
    let pid = t.pid().to_string();
    for n in ["a.json", "b.json", "c.json"] {
        tick(&mut t);
        leakspy_ok(
            ["snapshot", "--pid", &pid, "-o", &file(n), "-q"],
            &format!("[{name}] snapshot {n}"),
        );
    }
    drop(t);
    let page = file("diff.html");
    let ctx = format!("[{name}] leakspy diff a c --json --html {page}");
    let d: Value = serde_json::from_slice(&leakspy_ok(
        [
            "diff",
            &file("a.json"),
            &file("c.json"),
            "--json",
            "--html",
            &page,
        ],
        &ctx,
    ))
    .expect("JSON");
    let dom = dom_of(&page, &ctx);
    let shown: BTreeMap<String, (String, String)> = rows(&dom, "growth-table")
        .into_iter()
        .map(|r| {
            (
                r["type"].clone(),
                (r["count-delta"].clone(), r["bytes-delta"].clone()),
            )
        })
        .collect();
    // Each type's sparkline: its two points.
    let series: BTreeMap<String, String> = rows(&dom, "growth-table")
        .into_iter()
        .map(|r| (r["type"].clone(), r["count-series"].clone()))
        .collect();
    for x in d["types"].as_array().unwrap() {
        let want = format!("{},{}", x["count_before"], x["count_after"]);
        assert_eq!(
            series.get(x["type"].as_str().unwrap()),
            Some(&want),
            "{ctx}: sparkline of {}",
            x["type"]
        );
    }
    let want: BTreeMap<String, (String, String)> = d["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let g = |k: &str| x[k].as_i64().unwrap();
            (
                x["type"].as_str().unwrap().to_string(),
                (
                    (g("count_after") - g("count_before")).to_string(),
                    (g("bytes_after") - g("bytes_before")).to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(shown, want, "{ctx}: growth table");
    assert_eq!(shown["__main__.Leaked"].0, "200", "{ctx}");
    let page = file("leaks.html");
    let ctx = format!("[{name}] leakspy leaks a b c --json --html {page}");
    let l: Value = serde_json::from_slice(&leakspy_ok(
        [
            "leaks",
            &file("a.json"),
            &file("b.json"),
            &file("c.json"),
            "--json",
            "--html",
            &page,
        ],
        &ctx,
    ))
    .expect("JSON");
    let dom = dom_of(&page, &ctx);
    let mut shown: Vec<(String, String)> = rows(&dom, "survivor-table")
        .into_iter()
        .map(|r| (r["type"].clone(), r["count"].clone()))
        .collect();
    let mut want: Vec<(String, String)> = l["survivors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["type"].as_str().unwrap().to_string(),
                g["count"].to_string(),
            )
        })
        .collect();
    shown.sort();
    want.sort();
    assert_eq!(shown, want, "{ctx}: survivors");
}

/// A page of 1,000 types and 10,000 sites (made up, not from a target) renders completely, every
/// type in the table, filtering and sorting included.
#[test]
fn html_with_a_thousand_types() {
    let types: Vec<Value> = (0..1000)
        .map(|i| {
            let sites: Vec<Value> = (0..10)
                .map(|k| serde_json::json!({"frames": [{"filename": format!("m{i}.py"), "line": k + 1}], "count": k + 1, "bytes": 64 * (k + 1)}))
                .collect();
            serde_json::json!({"type": format!("mod{}.T{i}", i % 7), "count": 1000 + i, "bytes": 1_000_000 - i, "tracked": i, "size_exact": true, "allocated_at": sites})
        })
        .collect();
    let data = serde_json::json!({
        "pid": 1, "python_version": "3.12.1", "paused": true, "pause_ms": 1.0, "partial": false,
        "warnings": [], "threads": [{"thread_id": 1, "native_id": 1, "name": "main", "holds_gil": true, "idle": false,
            "frames": [{"function": "f", "filename": "a.py", "line": 1}]}],
        "memory": {"rss": 1 << 30, "heap": 1 << 29, "anonymous": 1 << 28, "file": 1 << 27, "stack": 1 << 20, "other": 0},
        "heap": {"objects": 1_500_000, "bytes": 999_500_500, "types": types},
    });
    let dir = TempDir::new("html-1000");
    let page = dir.0.join("big.html").display().to_string();
    let mut f = std::fs::File::create(&page).unwrap();
    leakspy_report::html::write(leakspy_report::html::Kind::Dump, "big", &data, None, &mut f)
        .unwrap();
    let dom = dom_of(&page, "1,000 types");
    // The first 500 rows in the DOM, the other 500 a click away.
    let shown = rows(&dom, "type-table");
    assert_eq!(shown.len(), 500);
    assert_eq!(shown[0]["type"], "mod0.T0");
    assert_eq!(shown[499]["type"], "mod2.T499");
    assert!(dom.contains("<table id=\"type-table\" data-hidden=\"500\">"));
}

/// A speedscope file validated against speedscope's own schema; its profiles as the script saw them.
fn validate_speedscope(file: &str, ctx: &str) -> Vec<Value> {
    let v = node("speedscope.js", &[file]);
    assert_eq!(
        v["valid"], true,
        "{ctx}: against speedscope's schema\n{}",
        v["errors"]
    );
    v["profiles"].as_array().unwrap().clone()
}

fn check_speedscope(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    node_modules();
    let (mut t, ready) = spawn_target_args(
        &interp,
        "leak_target.py",
        &["-X", "tracemalloc=5"],
        &["tick"],
    );
    let truth: Value = serde_json::from_str(&ready).expect("ready line");
    let leak_site = format!(
        "{}:{}",
        truth["file"].as_str().unwrap(),
        truth["leak_line"].as_u64().unwrap()
    );
    tick(&mut t);
    let pid = t.pid().to_string();
    let dir = TempDir::new("speedscope");
    let file = dir.0.join("dump.speedscope.json").display().to_string();
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json --speedscope {file}");
    let report: Value = serde_json::from_slice(&leakspy_ok(
        ["dump", "--pid", &pid, "--json", "-q", "--speedscope", &file],
        &ctx,
    ))
    .expect("JSON");
    let profiles = validate_speedscope(&file, &ctx);
    assert_eq!(profiles.len(), 2, "{ctx}");
    let heap = &report["heap"];
    for (p, unit, want) in [
        (&profiles[0], "bytes", heap["bytes"].as_u64()),
        (&profiles[1], "none", heap["objects"].as_u64()),
    ] {
        assert_eq!(p["unit"], unit, "{ctx}");
        assert_eq!(p["total"].as_u64(), want, "{ctx}: {unit} in total");
        assert_eq!(p["endValue"].as_u64(), want, "{ctx}: {unit} end value");
    }
    // Per type (the leaf frame), what --json says; the leak under its line.
    let mut by_type: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (k, p) in profiles.iter().enumerate() {
        for s in p["stacks"].as_array().unwrap() {
            let stack = s["stack"].as_array().unwrap();
            let leaf = stack.last().and_then(Value::as_str).unwrap().to_string();
            let e = by_type.entry(leaf).or_default();
            let w = s["weight"].as_u64().unwrap();
            if k == 0 {
                e.1 += w;
            } else {
                e.0 += w;
            }
            if stack.last() == Some(&Value::from("__main__.Leaked")) && w > 0 {
                assert_eq!(
                    stack[stack.len() - 2],
                    leak_site.as_str(),
                    "{ctx}: the leak's innermost frame\n{s}"
                );
            }
        }
    }
    for ty in heap["types"].as_array().unwrap() {
        let n = ty["type"].as_str().unwrap();
        assert_eq!(
            by_type.get(n).copied(),
            Some((ty["count"].as_u64().unwrap(), ty["bytes"].as_u64().unwrap())),
            "{ctx}: {n}"
        );
    }
    drop(t);
}

/// The renderer `record` will use: a time profile of (stack, weight) samples is a valid file.
#[test]
fn speedscope_time_profile_is_valid() {
    use leakspy_report::speedscope::{self, Frame, Profile, StackSample, Unit};
    let main = Frame::function("main", "app.py", 3);
    let profile = Profile {
        name: "wall time of pid 1, thread MainThread".into(),
        unit: Unit::Milliseconds,
        samples: vec![
            StackSample {
                stack: vec![main.clone(), Frame::function("work", "app.py", 9)],
                weight: 10,
            },
            StackSample {
                stack: vec![main],
                weight: 3,
            },
        ],
    };
    let dir = TempDir::new("speedscope-time");
    let file = dir.0.join("t.speedscope.json").display().to_string();
    let mut f = std::fs::File::create(&file).unwrap();
    speedscope::write("leakspy record", &[profile], &mut f).unwrap();
    let profiles = validate_speedscope(&file, "time profile");
    assert_eq!(profiles[0]["unit"], "milliseconds");
    assert_eq!(profiles[0]["total"], 13);
    assert_eq!(
        profiles[0]["stacks"][0]["stack"],
        serde_json::json!(["main", "work"])
    );
}

/// Export flags that cannot be honoured are refused before any target is read: one line, exit 2.
#[test]
fn unwritable_exports_are_usage_errors() {
    let missing = "/nonexistent-leakspy-dir/x.out";
    let tmp = std::env::temp_dir().display().to_string();
    for (args, says) in [
        (
            vec!["dump", "--pid", "1", "--heapsnapshot", missing],
            "does not exist",
        ),
        (
            vec!["dump", "--pid", "1", "--pprof", missing],
            "does not exist",
        ),
        (
            vec!["dump", "--pid", "1", "--speedscope", &tmp],
            "is a directory",
        ),
        (
            vec!["refs", "--pid", "1", "--type", "x", "--html", missing],
            "does not exist",
        ),
        (
            vec!["diff", "a.json", "b.json", "--html", &tmp],
            "is a directory",
        ),
        (
            vec!["leaks", "--pid", "1", "--pprof", missing],
            "does not exist",
        ),
        (
            vec!["dump", "--pid", "1", "--gc-only", "--heapsnapshot", "x"],
            "--gc-only",
        ),
        (
            vec!["dump", "--pid", "1", "--subprocesses", "--html", "x.html"],
            "--subprocesses",
        ),
        (
            vec!["leaks", "--pid", "1", "--subprocesses", "--pprof", "x"],
            "--subprocesses",
        ),
        (
            vec!["record", "--html", missing, "--", "/bin/false"],
            "does not exist",
        ),
        (
            vec!["watch", "--pid", "1", "--html", &tmp],
            "is a directory",
        ),
        (
            vec!["watch", "--pid", "1", "--subprocesses", "--html", "x.html"],
            "--subprocesses",
        ),
    ] {
        let out = run_leakspy(&args);
        let err = assert_clean_error(&out, 2, &args.join(" "));
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn shapes_read_like_refs() {
    let step = |a: &str, b: &str, c: &str| serde_json::json!([a, b, c]);
    let steps = [
        step("element", "2", "(GC roots)"),
        step("element", "1", "(module globals)"),
        step("property", "holder", "module __main__"),
        step("internal", "__dict__", "__main__.Holder"),
        step("property", "items", "builtins.dict"),
        step("element", "3", "builtins.list"),
    ];
    assert_eq!(
        shape_of(&steps, "__main__.Item"),
        "__main__.holder -> __main__.Holder.items -> list[*] -> __main__.Item"
    );
    let steps = [
        step("element", "1", "(GC roots)"),
        step("element", "1", "(frame locals)"),
        step("property", "keep", "main() locals"),
        step("element", "0", "builtins.list"),
    ];
    assert_eq!(shape_of(&steps, "J"), "main() local keep -> list[*] -> J");
}

macro_rules! per_interpreter {
    ($check:ident: $($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                $check($interp);
            }
        )*
    };
}

per_interpreter! { check_heapsnapshot:
    heapsnapshot_pyenv_3_9_18 => "pyenv-3.9.18",
    heapsnapshot_pyenv_3_11_7 => "pyenv-3.11.7",
    heapsnapshot_pyenv_3_12_1 => "pyenv-3.12.1",
    heapsnapshot_debian_sid_3_14 => "debian-sid-3.14",
}

per_interpreter! { check_pprof:
    pprof_pyenv_3_11_7 => "pyenv-3.11.7",
    pprof_pyenv_3_12_1 => "pyenv-3.12.1",
    pprof_debian_sid_3_14 => "debian-sid-3.14",
}

per_interpreter! { check_html:
    html_pyenv_3_11_7 => "pyenv-3.11.7",
    html_pyenv_3_12_1 => "pyenv-3.12.1",
    html_debian_sid_3_14 => "debian-sid-3.14",
}

per_interpreter! { check_speedscope:
    speedscope_pyenv_3_11_7 => "pyenv-3.11.7",
    speedscope_pyenv_3_12_1 => "pyenv-3.12.1",
    speedscope_debian_sid_3_14 => "debian-sid-3.14",
}
