//! The report-vs-truth assertions (`check_dump`, `check_report`, `check_layout`,
//! `assert_clean_error`), the expected layouts and the tolerances for the heap totals.

use super::interpreters::interpreter;
use super::leakspy::{run_leakspy, show_output, truncate};
use super::report::{Report, ReportFrame};
use super::targets::start_target;
use super::truth::{CountBytes, Truth, TruthFrame};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Output;

// Tolerances for the heap totals.
//
// The target computes its truth (gc.get_objects() + the whole permanent
// generation, sys.getsizeof of each) as late as possible: after the snapshot it
// only serialises the truth (temporaries freed again), writes it with
// os.write and calls os.read(0, 1).  Automatic GC is disabled before the
// snapshot, so nothing gets collected or untracked afterwards.
//
// Measured on every interpreter of the matrix by re-walking the heap
// in-process right before os.read: the drift is exactly 0 objects and 0
// bytes.  (Before platform.python_version() was hoisted out of the truth code
// it was +2 objects / +280 bytes: a cached regex-match tuple and a dict.)
// Totals are ~12-17k objects / 1.9-3.1 MB.
//
// The margins below only absorb a few unforeseen small allocations (a couple of
// dicts/tuples); they are deliberately smaller than e.g. the 8 KiB buffer of
// one io.BufferedWriter, so a wrong sizeof for such a type fails the test.
// Own types (`__main__.*`) must match exactly.
pub const OBJECTS_ABS_TOLERANCE: u64 = 10;
pub const OBJECTS_REL_TOLERANCE: f64 = 0.001;
pub const BYTES_ABS_TOLERANCE: u64 = 4096;
pub const BYTES_REL_TOLERANCE: f64 = 0.002;

pub fn objects_tolerance(truth: u64) -> u64 {
    OBJECTS_ABS_TOLERANCE.max((truth as f64 * OBJECTS_REL_TOLERANCE).ceil() as u64)
}

pub fn bytes_tolerance(truth: u64) -> u64 {
    BYTES_ABS_TOLERANCE.max((truth as f64 * BYTES_REL_TOLERANCE).ceil() as u64)
}

fn fmt_stack<'a>(frames: impl Iterator<Item = (&'a str, &'a str, Option<i64>)>) -> String {
    let mut s = String::new();
    for (i, (func, file, line)) in frames.enumerate() {
        let line = line.map_or("null".to_string(), |l| l.to_string());
        let _ = writeln!(s, "      #{i} {func} ({file}:{line})");
    }
    s
}

fn fmt_truth_stack(frames: &[TruthFrame]) -> String {
    fmt_stack(
        frames
            .iter()
            .map(|f| (f.function.as_str(), f.filename.as_str(), Some(f.line))),
    )
}

fn fmt_report_stack(frames: &[ReportFrame]) -> String {
    fmt_stack(
        frames
            .iter()
            .map(|f| (f.function.as_str(), f.filename.as_str(), f.line)),
    )
}

fn diff_u64(a: u64, b: u64) -> u64 {
    a.abs_diff(b)
}

/// Per-type differences (report - truth), the `n` largest by |bytes|, then |count|.
fn type_diff_table(
    truth: &BTreeMap<String, CountBytes>,
    got: &BTreeMap<String, CountBytes>,
    n: usize,
) -> String {
    let names: BTreeSet<&String> = truth.keys().chain(got.keys()).collect();
    let mut rows: Vec<(&String, i64, i64, CountBytes, CountBytes)> = names
        .into_iter()
        .map(|name| {
            let t = truth.get(name).copied().unwrap_or_default();
            let g = got.get(name).copied().unwrap_or_default();
            (
                name,
                g.count as i64 - t.count as i64,
                g.bytes as i64 - t.bytes as i64,
                t,
                g,
            )
        })
        .filter(|r| r.1 != 0 || r.2 != 0)
        .collect();
    let ndiff = rows.len();
    rows.sort_by_key(|r| std::cmp::Reverse((r.2.abs(), r.1.abs())));
    let mut s = format!(
        "  {ndiff} types differ; largest {} (report - truth):\n    {:<50} {:>9} {:>11} {:>16} {:>18}\n",
        n.min(ndiff),
        "type",
        "d_count",
        "d_bytes",
        "truth cnt/bytes",
        "report cnt/bytes"
    );
    for (name, dc, db, t, g) in rows.into_iter().take(n) {
        let _ = writeln!(
            s,
            "    {:<50} {:>+9} {:>+11} {:>16} {:>18}",
            name,
            dc,
            db,
            format!("{}/{}", t.count, t.bytes),
            format!("{}/{}", g.count, g.bytes)
        );
    }
    s
}

