//! pymalloc's arenas, pools and blocks: where the objects the GC does not track (str, int, float,
//! bytes, untracked tuples and dicts) live when they are 512 bytes or smaller.
//!
//! The arena table (`struct arena_object arenas[maxarenas]`) is found, in order of trust:
//! - 3.12+: `interp->obmalloc` (embedded in 3.12, a pointer from 3.13) `.mgmt.arenas`;
//! - 3.9-3.11: the file statics `arenas` / `maxarenas` where `.symtab` survives;
//! - otherwise (stripped distro builds, or a state that does not validate): a scan of the image's
//!   data sections for a word pointing at a heap array whose used entries each lead to a pool whose
//!   `arenaindex` is that entry's own index.
//!
//! Enumeration is what `_PyObject_DebugMallocStats` does (research notes, cpython-heap.md section 5):
//! for every arena with an address, every carved pool with a non-zero count, every block below
//! `nextoffset` that is not on the pool's free list is allocated. Everything is bounded by the pool
//! and arena geometry, so garbage can only make the result smaller, never the walk longer.

use crate::error::{Error, Result};
use crate::model::Reader;
use leakspy_layout::Obmalloc;
use leakspy_memory::MemoryExt;
use serde::Serialize;

/// Most arenas believed (2^48 bytes of 1 MiB arenas is 2^28; a table larger than this is garbage).
const MAX_ARENAS: u64 = 1 << 24;

/// Where the arena table is and how many entries it has.
#[derive(Debug, Clone)]
pub struct ArenaTable {
    pub table: u64,
    pub entries: u64,
    /// How it was found, for the report.
    pub source: String,
}

/// pymalloc's own figures, as `sys._debugmallocstats()` prints them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ArenaStats {
    /// Arenas currently allocated.
    pub arenas: u64,
    /// Their total size (`arenas * ARENA_SIZE`).
    pub arena_bytes: u64,
    /// Pools holding at least one block.
    pub pools_used: u64,
    /// Allocated blocks, and their bytes (block sizes, so rounded up to the size class).
    pub blocks: u64,
    pub block_bytes: u64,
    /// Where the arena table was found.
    pub source: String,
}

/// One allocated block.
#[derive(Debug, Clone, Copy)]
pub struct Block<'p> {
    pub addr: u64,
    pub size: u64,
    /// The block's bytes, as copied with its pool.
    pub bytes: &'p [u8],
}

/// Find the arena table of interpreter `interp` (see the module docs for the order).
pub fn find_table(
    r: &Reader<'_>,
    image: &crate::attach::binaries::Image,
    interp: u64,
) -> Result<ArenaTable> {
    let om =
        r.l.obmalloc
            .as_ref()
            .ok_or_else(|| Error::Other("no obmalloc layout".into()))?;
    if let (Some(state_off), Some(arenas_off), Some(max_off)) =
        (r.l.interp.obmalloc, om.state_arenas, om.state_maxarenas)
    {
        let state = if r.l.interp.obmalloc_is_pointer == Some(true) {
            r.ptr(interp + state_off).unwrap_or(0)
        } else {
            interp + state_off
        };
        // A read error here (a layout that does not fit this build) falls through to the others.
        let found = (state != 0)
            .then(|| {
                Some((
                    r.ptr(state + arenas_off).ok()?,
                    r.mem.read_u32(state + max_off).ok()?,
                ))
            })
            .flatten();
        if let Some((table, entries)) = found {
            let entries = u64::from(entries);
            log::debug!(
                "arena table by layout: state {state:#x}, table {table:#x}, {entries} entries"
            );
            if valid_table(r, om, table, entries) {
                return Ok(ArenaTable {
                    table,
                    entries,
                    source: "interp.obmalloc".into(),
                });
            }
        }
    }
    let syms = &image.symbols;
    let by_symbol = match (syms.get("arenas"), syms.get("maxarenas")) {
        (Some(&a), Some(&m)) => r.ptr(a).ok().zip(r.mem.read_u32(m).ok()),
        _ => None,
    };
    if let Some((table, entries)) = by_symbol {
        let entries = u64::from(entries);
        log::debug!("arena table by symbol: table {table:#x}, {entries} entries");
        if valid_table(r, om, table, entries) {
            return Ok(ArenaTable {
                table,
                entries,
                source: "symbols arenas/maxarenas".into(),
            });
        }
    }
    for &(addr, size) in &image.data_sections {
        log::debug!("arena table: scanning {size:#x} bytes at {addr:#x}");
        if let Some(t) = scan(r, om, addr, size) {
            return Ok(t);
        }
    }
    Err(Error::Other(
        "pymalloc's arena table was not found (PYTHONMALLOC=malloc, or an unknown build)".into(),
    ))
}

