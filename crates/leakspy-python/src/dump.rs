//! `leakspy dump`: one consistent picture of a live target — threads with their stacks, and the GC
//! heap by type — taken while the target is paused (or not, with `nonblocking`).
//!
//! Order of work, chosen to keep the pause short: identify the interpreter and read `/proc` thread
//! states while the target runs; pause; copy every dense writable mapping into a [`Snapshot`]; resume;
//! then walk stacks and GC lists, name types and look up thread names on the copy. Reads outside the
//! copy (read-only file data such as static type names, sparse mappings) go to the live target.

use crate::analysis::tracemalloc::{self, TracemallocInfo};
use crate::analysis::{GroupBy, HeapHistogram, HeapWalker};
use crate::attach::process::{self, Target};
use crate::error::{Error, Result};
use crate::model::Reader;
use crate::stacks::threadnames;
use crate::stacks::{self, CodeCache, Frame, RawThread};
use leakspy_layout::LoadedLayout;
use leakspy_memory::{proc, MemoryExt, PauseError, PauseGuard, Snapshot};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// Options of one dump.
#[derive(Debug, Default, Clone)]
pub struct DumpOptions {
    /// Read without pausing the target.
    pub nonblocking: bool,
    /// Use this layout instead of the shipped ones.
    pub layout: Option<LoadedLayout>,
    /// Skip the heap walk (stacks only).
    pub no_heap: bool,
    /// How allocation sites are grouped (when the target traces).
    pub group_by: GroupBy,
    /// Keep every object's identity (address, type, size, site) for snapshots and `leaks`.
    pub collect_objects: bool,
    /// Count only GC-tracked objects (skip pymalloc's arenas and the reference walk).
    pub gc_only: bool,
    /// `leakspy refs`: keep the reference graph and answer this query (`heap.refs`).
    pub refs: Option<crate::analysis::refs::RefsQuery>,
    /// `--heapsnapshot`: keep the reference graph and export it whole (`heap.graph`).
    pub export_graph: Option<crate::analysis::export::ExportOptions>,
    /// `dump --native`: capture registers and stacks under the pause, unwind them after it.
    pub native: bool,
    /// `record --retained`: keep the reference graph and compute what each of these objects (by
    /// address, in groups: `analysis::retained`) keeps alive (`heap.retained`).
    pub retained_of: Option<rustc_hash::FxHashMap<u64, u32>>,
    /// `--max-memory`: the most memory leakspy may use; beyond it the dump runs bounded
    /// (`budget`). `None`: the smaller of MemAvailable and the cgroup's headroom decides.
    pub max_memory: Option<u64>,
}

/// Where the layout came from, for the header.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LayoutInfo {
    pub file: String,
    pub source: String,
    pub version_source: String,
}

impl LayoutInfo {
    /// The header's layout line for an identified target.
    pub fn of(target: &Target) -> LayoutInfo {
        LayoutInfo {
            file: target.layout_file.clone(),
            source: target.layout_source.clone(),
            version_source: target.version_source.to_string(),
        }
    }
}

/// One thread in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadReport {
    pub thread_id: u64,
    /// TID as the target sees it (`threading.get_native_id()`).
    pub native_id: Option<i64>,
    /// TID in leakspy's pid namespace (differs for containerised targets).
    pub host_native_id: Option<i32>,
    /// `threading.Thread.name`, else the kernel's thread name.
    pub name: Option<String>,
    pub holds_gil: bool,
    /// Not running on a CPU when the dump started (kernel state other than R); `None` when unknown
    /// (core files record no scheduler state).
    pub idle: Option<bool>,
    pub frames: Vec<Frame>,
    /// Set when the stack could not be read to the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
    /// `--native`: the native stack, innermost first (see stacks/native.rs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_frames: Option<Vec<crate::stacks::native::NativeFrame>>,
    /// `--native`: native and Python frames merged, innermost first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged: Option<Vec<crate::stacks::native::MergedFrame>>,
    /// `--native`: why the native stack ends before the thread's first frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_truncated: Option<String>,
    /// Python frames per interpreter-loop invocation (for the merge; not reported).
    #[serde(skip)]
    pub eval_groups: Vec<usize>,
    /// Why the thread is blocked (system call, fd, what it waits for).
    pub blocked: stacks::blocked::Blocked,
}

