//! Free-threaded builds (PEP 703, `--disable-gil`): the 3.13t that scripts/setup-python313t.sh builds
//! from Debian's python3.13 source package (`debian-sid-3.13t` in the matrix).
//!
//! tests/targets/ft_parallel.py runs three pure-Python spinners truly in parallel (the target checks
//! that its GIL is disabled) next to two readers and the main thread blocked in read(). Each paused
//! `dump --no-heap` must find every thread with its ids and name, every frame as the target's own
//! `sys._current_frames()` saw it (a spinner's innermost line anywhere in its loop), all three
//! spinners running at once (scheduler state R: with a GIL only its holder would be), no thread
//! holding a GIL, the 3.13t layout with no field disagreeing with the target's `_Py_DebugOffsets`,
//! and the warning that there is no GIL. `record` (no GC list to sample) is refused with one line
//! (exit 6); a `gcore` core reads back with the same stacks, and with its heap.
//!
//! tests/targets/ft_heap.py builds a heap from four threads in parallel: `dump` must count exactly
//! the instances and `sys.getsizeof` bytes of its classes that `gc.get_objects()` sees, and at
//! least the untracked strs, floats and ints it made; paused dumps while it allocates in parallel
//! end cleanly (exit 0, or 1 with warnings).

mod common;

use common::*;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize)]
struct Readers {
    readers: Vec<Reader>,
}

#[derive(Debug, Deserialize)]
struct Reader {
    native_id: i64,
    fd: i32,
}

#[derive(Debug, Deserialize)]
struct FtTruth {
    pid: i64,
    version: String,
    gil_enabled: bool,
    free_threaded: bool,
    spin_lines: [i64; 2],
    threads: Vec<FtThread>,
}

#[derive(Debug, Deserialize)]
struct FtThread {
    thread_id: u64,
    native_id: i64,
    name: String,
    spinner: bool,
    frames: Vec<ReportFrame>,
}

/// Paused dumps per run: each catches the spinners at another point of their loops.
const DUMPS: usize = 5;

/// Start ft_parallel.py under `interp` and go through its two-step readiness.
fn start(interp: &Interp) -> (ChildGuard, FtTruth) {
    let (mut guard, line) = spawn_target(interp, "ft_parallel.py", &[]);
    let readers: Readers = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("[{}] first line ({e}): {line}", interp.name));
    for r in &readers.readers {
        wait_task_in_read(guard.pid(), r.native_id, r.fd);
    }
    guard.send_line("go");
    let line = guard.next_line(Duration::from_secs(60), &interp.name);
    let truth: FtTruth = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("[{}] truth line ({e}): {line}", interp.name));
    assert_eq!(truth.pid, i64::from(guard.pid()));
    assert!(
        truth.free_threaded && !truth.gil_enabled,
        "[{}] the target is not running free-threaded (Py_GIL_DISABLED {}, GIL enabled {})",
        interp.name,
        truth.free_threaded,
        truth.gil_enabled
    );
    // The main thread answered and went back to os.read(0, 1): its stack is final once it is there.
    wait_task_in_read(guard.pid(), truth.pid, 0);
    (guard, truth)
}

