//! The `--html` pages of what happens over time, loaded by Debian's headless Chromium with the
//! network off (tests/common/browser.rs: any console message or error event fails):
//!
//! - `record --html` of tests/targets/record_target.py: the DOM's type table equals the `--json`
//!   report of the same recording (born, alive, alive bytes per type), the summary its samples and
//!   exactness, the largest type opens with its sites as the report lists them; treemap and flame
//!   graph present. Sampled on 3.11/3.12/sid 3.14, exact (tracemalloc) on 3.12.
//! - `watch --html` of tests/targets/leak_target.py, ticked between the samples: each type's
//!   sparkline series equals what `watch --json` printed at each sample, and the leaked type's series
//!   is the target's own count after each tick (0, 100, 200, 300).
//! - A real heap of 1,000 classes allocated at 10,000 sites (tests/targets/many_sites.py, traced):
//!   the dump, diff, watch and record pages render (first 500 rows in the DOM, the rest counted);
//!   the render time the page measures is printed (docs/formats.md), never asserted.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Send one line to the target and return its answer.
fn ask(t: &mut ChildGuard, line: &str) -> String {
    let stdin = t.stdin.as_mut().expect("target stdin");
    stdin
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| stdin.flush())
        .expect("write to the target");
    next(t)
}

fn next(t: &mut ChildGuard) -> String {
    t.lines
        .as_ref()
        .expect("target stdout")
        .recv_timeout(Duration::from_secs(120))
        .expect("the target answers")
        .trim_end()
        .to_string()
}

/// `leakspy ARGS` started; its stderr read up to the line saying the recording started.
// The child goes back to the caller, which waits for it (`finish`).
#[allow(clippy::zombie_processes)]
fn start_record(args: &[&str]) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakspy"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start leakspy");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("leakspy {args:?} never said it was recording");
        }
        if line.contains("leakspy: recording") {
            return (child, err);
        }
    }
}

/// The rest of a started leakspy: its JSON report on stdout (exit 0).
fn finish(
    child: std::process::Child,
    mut err: BufReader<std::process::ChildStderr>,
    ctx: &str,
) -> Value {
    let out = child.wait_with_output().expect("wait leakspy");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert!(out.status.success(), "{ctx}: {}\n{rest}", out.status);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{ctx}: JSON: {e}\n{rest}"))
}

fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The DOM of a record page shows the report: types, summary, the open type's sites.
fn check_record_page(report: &Value, dom: &str, ctx: &str) {
    let shown: BTreeMap<String, [String; 3]> = rows(dom, "record-table")
        .into_iter()
        .map(|r| {
            (
                r["type"].clone(),
                [
                    r["born"].clone(),
                    r["alive"].clone(),
                    r["alive-bytes"].clone(),
                ],
            )
        })
        .collect();
    let types = report["types"].as_array().expect("types");
    let want: BTreeMap<String, [String; 3]> = types
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap().to_string(),
                [
                    t["born"].to_string(),
                    t["alive"].to_string(),
                    t["alive_bytes"].to_string(),
                ],
            )
        })
        .collect();
    if types.len() <= 500 {
        assert_eq!(shown, want, "{ctx}: the type table");
    } else {
        assert_eq!(shown.len(), 500, "{ctx}: a page of rows");
        for (k, v) in &shown {
            assert_eq!(want.get(k), Some(v), "{ctx}: {k}");
        }
    }
    let summary = dom
        .split("<section id=\"summary\" data-duration=\"")
        .nth(1)
        .expect("the summary");
    let (duration, rest) = summary.split_once('"').expect("duration");
    assert_eq!(
        duration.parse::<f64>().ok(),
        report["duration_s"].as_f64(),
        "{ctx}: duration"
    );
    assert!(
        rest.starts_with(&format!(
            " data-samples=\"{}\" data-exact=\"{}\"",
            report["samples"], report["exact"]
        )),
        "{ctx}: summary"
    );
    for s in ["treemap-record", "flame"] {
        assert!(dom.contains(&format!("<section id=\"{s}\"")), "{ctx}: {s}");
    }
    assert!(dom.contains("data:image/svg+xml;base64,"), "{ctx}: flame");
    // The first row is open with its sites, in the report's order.
    let first = rows(dom, "record-table")[0]["type"].clone();
    let t = types
        .iter()
        .find(|t| t["type"] == first.as_str())
        .expect("first type");
    let open = dom
        .find(&format!("<tr data-type=\"{}\"", attr(&first)))
        .expect("first row");
    let open = &dom[open..open + dom[open..].find("</tr>").expect("row end")];
    assert!(
        open.contains("<details data-i=") && open.contains(" open=\"\""),
        "{ctx}: {open}"
    );
    let sites: Vec<String> = open
        .split("<li data-site-born=\"")
        .skip(1)
        .map(|li| li[..li.find("\">").unwrap_or(0)].replace("\" data-site-", " "))
        .collect();
    let want: Vec<String> = t["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} alive=\"{} bytes=\"{}",
                s["born"], s["alive"], s["alive_bytes"]
            )
        })
        .collect();
    assert_eq!(sites, want, "{ctx}: the sites of {first}");
}

