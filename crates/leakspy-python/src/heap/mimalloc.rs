//! Walker for free-threaded builds (3.13t): every object in mimalloc's heaps, found the way the
//! free-threaded collector finds them (`Python/gc_free_threading.c`, `gc_visit_heaps_lock_held`):
//! each thread's `_PyThreadStateImpl.mimalloc.heaps[]`, then the interpreter's pool of abandoned
//! segments (pages of threads that exited).
//!
//! - A heap's pages are on its page queues (`pages[bin].first` -> `next`). A page is a slice of
//!   its 32 MiB segment (the page address rounded down to the segment size); its blocks start at
//!   the slice's first byte, moved up by `3 * block` for blocks of 8..64 bytes and by one block up
//!   to 512 (`_mi_segment_page_start_from_slice`, `Objects/mimalloc/segment.c` of 3.13).
//! - A block is free when it is on the page's `free`, `local_free` or `xthread_free` list (low 2
//!   bits of the last are flags), or on its heap's `thread_delayed_free` list; every other block
//!   below `capacity` is allocated (`_mi_heap_area_visit_blocks`, `Objects/mimalloc/heap.c`).
//! - GC objects live in the GC heap (at the block's start) and the GC_PRE heap (after the 2-word
//!   pre-header); a set `_PyGC_BITS_TRACKED` bit in `ob_gc_bits` makes one GC-tracked (what
//!   `gc.get_objects()` returns, the frozen ones apart). The others, and the OBJECT heap's blocks
//!   (str, int, float, bytes), are objects when they validate ([`validate`]): a known type of the
//!   heap's kind, a live reference count, a size that fits the block.
//!
//! Garbage (a page or list rewritten under the walk) ends that page or list with a warning and a
//! partial result; every loop is bounded.

use super::untracked::TypeGate;
use super::{Census, Sink};
use crate::model::{Reader, TypeCache, TypeInfo};
use leakspy_layout::Mimalloc;
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashSet;

/// Threads per interpreter walked at most.
const MAX_THREADS: usize = 100_000;
/// Pages walked at most (per dump): 64 KiB each at least, so 64 TiB of heap.
const MAX_PAGES: usize = 1 << 30 >> 6;
/// Abandoned segments walked at most.
const MAX_SEGMENTS: usize = 1 << 20;
/// Blocks on a heap's delayed-free list followed at most.
const MAX_DELAYED: usize = 1 << 22;
/// A page's block area is copied whole up to this size; bigger pages (few large blocks) are read
/// block by block.
const MAX_PAGE_COPY: u64 = 4 << 20;

/// One mimalloc page, decoded from its `mi_page_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub addr: u64,
    /// Its heap's tag (`_Py_mimalloc_heap_id`).
    pub tag: u64,
    /// First block, block size (with the allocator's own rounding), blocks set up, blocks in use.
    pub start: u64,
    pub block_size: u64,
    pub capacity: u64,
    pub used: u64,
    /// Heads of the three free lists (`free`, `local_free`, `xthread_free` without its flags).
    pub free_heads: [u64; 3],
    /// The next page on its queue.
    pub next: u64,
}

impl Page {
    /// The bytes its blocks cover.
    pub fn range(&self) -> (u64, u64) {
        (
            self.start,
            self.start
                .saturating_add(self.capacity.saturating_mul(self.block_size)),
        )
    }
}

fn uint(raw: &[u8], off: u64, n: usize) -> Option<u64> {
    let s = usize::try_from(off).ok()?;
    let b = raw.get(s..s.checked_add(n)?)?;
    let mut w = [0u8; 8];
    w[..n].copy_from_slice(b);
    Some(u64::from_le_bytes(w))
}

