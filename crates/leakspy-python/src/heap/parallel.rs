//! The walk's read-only work on every core: once the target is resumed, the copy of its memory is
//! immutable, so validating pymalloc blocks and reading each object's references can run on
//! several threads. What changes the census (adding an object, its index, the consumers) stays on
//! the calling thread, in the order a single thread would have produced, so the result is the same
//! object for object, index for index.
//!
//! Each thread gets its own copies of the caches it fills ([`TypeGate`], [`TypeCache`]): their
//! verdicts depend only on the (immutable) memory and the types known before the pass, so a copy
//! answers what the shared one would.

use super::arenas::{self, ArenaStats, ArenaTable};
use super::compact::{Objects, Seen};
use super::referents::referents;
use super::untracked::{block_object, holds_seen, in_ranges, TypeGate};
use crate::error::{Error, Result};
use crate::model::sizes::{getsizeof_untracked, outside_arenas};
use crate::model::{Reader, TypeCache};

/// Threads the walk uses: `LEAKSPY_THREADS` if set (1: walk on the calling thread's core only),
/// else the machine's cores, at most 8.
pub(crate) fn threads() -> usize {
    if let Some(n) = std::env::var("LEAKSPY_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return n.clamp(1, 64);
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8))
}

/// A validated pymalloc block not found before: object, type, `sys.getsizeof` ([`UNSIZED`]: it
/// could not be sized). 24 bytes, not the 32 of an `Option<u64>` size.
pub(crate) type BlockObject = (u64, u64, u64);

/// The size of a [`BlockObject`] that could not be sized (no object is that large:
/// `MAX_OBJECT_SIZE`).
pub(crate) const UNSIZED: u64 = u64::MAX;

/// Batches of arenas per walker thread in the block pass: the results of one batch of
/// [`threads`] parts are added to the census (and freed) before the next batch is read, so the
/// buffered results are an eighth of the pass's instead of all of them (~24 MB at 3.6M objects).
const BATCHES: usize = 8;

/// The arena table's entries in parts for [`blocks`], to hand it [`threads`] at a time.
pub(crate) fn block_parts(
    r: &Reader<'_>,
    table: &ArenaTable,
) -> Vec<(std::ops::Range<u64>, usize)> {
    arenas::split_entries(r, table, threads() * BATCHES)
}

/// What the block pass reads against: the table, the types believed, and the objects found before
/// (the GC lists').
pub(crate) struct BlockInput<'x> {
    pub table: &'x ArenaTable,
    pub gate: &'x TypeGate,
    pub types: &'x TypeCache,
    pub seen: &'x Seen,
}

/// Every allocated block of the table entries `parts` (one part per walker thread) that holds an
/// object not in `seen`, in the order [`arenas::for_each_block`] visits them (one vector per part,
/// in order: the caller consumes and frees them one by one instead of holding a second,
/// concatenated copy); pymalloc's figures are merged into `stats` (see [`finish_stats`]), pools
/// that could not be read or did not hold together are added to `bad_pools`.
pub(crate) fn blocks(
    r: &Reader<'_>,
    input: &BlockInput<'_>,
    parts: &[(std::ops::Range<u64>, usize)],
    bad_pools: &mut u64,
    stats: &mut Option<Result<ArenaStats>>,
) -> Vec<Vec<BlockObject>> {
    let arena_size = r.l.obmalloc.as_ref().map_or(0, |om| om.arena_size);
    let &BlockInput {
        table,
        gate,
        types,
        seen,
    } = input;
    let jobs: Vec<_> = parts
        .iter()
        .map(|(range, used)| {
            let range = range.clone();
            let mut found = results_buffer(*used, arena_size);
            move || {
                let mut gate = gate.clone();
                let mut types = types.clone();
                let mut bad = 0;
                let res = arenas::for_each_block_in(r, table, range, &mut bad, &mut |b| {
                    if holds_seen(r, &b, seen) {
                        return;
                    }
                    let Some((obj, tp)) = block_object(r, &b, &mut gate, &mut types) else {
                        return;
                    };
                    if seen.contains(obj) {
                        return;
                    }
                    let size = types
                        .get(r, tp)
                        .and_then(|info| getsizeof_untracked(r, obj, info).ok())
                        .filter(|&s| s != UNSIZED)
                        .unwrap_or(UNSIZED);
                    found.push((obj, tp, size));
                });
                (res, bad, found)
            }
        })
        .collect();
    let mut all = Vec::new();
    for part in run_all(jobs) {
        let Some((res, bad, found)) = part else {
            *stats = Some(Err(Error::Other("a walker thread failed".into())));
            continue;
        };
        *bad_pools += bad;
        all.push(found);
        *stats = Some(match (stats.take(), res) {
            (None, res) => res,
            (Some(Err(e)), _) | (Some(Ok(_)), Err(e)) => Err(e),
            (Some(Ok(mut acc)), Ok(s)) => {
                acc.arenas += s.arenas;
                acc.arena_bytes += s.arena_bytes;
                acc.pools_used += s.pools_used;
                acc.blocks += s.blocks;
                acc.block_bytes += s.block_bytes;
                Ok(acc)
            }
        });
    }
    all
}

/// pymalloc's figures once every part went through [`blocks`].
pub(crate) fn finish_stats(stats: Option<Result<ArenaStats>>) -> Result<ArenaStats> {
    stats.unwrap_or_else(|| Err(Error::Other("no arenas to walk".into())))
}