/// Read-cost figures for the benchmark and the curious.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadStats {
    pub bytes_copied: u64,
    pub copies: u64,
    pub copy_ms: f64,
    pub threads_paused: usize,
}

/// Everything `leakspy dump` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DumpReport {
    pub pid: i32,
    pub python_version: String,
    pub executable: String,
    pub layout: LayoutInfo,
    /// How long the target was stopped (0 with `nonblocking`).
    pub pause_ms: f64,
    pub total_ms: f64,
    pub paused: bool,
    /// Something could not be read completely; see `warnings`.
    pub partial: bool,
    pub warnings: Vec<String>,
    /// What leakspy did beyond reading (e.g. `leakspy trace` starting tracemalloc).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub threads: Vec<ThreadReport>,
    pub heap: HeapHistogram,
    pub read_stats: ReadStats,
    /// Resident memory by mapping kind, read inside the pause, right after the copy (live processes
    /// only); stacks only: the kernel's approximate counters, after the resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::analysis::memstats::MemoryBreakdown>,
    /// The core file the report was read from (`leakspy dump --core`); absent for live processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core: Option<String>,
    /// Cycles of the waits-for graph (GIL holder, RLock owners): thread ids, in waiting order.
    pub deadlocks: Vec<Vec<u64>>,
    /// Set when the heap did not fit and the dump ran in bounded mode (see `budget`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounded: Option<crate::budget::BoundedInfo>,
}