/// Decode the page at `addr` from its `mi_page_t` bytes `raw`; `None` unless it holds together
/// (a slice of a segment, in use, blocks that fit the slices it spans).
pub fn decode_page(m: &Mimalloc, addr: u64, raw: &[u8]) -> Option<Page> {
    let slice_count = uint(raw, m.page_slice_count, 4)?;
    let capacity = uint(raw, m.page_capacity, 2)?;
    let reserved = uint(raw, m.page_reserved, 2)?;
    let used = uint(raw, m.page_used, 4)?;
    let xblock = uint(raw, m.page_xblock_size, 4)?;
    let tag = (uint(raw, m.page_tag_byte, 1)? >> m.page_tag_shift) & m.page_tag_mask;
    let huge = xblock >= m.huge_block_size;
    // a huge page spans a segment of its own size (up to 2^22 slices: 256 GiB)
    let max_slices = if huge { 1 << 22 } else { m.slices_per_segment };
    if slice_count == 0 || slice_count > max_slices || xblock == 0 {
        return None;
    }
    if capacity > reserved || used > capacity {
        return None;
    }
    let seg_size = 1u64.checked_shl(u32::try_from(m.segment_shift).ok()?)?;
    let segment = addr & !(seg_size - 1);
    let slices = segment.checked_add(m.segment_slices)?;
    let rel = addr.checked_sub(slices)?;
    if m.page_size == 0 || rel % m.page_size != 0 {
        return None;
    }
    let idx = rel / m.page_size;
    if idx > m.slices_per_segment || (!huge && idx + slice_count > m.slices_per_segment + 1) {
        return None;
    }
    let slice_bytes = 1u64.checked_shl(u32::try_from(m.slice_shift).ok()?)?;
    let span = slice_count.checked_mul(slice_bytes)?;
    let (block_size, offset) = if !huge {
        let offset = match xblock {
            8..=64 => 3 * xblock,
            65..=512 => xblock,
            _ => 0,
        };
        (xblock, offset)
    } else {
        (span, 0)
    };
    let start = segment
        .checked_add(idx.checked_mul(slice_bytes)?)?
        .checked_add(offset)?;
    if capacity.checked_mul(block_size)? > span.checked_sub(offset)? {
        return None;
    }
    let word = |off: u64| uint(raw, off, 8);
    Some(Page {
        addr,
        tag,
        start,
        block_size,
        capacity,
        used,
        free_heads: [
            word(m.page_free)?,
            word(m.page_local_free)?,
            word(m.page_xthread_free)? & !3,
        ],
        next: word(m.page_next)?,
    })
}

/// Which of `page`'s blocks are free: follows its three free lists with `next` (the word at a free
/// block), and marks the `delayed` blocks. Returns the map and whether a list broke off (a link
/// outside the page, unaligned, or looping), in which case the map is what was followed.
pub fn free_map(
    page: &Page,
    delayed: &FxHashSet<u64>,
    mut next: impl FnMut(u64) -> Option<u64>,
) -> (Vec<bool>, bool) {
    let n = usize::try_from(page.capacity).unwrap_or(0);
    let mut free = vec![false; n];
    let (lo, hi) = page.range();
    let mut broken = false;
    let mut steps = 0usize;
    for &head in &page.free_heads {
        let mut b = head;
        while b != 0 {
            steps += 1;
            if steps > n || b < lo || b >= hi || (b - lo) % page.block_size != 0 {
                broken = true;
                break;
            }
            let i = ((b - lo) / page.block_size) as usize;
            if free[i] {
                broken = true;
                break;
            }
            free[i] = true;
            match next(b) {
                Some(v) => b = v,
                None => {
                    broken = true;
                    break;
                }
            }
        }
    }
    if !delayed.is_empty() {
        for (i, f) in free.iter_mut().enumerate() {
            if delayed.contains(&lo.wrapping_add((i as u64).wrapping_mul(page.block_size))) {
                *f = true;
            }
        }
    }
    (free, broken)
}

/// Whether the object at `obj` (header bytes `hdr`, at least the object header) of type `info`,
/// found in a block of a heap with tag `tag`, is a live object: the type's kind matches the heap
/// (non-GC in the OBJECT heap; GC, without / with the pre-header, in GC / GC_PRE), and its
/// reference count is live (`ob_ref_local`, or the count in `ob_ref_shared`, non-zero).
pub fn header_ok(r: &Reader<'_>, m: &Mimalloc, tag: u64, hdr: &[u8], info: &TypeInfo) -> bool {
    let misc = &r.l.misc;
    let gc = info.flags & misc.tpflags_have_gc != 0;
    let pre = info.flags & misc.tpflags_preheader != 0;
    let kind_ok = if tag == m.heap_object {
        !gc
    } else if tag == m.heap_gc {
        gc && !pre
    } else {
        tag == m.heap_gc_pre && gc && pre
    };
    kind_ok
        && crate::model::ft_refcounts(r.l, hdr)
            .is_some_and(|(local, shared)| local != 0 || shared != 0)
}

/// An object of type `info` at `obj` fits `space` bytes (its block after any pre-header).
fn fits(r: &Reader<'_>, obj: u64, info: &TypeInfo, space: u64) -> bool {
    match crate::model::sizes::inline_size(r, obj, info) {
        Some(need) => need <= space,
        None => info.basicsize <= space,
    }
}

