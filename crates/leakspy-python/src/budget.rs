//! Bounded mode: a heap that does not fit.
//!
//! A paused dump copies every dense writable mapping whole (the planned copy) and then builds a
//! census of ~10 bytes per object. When that would not fit in the memory leakspy may use — the
//! `--max-memory` limit, else the smaller of `MemAvailable` and leakspy's cgroup headroom — the
//! dump switches to bounded mode: nothing is copied whole; every read goes through a block cache
//! that evicts its oldest 16 KiB blocks beyond a fixed budget. Paused (the default), the target
//! stays stopped for the whole walk instead of only the copy: the picture is as consistent as a
//! copied one, the pause as long as the walk. With `--nonblocking` it runs meanwhile and the result
//! may race (not exact). When even the census cannot fit, the dump is refused.
//!
//! The reference graph (`refs`, `--heapsnapshot`, `record --retained`) is bounded the same way,
//! checked at [`GRAPH_BYTES_PER_OBJECT`]: the graph is built from cached reads, and the target
//! stays paused until the analysis that reads the target (paths and their labels, the dominator
//! tree) is done, so the pause is the whole command.

use crate::error::{Error, Result};
use leakspy_memory::proc::Headroom;
use serde::Serialize;

/// leakspy's own memory besides the copy and the census (binary, layouts, type names, the block
/// pass's batches of parts), measured: 20-30 MB on a small target (VmHWM of a bounded dump of a
/// 20 MB heap). Rounded up.
pub const BASE_BYTES: u64 = 40 << 20;

/// Census and walk-state bytes per object at the walk's peak, from above. Measured (VmHWM of
/// bounded dumps, pyenv 3.12.1, minus [`BASE_BYTES`] and the cache) since the whole-heap walk
/// keeps no per-object list (83eeb9a): 23.6 bytes per object on the worst target measured
/// (tests/targets/big_heap.py, 7M slotted `Cell`s and their 7M ints: 14.0M objects, VmHWM 406 MB
/// under `--max-memory 1G`), 5-7 on benches/target.py at 3.62M objects (VmHWM 85 MB). It was 48
/// when 30-43 were measured with the list. See benches/RESULTS-memory.md.
pub const CENSUS_BYTES_PER_OBJECT: u64 = 32;

/// The same for `--gc-only` (counts by type, no per-object census): measured under 2 bytes per
/// object (VmHWM 13 MiB at 3.5M objects, 12 MiB at 1.5M).
pub const GC_ONLY_BYTES_PER_OBJECT: u64 = 4;

/// The same for `refs` (and `--heapsnapshot`, `record --retained`): the census's object list and
/// address table, the reference graph and the dominator tree's arrays. Measured (peak RSS minus
/// the copy, benches/memory.sh, pyenv 3.12.1): 60 bytes per object at 1.52M objects, 58 at 3.62M,
/// 56 at 5.42M (about 1.9 references per object). Rounded up.
pub const GRAPH_BYTES_PER_OBJECT: u64 = 64;

/// Resident heap bytes per object, for the estimate made before the walk: measured 44 (7.0M
/// small objects in 312 MB) to 490 (0.68M objects holding 1.5 KB bytes in 330 MB); near the
/// dense end, so that the estimate errs towards bounded mode. The walk itself counts: bounded mode stops (and refuses) as soon as the objects
/// it found need more census than the limit leaves.
pub const HEAP_BYTES_PER_OBJECT: u64 = 48;

/// The smallest block cache bounded mode runs with, and the largest it uses.
pub const MIN_CACHE_BYTES: u64 = 4 << 20;
pub const MAX_CACHE_BYTES: u64 = 32 << 20;