/// Take one dump of `pid`. `progress` receives the running object count during the heap walk.
pub fn dump(pid: i32, opts: &DumpOptions, progress: &mut dyn FnMut(u64)) -> Result<DumpReport> {
    let t0 = Instant::now();
    let (live, maps) = process::open(pid)?;
    let target = process::identify(pid, &live, &maps, opts.layout.clone())?;
    crate::attach::free_threaded::refuse_heap(&target, !opts.no_heap)?;
    let mut warnings = target.warnings.clone();

    // Scheduler states must be read before pausing (a paused thread shows 't').
    let ns_to_host = proc::ns_tids(pid);
    let states: HashMap<i32, char> = ns_to_host
        .values()
        .filter_map(|&t| proc::thread_state(pid, t).map(|s| (t, s)))
        .collect();
    // So must the system calls (a stopped thread shows its stop, not its wait).
    let syscalls = stacks::blocked::live_syscalls(pid, ns_to_host.values().copied());

    // Resident size per mapping, to copy dense mappings whole and leave sparse ones (thread stacks,
    // reserved-but-untouched arenas) to on-demand reads.
    // (Stacks only copies nothing whole: no need to read it.)
    let rss = if opts.no_heap {
        HashMap::new()
    } else {
        proc::rss_by_mapping(pid)
    };
    // Stacks only: nothing is copied whole; the stack walk inside the pause (`pin_stacks`) copies
    // just the blocks it reads.
    let dense = |m: &leakspy_memory::Mapping| !opts.no_heap && m.writable && is_dense(m, &rss);
    // Bounded mode when the copy and the census would not fit (budget.rs).
    let mut bounded = if opts.no_heap {
        None
    } else {
        let copied = || maps.iter().filter(|m| m.readable && dense(m));
        let plan = crate::budget::Plan {
            copy_bytes: copied().map(|m| m.len()).sum(),
            heap_resident_bytes: copied()
                .map(|m| rss.get(&m.start).copied().unwrap_or(m.len()).min(m.len()))
                .sum(),
        };
        let graph =
            opts.refs.is_some() || opts.export_graph.is_some() || opts.retained_of.is_some();
        crate::budget::decide(plan, opts.max_memory, proc::headroom(), graph, opts.gc_only)?
    };
    let want = |m: &leakspy_memory::Mapping| bounded.is_none() && dense(m);
    if opts.nonblocking {
        warnings.push(
            "--nonblocking: the target ran during the walk; results may be inconsistent".into(),
        );
    }
    let os = OsThreads {
        ns_to_host,
        states,
        comm: Box::new(move |host| proc::thread_comm(pid, host)),
        syscalls,
        fd_target: stacks::blocked::live_fd_target(pid),
    };

    // A pause stops the thread that holds the GIL wherever it is, so once in a while it is caught
    // halfway through linking an object into a GC list or pushing a frame: the picture is torn.
    // Then the whole picture is taken again (at most PICTURE_TRIES times, the target running a
    // little longer before each); only the last one counts.
    // Partial results that are not races (a stack deeper than the frame cap) are not retaken.
    // Objects that cannot be sized are retaken once they differ from the last picture's (a dict
    // the GIL holder was building); the same objects again are not a race.
    let mut tries = 0;
    let mut torn_by = Vec::new();
    let mut unsizable_before: Vec<u64> = Vec::new();
    let mut captures = Vec::new();
    let cache = bounded.as_ref().map(|b| b.cache_bytes);
    let max_objects = bounded.as_ref().map(|b| b.max_objects());
    let (snap, pause_ms, threads_paused, threads, heap, partial, picture_warnings, memory) = loop {
        tries += 1;
        let mut w = Vec::new();
        let (snap, mut pause_ms, threads_paused, codes, memory, held) = picture(
            pid,
            &live,
            &maps,
            &target,
            opts,
            &want,
            cache,
            &mut w,
            &mut captures,
        )?;
        let picture_warnings = w.len();
        let r = Reader::new(&snap, &target.layout);
        // Bounded: once the objects found need more census than the limit leaves, every read
        // fails and the walk ends (then the dump is refused).
        let mut found = 0u64;
        let mut guarded = |n: u64| {
            found = n;
            if max_objects.is_some_and(|m| n > m) {
                snap.abort();
            }
            progress(n);
        };
        let analysed = analyse(&r, &target, opts, &os, codes, &mut w, &mut guarded);
        if let Some((guard, paused_at)) = held {
            pause_ms = paused_at.elapsed().as_secs_f64() * 1e3;
            drop(guard);
        }
        if snap.is_aborted() {
            let b = bounded.as_ref().map_or((0, "", 0), |b| {
                (b.limit_bytes, b.reason.as_str(), b.bytes_per_object)
            });
            return Err(crate::budget::refusal(b.0, b.1, Some((found, b.2))));
        }
        let (threads, heap, partial) = analysed?;
        let unsizable_changed =
            !heap.size_error_addrs.is_empty() && heap.size_error_addrs != unsizable_before;
        unsizable_before = heap.size_error_addrs.clone();
        if !(heap.torn || unsizable_changed) || opts.nonblocking || tries >= PICTURE_TRIES {
            if tries > 1 {
                w.push(format!(
                    "took {tries} pictures: the first {} caught the target halfway through an \
                     update ({})",
                    tries - 1,
                    torn_by.join("; ")
                ));
            }
            break (
                snap,
                pause_ms,
                threads_paused,
                threads,
                heap,
                partial,
                w,
                memory,
            );
        }
        torn_by.push(if heap.torn {
            torn_reason(&w[picture_warnings..], &threads)
        } else {
            w.iter()
                .find(|x| x.contains("could not be sized"))
                .cloned()
                .unwrap_or_else(|| "objects that could not be sized".into())
        });
        // Let the target run before the next picture (2, 4, 8, 16 ms), so that the thread caught
        // halfway through an update can finish it. Retaken at once, a busy machine may not have
        // scheduled that thread at all, and every picture catches the same half-done update.
        drop(snap);
        std::thread::sleep(std::time::Duration::from_millis(1 << tries.min(4)));
    };
    warnings.extend(picture_warnings);
    let mut threads = threads;
    if opts.native {
        crate::stacks::native::attach_live(
            pid,
            snap.maps(),
            &mut threads,
            &captures,
            &mut warnings,
        );
    }

    let deadlocks = stacks::blocked::deadlocks(
        &threads
            .iter()
            .map(|t| (t.thread_id, t.blocked.waits_for_thread))
            .collect::<Vec<_>>(),
    );
    let s = snap.stats();
    let mut notes = Vec::new();
    if let Some(b) = bounded.as_mut() {
        b.evictions = s.evictions;
        b.paused_whole_walk = !opts.nonblocking;
        b.exact = !opts.nonblocking;
        b.peak_rss_bytes = proc::own_peak_rss();
        notes.push(bounded_line(b));
    }
    Ok(DumpReport {
        pid,
        python_version: target.version.to_string(),
        executable: target.image.path.clone(),
        layout: LayoutInfo::of(&target),
        pause_ms,
        total_ms: t0.elapsed().as_secs_f64() * 1e3,
        paused: !opts.nonblocking,
        partial,
        warnings,
        notes,
        threads,
        heap,
        read_stats: ReadStats {
            bytes_copied: s.bytes_copied,
            copies: s.copies,
            copy_ms: s.copy_time.as_secs_f64() * 1e3,
            threads_paused,
        },
        deadlocks,
        memory,
        core: None,
        bounded,
    })
}