/// An untracked candidate: the object's address, its header bytes, the space its block leaves it.
struct Candidate<'b> {
    obj: u64,
    hdr: &'b [u8],
    space: u64,
}

/// Full validation of an untracked candidate (see the module docs); its type when it is one.
fn validate(
    r: &Reader<'_>,
    m: &Mimalloc,
    tag: u64,
    c: &Candidate<'_>,
    gate: &mut TypeGate,
    types: &mut TypeCache,
) -> Option<u64> {
    let (obj, hdr, space) = (c.obj, c.hdr, c.space);
    let tp = uint(hdr, r.l.object.ob_type, 8)?;
    if !gate.ok(r, types, tp) {
        return None;
    }
    let info = types.get(r, tp)?;
    if !header_ok(r, m, tag, hdr, info) || !fits(r, obj, info, space) {
        return None;
    }
    crate::model::sizes::getsizeof_untracked(r, obj, info).ok()?;
    Some(tp)
}

/// What the walk collected for the untracked pass.
#[derive(Debug, Default)]
pub struct Pages {
    pub pages: Vec<Page>,
    /// Free blocks on each heap's delayed-free list, all heaps together.
    pub delayed: FxHashSet<u64>,
}

impl Census<'_, '_> {
    fn ft_warn(&mut self, w: String) {
        self.stats.partial = true;
        if self.stats.warnings.len() < 64 {
            self.stats.warnings.push(w);
        }
    }

    /// Free-threaded: find every page of the object heaps of `interp` (threads' heaps, then the
    /// abandoned pool), send the GC-tracked objects to `sink`, and keep the pages for
    /// [`Census::walk_mimalloc_untracked`].
    pub(crate) fn walk_mimalloc(
        &mut self,
        interp: u64,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(u64),
    ) {
        let r = self.r;
        let Some(m) = r.l.mimalloc.as_ref() else {
            self.ft_warn("free-threaded build without a [mimalloc] layout: heap not read".into());
            return;
        };
        if m.encode_freelist {
            self.ft_warn("mimalloc free lists are encoded (debug build): heap not read".into());
            return;
        }
        let tags = [m.heap_gc, m.heap_gc_pre, m.heap_object];
        let mut found = self.find_pages(m, interp, &tags);
        // tracked objects of the GC heaps
        let ft = r.l.free_threaded.clone();
        for i in 0..found.pages.len() {
            let page = found.pages[i];
            if page.tag == m.heap_object || page.used == 0 {
                continue;
            }
            let pre = if page.tag == m.heap_gc_pre {
                m.presize_gc_pre
            } else {
                0
            };
            let Some(ft) = ft.as_ref() else { break };
            self.page_blocks(&page, &found.delayed, |c, block, bytes| {
                let obj = block.wrapping_add(pre);
                let Some(bits) = uint(bytes, pre + ft.ob_gc_bits, 1) else {
                    return;
                };
                if bits & m.gc_bits_tracked == 0 {
                    return;
                }
                let Some(tp) = uint(bytes, pre + r.l.object.ob_type, 8) else {
                    return;
                };
                if c.types.get(r, tp).is_none() {
                    c.ft_warn(format!("tracked object at {obj:#x} has an unreadable type"));
                    return;
                }
                c.in_permanent = bits & m.gc_bits_frozen != 0;
                c.add(obj, tp, true, sink);
                c.in_permanent = false;
                if c.stats.objects.is_multiple_of(65536) {
                    progress(c.stats.objects);
                }
            });
        }
        self.ft_pages.pages.append(&mut found.pages);
        self.ft_pages.delayed.extend(found.delayed);
    }

    /// The pages of the heaps with these `tags` of every thread of `interp`, then of its abandoned
    /// pool, and the heaps' delayed-free blocks.
    fn find_pages(&mut self, m: &Mimalloc, interp: u64, tags: &[u64]) -> Pages {
        let r = self.r;
        let mut found = Pages::default();
        let mut seen_pages = FxHashSet::default();
        // 1. every thread's heaps
        let mut t = r
            .mem
            .read_u64(interp.wrapping_add(r.l.interp.threads_head))
            .unwrap_or(0);
        let mut threads = FxHashSet::default();
        while t != 0 {
            if threads.len() >= MAX_THREADS || !threads.insert(t) {
                self.ft_warn("thread list loops or is too long: heaps of the rest not read".into());
                break;
            }
            if r.mem
                .read_i32(t.wrapping_add(m.tstate_initialized))
                .unwrap_or(0)
                != 0
            {
                for &tag in tags {
                    let heap = t
                        .wrapping_add(m.tstate_heaps)
                        .wrapping_add(tag.wrapping_mul(m.heap_size));
                    self.heap_pages(m, heap, tag, &mut found, &mut seen_pages);
                }
            }
            t = match r.mem.read_u64(t.wrapping_add(r.l.tstate.next)) {
                Ok(v) => v,
                Err(e) => {
                    self.ft_warn(format!("thread list unreadable at {t:#x}: {e}"));
                    break;
                }
            };
        }
        // 2. the abandoned pool
        self.abandoned_pages(m, interp, tags, &mut found, &mut seen_pages);
        found
    }