/// The first word in `[addr, addr + len)` that points at a valid arena table. The table's length is
/// bounded by the size its allocator recorded: glibc's chunk size in the word before it, or, under
/// the debug allocator hooks (debug builds), the requested size in the debug header.
fn scan(r: &Reader<'_>, om: &Obmalloc, addr: u64, len: u64) -> Option<ArenaTable> {
    crate::model::scan_words(r, addr, len, |p| {
        // The table is a malloc'd block: in writable memory. Most words of a data section point
        // at code and constants; reading there would map pages into the target (a stripped static
        // build, debian's python3.11: 10 MB read, +3.4 MiB of the target's RSS, 0.7 s).
        if !p.is_multiple_of(16) || r.mem.writable_at(p) == Some(false) {
            return None;
        }
        {
            let before = r.mem.read_array::<16>(p - 16).ok()?;
            // The debug hooks store the requested size big-endian (obmalloc.c `write_size_t`).
            let usable = if before[8] == b'r' && before[9..16].iter().all(|&b| b == 0xfd) {
                u64::from_be_bytes(before[0..8].try_into().ok()?)
            } else {
                (u64::from_le_bytes(before[8..16].try_into().ok()?) & !7).checked_sub(8)?
            };
            if usable < om.arena_object_size || usable > 64 << 20 {
                return None;
            }
            let entries = usable / om.arena_object_size;
            valid_table(r, om, p, entries).then(|| ArenaTable {
                table: p,
                entries,
                source: "scan of the image's data for the arena table".into(),
            })
        }
    })
}

/// A table is valid when it has at least one used entry and every used entry whose first pool is
/// carved leads to a pool that names the entry's own index.
fn valid_table(r: &Reader<'_>, om: &Obmalloc, table: u64, entries: u64) -> bool {
    if table == 0 || entries == 0 || entries > MAX_ARENAS {
        return false;
    }
    // A malloc'd block lies in writable memory, both ends of it.
    let last = table.saturating_add(entries * om.arena_object_size - 1);
    if r.mem.writable_at(table) == Some(false) || r.mem.writable_at(last) == Some(false) {
        return false;
    }
    // Read a few entries at a time: a wrong candidate fails on its first ones, before megabytes
    // of whatever follows it are read.
    const CHUNK: u64 = 64;
    let mut raw = Vec::new();
    let mut used = 0;
    for i in 0..entries {
        if i % CHUNK == 0 {
            let n = CHUNK.min(entries - i) * om.arena_object_size;
            match r.mem.read_vec(table + i * om.arena_object_size, n as usize) {
                Ok(v) => raw = v,
                Err(_) => return false,
            }
        }
        let Some(a) = arena_at(om, &raw, i % CHUNK) else {
            return false;
        };
        if a.address == 0 {
            continue;
        }
        if a.garbage() {
            return false;
        }
        let first = round_up(a.address, om.pool_size);
        if a.pool_address > first {
            // Arenas are anonymous mappings: a wrong candidate's "arena" in code is not read.
            if r.mem.writable_at(first) == Some(false) {
                return false;
            }
            match r.mem.read_u32(first.saturating_add(om.pool_arenaindex)) {
                Ok(ix) if u64::from(ix) == i => used += 1,
                _ => return false,
            }
        }
    }
    used > 0
}

struct Arena {
    address: u64,
    pool_address: u64,
}