fn check_record(name: &str, traced: bool) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let dir = TempDir::new("html-record");
    let page = dir.0.join("record.html").display().to_string();
    // Few iterations under tracemalloc (every int traced is slow), at least a second otherwise.
    let (py_args, script_args): (&[&str], &[&str]) = if traced {
        (&["-X", "tracemalloc=5"], &["100", "0"])
    } else {
        (&[], &["300", "1.0"])
    };
    let (mut t, _) = spawn_target_args(&interp, "record_target.py", py_args, script_args);
    let pid = t.pid().to_string();
    let args = [
        "record",
        "--pid",
        &pid,
        "--duration",
        "5s",
        "--pause",
        "--json",
        "--html",
        &page,
    ];
    let ctx = format!("[{name}] leakspy {}", args.join(" "));
    let (child, err) = start_record(&args);
    assert_eq!(ask(&mut t, "go"), "done", "{ctx}");
    let report = finish(child, err, &ctx);
    assert_eq!(report["exact"], traced, "{ctx}");
    assert!(
        report["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "__main__.Leak"),
        "{ctx}: the leak recorded"
    );
    let dom = dom_of(&page, &ctx);
    check_record_page(&report, &dom, &ctx);
    if name == "pyenv-3.12.1" && !traced {
        let shot = dir.0.join("record.png").display().to_string();
        let out = chromium(
            &["--window-size=1280,1500", &format!("--screenshot={shot}")],
            &page,
        );
        assert!(
            out.status.success(),
            "{ctx}: screenshot\n{}",
            show_output(&out)
        );
        if let Ok(to) = std::env::var("LEAKSPY_SCREENSHOT_DIR") {
            let _ = std::fs::copy(&shot, std::path::Path::new(&to).join("html-record.png"));
        }
    }
}

/// The sparkline series of each row of the growth table of a watch page.
fn series_of(dom: &str) -> BTreeMap<String, Vec<u64>> {
    rows(dom, "growth-table")
        .into_iter()
        .map(|r| {
            let v = r["count-series"]
                .split(',')
                .map(|x| x.parse().expect("a count"))
                .collect();
            (r["type"].clone(), v)
        })
        .collect()
}

/// Every type `watch --json` listed at the last sample whose sparkline the page shows: its count at
/// each sample, as printed then (a type missing from a sample's growth list had not changed since
/// the first sample).
fn check_series(samples: &[Value], series: &BTreeMap<String, Vec<u64>>, ctx: &str) {
    let last = samples.last().expect("samples")["growth"]
        .as_array()
        .unwrap();
    for g in last {
        let ty = g["type"].as_str().unwrap();
        let first = g["count"].as_i64().unwrap() - g["count_since_first"].as_i64().unwrap();
        let want: Vec<u64> = samples
            .iter()
            .map(|s| {
                s["growth"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["type"] == ty)
                    .map_or(first, |x| x["count"].as_i64().unwrap()) as u64
            })
            .collect();
        if let Some(got) = series.get(ty) {
            assert_eq!(got, &want, "{ctx}: the series of {ty}");
        }
    }
}