/// Every difference between a report's threads and the truth. `live`: scheduler states are known
/// (a live dump), so the spinners must all be running. `cut_ok`: a core without the threads' C
/// stacks, where a stack may say it may end early (its frames must still all be there).
fn mismatches(report: &Report, truth: &FtTruth, live: bool, cut_ok: bool) -> Vec<String> {
    let mut fails = Vec::new();
    if report.python_version != truth.version {
        fails.push(format!(
            "python_version {} != {}",
            report.python_version, truth.version
        ));
    }
    if report.threads.len() != truth.threads.len() {
        fails.push(format!(
            "{} threads reported, the target has {}",
            report.threads.len(),
            truth.threads.len()
        ));
    }
    for want in &truth.threads {
        let Some(got) = report
            .threads
            .iter()
            .find(|t| t.thread_id == want.thread_id)
        else {
            fails.push(format!("{}: thread {} missing", want.name, want.thread_id));
            continue;
        };
        if got.native_id != Some(want.native_id) {
            fails.push(format!(
                "{}: native_id {:?} != {}",
                want.name, got.native_id, want.native_id
            ));
        }
        if got.name.as_deref() != Some(want.name.as_str()) {
            fails.push(format!("{}: name {:?}", want.name, got.name));
        }
        if got.holds_gil {
            fails.push(format!("{}: holds_gil on a build without a GIL", want.name));
        }
        if live && got.idle != Some(!want.spinner) {
            fails.push(format!(
                "{}: idle {:?}, expected {} (spinners run in parallel)",
                want.name, got.idle, !want.spinner
            ));
        }
        if got.truncated.is_some() && !cut_ok {
            fails.push(format!("{}: truncated {:?}", want.name, got.truncated));
        }
        let ours: Vec<(&str, &str)> = got
            .frames
            .iter()
            .map(|f| (f.function.as_str(), f.filename.as_str()))
            .collect();
        let theirs: Vec<(&str, &str)> = want
            .frames
            .iter()
            .map(|f| (f.function.as_str(), f.filename.as_str()))
            .collect();
        if ours != theirs {
            fails.push(format!("{}: frames {ours:?} != {theirs:?}", want.name));
            continue;
        }
        for (i, (g, w)) in got.frames.iter().zip(&want.frames).enumerate() {
            let ok = if i == 0 && want.spinner {
                g.line
                    .is_some_and(|l| (truth.spin_lines[0]..=truth.spin_lines[1]).contains(&l))
            } else {
                g.line == w.line
            };
            if !ok {
                fails.push(format!(
                    "{}: frame {i} {} line {:?}, expected {:?}{}",
                    want.name,
                    w.function,
                    g.line,
                    w.line,
                    if i == 0 && want.spinner {
                        format!(" in {:?}", truth.spin_lines)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    fails
}

/// `partial_ok`: exit 1 (a partial report) is expected too (a core whose thread stacks gcore could
/// not copy).
fn parse_report(out: &std::process::Output, ctx: &str, partial_ok: bool) -> Report {
    let ok = out.status.code() == Some(0) || (partial_ok && out.status.code() == Some(1));
    assert!(ok, "{ctx}\n{}", show_output(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{ctx}: not a report ({e})\n{}", show_output(out)))
}

/// The layout and warnings every report of a free-threaded 3.13 must carry.
fn check_warnings(ctx: &str, report: &Report) {
    assert_eq!(report.layout.file, "3.13t.toml", "{ctx}: layout");
    assert!(
        report.layout.source.contains("_Py_DebugOffsets"),
        "{ctx}: layout source {}",
        report.layout.source
    );
    assert!(
        !report.warnings.iter().any(|w| w.contains("layout field")),
        "{ctx}: a generated offset disagrees with the target's _Py_DebugOffsets: {:?}",
        report.warnings
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("there is no GIL")),
        "{ctx}: no free-threaded GIL note in {:?}",
        report.warnings
    );
}

fn check_stacks(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (guard, truth) = start(&interp);
    let pid = guard.pid().to_string();
    for i in 0..DUMPS {
        let out = run_leakspy(["dump", "--pid", &pid, "--json", "-q", "--no-heap"]);
        let ctx = format!("[{name}] dump --no-heap {}/{DUMPS} of pid {pid}", i + 1);
        let report = parse_report(&out, &ctx, false);
        check_warnings(&ctx, &report);
        assert!(!report.partial, "{ctx}: partial\n{}", show_output(&out));
        let fails = mismatches(&report, &truth, true, false);
        assert!(
            fails.is_empty(),
            "{ctx}: {} problem(s):\n- {}\n{}",
            fails.len(),
            fails.join("\n- "),
            show_output(&out)
        );
    }

    // The text report: the threads and the same note, no heap section.
    let out = run_leakspy(["dump", "--pid", &pid, "--no-heap"]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for t in &truth.threads {
        assert!(
            text.contains(&t.name),
            "[{name}] text report lacks thread {}\n{text}",
            t.name
        );
    }

    // `record` (which samples the youngest GC list) is refused, one line, exit 6.
    let out = run_leakspy(["record", "--pid", &pid, "--duration", "0.2"]);
    let err = assert_clean_error(&out, 6, &format!("[{name}] record"));
    assert!(
        err.contains("free-threaded") && err.contains("record"),
        "[{name}] the record refusal should say why: {err}"
    );
    assert!(
        out.stdout.is_empty(),
        "[{name}] data on stdout with an error"
    );

    // A core of the same moment reads back with the same stacks (scheduler states unknown there).
    // gdb's gcore cannot copy thread stacks with glibc 2.42+ on Linux 6.13+ (`Gcore::unreadable`):
    // the Python frames live elsewhere (the thread states' data stacks), so only the report must
    // say it is partial, naming the C stacks.
    let dir = TempDir::new("ft-core");
    let core = gcore(guard.pid(), &dir.0);
    let stacks_missing = !core.unreadable.is_empty();
    let mut args: Vec<String> = vec![
        "dump".into(),
        "--core".into(),
        core.path.display().to_string(),
    ];
    if interp.chrooted() {
        args.push("--sysroot".into());
        args.push(interp.root.display().to_string());
    }
    args.extend(["--json", "-q", "--no-heap"].map(String::from));
    let out = run_leakspy(&args);
    let ctx = format!("[{name}] {}", args.join(" "));
    let report = parse_report(&out, &ctx, stacks_missing);
    check_warnings(&ctx, &report);
    assert_eq!(
        report.partial,
        stacks_missing && report.warnings.iter().any(|w| w.contains("C stacks")),
        "{ctx}: partial only for missing thread stacks: {:?}",
        report.warnings
    );
    let fails = mismatches(&report, &truth, false, stacks_missing);
    assert!(
        fails.is_empty(),
        "{ctx}: {} problem(s):\n- {}\n{}",
        fails.len(),
        fails.join("\n- "),
        show_output(&out)
    );
    let mut heap_args = args.clone();
    heap_args.retain(|a| a != "--no-heap");
    let out = run_leakspy(&heap_args);
    let report = parse_report(&out, &format!("[{name}] core with the heap"), true);
    assert!(
        report.heap.objects > 0,
        "[{name}] core with the heap: no objects\n{}",
        show_output(&out)
    );
    drop(guard);
}

macro_rules! ft_stack_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_stacks($interp);
            }
        )*
    };
}

ft_stack_tests! {
    stacks_debian_sid_3_13t => "debian-sid-3.13t",
}

#[derive(Debug, Deserialize)]
struct HeapTruth {
    pid: i64,
    free_threaded: bool,
    gil_enabled: bool,
    tracked: std::collections::BTreeMap<String, Counted>,
    untracked_made: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct Counted {
    count: u64,
    bytes: u64,
}

/// tests/targets/ft_heap.py: four threads build objects in parallel, two exit (their segments are
/// abandoned or reclaimed), two block. A dump must give, for each class the truth names, exactly
/// the count of `gc.get_objects()` and the sum of `sys.getsizeof`, all of them GC-tracked, and at
/// least the strs, floats and big ints the workers made (untracked, in the OBJECT heap).
fn check_heap(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (guard, line) = spawn_target(&interp, "ft_heap.py", &[]);
    let truth: HeapTruth =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("[{name}] truth line ({e}): {line}"));
    assert_eq!(truth.pid, i64::from(guard.pid()));
    assert!(
        truth.free_threaded && !truth.gil_enabled,
        "[{name}] not free-threaded"
    );
    let pid = guard.pid().to_string();
    let out = run_leakspy(["dump", "--pid", &pid, "--json", "-q"]);
    let ctx = format!("[{name}] dump --json of ft_heap.py");
    let report = parse_report(&out, &ctx, false);
    check_warnings(&ctx, &report);
    assert!(!report.partial, "{ctx}: partial {:?}", report.warnings);
    let heap = &report.heap;
    eprintln!(
        "{ctx}: {} objects, {} bytes, {} tracked, {} types",
        heap.objects,
        heap.bytes,
        heap.tracked_objects,
        heap.types.len()
    );
    for (tname, want) in &truth.tracked {
        let got = heap.types.iter().find(|t| &t.type_name == tname);
        let Some(got) = got else {
            let names: Vec<(&str, u64, u64)> = heap
                .types
                .iter()
                .map(|t| (t.type_name.as_str(), t.count, t.tracked))
                .collect();
            panic!("{ctx}: type {tname} missing; types: {names:?}");
        };
        eprintln!(
            "{ctx}: {tname}: {} objects {} bytes (truth {} / {})",
            got.count, got.bytes, want.count, want.bytes
        );
        assert_eq!(
            (got.count, got.tracked, got.bytes, got.tracked_bytes),
            (want.count, want.count, want.bytes, want.bytes),
            "{ctx}: {tname} count/tracked/bytes/tracked_bytes"
        );
    }
    for (tname, made) in &truth.untracked_made {
        let got = heap
            .types
            .iter()
            .find(|t| &t.type_name == tname)
            .unwrap_or_else(|| panic!("{ctx}: type {tname} missing"));
        eprintln!("{ctx}: {tname}: {} found, {} made", got.count, made);
        assert!(
            got.count - got.tracked >= *made,
            "{ctx}: {tname}: {} untracked found, the workers made {made}",
            got.count - got.tracked
        );
    }
    // refs: who holds an FtPair (the worker's list)
    let out = run_leakspy([
        "refs",
        "--pid",
        &pid,
        "--type",
        "__main__.FtPair",
        "--json",
        "-q",
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "[{name}] refs on a free-threaded heap\n{}",
        show_output(&out)
    );
    // Every FtPair the dump counted, and what they retain is at least themselves.
    let refs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("refs JSON");
    let refs = &refs["refs"];
    let pairs = truth.tracked["__main__.FtPair"].count;
    assert_eq!(
        refs["instances"].as_u64(),
        Some(pairs),
        "[{name}] refs instances\n{refs}"
    );
    assert!(
        refs["retained_bytes"].as_u64() >= refs["bytes"].as_u64(),
        "[{name}] refs retained at least their own bytes\n{refs}"
    );
    drop(guard);
}

/// Paused dumps of ft_heap.py busy: the workers keep making and dropping objects in parallel
/// while leakspy reads the heap. Each dump must end cleanly (exit 0, or 1 with a partial report
/// and a warning), and find at least the objects the workers keep (the FtNode they made and hold;
/// their churn adds at most 100 per worker on top).
fn check_heap_busy(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (guard, _line) = spawn_target_args(&interp, "ft_heap.py", &[], &["busy"]);
    let pid = guard.pid().to_string();
    for i in 0..3 {
        let out = run_leakspy(["dump", "--pid", &pid, "--json", "-q"]);
        let ctx = format!("[{name}] busy dump {i}");
        let report = parse_report(&out, &ctx, true);
        assert!(
            !report.partial || !report.warnings.is_empty(),
            "{ctx}: partial without a warning"
        );
        let nodes = report
            .heap
            .types
            .iter()
            .find(|t| t.type_name == "__main__.FtNode")
            .map_or(0, |t| t.count);
        eprintln!(
            "{ctx}: {} objects, FtNode {nodes}, pause {:.1} ms, partial {}, warnings {:?}",
            report.heap.objects, report.pause_ms, report.partial, report.warnings
        );
        if !report.partial {
            assert!(
                (3000 * 4..=3000 * 4 + 100 * 4 + 4).contains(&nodes),
                "{ctx}: FtNode {nodes}"
            );
        }
    }
    drop(guard);
}

#[test]
fn heap_debian_sid_3_13t() {
    check_heap("debian-sid-3.13t");
}

#[test]
fn heap_busy_debian_sid_3_13t() {
    check_heap_busy("debian-sid-3.13t");
}