/// Run `leakspy dump --pid P --json` against a fresh target under the named
/// interpreter and compare everything with the target's own truth.
pub fn check_dump(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let target = start_target(&interp, "heap_target.py");
    let pid = target.pid();
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json"]);
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json");
    let report = check_report(&ctx, &out, &target.truth, i64::from(pid), Expect::LIVE);
    check_layout(&ctx, name, &report);
    // Keep the target alive until here; dropping it kills it.
    drop(target);
}

/// Which layout a live dump of each interpreter of the matrix must have used, where its version came
/// from, and (3.13+) how many fields the target's `_Py_DebugOffsets` supplied:
/// (interpreter, layout file, version source, debug-offsets fields).
pub const EXPECTED_LAYOUTS: &[(&str, &str, &str, Option<u32>)] = &[
    ("pyenv-3.6.15", "3.6.toml", "sys.version string", None),
    ("pyenv-3.7.16", "3.7.toml", "sys.version string", None),
    ("pyenv-3.8.18", "3.8.toml", "sys.version string", None),
    ("pyenv-3.9.18", "3.9.toml", "sys.version string", None),
    ("pyenv-3.10.13", "3.10.toml", "sys.version string", None),
    ("pyenv-3.11.7", "3.11.toml", "Py_Version", None),
    ("pyenv-3.12.1", "3.12.toml", "Py_Version", None),
    (
        "pyenv-3.13.0",
        "3.13.toml",
        "_Py_DebugOffsets.version",
        Some(43),
    ),
    ("debian-3.11", "3.11.toml", "Py_Version", None),
    (
        "debian-bullseye-3.9",
        "3.9.toml",
        "sys.version string",
        None,
    ),
    (
        "debian-sid-3.13",
        "3.13-debian.toml",
        "_Py_DebugOffsets.version",
        Some(43),
    ),
    (
        "debian-sid-3.14",
        "3.14.toml",
        "_Py_DebugOffsets.version",
        Some(50),
    ),
    (
        "debian-sid-3.15",
        "3.15.toml",
        "_Py_DebugOffsets.version",
        Some(57),
    ),
    (
        "debian-sid-3.13d",
        "3.13-debian.toml",
        "_Py_DebugOffsets.version",
        Some(43),
    ),
    (
        "debian-sid-3.14d",
        "3.14.toml",
        "_Py_DebugOffsets.version",
        Some(50),
    ),
    (
        "debian-sid-3.15d",
        "3.15.toml",
        "_Py_DebugOffsets.version",
        Some(57),
    ),
    (
        "debian-sid-3.13t",
        "3.13t.toml",
        "_Py_DebugOffsets.version",
        Some(43),
    ),
];

/// The layout a report used must be the one expected for `name` ([`EXPECTED_LAYOUTS`]), and no
/// field of it may disagree with the target's own `_Py_DebugOffsets` (3.13+): such a disagreement is
/// a wrong generated offset. That holds for the Py_DEBUG builds too (3.13d/3.14d/3.15d): measured,
/// every field `_Py_DebugOffsets` covers has the same offset as in the release build's layout file,
/// so no field is exempt. (leakspy uses the target's value and warns "layout field F differs".)
pub fn check_layout(ctx: &str, name: &str, report: &Report) {
    let Some(&(_, file, version_source, debug_fields)) =
        EXPECTED_LAYOUTS.iter().find(|e| e.0 == name)
    else {
        panic!("{ctx}: no expected layout for interpreter {name} (add it to EXPECTED_LAYOUTS)");
    };
    let mut fails = Vec::new();
    let l = &report.layout;
    if l.file != file {
        fails.push(format!("layout.file {:?}, expected {file:?}", l.file));
    }
    if l.version_source != version_source {
        fails.push(format!(
            "layout.version_source {:?}, expected {version_source:?}",
            l.version_source
        ));
    }
    let source = match debug_fields {
        Some(n) => format!("python-layouts/{file} + _Py_DebugOffsets ({n} fields)"),
        None => format!("python-layouts/{file}"),
    };
    if l.source != source {
        fails.push(format!("layout.source {:?}, expected {source:?}", l.source));
    }
    let layout_warnings: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("layout field") || w.contains("_Py_DebugOffsets"))
        .collect();
    if !layout_warnings.is_empty() {
        fails.push(format!(
            "the layout file disagrees with the target's _Py_DebugOffsets (or it is missing): {layout_warnings:?}"
        ));
    }
    assert!(
        fails.is_empty(),
        "{ctx}: layout cross-check:\n- {}",
        fails.join("\n- ")
    );
}

/// What a report must say beyond the truth, by where it was read from.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// Every thread's `idle` (the targets' threads are all blocked; a core cannot tell).
    pub idle: Option<bool>,
    /// The core lacks threads' C stacks (gcore could not copy them): the report must be partial
    /// and say so, and a thread marked truncated must show the innermost part of its stack.
    pub stacks_missing: bool,
}