/// `leakspy watch --pid PID --interval 1500ms --count N --json --top 2000 -q --html PAGE`, calling
/// `between` after each sample but the last (while watch sleeps); the JSON lines it printed.
fn watch(pid: &str, count: usize, page: &str, mut between: impl FnMut()) -> Vec<Value> {
    let n = count.to_string();
    let args = [
        "watch",
        "--pid",
        pid,
        "--interval",
        "1500ms",
        "--count",
        &n,
        "--json",
        "--top",
        "2000",
        "-q",
        "--html",
        page,
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakspy"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start leakspy");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut samples = Vec::new();
    for line in out.lines() {
        samples.push(serde_json::from_str::<Value>(&line.expect("a line")).expect("a JSON line"));
        if samples.len() < count {
            between();
        }
    }
    let status = child.wait().expect("wait leakspy");
    assert!(status.success(), "leakspy {}: {status}", args.join(" "));
    assert_eq!(samples.len(), count, "leakspy {}", args.join(" "));
    samples
}

fn check_watch(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let dir = TempDir::new("html-watch");
    let page = dir.0.join("watch.html").display().to_string();
    let (mut t, _) = spawn_target_args(&interp, "leak_target.py", &[], &["tick"]);
    let pid = t.pid().to_string();
    let ctx = format!("[{name}] leakspy watch --pid {pid} --count 4 --html {page}");
    let mut leaked = vec![0u64];
    let samples = watch(&pid, 4, &page, || {
        // Between two samples (watch sleeps 1.5 s): the target leaks 100 more.
        let answer = ask(&mut t, "t");
        let n = answer.split(' ').nth(1).and_then(|x| x.parse().ok());
        leaked.push(n.expect("ok LEAKED TEMP"));
    });
    let dom = dom_of(&page, &ctx);
    let series = series_of(&dom);
    assert_eq!(
        series.get("__main__.Leaked"),
        Some(&leaked),
        "{ctx}: the leak's sparkline is the target's own count"
    );
    check_series(&samples, &series, &ctx);
    assert!(
        dom.contains("id=\"summary\" data-samples=\"4\""),
        "{ctx}: four samples"
    );
}