/// A buffer for the blocks of `arenas` arenas, allocated on the calling thread (see [`run_all`]
/// on malloc arenas). The capacity is a guess (an arena's bytes over a typical object's): only
/// what is written becomes resident, and more objects than guessed just grow the buffer.
fn results_buffer(arenas: usize, arena_size: u64) -> Vec<BlockObject> {
    let guess = (arenas as u64).saturating_mul(arena_size) / 48;
    Vec::with_capacity(usize::try_from(guess).unwrap_or(0).min(1 << 22))
}

/// One reference of an object, as far as it could be resolved before the census changes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ref {
    /// An object found before: its index (`u32::MAX` unless the census keeps indexes).
    Known(u32),
    /// Not found before, inside pymalloc's arenas (the block pass would have found it).
    InArena(u64),
    /// Not found before, outside the arenas: to validate (unless an earlier object of the same
    /// round added it).
    Check(u64),
}

/// The references (and bytes outside the arenas) of a run of objects, read on several threads.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// Per object: bytes outside the arenas, end of its references in `refs`, and whether it was
    /// prepared at all (its type was not read yet: the caller does it the slow way).
    objects: Vec<(u64, u32, bool)>,
    refs: Vec<Ref>,
}

impl Prepared {
    /// Objects of the run.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    /// Object `k` of the run: `(outside bytes, references)`, or `None` if it was not prepared.
    pub(crate) fn get(&self, k: usize) -> Option<(u64, &[Ref])> {
        let &(outside, end, done) = self.objects.get(k)?;
        let start = match k.checked_sub(1) {
            Some(p) => self.objects.get(p).map_or(0, |o| o.1),
            None => 0,
        };
        let refs = self.refs.get(start as usize..end as usize)?;
        done.then_some((outside, refs))
    }
}

/// What the census knows when a round of the reference walk starts: the round is `objects`.
pub(crate) struct RoundInput<'x> {
    pub objects: &'x Objects,
    /// `objects` holds the objects' sizes (else they are computed where needed).
    pub sizes_known: bool,
    pub types: &'x TypeCache,
    pub seen: &'x Seen,
    pub ranges: &'x [(u64, u64)],
    pub arenas_known: bool,
}

/// Read the references of every object of `input.objects` (and their bytes outside the arenas),
/// split over the threads, in order.
pub(crate) fn prepare_refs(r: &Reader<'_>, input: &RoundInput<'_>) -> Vec<Prepared> {
    let n = input.objects.len();
    let per = n.div_ceil(threads()).max(1);
    let runs: Vec<(usize, usize)> = (0..n)
        .step_by(per)
        .map(|start| (start, (start + per).min(n)))
        .collect();
    let jobs: Vec<_> = runs
        .iter()
        .map(|&(start, end)| {
            // Allocated here, for the reason given at `results_buffer`.
            let out = Prepared {
                objects: Vec::with_capacity(end - start),
                refs: Vec::with_capacity((end - start) * 4),
            };
            move || prepare_run(r, input, start, end, out)
        })
        .collect();
    // A failed job leaves its objects unprepared: the caller walks them itself.
    run_all(jobs)
        .into_iter()
        .zip(&runs)
        .map(|(p, &(start, end))| {
            p.unwrap_or_else(|| Prepared {
                objects: vec![(0, 0, false); end - start],
                refs: Vec::new(),
            })
        })
        .collect()
}

/// Run every job, the first on the calling thread and each other on a thread of its own; their
/// results in order (`None`: the job panicked). The calling thread takes a share itself because
/// glibc gives every other thread a malloc arena of its own, whose freed memory later allocations
/// of the calling thread do not reuse: with two threads besides it, the peak RSS of `refs` on 1.3M
/// objects grew by ~50 MB.
fn run_all<'env, T: Send, F: FnOnce() -> T + Send + 'env>(jobs: Vec<F>) -> Vec<Option<T>> {
    std::thread::scope(|s| {
        let mut jobs = jobs.into_iter();
        let first = jobs.next();
        let handles: Vec<_> = jobs.map(|f| s.spawn(f)).collect();
        let mut out = Vec::with_capacity(handles.len() + 1);
        if let Some(f) = first {
            out.push(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok());
        }
        out.extend(handles.into_iter().map(|h| h.join().ok()));
        out
    })
}

fn prepare_run(
    r: &Reader<'_>,
    input: &RoundInput<'_>,
    start: usize,
    end: usize,
    mut out: Prepared,
) -> Prepared {
    let mut refs = Vec::new();
    let mut parts = Vec::new();
    let in_arena = |a: u64| in_ranges(input.ranges, a);
    for k in start..end {
        let Some((obj, tp)) = input.objects.get(k) else {
            break;
        };
        let info = match input.types.peek(tp) {
            Some(info) => info,
            None => {
                out.objects.push((0, out.refs.len() as u32, false));
                continue;
            }
        };
        let mut outside = 0;
        refs.clear();
        if let Some(info) = info {
            referents(r, obj, tp, info, &mut refs);
            if input.arenas_known {
                let size = input.sizes_known.then(|| input.objects.size(k));
                outside = outside_arenas(r, obj, info, size, &mut parts, &in_arena);
            }
        }
        for &(p, _) in &refs {
            out.refs.push(match input.seen.get(p) {
                Some(j) => Ref::Known(j),
                None if in_arena(p) => Ref::InArena(p),
                None => Ref::Check(p),
            });
        }
        out.objects.push((outside, out.refs.len() as u32, true));
    }
    out
}