impl Expect {
    pub const LIVE: Expect = Expect {
        idle: Some(true),
        stacks_missing: false,
    };
    pub const CORE: Expect = Expect {
        idle: None,
        stacks_missing: false,
    };
}

/// Compare `leakspy dump --json` output with the target's truth (the live test's
/// checks, shared by the core and container tests); panics listing every
/// difference. Returns the parsed report.
pub fn check_report(ctx: &str, out: &Output, truth: &Truth, pid: i64, expect: Expect) -> Report {
    // Exit 1 = a partial report, expected where the core lacks memory.
    let partial_exit = expect.stacks_missing && out.status.code() == Some(1);
    if !out.status.success() && !partial_exit {
        panic!("{ctx}: failed\n{}", show_output(out));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Report = match serde_json::from_str(&stdout) {
        Ok(r) => r,
        Err(e) => panic!(
            "{ctx}: stdout is not a report matching the contract: {e}\n{}",
            show_output(out)
        ),
    };

    let mut fails: Vec<String> = Vec::new();

    // --- process ---
    if report.pid != pid {
        fails.push(format!("pid: report {} != target {pid}", report.pid));
    }
    if report.python_version != truth.version {
        fails.push(format!(
            "python_version: report {:?} != truth {:?}",
            report.python_version, truth.version
        ));
    }
    if expect.stacks_missing {
        if !report.partial || !report.warnings.iter().any(|w| w.contains("C stacks")) {
            fails.push(format!(
                "the core lacks thread stacks but the report does not say so (partial {}, warnings {:?})",
                report.partial, report.warnings
            ));
        }
    } else if report.partial {
        fails.push(format!("partial is true (warnings: {:?})", report.warnings));
    }

    // --- heap ---
    // The truth is what the GC tracks (gc.get_objects() and the frozen generation): compared with
    // the tracked part of each type (whole-heap counts are checked by tests/whole_heap.rs).
    let heap = &report.heap;
    let mut heap_fail = false;
    let mut got: BTreeMap<String, CountBytes> = BTreeMap::new();
    let inexact: Vec<&str> = heap
        .types
        .iter()
        .filter(|t| !t.size_exact)
        .map(|t| t.type_name.as_str())
        .collect();
    for t in &heap.types {
        let e = got.entry(t.type_name.clone()).or_default();
        e.count += t.tracked;
        e.bytes += t.tracked_bytes;
    }
    let sum_tracked: u64 = heap.types.iter().map(|t| t.tracked).sum();
    if sum_tracked != heap.tracked_objects {
        fails.push(format!(
            "sum of heap.types tracked {sum_tracked} != heap.tracked_objects {}",
            heap.tracked_objects
        ));
    }
    if let Some(w) = heap.types.windows(2).find(|w| w[0].bytes < w[1].bytes) {
        fails.push(format!(
            "heap.types not sorted by bytes descending: {} ({} B) before {} ({} B)",
            w[0].type_name, w[0].bytes, w[1].type_name, w[1].bytes
        ));
    }
    let sum_count: u64 = heap.types.iter().map(|t| t.count).sum();
    let sum_bytes: u64 = heap.types.iter().map(|t| t.bytes).sum();
    if sum_count != heap.objects {
        fails.push(format!(
            "sum of heap.types counts {sum_count} != heap.objects {}",
            heap.objects
        ));
    }
    if sum_bytes != heap.bytes {
        fails.push(format!(
            "sum of heap.types bytes {sum_bytes} != heap.bytes {}",
            heap.bytes
        ));
    }
    for (ty, want) in &truth.own_types {
        let have = got.get(ty).copied().unwrap_or_default();
        if have != *want {
            heap_fail = true;
            fails.push(format!(
                "own type {ty}: report count {} bytes {} != truth count {} bytes {}",
                have.count, have.bytes, want.count, want.bytes
            ));
        }
    }
    // Every type the GC tracks, by name: counts and bytes exact. The targets hold only types
    // whose `__sizeof__` leakspy models (tests/sizes.rs covers the flag itself), so none may be
    // flagged not exact here: that would silently skip their bytes.
    if !inexact.is_empty() {
        heap_fail = true;
        fails.push(format!("types flagged size_exact=false: {inexact:?}"));
    }
    for (ty, want) in &truth.types {
        let have = got.get(ty).copied().unwrap_or_default();
        let bytes_ok = have.bytes == want.bytes || inexact.contains(&ty.as_str());
        if have.count != want.count || !bytes_ok {
            heap_fail = true;
            fails.push(format!(
                "type {ty}: report tracked count {} bytes {} != truth count {} bytes {}",
                have.count, have.bytes, want.count, want.bytes
            ));
        }
    }
    for (ty, have) in got.iter().filter(|(_, v)| v.count > 0) {
        if !truth.types.contains_key(ty) {
            heap_fail = true;
            fails.push(format!(
                "report has tracked type {ty} ({have:?}) that the target does not have"
            ));
        }
    }
    for (ty, have) in got.iter().filter(|(k, _)| k.starts_with("__main__.")) {
        if !truth.own_types.contains_key(ty) {
            heap_fail = true;
            fails.push(format!(
                "report has own type {ty} ({have:?}) that the target does not have"
            ));
        }
    }
    let (obj_tol, byte_tol) = (
        objects_tolerance(truth.total_objects),
        bytes_tolerance(truth.total_bytes),
    );
    let (obj_diff, byte_diff) = (
        diff_u64(heap.tracked_objects, truth.total_objects),
        diff_u64(heap.tracked_bytes, truth.total_bytes),
    );
    let totals = format!(
        "heap totals (tracked): objects report {} truth {} (diff {obj_diff}, tolerance \
         {obj_tol}); bytes report {} truth {} (diff {byte_diff}, tolerance {byte_tol})",
        heap.tracked_objects, truth.total_objects, heap.tracked_bytes, truth.total_bytes
    );
    eprintln!("{ctx}: {totals}");
    if obj_diff > obj_tol || byte_diff > byte_tol {
        heap_fail = true;
        fails.push(totals);
    }
    if heap_fail {
        fails.push(type_diff_table(&truth.types, &got, 15));
    }

    // --- threads ---
    let truth_ids: BTreeSet<u64> = truth.threads.iter().map(|t| t.thread_id).collect();
    let report_ids: BTreeSet<u64> = report.threads.iter().map(|t| t.thread_id).collect();
    if truth_ids != report_ids {
        let describe = |ids: &BTreeSet<u64>| -> Vec<String> {
            ids.iter()
                .map(|id| {
                    let name = truth
                        .threads
                        .iter()
                        .find(|t| t.thread_id == *id)
                        .map(|t| t.name.as_str());
                    format!("{id} ({})", name.unwrap_or("not in truth"))
                })
                .collect()
        };
        fails.push(format!(
            "thread ids differ: missing from report {:?}; unexpected in report {:?}",
            describe(&truth_ids.difference(&report_ids).copied().collect()),
            describe(&report_ids.difference(&truth_ids).copied().collect()),
        ));
    }
    if report.threads.len() != report_ids.len() {
        fails.push(format!(
            "report lists {} threads but only {} distinct ids",
            report.threads.len(),
            report_ids.len()
        ));
    }
    for tt in &truth.threads {
        let Some(rt) = report.threads.iter().find(|r| r.thread_id == tt.thread_id) else {
            continue;
        };
        let who = format!("thread {} ({})", tt.name, tt.thread_id);
        match &rt.name {
            None => fails.push(format!("{who}: name is null (names are required)")),
            Some(n) if *n != tt.name => fails.push(format!("{who}: name {n:?} != {:?}", tt.name)),
            _ => {}
        }
        if rt.native_id != tt.native_id {
            fails.push(format!(
                "{who}: native_id {:?} != {:?}",
                rt.native_id, tt.native_id
            ));
        }
        if rt.idle != expect.idle {
            fails.push(format!(
                "{who}: idle is {:?}, expected {:?} (threads are blocked in C; cores cannot tell)",
                rt.idle, expect.idle
            ));
        }
        if rt.holds_gil {
            fails.push(format!(
                "{who}: holds_gil is true (GIL is released while blocked)"
            ));
        }
        // A stack cut short for a reason the report states (only allowed where the core lacks
        // the C stacks) must still be the innermost part of the truth.
        let cut_ok = expect.stacks_missing && rt.truncated.is_some() && !rt.frames.is_empty();
        let same = (rt.frames.len() == tt.frames.len()
            || (cut_ok && rt.frames.len() < tt.frames.len()))
            && rt.frames.iter().zip(&tt.frames).all(|(r, t)| {
                r.function == t.function && r.filename == t.filename && r.line == Some(t.line)
            });
        if !same {
            fails.push(format!(
                "{who}: frames differ\n    truth:\n{}    report:\n{}",
                fmt_truth_stack(&tt.frames),
                fmt_report_stack(&rt.frames)
            ));
        }
    }

    if !fails.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        panic!(
            "{ctx}: {} problem(s):\n- {}\n--- leakspy stderr ---\n{}",
            fails.len(),
            fails.join("\n- "),
            truncate(&stderr, 5_000)
        );
    }
    report
}

/// Assert a clean failure: exit code `code` and exactly one non-empty line on stderr.
pub fn assert_clean_error(out: &Output, code: i32, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit code {code}\n{}",
        show_output(out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one line on stderr\n{}",
        show_output(out)
    );
    stderr
}