/// The text report's line for bounded mode.
fn bounded_line(b: &crate::budget::BoundedInfo) -> String {
    let mib = |x: u64| x as f64 / f64::from(1 << 20);
    let how = if b.paused_whole_walk {
        "the target stayed paused for the whole walk (exact, a longer pause)"
    } else {
        "the target ran during the walk (not exact: reads may race)"
    };
    format!(
        "bounded mode ({}: {:.0} MiB; a copy would need {:.0} MiB): read through a {:.0} MiB cache \
         ({} evictions), {how}; leakspy's peak {}",
        b.reason,
        mib(b.limit_bytes),
        mib(b.planned_copy_bytes),
        mib(b.cache_bytes),
        b.evictions,
        b.peak_rss_bytes
            .map_or("unknown".into(), |p| format!("{:.0} MiB", mib(p)))
    )
}

/// What made a picture torn, in a few words, for the warning of the picture that replaced it:
/// the first warning of its analysis, else its first cut stack.
fn torn_reason(warnings: &[String], threads: &[ThreadReport]) -> String {
    warnings
        .first()
        .cloned()
        .or_else(|| {
            threads
                .iter()
                .find_map(|t| t.truncated.as_ref().map(|why| format!("a stack: {why}")))
        })
        .unwrap_or_else(|| "incomplete".into())
}

/// How many pictures a paused dump takes at most when one comes out torn.
const PICTURE_TRIES: u32 = 5;

/// One picture of a live target: the copy and what was measured while it was taken.
type Picture<'a> = (
    Snapshot<&'a leakspy_memory::LiveProcess>,
    f64,
    usize,
    CodeCache,
    Option<crate::analysis::memstats::MemoryBreakdown>,
    Option<(PauseGuard, Instant)>,
);

