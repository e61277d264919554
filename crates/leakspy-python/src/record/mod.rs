//! `leakspy record`: where objects are born, sampled from a running target without writing to it.
//!
//! A baseline marks every object already on the GC lists. Then, `rate` times a second (without
//! pausing the target unless asked), each sample
//! 1. reads every generation list from its tail back to the first object already seen
//!    ([`sampler`]): every GC-tracked object born since the last sample (and still alive at it), by
//!    type — the counts;
//! 2. reads every thread's stack and the named locals of its frames ([`attribution`]): a born object
//!    held there is charged to that frame (or, for the `self` of an `__init__`, to its caller) — a
//!    few (type, stack) pairs per sample, whose shares over many samples estimate the sites;
//! 3. folds the stack of the thread holding the GIL into a time profile.
//!
//! At the end one short pause counts which born objects are still alive (the paused GC-only walk
//! of `dump`, with its sizes and, when the target traces, tracemalloc's exact tracebacks).

pub mod attribution;
pub mod births;
pub mod pages;
pub mod sampler;
mod summary;

use crate::attach::process;
use crate::dump::{self, DumpOptions};
use crate::error::{Error, Result};
use crate::model::Reader;
use crate::stacks::{self, CodeCache, Frame, RawThread};
use attribution::LocalsCache;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Most objects the baseline marks per list.
pub const MAX_BASELINE: usize = 50_000_000;
/// Most distinct allocation stacks kept (further ones are counted under the type only).
pub const MAX_SITES: usize = 100_000;

/// What the report says about what `born` can miss.
pub const BORN_NOTE: &str = "born counts the tracked objects a sample saw new: one born and freed \
between two samples, or put in the block of a just-freed object of its own type, is not seen, so \
types that churn fast are undercounted (a lower bound)";

/// What the report says about objects the GC lists never hold.
pub const UNTRACKED_NOTE: &str =
    "only GC-tracked objects are recorded: str, int, float, bytes and \
other objects that cannot hold references are never on the GC lists, so their births are not seen \
(--retained charges them to the survivors that hold them)";

#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub duration: Duration,
    /// Samples per second.
    pub rate: u32,
    /// Pause the target for each sample (consistent lists and stacks, at the cost of a stop).
    pub pause: bool,
    /// End with a whole-heap census and its reference graph: what the survivors keep alive,
    /// untracked objects included (`retained_bytes`).
    pub retained: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            duration: Duration::from_secs(30),
            rate: 200,
            pause: false,
            retained: false,
        }
    }
}

/// Progress of a recording, for the caller's progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// The baseline is taken: objects born from now on are recorded.
    Started { baseline: u64 },
    Sample {
        elapsed: Duration,
        samples: u64,
        births: u64,
    },
    /// Counting the survivors (one short pause).
    Census,
}