/// How long the page says it took to render (ms since navigation start), for the log.
fn render_ms(dom: &str) -> String {
    dom.split("data-render-ms=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("?")
        .to_string()
}

/// 1,000 classes from 10,000 sites (traced): the dump, diff, watch and record pages of a real
/// target that size render, their tables paged; the render times are printed.
#[test]
fn html_pages_of_a_thousand_types_and_ten_thousand_sites() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let dir = TempDir::new("html-big");
    let file = |n: &str| dir.0.join(n).display().to_string();
    let (mut t, ready) = spawn_target_args(&interp, "many_sites.py", &["-X", "tracemalloc=1"], &[]);
    let truth: Value = serde_json::from_str(&ready).expect("ready line");
    let pid = t.pid().to_string();
    let mut times = Vec::new();
    let mut load = |page: &str, what: &str| -> String {
        let started = std::time::Instant::now();
        let dom = dom_of(page, what);
        let size = std::fs::metadata(page).map_or(0, |m| m.len());
        times.push(format!(
            "{what}: {:.1} MB, rendered at {} ms, chromium {:.2} s",
            size as f64 / 1e6,
            render_ms(&dom),
            started.elapsed().as_secs_f64()
        ));
        dom
    };

    // record: the births of two rounds, exact sites.
    let page = file("record.html");
    let args = [
        "record",
        "--pid",
        &pid,
        "--duration",
        "4s",
        "--pause",
        "--json",
        "--html",
        &page,
    ];
    let (child, err) = start_record(&args);
    ask(&mut t, "run");
    assert_eq!(ask(&mut t, "run"), "ok 20000");
    let report = finish(child, err, "record");
    let dom = load(&page, "record");
    check_record_page(&report, &dom, "record of 1,000 types");
    let sites: usize = report["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["sites"].as_array().map_or(0, Vec::len))
        .sum();
    let born: u64 = report["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"].as_str().is_some_and(|n| n.starts_with("many.T")))
        .map(|t| t["born"].as_u64().unwrap_or(0))
        .sum();
    // Record sees a share of the births of so tight a loop (about 40% here; its accuracy is
    // tests/record.rs's): the page is checked against its report, at whatever size it has.
    let seen = report["types"].as_array().unwrap().len();
    eprintln!("record: {seen} types, {sites} sites, {born} of 20,000 births seen");
    assert!(
        seen >= 1000,
        "record: {seen} types, {sites} sites, {born} births seen"
    );

    // dump, and a snapshot before and after one more round for diff.
    let page = file("dump.html");
    let d: Value = serde_json::from_slice(&run_leakspy_ok(&[
        "dump", "--pid", &pid, "--json", "-q", "--html", &page,
    ]))
    .expect("JSON");
    let dom = load(&page, "dump");
    let n_types = d["heap"]["types"].as_array().unwrap().len();
    assert!(
        n_types > truth["types"].as_u64().unwrap() as usize,
        "dump: {n_types} types"
    );
    assert_eq!(rows(&dom, "type-table").len(), 500, "dump: a page of rows");
    assert!(dom.contains(&format!(
        "<table id=\"type-table\" data-hidden=\"{}\"",
        n_types - 500
    )));
    run_leakspy_ok(&["snapshot", "--pid", &pid, "-o", &file("a.json"), "-q"]);
    ask(&mut t, "run");
    run_leakspy_ok(&["snapshot", "--pid", &pid, "-o", &file("b.json"), "-q"]);
    let page = file("diff.html");
    let diff: Value = serde_json::from_slice(&run_leakspy_ok(&[
        "diff",
        &file("a.json"),
        &file("b.json"),
        "--json",
        "--html",
        &page,
    ]))
    .expect("JSON");
    let dom = load(&page, "diff");
    let grown = diff["sites"].as_array().unwrap().len();
    assert!(grown >= 10_000, "diff: {grown} sites grew");
    assert_eq!(
        rows(&dom, "growth-sites-table").len(),
        500,
        "diff: a page of sites"
    );

    // watch: three samples, a round between each.
    let page = file("watch.html");
    // A round takes seconds while watch pauses the target: the next sample may see it half
    // done, so the page is checked against what watch printed, not the round count.
    let samples = watch(&pid, 3, &page, || {
        ask(&mut t, "run");
    });
    let dom = load(&page, "watch");
    let series = series_of(&dom);
    assert_eq!(
        series.len(),
        leakspy_report::series::TOP_TYPES,
        "watch: the top types"
    );
    assert_eq!(
        series.get("many.T0").map(Vec::len),
        Some(3),
        "watch: three points"
    );
    check_series(&samples, &series, "watch of 1,000 types");
    eprintln!("1,000 types / 10,000 sites:\n  {}", times.join("\n  "));
}

/// `leakspy ARGS`, which must succeed; its stdout.
fn run_leakspy_ok(args: &[&str]) -> Vec<u8> {
    let out = run_leakspy(args);
    assert!(
        out.status.success(),
        "leakspy {args:?}\n{}",
        show_output(&out)
    );
    out.stdout
}

macro_rules! per_interpreter {
    ($check:ident: $($test:ident => $interp:literal $(, $arg:expr)?;)*) => {
        $(
            #[test]
            fn $test() {
                $check($interp $(, $arg)?);
            }
        )*
    };
}

per_interpreter! { check_record:
    html_record_pyenv_3_11_7 => "pyenv-3.11.7", false;
    html_record_pyenv_3_12_1 => "pyenv-3.12.1", false;
    html_record_traced_pyenv_3_12_1 => "pyenv-3.12.1", true;
    html_record_debian_sid_3_14 => "debian-sid-3.14", false;
}

per_interpreter! { check_watch:
    html_watch_pyenv_3_11_7 => "pyenv-3.11.7";
    html_watch_pyenv_3_12_1 => "pyenv-3.12.1";
    html_watch_debian_sid_3_14 => "debian-sid-3.14";
}