/// Pause the target (outside a garbage collection), copy every mapping `want` selects, cache the
/// stack pieces outside them, read the resident memory per mapping, resume. Returns the copy, the
/// pause in ms, the threads stopped and the memory breakdown of that same moment.
// `--native` added the captures out-parameter; the picture's inputs are all distinct.
#[allow(clippy::too_many_arguments)]
fn picture<'a>(
    pid: i32,
    live: &'a leakspy_memory::LiveProcess,
    maps: &[leakspy_memory::Mapping],
    target: &Target,
    opts: &DumpOptions,
    want: &dyn Fn(&leakspy_memory::Mapping) -> bool,
    bounded_cache: Option<u64>,
    warnings: &mut Vec<String>,
    captures: &mut Vec<leakspy_memory::ThreadCapture>,
) -> Result<Picture<'a>> {
    // Buffers for the mappings as they are now (a growing target maps more every moment; what
    // appears between here and the pause is copied into new buffers, faulted in inside the pause).
    let maps_before = live.maps().unwrap_or_else(|_| maps.to_vec());
    let mut snap = Snapshot::new(live, Vec::new());
    if let Some(c) = bounded_cache {
        snap.limit_cache(c);
    }
    snap.prepare(&maps_before, want);
    let guard = if opts.nonblocking {
        None
    } else {
        Some(pause_outside_gc(pid, live, target, warnings)?)
    };
    let threads_paused = guard.as_ref().map_or(0, |g| g.threads());
    let paused_at = Instant::now();
    // Maps can change between identify and pause; re-read them for the snapshot.
    let maps_now = live.maps().unwrap_or_else(|_| maps.to_vec());
    snap.set_maps(maps_now.clone());
    // The pause covers only this copy: every writable, mostly-resident mapping (heap, arenas, data
    // sections, frame stacks) is copied whole; the walk runs on the copy after the target resumed.
    snap.copy_mappings(want);
    if let (true, Some(g)) = (opts.native, guard.as_ref()) {
        // Registers and stack bytes of every thread, for `--native` to unwind after the resume.
        *captures = g.capture(live, &maps_now);
    }
    let mut codes = CodeCache::default();
    if guard.is_some() {
        // Stack pieces outside the copied mappings (`_PyCFrame` and entry frames on the threads'
        // C stacks) are cached now, while the threads are stopped.
        let r = Reader::new(&snap, &target.layout);
        let interps = stacks::interpreters(&r, target.runtime).unwrap_or_default();
        stacks::pin_stacks(&r, &interps, &mut codes);
        if !opts.no_heap {
            // free-threaded: mimalloc's pages (sparse mappings, not copied whole) are cached now
            crate::heap::mimalloc::pin_heap(&r, &interps);
        }
    }
    // Resident memory of the same moment as the copy (every figure of one report describes one
    // moment: on a growing target, RSS read before the pause is smaller than the objects copied).
    // Stacks only copies no objects and compares none with the RSS: the kernel's counters after
    // the resume (0.02 ms; smaps walks every page table, 2-4 ms at 150 MB, ~15 ms per GB).
    let mut memory = if opts.no_heap {
        None
    } else {
        let rss = proc::rss_by_mapping(pid);
        (!rss.is_empty()).then(|| crate::analysis::memstats::breakdown(&maps_now, &rss))
    };
    let pause_ms = if guard.is_some() {
        paused_at.elapsed().as_secs_f64() * 1e3
    } else {
        0.0
    };
    // Bounded mode reads the live target during the walk: the pause lasts until it is done.
    match (bounded_cache, guard) {
        (Some(_), Some(g)) => {
            return Ok((
                snap,
                pause_ms,
                threads_paused,
                codes,
                memory,
                Some((g, paused_at)),
            ))
        }
        (_, g) => drop(g), // resumed here
    }
    if opts.no_heap {
        memory = proc::status_rss(pid).map(crate::analysis::memstats::MemoryBreakdown::from_status);
    }
    Ok((snap, pause_ms, threads_paused, codes, memory, None))
}

/// How many times a pause that lands inside a garbage collection is undone and tried again.
const GC_PAUSE_TRIES: u32 = 12;