/// One frame of a site (`function` is absent for tracemalloc's tracebacks, which record none).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SiteFrameOut {
    pub function: Option<String>,
    pub filename: String,
    pub line: Option<i32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SiteRecord {
    /// Innermost first.
    pub frames: Vec<SiteFrameOut>,
    /// Estimated from the pairs' share (exact with tracemalloc: the traced survivors).
    pub born: u64,
    pub alive: u64,
    pub alive_bytes: u64,
    /// With `--retained`: what these survivors keep alive (estimated like `alive_bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<u64>,
    /// Sampled (type, stack) pairs behind this site (0 with tracemalloc).
    pub pairs: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TypeRecord {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Objects of this type seen born on the GC lists (exact for objects that lived until a sample).
    pub born: u64,
    /// Of those, still on the GC lists at the end.
    pub alive: u64,
    pub alive_bytes: u64,
    /// With `--retained`: the bytes only the survivors keep reachable, their own included
    /// (untracked objects they hold: str, int, dicts of atoms...). `None` for types outside the
    /// types with the most births (`analysis::retained::MAX_GROUPS`) or without `--retained`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<u64>,
    /// Sampled (type, stack) pairs for this type.
    pub pairs: u64,
    pub sites: Vec<SiteRecord>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordReport {
    pub pid: i32,
    pub python_version: String,
    pub duration_s: f64,
    pub samples: u64,
    /// Sites come from tracemalloc's tracebacks (the target traces), not from sampled pairs.
    pub exact: bool,
    pub paused_samples: bool,
    pub baseline_objects: u64,
    /// List walks dropped because the target changed the list during the walk (retried next sample).
    pub torn_walks: u64,
    pub untracked: &'static str,
    /// [`BORN_NOTE`].
    pub born_note: &'static str,
    pub warnings: Vec<String>,
    pub types: Vec<TypeRecord>,
    /// Folded stacks of the thread holding the GIL, one count per sample (`--flamegraph-time`).
    #[serde(skip)]
    pub time_profile: Vec<(String, u64)>,
}

/// What is known of one born object.
#[derive(Debug, Clone, Copy)]
struct Born {
    tp: u64,
    /// Site index once a sample saw a frame holding it.
    site: Option<u32>,
}

struct State {
    seen: sampler::Seen,
    born: FxHashMap<u64, Born>,
    births: u64,
    /// Births seen per type (an address reborn counts again).
    born_by_tp: FxHashMap<u64, u64>,
    sites: Vec<Vec<Frame>>,
    site_ids: FxHashMap<String, u32>,
    /// (type, site) -> pairs
    pairs: FxHashMap<(u64, u32), u64>,
    time: FxHashMap<String, u64>,
    codes: CodeCache,
    locals: LocalsCache,
    torn: u64,
    last_torn: Option<String>,
    warnings: Vec<String>,
    /// Page buffers reused from sample to sample.
    pool: pages::PagePool,
    /// Objects seen being built by a running constructor, checked then, waiting for a list walk to
    /// find them born (by address): their type then and the caller's stack at the call.
    pending: FxHashMap<u64, Pending>,
    /// (type, site) -> innermost line -> pairs whose line is the allocating line.
    lines: FxHashMap<(u64, u32), FxHashMap<i32, u64>>,
}

/// See [`State::pending`].
struct Pending {
    tp: u64,
    stack: Vec<Frame>,
    /// Samples it waited for already: dropped after [`PENDING_SAMPLES`].
    age: u8,
}

/// How many samples' list walks may find a pending object born (the first one is torn sometimes).
const PENDING_SAMPLES: u8 = 2;

fn site_key(stack: &[Frame]) -> String {
    let mut s = String::new();
    for (i, f) in stack.iter().enumerate() {
        // The innermost frame's line is where it is now, not always the allocating line: grouped by
        // function only.
        let line = if i == 0 { None } else { f.line };
        s.push_str(&format!(
            "{}\u{1}{}\u{1}{line:?}\u{2}",
            f.function, f.filename
        ));
    }
    s
}

/// Record `pid` until `duration` passes or `stop()` says so.
pub fn record(
    pid: i32,
    opts: &RecordOptions,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<RecordReport> {
    sampling(pid, opts, stop, progress, |r, mut st, run| {
        (run.progress)(Progress::Census);
        let census = dump::dump(
            pid,
            &DumpOptions {
                collect_objects: true,
                gc_only: !opts.retained,
                retained_of: opts.retained.then(|| retained_groups(&st)),
                ..DumpOptions::default()
            },
            &mut |_| {},
        );
        let (types, exact) = match census {
            Ok(report) => {
                if report.partial {
                    for w in &report.warnings {
                        st.warnings.push(format!("final census: {w}"));
                    }
                }
                let exact = report.heap.tracemalloc.as_ref().is_some_and(|t| t.tracing);
                let table = report.heap.object_table.unwrap_or_default();
                let retained = report.heap.retained.as_ref();
                (summary::build_types(r, &st, &table, retained, exact), exact)
            }
            Err(e) => {
                st.warnings.push(format!(
                    "final census failed ({e}): alive counts are 0 (unknown)"
                ));
                (
                    summary::build_types(r, &st, &Default::default(), None, false),
                    false,
                )
            }
        };
        let mut time_profile: Vec<(String, u64)> = st.time.into_iter().collect();
        time_profile.sort();
        RecordReport {
            pid,
            python_version: run.target.version.to_string(),
            duration_s: run.duration_s,
            samples: run.samples,
            exact,
            paused_samples: opts.pause,
            baseline_objects: run.baseline,
            torn_walks: st.torn,
            untracked: UNTRACKED_NOTE,
            born_note: BORN_NOTE,
            warnings: st.warnings,
            types,
            time_profile,
        }
    })
}

/// The born objects whose retained bytes the final census computes, grouped by type: the
/// [`crate::analysis::retained::MAX_GROUPS`] types with the most births.
fn retained_groups(st: &State) -> FxHashMap<u64, u32> {
    let mut by_births: Vec<(u64, u64)> = st.born_by_tp.iter().map(|(&tp, &n)| (tp, n)).collect();
    by_births.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let group: FxHashMap<u64, u32> = by_births
        .iter()
        .take(crate::analysis::retained::MAX_GROUPS as usize)
        .enumerate()
        .map(|(i, &(tp, _))| (tp, i as u32))
        .collect();
    st.born
        .iter()
        .filter_map(|(&addr, b)| group.get(&b.tp).map(|&k| (addr, k)))
        .collect()
}

/// Record `pid` like [`record`] but without the final census: each born object a sample saw, by
/// address, with its sampled site (for a caller that counts survivors its own way: `leaks --pid`).
pub fn record_births(
    pid: i32,
    opts: &RecordOptions,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<births::Births> {
    sampling(pid, opts, stop, progress, |r, st, run| {
        births::Births::of(r, st, &run)
    })
}

/// How a sampling run went.
struct Run<'a> {
    target: &'a process::Target,
    progress: &'a mut dyn FnMut(Progress),
    duration_s: f64,
    samples: u64,
    baseline: u64,
}

/// The baseline, the sampling loop and its last paused look; then `finish` with what was seen.
fn sampling<T>(
    pid: i32,
    opts: &RecordOptions,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(Progress),
    finish: impl FnOnce(&Reader<'_>, State, Run<'_>) -> T,
) -> Result<T> {
    let (live, maps) = process::open(pid)?;
    let target = process::identify(pid, &live, &maps, None)?;
    crate::attach::free_threaded::refuse_record(&target)?;
    let r = Reader::new(&live, &target.layout);
    let mut st = State {
        seen: sampler::Seen::default(),
        born: FxHashMap::default(),
        births: 0,
        born_by_tp: FxHashMap::default(),
        sites: Vec::new(),
        site_ids: FxHashMap::default(),
        pairs: FxHashMap::default(),
        time: FxHashMap::default(),
        codes: CodeCache::default(),
        locals: LocalsCache::default(),
        torn: 0,
        last_torn: None,
        warnings: target.warnings.clone(),
        pool: pages::PagePool::default(),
        pending: FxHashMap::default(),
        lines: FxHashMap::default(),
    };
    let interps = stacks::interpreters(&r, target.runtime)?;
    if interps.is_empty() {
        return Err(Error::NotFound {
            pid,
            detail: "no interpreter (finalizing?)".into(),
        });
    }
    // The gc states whose lists are sampled: one per interpreter, one for all on 3.6-3.8.
    let mut gcs: Vec<u64> = interps
        .iter()
        .map(|&i| target.layout.gc_state(target.runtime, i))
        .collect();
    gcs.dedup();
    let baseline = take_baseline(&r, pid, &gcs, opts.pause, &mut st);
    progress(Progress::Started { baseline });

    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / f64::from(opts.rate.max(1)));
    let mut samples = 0u64;
    let mut next = start;
    let mut checked = start;
    let mut jitter = Jitter::seeded();
    while start.elapsed() < opts.duration && !stop() {
        // Whether the target still runs, a few times a second (two /proc reads: not every sample).
        if checked.elapsed() >= ALIVE_EVERY && !alive(pid) {
            st.warnings.push(format!(
                "pid {pid} exited after {:.1} s; reporting what was recorded",
                start.elapsed().as_secs_f64()
            ));
            break;
        }
        if checked.elapsed() >= ALIVE_EVERY {
            checked = Instant::now();
        }
        sample_once(&r, &target, &interps, &gcs, pid, opts.pause, &mut st);
        samples += 1;
        progress(Progress::Sample {
            elapsed: start.elapsed(),
            samples,
            births: st.births,
        });
        // Jittered (0.5-1.5 periods, mean one): at a fixed period the samples can fall into step
        // with a target's loop and see the same moment of it again and again (one sid 3.13 run
        // charged a helper's two callers 59/41 instead of 75/25 that way).
        next += period.mul_f64(0.5 + jitter.next_unit());
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Behind (slow reads): do not try to catch up in a burst.
            next = now;
        }
    }
    let duration_s = start.elapsed().as_secs_f64();
    // One last look: births since the last sample. Paused, and taken again when a list changed
    // under it (or a collection ran): a torn sample leaves its births to the next one, and after
    // this one there is none, so they would be missing from `alive`.
    for _ in 0..LAST_LOOK_TRIES {
        if !alive(pid) {
            break;
        }
        let torn = st.torn;
        sample_once(&r, &target, &interps, &gcs, pid, true, &mut st);
        samples += 1;
        if st.torn == torn {
            break;
        }
    }
    if st.torn > 0 {
        st.warnings.push(format!(
            "{} list walks met the target changing the list and were retried at the next sample \
             (last: {})",
            st.torn,
            st.last_torn.clone().unwrap_or_default()
        ));
    }
    let run = Run {
        target: &target,
        progress,
        duration_s,
        samples,
        baseline,
    };
    Ok(finish(&r, st, run))
}

/// A small xorshift generator for the sampling jitter (no statistical quality needed, only no
/// period in step with the target's).
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter(t | 1)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() && !leakspy_memory::proc::is_zombie(pid)
}