    /// The pages on one heap's queues (and its delayed-free blocks).
    fn heap_pages(
        &mut self,
        m: &Mimalloc,
        heap: u64,
        tag: u64,
        found: &mut Pages,
        seen: &mut FxHashSet<u64>,
    ) {
        let r = self.r;
        let Ok(queues) = r.mem.read_vec(
            heap.wrapping_add(m.heap_pages),
            (m.bins * m.queue_size) as usize,
        ) else {
            self.ft_warn(format!("mimalloc heap at {heap:#x} unreadable"));
            return;
        };
        let mut d = r
            .mem
            .read_u64(heap.wrapping_add(m.heap_thread_delayed_free))
            .unwrap_or(0);
        let mut n = 0;
        while d != 0 && n < MAX_DELAYED && found.delayed.insert(d) {
            n += 1;
            d = r.mem.read_u64(d).unwrap_or(0);
        }
        for q in 0..m.bins {
            let Some(mut p) = uint(&queues, q * m.queue_size + m.queue_first, 8) else {
                break;
            };
            while p != 0 {
                if found.pages.len() >= MAX_PAGES || !seen.insert(p) {
                    break;
                }
                let Ok(raw) = r.mem.read_vec(p, m.page_size as usize) else {
                    self.ft_warn(format!("mimalloc page at {p:#x} unreadable"));
                    break;
                };
                match decode_page(m, p, &raw) {
                    Some(page) if page.tag == tag => {
                        p = page.next;
                        found.pages.push(page);
                    }
                    _ => {
                        self.ft_warn(format!(
                            "mimalloc page at {p:#x} does not hold together (changed under the walk?)"
                        ));
                        break;
                    }
                }
            }
        }
    }

    /// The pages of the wanted tags in the interpreter's abandoned segments.
    fn abandoned_pages(
        &mut self,
        m: &Mimalloc,
        interp: u64,
        tags: &[u64],
        found: &mut Pages,
        seen: &mut FxHashSet<u64>,
    ) {
        let r = self.r;
        let pool = interp.wrapping_add(m.interp_abandoned_pool);
        let seg_mask = !((1u64 << m.segment_shift.min(48)) - 1);
        let heads = [
            r.mem
                .read_u64(pool.wrapping_add(m.pool_abandoned))
                .unwrap_or(0)
                & seg_mask,
            r.mem
                .read_u64(pool.wrapping_add(m.pool_abandoned_visited))
                .unwrap_or(0),
        ];
        let mut segs = FxHashSet::default();
        for head in heads {
            let mut seg = head;
            while seg != 0 {
                if segs.len() >= MAX_SEGMENTS || !segs.insert(seg) || seg & !seg_mask != 0 {
                    break;
                }
                let entries = r
                    .mem
                    .read_u64(seg.wrapping_add(m.segment_slice_entries))
                    .unwrap_or(0)
                    .min(m.slices_per_segment);
                let slices = seg.wrapping_add(m.segment_slices);
                if let Ok(raw) = r
                    .mem
                    .read_vec(slices, entries.saturating_mul(m.page_size) as usize)
                {
                    // slice 0 starts the segment's own info span: skip it
                    let mut i = uint(&raw, m.page_slice_count, 4).unwrap_or(1).max(1);
                    while i < entries {
                        let off = i.saturating_mul(m.page_size) as usize;
                        let sraw = raw
                            .get(off..off.saturating_add(m.page_size as usize))
                            .unwrap_or(&[]);
                        let count = uint(sraw, m.page_slice_count, 4).unwrap_or(0);
                        let xblock = uint(sraw, m.page_xblock_size, 4).unwrap_or(0);
                        let addr = slices.wrapping_add(i.wrapping_mul(m.page_size));
                        if xblock > 0 && found.pages.len() < MAX_PAGES {
                            if let Some(page) = decode_page(m, addr, sraw) {
                                if tags.contains(&page.tag) && seen.insert(addr) {
                                    found.pages.push(page);
                                }
                            }
                        }
                        i += count.max(1);
                    }
                } else {
                    self.ft_warn(format!("abandoned mimalloc segment at {seg:#x} unreadable"));
                }
                seg = r
                    .mem
                    .read_u64(seg.wrapping_add(m.segment_abandoned_next))
                    .unwrap_or(0);
            }
        }
    }