impl Arena {
    /// Addresses no arena can have (garbage or a racing write): above user space.
    fn garbage(&self) -> bool {
        self.address > leakspy_memory::MAX_USER_ADDRESS
            || self.pool_address > leakspy_memory::MAX_USER_ADDRESS
    }
}

fn arena_at(om: &Obmalloc, raw: &[u8], i: u64) -> Option<Arena> {
    let at = (i * om.arena_object_size) as usize;
    let word = |off: u64| -> Option<u64> {
        let s = at + off as usize;
        Some(u64::from_le_bytes(raw.get(s..s + 8)?.try_into().ok()?))
    };
    Some(Arena {
        address: word(om.arena_address)?,
        pool_address: word(om.arena_pool_address)?,
    })
}

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to).saturating_mul(to)
}

fn u32_at(buf: &[u8], off: u64) -> Option<u64> {
    let s = off as usize;
    Some(u64::from(u32::from_le_bytes(
        buf.get(s..s + 4)?.try_into().ok()?,
    )))
}

fn u64_at(buf: &[u8], off: u64) -> Option<u64> {
    let s = off as usize;
    Some(u64::from_le_bytes(buf.get(s..s + 8)?.try_into().ok()?))
}

/// The address ranges `[start, end)` of every allocated arena, sorted.
pub fn arena_ranges(r: &Reader<'_>, t: &ArenaTable) -> Vec<(u64, u64)> {
    let Some(om) = r.l.obmalloc.as_ref() else {
        return Vec::new();
    };
    let Ok(raw) = r
        .mem
        .read_vec(t.table, (t.entries * om.arena_object_size) as usize)
    else {
        return Vec::new();
    };
    let mut out: Vec<(u64, u64)> = (0..t.entries)
        .filter_map(|i| arena_at(om, &raw, i))
        .filter(|a| a.address != 0 && !a.garbage())
        .map(|a| (a.address, a.address.saturating_add(om.arena_size)))
        .collect();
    out.sort_unstable();
    out
}