fn pause(pid: i32, on: bool) -> Option<leakspy_memory::PauseGuard> {
    if on {
        leakspy_memory::PauseGuard::pause(pid).ok()
    } else {
        None
    }
}

/// Mark every object on the generation lists. A list that changes under the walk is walked again
/// (a few times, then what was read is kept with a warning: objects missed there may later be
/// counted as born when a collection moves them).
fn take_baseline(r: &Reader<'_>, pid: i32, gcs: &[u64], paused: bool, st: &mut State) -> u64 {
    let mut total = 0;
    for &gc in gcs {
        for head in sampler::generation_heads(r, gc) {
            let mut tries = 0;
            loop {
                tries += 1;
                let guard = pause(pid, paused);
                let res = if sampler::collecting(r, gc) {
                    Err("a garbage collection was running".to_string())
                } else {
                    sampler::mark_list(r, head, &mut st.seen)
                };
                drop(guard);
                match res {
                    Ok(n) => {
                        total += n;
                        break;
                    }
                    Err(e) if tries >= 8 => {
                        st.warnings.push(format!(
                            "baseline: a GC list kept changing under the walk ({e}); older objects \
                             may be counted as born"
                        ));
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1 << tries.min(5))),
                }
            }
        }
    }
    total
}

/// How often the sampling loop checks that the target still runs.
const ALIVE_EVERY: Duration = Duration::from_millis(100);