    /// Call `f(census, block, bytes)` for every allocated block of `page` (`bytes`: the block's
    /// contents, at least its first 64 bytes when the page is copied whole, else what could be
    /// read of them).
    fn page_blocks(
        &mut self,
        page: &Page,
        delayed: &FxHashSet<u64>,
        mut f: impl FnMut(&mut Self, u64, &[u8]),
    ) {
        let r = self.r;
        let (lo, hi) = page.range();
        let whole = (hi - lo <= MAX_PAGE_COPY)
            .then(|| r.mem.read_vec(lo, (hi - lo) as usize).ok())
            .flatten();
        let bs = page.block_size;
        let (free, broken) = match &whole {
            Some(buf) => free_map(page, delayed, |b| uint(buf, b - lo, 8)),
            None => free_map(page, delayed, |b| r.mem.read_u64(b).ok()),
        };
        if broken {
            self.ft_warn(format!(
                "free list of mimalloc page at {:#x} broke off (changed under the walk?)",
                page.addr
            ));
        }
        let head = bs.min(64) as usize;
        let mut one: Vec<u8>;
        for (i, is_free) in free.iter().enumerate() {
            if *is_free {
                continue;
            }
            let block = lo.wrapping_add((i as u64).wrapping_mul(bs));
            let bytes: &[u8] = match &whole {
                Some(buf) => {
                    let s = (i as u64).saturating_mul(bs) as usize;
                    buf.get(s..s.saturating_add(bs as usize)).unwrap_or(&[])
                }
                None => {
                    one = r.mem.read_vec(block, head).unwrap_or_default();
                    &one
                }
            };
            f(self, block, bytes);
        }
    }

    /// Free-threaded, after [`Census::walk_mimalloc`]: every allocated block of the pages found
    /// that is not GC-tracked and validates as an object, sent to `sink` as untracked. Returns the
    /// pages' ranges (sorted), for the reference walk.
    pub(crate) fn walk_mimalloc_untracked(
        &mut self,
        gate: &mut TypeGate,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(u64),
    ) -> Vec<(u64, u64)> {
        let r = self.r;
        let Some(m) = r.l.mimalloc.as_ref() else {
            return Vec::new();
        };
        let Some(ft) = r.l.free_threaded.clone() else {
            return Vec::new();
        };
        let pages = std::mem::take(&mut self.ft_pages);
        let mut ranges = Vec::with_capacity(pages.pages.len());
        for page in &pages.pages {
            ranges.push(page.range());
            if page.used == 0 {
                continue;
            }
            let pre = if page.tag == m.heap_gc_pre {
                m.presize_gc_pre
            } else {
                0
            };
            let tag = page.tag;
            let gc_heap = tag != m.heap_object;
            self.page_blocks(page, &pages.delayed, |c, block, bytes| {
                let obj = block.wrapping_add(pre);
                let Some(hdr) = bytes.get(pre as usize..) else {
                    return;
                };
                if gc_heap
                    && uint(hdr, ft.ob_gc_bits, 1).is_some_and(|b| b & m.gc_bits_tracked != 0)
                {
                    return; // sent by walk_mimalloc
                }
                let space = page.block_size.saturating_sub(pre);
                let cand = Candidate { obj, hdr, space };
                if let Some(tp) = validate(r, m, tag, &cand, gate, &mut c.types) {
                    c.add(obj, tp, false, sink);
                    if c.stats.objects.is_multiple_of(65536) {
                        progress(c.stats.objects);
                    }
                }
            });
        }
        ranges.sort_unstable();
        ranges
    }
}