/// What the JSON's `bounded` field says (docs/json-schema.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BoundedInfo {
    /// Why: "max-memory" (the option) or "MemAvailable" / "cgroup" (the default's check).
    pub reason: String,
    /// The memory leakspy allowed itself, in bytes.
    pub limit_bytes: u64,
    /// What the ordinary dump would have copied whole, in bytes.
    pub planned_copy_bytes: u64,
    /// Estimated census and index memory ([`CENSUS_BYTES_PER_OBJECT`] per estimated object).
    pub census_estimate_bytes: u64,
    /// The census bytes per object the limit is checked with (whole heap or --gc-only).
    pub bytes_per_object: u64,
    /// The block cache's budget, in bytes.
    pub cache_bytes: u64,
    /// Blocks evicted from the cache (each re-read copies it again).
    pub evictions: u64,
    /// The target stayed paused for the whole walk (false with --nonblocking).
    pub paused_whole_walk: bool,
    /// Every figure describes one moment (paused); false when the target ran during the reads.
    pub exact: bool,
    /// leakspy's own peak resident memory at the end of the dump (VmHWM), in bytes.
    pub peak_rss_bytes: Option<u64>,
}

/// What a dump plans to hold: the copy and the census.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub copy_bytes: u64,
    pub heap_resident_bytes: u64,
}

/// Decide between the ordinary copy and bounded mode. `max_memory` is `--max-memory`; without it
/// the headroom decides. Returns `None` for the ordinary copy; refuses (Error::MemoryLimit) when
/// even bounded mode does not fit. A reference graph (`graph`: `refs`, `--heapsnapshot`,
/// `--retained`) is bounded too: its census is the graph ([`GRAPH_BYTES_PER_OBJECT`]), and the
/// target stays paused until the graph's analysis (paths, dominators) has read what it needs.
pub fn decide(
    plan: Plan,
    max_memory: Option<u64>,
    headroom: Headroom,
    graph: bool,
    gc_only: bool,
) -> Result<Option<BoundedInfo>> {
    let (limit, reason) = match max_memory {
        Some(m) => (m, "max-memory"),
        None => match headroom.limit() {
            Some(l) => l,
            None => return Ok(None),
        },
    };
    let objects = plan.heap_resident_bytes / HEAP_BYTES_PER_OBJECT;
    let per_object = if graph {
        GRAPH_BYTES_PER_OBJECT
    } else if gc_only {
        GC_ONLY_BYTES_PER_OBJECT
    } else {
        CENSUS_BYTES_PER_OBJECT
    };
    let census = objects.saturating_mul(per_object);
    let ordinary = plan
        .copy_bytes
        .saturating_add(census)
        .saturating_add(BASE_BYTES);
    if ordinary <= limit {
        return Ok(None);
    }
    if limit < BASE_BYTES + MIN_CACHE_BYTES {
        return Err(refusal(limit, reason, None));
    }
    let room = limit - BASE_BYTES;
    // Half of what the estimated census leaves; when the estimate leaves nothing (it errs high),
    // a quarter of the room: a 4 MiB cache re-reads blocks the GC lists revisit (a 317 MB target
    // under 256M: 2 GB read and a 13.5 s pause with 4 MiB; see benches/RESULTS-memory.md).
    let cache = match room.checked_sub(census) {
        Some(left) if left / 2 >= room / 4 => left / 2,
        _ => room / 4,
    }
    .clamp(MIN_CACHE_BYTES, MAX_CACHE_BYTES);
    Ok(Some(BoundedInfo {
        reason: reason.into(),
        limit_bytes: limit,
        planned_copy_bytes: plan.copy_bytes,
        census_estimate_bytes: census,
        cache_bytes: cache,
        bytes_per_object: per_object,
        ..BoundedInfo::default()
    }))
}

impl BoundedInfo {
    /// The most objects whose census fits beside leakspy itself and the cache.
    pub fn max_objects(&self) -> u64 {
        self.limit_bytes
            .saturating_sub(BASE_BYTES + self.cache_bytes)
            / self.bytes_per_object.max(1)
    }
}