/// Call `f` with every allocated block; returns pymalloc's figures. Pools that cannot be read or do
/// not hold together are skipped and counted in `bad_pools`.
pub fn for_each_block(
    r: &Reader<'_>,
    t: &ArenaTable,
    bad_pools: &mut u64,
    f: &mut dyn FnMut(Block<'_>),
) -> Result<ArenaStats> {
    for_each_block_in(r, t, 0..t.entries, bad_pools, f)
}

/// The arena table's entries split into `parts` runs of consecutive entries holding about as many
/// arenas each, with the number of arenas of each (for walking them on several threads:
/// [`for_each_block_in`] on each run, in order, sees the blocks [`for_each_block`] sees, in the
/// same order).
pub fn split_entries(
    r: &Reader<'_>,
    t: &ArenaTable,
    parts: usize,
) -> Vec<(std::ops::Range<u64>, usize)> {
    let used: Vec<u64> =
        r.l.obmalloc
            .as_ref()
            .and_then(|om| {
                let raw = r
                    .mem
                    .read_vec(t.table, (t.entries * om.arena_object_size) as usize)
                    .ok()?;
                Some(
                    (0..t.entries)
                        .filter(|&i| arena_at(om, &raw, i).is_some_and(|a| a.address != 0))
                        .collect(),
                )
            })
            .unwrap_or_default();
    let parts = parts.max(1);
    let per = used.len().div_ceil(parts).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for chunk in used.chunks(per) {
        let end = chunk.last().map_or(start, |&i| i + 1);
        out.push((start..end, chunk.len()));
        start = end;
    }
    match out.last_mut() {
        Some(last) => last.0.end = t.entries,
        None => out.push((0..t.entries, 0)),
    }
    out
}

/// [`for_each_block`] over the arena table's entries `entries` only.
pub fn for_each_block_in(
    r: &Reader<'_>,
    t: &ArenaTable,
    entries: std::ops::Range<u64>,
    bad_pools: &mut u64,
    f: &mut dyn FnMut(Block<'_>),
) -> Result<ArenaStats> {
    let om =
        r.l.obmalloc
            .as_ref()
            .ok_or_else(|| Error::Other("no obmalloc layout".into()))?;
    let raw = r
        .mem
        .read_vec(t.table, (t.entries * om.arena_object_size) as usize)?;
    let entries = entries.start.min(t.entries)..entries.end.min(t.entries);
    Ok(blocks_of(r, om, t, &raw, entries, bad_pools, f))
}

fn blocks_of(
    r: &Reader<'_>,
    om: &Obmalloc,
    t: &ArenaTable,
    raw: &[u8],
    entries: std::ops::Range<u64>,
    bad_pools: &mut u64,
    f: &mut dyn FnMut(Block<'_>),
) -> ArenaStats {
    let mut stats = ArenaStats {
        source: t.source.clone(),
        ..ArenaStats::default()
    };
    let mut pool = vec![0u8; om.pool_size as usize];
    let max_blocks = (om.pool_size / om.alignment.max(1)) as usize;
    let mut free = Vec::with_capacity(max_blocks);
    for i in entries {
        let Some(a) = arena_at(om, raw, i) else {
            break;
        };
        if a.address == 0 {
            continue;
        }
        if a.garbage() {
            *bad_pools += 1;
            continue;
        }
        stats.arenas += 1;
        stats.arena_bytes += om.arena_size;
        let arena_end = a.address.saturating_add(om.arena_size);
        let carved_end = a.pool_address.min(arena_end);
        let mut p = round_up(a.address, om.pool_size);
        while p.saturating_add(om.pool_size) <= arena_end && p < carved_end {
            let at = p;
            p += om.pool_size;
            if r.mem.read(at, &mut pool).is_err() {
                *bad_pools += 1;
                continue;
            }
            let Some(hdr) = PoolHeader::parse(om, &pool) else {
                *bad_pools += 1;
                continue;
            };
            if hdr.count == 0 {
                continue;
            }
            let size = (hdr.szidx + 1) * om.alignment;
            if hdr.arenaindex != i
                || hdr.szidx >= 64
                || hdr.nextoffset > om.pool_size
                || hdr.nextoffset < om.pool_overhead
            {
                *bad_pools += 1;
                continue;
            }
            // The free list: every link must be a block boundary inside this pool.
            free.clear();
            free.resize(max_blocks, false);
            let mut link = hdr.freeblock;
            let mut steps = 0;
            let mut ok = true;
            while link != 0 {
                steps += 1;
                let off = link.wrapping_sub(at);
                if steps > max_blocks
                    || off < om.pool_overhead
                    || off + size > om.pool_size
                    || !(off - om.pool_overhead).is_multiple_of(size)
                {
                    ok = false;
                    break;
                }
                free[((off - om.pool_overhead) / size) as usize] = true;
                match u64_at(&pool, off) {
                    Some(next) => link = next,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                *bad_pools += 1;
                continue;
            }
            stats.pools_used += 1;
            let mut off = om.pool_overhead;
            let mut k = 0usize;
            while off + size <= om.pool_size && off < hdr.nextoffset {
                if !free[k] {
                    stats.blocks += 1;
                    stats.block_bytes += size;
                    f(Block {
                        addr: at + off,
                        size,
                        bytes: &pool[off as usize..(off + size) as usize],
                    });
                }
                off += size;
                k += 1;
            }
        }
    }
    stats
}

/// The fields of a `struct pool_header` leakspy reads.
struct PoolHeader {
    count: u64,
    freeblock: u64,
    arenaindex: u64,
    szidx: u64,
    nextoffset: u64,
}

impl PoolHeader {
    fn parse(om: &Obmalloc, pool: &[u8]) -> Option<PoolHeader> {
        Some(PoolHeader {
            count: u32_at(pool, om.pool_count)?,
            freeblock: u64_at(pool, om.pool_freeblock)?,
            arenaindex: u32_at(pool, om.pool_arenaindex)?,
            szidx: u32_at(pool, om.pool_szidx)?,
            nextoffset: u32_at(pool, om.pool_nextoffset)?,
        })
    }
}