/// Inside a pause: read every page of every mimalloc heap of `interps` (the memory heap too: list
/// items and dict keys that sizes read), so that a block-caching snapshot keeps them as they are
/// now. mimalloc's arenas are large and sparsely resident, so the pause does not copy them whole;
/// read after the resume, a target allocating in parallel would change them under the walk.
pub fn pin_heap(r: &Reader<'_>, interps: &[u64]) {
    let (Some(m), Some(_)) = (r.l.mimalloc.as_ref(), r.l.free_threaded.as_ref()) else {
        return;
    };
    if m.encode_freelist {
        return;
    }
    let mut c = Census::new(r, false);
    let tags = [m.heap_mem, m.heap_object, m.heap_gc, m.heap_gc_pre];
    for &interp in interps {
        let found = c.find_pages(m, interp, &tags);
        for p in &found.pages {
            let (lo, hi) = p.range();
            if hi - lo <= MAX_PAGE_COPY {
                let _ = r.mem.read_vec(lo, (hi - lo) as usize);
            } else {
                for i in 0..p.capacity {
                    let _ = r.mem.read_vec(
                        lo.wrapping_add(i.wrapping_mul(p.block_size)),
                        p.block_size.min(64) as usize,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout() -> leakspy_layout::Layout {
        let v = leakspy_layout::PyVersion::parse("3.13.15").unwrap();
        leakspy_layout::candidates_for(v, true)
            .unwrap()
            .remove(0)
            .layout
    }

    /// A page at slice `idx` of a segment at 0x7f00_0000_0000, with the given fields.
    fn page_bytes(m: &Mimalloc, f: &[(u64, u64, usize)]) -> Vec<u8> {
        let mut raw = vec![0u8; m.page_size as usize];
        for &(off, v, n) in f {
            raw[off as usize..off as usize + n].copy_from_slice(&v.to_le_bytes()[..n]);
        }
        raw
    }

    #[test]
    fn a_small_page_starts_three_blocks_in() {
        let l = layout();
        let m = l.mimalloc.as_ref().unwrap();
        let seg = 0x7f00_0000_0000u64;
        let addr = seg + m.segment_slices + 5 * m.page_size;
        let tag = m.heap_gc << m.page_tag_shift;
        let raw = page_bytes(
            m,
            &[
                (m.page_slice_count, 1, 4),
                (m.page_capacity, 100, 2),
                (m.page_reserved, 200, 2),
                (m.page_used, 3, 4),
                (m.page_xblock_size, 48, 4),
                (m.page_tag_byte, tag, 1),
                (m.page_free, seg + 5 * 65536 + 144 + 48, 8),
                (m.page_xthread_free, (seg + 5 * 65536 + 144) | 1, 8),
            ],
        );
        let p = decode_page(m, addr, &raw).unwrap();
        assert_eq!(p.start, seg + 5 * 65536 + 144);
        assert_eq!(
            (p.block_size, p.capacity, p.used, p.tag),
            (48, 100, 3, m.heap_gc)
        );
        assert_eq!(p.free_heads[2], p.start);
        // free: block 1 -> block 2 -> end; thread-free: block 0 -> end
        let (free, broken) = free_map(&p, &FxHashSet::default(), |b| {
            Some(if b == p.start + 48 { p.start + 96 } else { 0 })
        });
        assert!(!broken);
        assert_eq!(free.iter().filter(|f| **f).count(), 3);
        assert!(free[0] && free[1] && free[2] && !free[3]);
        // a loop breaks off
        let (_, broken) = free_map(&p, &FxHashSet::default(), Some);
        assert!(broken);
        // not a slice of its segment
        assert!(decode_page(m, addr + 8, &raw).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn garbage_pages_decode_within_bounds(
            raw in proptest::collection::vec(any::<u8>(), 0..128),
            slot in 0u64..600,
            links in proptest::collection::vec(any::<u64>(), 0..64),
        ) {
            let l = layout();
            let m = l.mimalloc.as_ref().unwrap();
            let addr = 0x7f00_0000_0000u64 + m.segment_slices + slot * m.page_size;
            if let Some(p) = decode_page(m, addr, &raw) {
                prop_assert!(p.capacity <= u64::from(u16::MAX));
                prop_assert!(p.block_size > 0);
                let seg = addr & !((1u64 << m.segment_shift) - 1);
                let (lo, hi) = p.range();
                prop_assert!(lo >= seg && lo <= hi);
                if p.block_size < m.huge_block_size {
                    prop_assert!(hi <= seg + (1u64 << m.segment_shift) * 2);
                }
                let mut k = 0;
                let (free, _) = free_map(&p, &FxHashSet::default(), |_| {
                    k += 1;
                    links.get(k - 1).copied()
                });
                prop_assert_eq!(free.len() as u64, p.capacity);
            }
        }
    }
}