/// The refusal when even bounded mode does not fit (`found`: objects the walk had counted when it
/// stopped).
pub fn refusal(limit: u64, reason: &str, found: Option<(u64, u64)>) -> Error {
    let mib = |b: u64| b.div_ceil(1 << 20);
    let what = match found {
        Some((n, per)) => format!(
            "the walk had found {n} objects and their census (up to {per} bytes each) would \
             outgrow"
        ),
        None => format!(
            "leakspy itself ({} MiB) and its smallest cache ({} MiB) do not fit in",
            mib(BASE_BYTES),
            mib(MIN_CACHE_BYTES)
        ),
    };
    let fix = match found {
        Some((_, per)) if per >= GRAPH_BYTES_PER_OBJECT => {
            "raise --max-memory (or the cgroup's limit), or run `leakspy dump`, whose census \
             needs half the memory of the graph"
        }
        _ => {
            "raise --max-memory (or the cgroup's limit), or count GC-tracked objects only with \
             --gc-only"
        }
    };
    Error::MemoryLimit(format!(
        "even bounded mode does not fit: {what} the {} MiB leakspy may use ({reason}): {fix}",
        mib(limit)
    ))
}

/// Parse a human size: `512M`, `2G`, `1.5GiB`, `100000000` (bytes). Suffixes are powers of 1024.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (try 512M, 2G)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("{s:?}: unknown size unit (use K, M, G or T)")),
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("{s:?} is not a usable size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("100000"), Ok(100000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("0").is_err());
    }

    fn plan(copy_mib: u64) -> Plan {
        Plan {
            copy_bytes: copy_mib << 20,
            heap_resident_bytes: copy_mib << 20,
        }
    }

    #[test]
    fn decides_copy_bounded_or_refusal() {
        let none = Headroom::default();
        // Fits: the ordinary copy.
        assert!(decide(plan(100), Some(1 << 30), none, false, false)
            .unwrap()
            .is_none());
        // 300 MiB heap under 100 MiB: bounded, with the smallest cache (the estimated census
        // leaves no room; the walk decides).
        let b = decide(plan(300), Some(100 << 20), none, false, false)
            .unwrap()
            .unwrap();
        assert_eq!(b.reason, "max-memory");
        assert_eq!(b.cache_bytes, ((100 << 20) - BASE_BYTES) / 4);
        assert_eq!(
            b.max_objects(),
            ((100 << 20) - BASE_BYTES - b.cache_bytes) / CENSUS_BYTES_PER_OBJECT
        );
        // Under 400 MiB: a larger cache, never above the largest.
        let b = decide(plan(300), Some(400 << 20), none, false, false)
            .unwrap()
            .unwrap();
        assert!(b.cache_bytes > MIN_CACHE_BYTES && b.cache_bytes <= MAX_CACHE_BYTES);
        // The graph is bounded too, with its own bytes per object; leakspy itself not fitting is
        // refused.
        let g = decide(plan(300), Some(400 << 20), none, true, false)
            .unwrap()
            .unwrap();
        assert_eq!(g.bytes_per_object, GRAPH_BYTES_PER_OBJECT);
        assert!(g.max_objects() < b.max_objects());
        // What fits the census alone may not fit the graph (64 bytes per object, not 32).
        assert!(decide(plan(300), Some(600 << 20), none, false, false)
            .unwrap()
            .is_none());
        assert!(decide(plan(300), Some(600 << 20), none, true, false)
            .unwrap()
            .is_some());
        assert!(matches!(
            decide(plan(300), Some(10 << 20), none, false, false),
            Err(Error::MemoryLimit(_))
        ));
        // Without the option, the headroom decides.
        let h = Headroom {
            mem_available: Some(1 << 40),
            cgroup: Some(400 << 20),
        };
        assert_eq!(
            decide(plan(300), None, h, false, false)
                .unwrap()
                .unwrap()
                .reason,
            "cgroup"
        );
        assert!(decide(plan(300), None, none, false, false)
            .unwrap()
            .is_none());
    }
}