/// How many times the last, paused look is taken when it comes out torn.
const LAST_LOOK_TRIES: u32 = 8;

/// One (type, stack) pair: the born object at `addr` is charged to the site of `stack`.
fn charge(st: &mut State, addr: u64, tp: u64, stack: Vec<Frame>, exact_line: bool) {
    let key = site_key(&stack);
    let line = stack.first().and_then(|f| f.line);
    let id = match st.site_ids.get(&key) {
        Some(&id) => id,
        None if st.sites.len() < MAX_SITES => {
            let id = st.sites.len() as u32;
            st.sites.push(stack);
            st.site_ids.insert(key, id);
            id
        }
        None => return,
    };
    if let Some(e) = st.born.get_mut(&addr) {
        e.site = Some(id);
    }
    *st.pairs.entry((tp, id)).or_insert(0) += 1;
    if let (true, Some(line)) = (exact_line, line) {
        *st.lines
            .entry((tp, id))
            .or_default()
            .entry(line)
            .or_insert(0) += 1;
    }
}

fn sample_once(
    r: &Reader<'_>,
    target: &process::Target,
    interps: &[u64],
    gcs: &[u64],
    pid: i32,
    paused: bool,
    st: &mut State,
) {
    let guard = pause(pid, paused);
    // Stacks first: what the frames hold now was born before the list walk that follows, so the
    // walk finds it (read the other way round, the object a frame holds is mostly newer than the
    // tail the walk started from). Through a page cache of their own: thread states and frames sit
    // on a few pages (3.11+: the thread's frame stack), read once each, and a frame's locals come
    // from the same copy of its page as the frame itself (one moment, not two reads apart).
    let stack_cache = pages::PageCache::with_pool(r.mem, std::mem::take(&mut st.pool));
    let sr = Reader::new(&stack_cache, r.l);
    let mut threads: Vec<RawThread> = Vec::new();
    let mut holders = Vec::new();
    for &interp in interps {
        if let Ok(mut t) = stacks::threads(&sr, interp, &mut st.codes) {
            threads.append(&mut t);
        }
        holders.extend(stacks::gil_holder(&sr, target.runtime, interp));
    }
    let locals: Vec<Vec<Vec<u64>>> = threads
        .iter()
        .map(|t| {
            t.frame_addrs
                .iter()
                .map(|&(f, c)| attribution::frame_locals(&sr, &mut st.locals, f, c))
                .collect()
        })
        .collect();
    // Where each frame was, as this look saw it: a caller's line is the allocating line only when
    // a read at the check agrees. Its page may have been copied a moment before the constructor's
    // (another thread's frame on it), when that frame was still an earlier call on another line.
    // Only callers of constructors have a line that counts.
    let positions: FxHashMap<u64, u64> = threads
        .iter()
        .flat_map(|t| {
            t.frames
                .iter()
                .zip(t.frame_addrs.iter().skip(1))
                .filter(|(f, _)| attribution::is_constructor(f))
                .map(|(_, &(caller, _))| caller)
        })
        .filter_map(|f| Some((f, stacks::frame_position(&sr, f)?)))
        .collect();
    let same_line = |caller: Option<u64>| {
        caller.is_some_and(|c| {
            positions
                .get(&c)
                .copied()
                .is_some_and(|p| stacks::frame_position(r, c) == Some(p))
        })
    };
    // Constructors' objects, checked now: by the end of the list walk the constructor has mostly
    // returned. The type read while the frame holds the object (before and after) is its type.
    for p in attribution::constructor_selfs(&threads, &locals) {
        if st.pending.contains_key(&p.addr)
            || st.born.get(&p.addr).is_some_and(|b| b.site.is_some())
        {
            continue;
        }
        let Ok(tp) = r.type_of(p.addr) else {
            continue;
        };
        if attribution::still_holds(r, p.holder, p.addr) && same_line(p.caller) {
            st.pending.insert(
                p.addr,
                Pending {
                    tp,
                    stack: p.stack,
                    age: 0,
                },
            );
        }
    }
    let cache = pages::PageCache::with_pool(r.mem, stack_cache.into_pool());
    let cached = Reader::new(&cache, r.l);
    for &gc in gcs {
        let walk = sampler::sample(&cached, gc, &mut st.seen);
        st.torn += walk.torn as u64;
        if walk.last_error.is_some() {
            st.last_torn = walk.last_error;
        }
        for b in walk.births {
            st.births += 1;
            *st.born_by_tp.entry(b.tp).or_insert(0) += 1;
            st.born.insert(
                b.addr,
                Born {
                    tp: b.tp,
                    site: None,
                },
            );
        }
    }
    st.pool = cache.into_pool();
    // Pending objects found born (now or by an earlier walk), of the type they had when checked.
    let pending = std::mem::take(&mut st.pending);
    for (addr, mut p) in pending {
        match st.born.get(&addr) {
            Some(b) if b.site.is_none() && b.tp == p.tp => {
                let tp = b.tp;
                charge(st, addr, tp, p.stack, true);
            }
            Some(b) if b.site.is_some() || b.tp != p.tp => {}
            _ => {
                p.age += 1;
                if p.age < PENDING_SAMPLES {
                    st.pending.insert(addr, p);
                }
            }
        }
    }
    let born = &st.born;
    let pairs = attribution::attribute(&threads, &locals, &|a| {
        born.get(&a).is_some_and(|b| b.site.is_none())
    });
    for p in pairs {
        let Some(b) = st.born.get(&p.addr).copied() else {
            continue;
        };
        // The address must still hold an object of the born type (not freed and reused), and the
        // frame still hold it (the local read before the walk named this very object).
        if r.type_of(p.addr).ok() != Some(b.tp) || !attribution::still_holds(r, p.holder, p.addr) {
            continue;
        }
        let exact_line = p.exact_line && same_line(p.caller);
        charge(st, p.addr, b.tp, p.stack, exact_line);
    }
    drop(guard);
    // Time profile: the thread holding the GIL (every thread with a stack when unknown).
    let running: Vec<&RawThread> = threads
        .iter()
        .filter(|t| t.holds_gil_flag == Some(true) || holders.contains(&t.tstate))
        .collect();
    let chosen: Vec<&RawThread> = if running.is_empty() {
        threads.iter().filter(|t| !t.frames.is_empty()).collect()
    } else {
        running
    };
    for t in chosen {
        if t.frames.is_empty() {
            continue;
        }
        let folded: Vec<String> = t
            .frames
            .iter()
            .rev()
            .map(|f| match f.line {
                Some(l) => format!("{} ({}:{l})", f.function, f.filename),
                None => format!("{} ({})", f.function, f.filename),
            })
            .collect();
        *st.time.entry(folded.join(";")).or_insert(0) += 1;
    }
}