/// Pause `pid` at a moment when no garbage collection is running: a collection moves objects
/// between the GC lists, so a copy taken mid-collection has torn lists. When the pause lands inside
/// one, the target is resumed at once and paused again a little later (2, 4, 8, ... 64 ms; at most
/// [`GC_PAUSE_TRIES`] pauses, under half a second). If every try lands inside a collection (a
/// target that collects all the time), the last pause is kept and the heap walk warns.
fn pause_outside_gc(
    pid: i32,
    live: &leakspy_memory::LiveProcess,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Result<PauseGuard> {
    let r = Reader::new(live, &target.layout);
    let mut tries = 0;
    loop {
        let guard = PauseGuard::pause(pid).map_err(|e| match e {
            PauseError::PermissionDenied { pid } => Error::PermissionDenied {
                pid,
                detail: "ptrace attach was refused".into(),
            },
            PauseError::AlreadyTraced {
                pid,
                tracer,
                tracer_name,
            } => Error::AlreadyTraced {
                pid,
                tracer,
                tracer_name,
            },
            PauseError::NoSuchProcess { pid } | PauseError::Exited { pid } => {
                Error::NoSuchProcess(pid)
            }
            other => Error::Other(format!("could not pause the target: {other}")),
        })?;
        tries += 1;
        if !gc_running(&r, target) || tries >= GC_PAUSE_TRIES {
            if tries > 1 {
                warnings.push(format!(
                    "paused {tries} times: the first {} pause(s) landed inside a garbage collection",
                    tries - 1
                ));
            }
            return Ok(guard);
        }
        drop(guard);
        std::thread::sleep(std::time::Duration::from_millis(1 << tries.min(6)));
    }
}

/// Whether any interpreter of the target is inside a garbage collection (`gc.collecting`).
/// Unreadable state counts as "not running": the heap walk reports it.
fn gc_running(r: &Reader<'_>, target: &Target) -> bool {
    let l = r.l;
    stacks::interpreters(r, target.runtime)
        .unwrap_or_default()
        .iter()
        .any(|&i| {
            r.mem
                .read_i32(l.gc_state(target.runtime, i) + l.gc.collecting)
                .is_ok_and(|c| c != 0)
        })
}

/// What the operating system knows about the target's threads (live: /proc; core: the notes).
pub struct OsThreads {
    /// TID in the target's pid namespace -> TID in leakspy's.
    pub ns_to_host: HashMap<i64, i32>,
    /// Scheduler state letter by host TID, read before pausing.
    pub states: HashMap<i32, char>,
    /// Kernel thread name by host TID.
    pub comm: Box<dyn Fn(i32) -> Option<String>>,
    /// System call and `wchan` by host TID (live: read before pausing; cores: the registers).
    pub syscalls: HashMap<i32, stacks::blocked::OsWait>,
    /// What the target's fd N is (live: `/proc`; cores: unknown).
    pub fd_target: Box<dyn Fn(i64) -> Option<String>>,
}

/// Everything after the copy: stacks, heap, thread names and ids. Works on any [`Reader`] (a live
/// snapshot or a core file). Returns the threads, the heap and whether anything was partial.
pub fn analyse(
    r: &Reader<'_>,
    target: &Target,
    opts: &DumpOptions,
    os: &OsThreads,
    codes: CodeCache,
    warnings: &mut Vec<String>,
    progress: &mut dyn FnMut(u64),
) -> Result<(Vec<ThreadReport>, HeapHistogram, bool)> {
    let Walked {
        threads: raw_threads,
        mut walker,
        gil_holders,
        warnings: mut walk_warnings,
        threads_failed,
    } = walk(r, target, opts, codes, progress)?;
    warnings.append(&mut walk_warnings);

    let graph = walker.as_mut().and_then(|w| w.take_graph());
    let refs = match (&opts.refs, &graph) {
        (Some(q), Some(g)) => {
            let interps = stacks::interpreters(r, target.runtime).unwrap_or_default();
            Some(crate::analysis::refs::analyse(
                r,
                &interps,
                &raw_threads,
                g,
                q,
            ))
        }
        _ => None,
    };
    let exported = match (&opts.export_graph, &graph) {
        (Some(eo), Some(g)) => {
            let interps = stacks::interpreters(r, target.runtime).unwrap_or_default();
            Some(Box::new(crate::analysis::export::build(
                r,
                &interps,
                &raw_threads,
                g,
                eo,
            )))
        }
        _ => None,
    };
    let retained = match (&opts.retained_of, &graph) {
        (Some(groups), Some(g)) => {
            let interps = stacks::interpreters(r, target.runtime).unwrap_or_default();
            Some(crate::analysis::retained::retained_by_owner(
                r,
                &interps,
                &raw_threads,
                g,
                groups,
            ))
        }
        _ => None,
    };
    drop(graph);
    let mut heap = walker.map(|w| w.finish(opts.group_by)).unwrap_or_default();
    heap.refs = refs;
    heap.retained = retained;
    heap.graph = exported;
    let mut partial = heap.partial || threads_failed;
    heap.torn |= threads_failed;
    warnings.extend(heap.warnings.iter().cloned());

    let names = threadnames::thread_names(r, target, &raw_threads);
    let waits = stacks::blocked::BlockedFinder::new(r, target, &raw_threads, &gil_holders);
    let native_ids = native_ids(r, &raw_threads, &os.ns_to_host);
    let threads = raw_threads
        .into_iter()
        .map(|t| {
            let native_id = native_ids.get(&t.thread_id).copied().or(t.native_id);
            let host = native_id.and_then(|n| os.ns_to_host.get(&n).copied());
            // No scheduler states at all (core files): unknown, not idle.
            let idle = (!os.states.is_empty()).then(|| {
                host.and_then(|h| os.states.get(&h))
                    .is_none_or(|&s| s != 'R')
            });
            let name = names
                .get(&t.thread_id)
                .cloned()
                .or_else(|| host.and_then(|h| (os.comm)(h)));
            let holds_gil = t.holds_gil_flag.unwrap_or(false) || gil_holders.contains(&t.tstate);
            let eval_groups = if opts.native {
                crate::stacks::native::eval_groups(r, &t, target.version.minor)
            } else {
                Vec::new()
            };
            let blocked = waits.blocked(
                &t,
                holds_gil,
                host.and_then(|h| os.syscalls.get(&h)),
                &*os.fd_target,
            );
            if let Some(why) = &t.truncated {
                partial = true;
                // The frame cap is the target's own depth, not a race: retaking would not help.
                if !why.starts_with(stacks::FRAME_CAP_PREFIX) {
                    heap.torn = true;
                }
            }
            ThreadReport {
                thread_id: t.thread_id,
                native_id,
                host_native_id: host,
                name,
                holds_gil,
                idle,
                frames: t.frames,
                truncated: t.truncated,
                native_frames: None,
                merged: None,
                native_truncated: None,
                eval_groups,
                blocked,
            }
        })
        .collect();
    Ok((threads, heap, partial))
}

/// Copy a mapping whole when at least a quarter of it is resident (or it is small); the rest is read
/// on demand.
///
/// `rss` may be older than `m`: a mapping that grew since (a growing heap's new arenas join the
/// mapping next to them) has no entry at its new start, and is judged by the entries inside it.
fn is_dense(m: &leakspy_memory::Mapping, rss: &HashMap<u64, u64>) -> bool {
    const SMALL: u64 = 1 << 20;
    let resident = match rss.get(&m.start) {
        Some(&resident) => Some(resident),
        None => {
            let inside: Vec<u64> = rss
                .iter()
                .filter(|(&start, _)| start > m.start && start < m.end)
                .map(|(_, &r)| r)
                .collect();
            (!inside.is_empty()).then(|| inside.iter().sum())
        }
    };
    match resident {
        Some(resident) => m.len() <= SMALL || resident.saturating_mul(4) >= m.len(),
        None => m.len() <= 64 * SMALL,
    }
}

/// What [`walk`] read.
struct Walked<'r, 'a> {
    threads: Vec<RawThread>,
    walker: Option<HeapWalker<'r, 'a>>,
    gil_holders: Vec<u64>,
    warnings: Vec<String>,
    /// An interpreter's thread list could not be read (its threads are missing from the report).
    threads_failed: bool,
}

/// The part of the dump that runs while the target is paused.
fn walk<'r, 'a>(
    r: &'r Reader<'a>,
    target: &Target,
    opts: &DumpOptions,
    mut codes: CodeCache,
    progress: &mut dyn FnMut(u64),
) -> Result<Walked<'r, 'a>> {
    let mut warnings = Vec::new();
    let interps = stacks::interpreters(r, target.runtime)?;
    if interps.is_empty() {
        return Err(Error::NotFound {
            pid: target.pid,
            detail: "no interpreter (finalizing?)".into(),
        });
    }
    let mut threads = Vec::new();
    let mut holders = Vec::new();
    let mut threads_failed = false;
    for &interp in &interps {
        match stacks::threads(r, interp, &mut codes) {
            Ok(mut t) => threads.append(&mut t),
            Err(e) => {
                threads_failed = true;
                warnings.push(format!("threads of interpreter {interp:#x}: {e}"));
            }
        }
        holders.extend(stacks::gil_holder(r, target.runtime, interp));
    }
    let walker = if opts.no_heap {
        None
    } else {
        let mut w = HeapWalker::new(r);
        if opts.refs.is_some() || opts.export_graph.is_some() || opts.retained_of.is_some() {
            w = w.keep_graph();
        } else if !opts.gc_only {
            w = w.whole_heap();
        }
        if opts.collect_objects {
            w = w.collect_objects();
        }
        let mut tm_warnings = Vec::new();
        match tracemalloc::load(r, target, &mut tm_warnings) {
            Ok(Some(traces)) => w = w.with_traces(traces),
            Ok(None) => w.note_tracemalloc(TracemallocInfo {
                tracing: false,
                source: None,
                traces: 0,
                traced_objects: 0,
                untraced_objects: 0,
                hint: Some(tracemalloc::HINT.into()),
            }),
            Err(e) => warnings.push(format!("allocation sites unavailable: {e}")),
        }
        warnings.append(&mut tm_warnings);
        // 3.7/3.8 have one gc state for all interpreters (`runtime.gc`): walk it once.
        let mut gc_states = Vec::new();
        for &interp in &interps {
            let gc = target.layout.gc_state(target.runtime, interp);
            if !gc_states.contains(&gc) {
                gc_states.push(gc);
                w.walk_interpreter(interp, gc, progress);
            }
        }
        w.walk_untracked(&target.image, &interps, progress);
        Some(w)
    };
    Ok(Walked {
        threads,
        walker,
        gil_holders: holders,
        warnings,
        threads_failed,
    })
}

/// Native TIDs for versions whose thread state lacks them (3.9/3.10): read the kernel TID out of
/// glibc's `struct pthread` (pthread_t is its address). The field offset is found by checking which
/// offset maps every thread to a distinct live TID — 0x2d0 on every x86_64 glibc in use — so a wrong
/// guess yields no ids rather than wrong ones.
fn native_ids(
    r: &Reader<'_>,
    threads: &[RawThread],
    ns_to_host: &HashMap<i64, i32>,
) -> HashMap<u64, i64> {
    let mut out = HashMap::new();
    if threads.is_empty() || threads.iter().all(|t| t.native_id.is_some()) {
        return out;
    }
    let candidates = std::iter::once(0x2d0u64).chain((0..0x800).step_by(4));
    for off in candidates {
        let mut ids = Vec::with_capacity(threads.len());
        for t in threads {
            // thread_id is read from the target: a garbage value may wrap (the read then fails).
            match r.mem.read_i32(t.thread_id.wrapping_add(off)) {
                Ok(v) if ns_to_host.contains_key(&i64::from(v)) && !ids.contains(&i64::from(v)) => {
                    ids.push(i64::from(v))
                }
                _ => break,
            }
        }
        if ids.len() == threads.len() {
            for (t, id) in threads.iter().zip(ids) {
                out.insert(t.thread_id, id);
            }
            return out;
        }
    }
    out
}
