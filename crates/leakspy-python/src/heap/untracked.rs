//! Objects the GC does not track: str, bytes, int, float, untracked tuples and dicts, and anything too
//! big for pymalloc.
//!
//! Two sources, after the GC lists have been walked:
//! 1. every allocated pymalloc block ([`crate::heap::arenas`]) is accepted as an object only when it
//!    validates: its type pointer is a known type, its reference count is sane, the GC header and
//!    pre-header the type implies fit where the block puts them, and the block's size class matches
//!    the size the object's own fields imply;
//! 2. references out of every object found ([`crate::heap::referents`]) that land outside the arenas
//!    (large strings, bytes, tuples, ints; static objects in the binary) are accepted when they
//!    validate the same way (type and reference count).
//!
//! A "known type" is the type of a tracked object, a type object on the GC lists, an exported static
//! type of the interpreter (`Py*_Type`), or an object whose own type is a known metatype.

use crate::heap::arenas::Block;
use crate::model::sizes::{gc_prefix, inline_size};
use crate::model::{Reader, TypeCache, TypeInfo};
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashSet;

/// Which addresses are type objects leakspy may believe.
#[derive(Debug, Default, Clone)]
pub struct TypeGate {
    known: FxHashSet<u64>,
    /// Addresses found to be types through their metatype.
    memo_yes: FxHashSet<u64>,
    /// Addresses found not to be types, in a fixed-size direct-mapped cache (0: empty slot). Every
    /// word of every pymalloc block that might be a type pointer is asked about, so a map of all
    /// the answers grew with the heap (~50 MB for 1.5M objects); a verdict depends only on the
    /// (immutable) memory, so forgetting one only costs reading it again.
    memo_no: Vec<u64>,
}

/// Slots of [`TypeGate::memo_no`] (128 KiB per walker thread).
const MEMO_NO_BITS: u32 = 14;

fn memo_slot(tp: u64) -> usize {
    ((tp >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO_NO_BITS)) as usize
}

impl TypeGate {
    pub fn add(&mut self, tp: u64) {
        self.known.insert(tp);
    }

    /// Whether `tp` is a type object: known, or its own type is a known metatype and it reads as a
    /// type.
    pub fn ok(&mut self, r: &Reader<'_>, types: &mut TypeCache, tp: u64) -> bool {
        if self.known.contains(&tp) {
            return true;
        }
        if tp == 0 || !tp.is_multiple_of(8) || tp > leakspy_memory::MAX_USER_ADDRESS {
            return false;
        }
        if self.memo_yes.contains(&tp) {
            return true;
        }
        if self.memo_no.is_empty() {
            self.memo_no = vec![0; 1 << MEMO_NO_BITS];
        }
        let slot = memo_slot(tp);
        if self.memo_no.get(slot) == Some(&tp) {
            return false;
        }
        // Type objects are data (static types in .data, heap types on the heap): a "type" in code
        // or constants is not read (that would map the page into the target).
        let verdict = match r.mem.writable_at(tp).unwrap_or(true).then(|| r.type_of(tp)) {
            None => false,
            Some(Ok(meta)) if self.known.contains(&meta) => {
                types.get(r, meta).is_some_and(|m| m.is_type) && types.get(r, tp).is_some()
            }
            Some(_) => false,
        };
        if verdict {
            self.memo_yes.insert(tp);
        } else if let Some(e) = self.memo_no.get_mut(slot) {
            *e = tp;
        }
        verdict
    }
}

/// A plausible reference count: non-zero, and not a pointer. From 3.14 the upper half holds
/// `ob_overflow` (bits 32-47) and `ob_flags` (bits 48-63, e.g. `_Py_STATICALLY_ALLOCATED_FLAG`),
/// both small; before, a count never reaches 2^32 in practice. Immortal objects (3.12+) keep a low
/// word of 0x3fffffff .. 0xffffffff. A user-space pointer has 0x55.. or 0x7f.. in bits 32-47.
pub fn refcnt_ok(v: u64) -> bool {
    v & 0xffff_ffff != 0 && (v >> 32) & 0xffff < 0x100 && v >> 48 < 0x100
}

/// Debug allocator hooks (Py_DEBUG builds, `PYTHONMALLOC=debug`): each block starts with the
/// requested size (big-endian: Objects/obmalloc.c `write_size_t`) and the API id followed by seven
/// 0xFD bytes; the data follows at +16.
fn debug_header(bytes: &[u8]) -> Option<u64> {
    let api = *bytes.get(8)?;
    let pad = bytes.get(9..16)?;
    if matches!(api, b'o' | b'm' | b'r') && pad.iter().all(|&b| b == 0xfd) {
        Some(u64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?))
    } else {
        None
    }
}

fn word_at(bytes: &[u8], at: u64) -> Option<u64> {
    let s = usize::try_from(at).ok()?;
    Some(u64::from_le_bytes(
        bytes.get(s..s.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Whether a pymalloc block holds, at a GC object's offset, an object the GC lists gave already
/// (`seen`). Such a block is that object: the block pass skips it without validating it (most
/// blocks of a heap are tracked objects, and reading the word at offset 8 as a type pointer there
/// reads `_gc_prev` and follows it to a random other object).
pub fn holds_seen(r: &Reader<'_>, block: &Block<'_>, seen: &super::compact::Seen) -> bool {
    let data = match debug_header(block.bytes) {
        Some(requested) if requested <= block.size.saturating_sub(16) => 16,
        _ => 0,
    };
    let head = r.l.gc.head_size;
    let pre = r.l.misc.preheader_size;
    [head, head + pre]
        .into_iter()
        .any(|c| c + 16 <= block.size && seen.contains(block.addr + data + c))
}

/// The object a pymalloc block holds, as `(object address, type)`, if it validates.
pub fn block_object(
    r: &Reader<'_>,
    block: &Block<'_>,
    gate: &mut TypeGate,
    types: &mut TypeCache,
) -> Option<(u64, u64)> {
    let l = r.l;
    let (data, space) = match debug_header(block.bytes) {
        Some(requested) if requested <= block.size.saturating_sub(16) => (16, requested),
        _ => (0, block.size),
    };
    let head = l.gc.head_size;
    let pre = l.misc.preheader_size;
    for c in [0, head, head + pre] {
        if space < c + 16 {
            break;
        }
        let Some(tp) = word_at(block.bytes, data + c + 8) else {
            break;
        };
        if !gate.ok(r, types, tp) {
            continue;
        }
        let Some(info) = types.get(r, tp) else {
            continue;
        };
        if c != gc_prefix(r, info.flags) {
            continue;
        }
        if !word_at(block.bytes, data + c).is_some_and(refcnt_ok) {
            continue;
        }
        // A GC object the block pass meets was not on any GC list, so it must be untracked: from
        // 3.8 (flag bits in the links) an untracked object's `_gc_next` (the PyGC_Head right
        // before the object; a 3.12+ pre-header comes before that) is 0, from its
        // allocation on. A block with a link there is not an object of this type any more (its
        // memory was reused: sid 3.14 showed a 64-byte buffer whose words read as a live-looking
        // `Order` with a link where `_gc_next` would be). 3.6/3.7 leave `gc_next` unset until
        // the object is first tracked.
        // (Free-threaded builds have no PyGC_Head.)
        if c != 0
            && l.free_threaded.is_none()
            && l.gc.flag_mask != 0
            && word_at(block.bytes, data + c - head).is_none_or(|w| w != 0)
        {
            continue;
        }
        let obj = block.addr + data + c;
        if fits(r, obj, info, space - c) {
            return Some((obj, tp));
        }
    }
    None
}

/// Whether an object of type `t` at `obj` fits the `space` its block leaves it: at least the size
/// its fields imply, and less than that plus one allocation granule (and one spare item, which
/// `PyType_GenericAlloc` adds for var-sized heap types).
fn fits(r: &Reader<'_>, obj: u64, t: &TypeInfo, space: u64) -> bool {
    match inline_size(r, obj, t) {
        Some(need) => need <= space && space - need < 16 + t.itemsize,
        None => space >= t.basicsize,
    }
}

/// The type of the object at `addr` if it validates as one (known type, sane reference count).
pub fn object_type(
    r: &Reader<'_>,
    addr: u64,
    gate: &mut TypeGate,
    types: &mut TypeCache,
) -> Option<u64> {
    // Objects are data: a candidate in code or constants (a pointer field that is not an object
    // reference) is not read; reading it would map the page into the target.
    if r.mem.writable_at(addr) == Some(false) {
        return None;
    }
    let (live, tp) = match &r.l.free_threaded {
        // Free-threaded: the 32-byte split header (ob_tid, ..., ob_ref_local, ob_ref_shared,
        // ob_type); a live object has a local count (immortal: u32::MAX) or a shared one.
        Some(_) => {
            let hdr = r.mem.read_array::<32>(addr).ok()?;
            let (local, shared) = crate::model::ft_refcounts(r.l, &hdr)?;
            let at = usize::try_from(r.l.object.ob_type).ok()?;
            let tp = u64::from_le_bytes(hdr.get(at..at.checked_add(8)?)?.try_into().ok()?);
            (local != 0 || shared > 0, tp)
        }
        None => {
            let hdr = r.mem.read_array::<16>(addr).ok()?;
            let refcnt = u64::from_le_bytes(hdr[0..8].try_into().ok()?);
            let tp = u64::from_le_bytes(hdr[8..16].try_into().ok()?);
            (refcnt_ok(refcnt), tp)
        }
    };
    if !(live && gate.ok(r, types, tp)) {
        return None;
    }
    // The whole object must be there: its last byte, by the size its own fields imply, is
    // readable (garbage lengths point far past any mapping).
    let info = types.get(r, tp)?;
    let size = inline_size(r, addr, info).unwrap_or(info.basicsize);
    r.mem.read_u8(addr.checked_add(size.max(1) - 1)?).ok()?;
    // And it can be sized (a candidate whose fields do not add up is not an object).
    crate::model::sizes::getsizeof_untracked(r, addr, info).ok()?;
    Some(tp)
}

/// Whether `addr` lies in one of the sorted, disjoint `ranges`.
pub fn in_ranges(ranges: &[(u64, u64)], addr: u64) -> bool {
    let i = ranges.partition_point(|&(start, _)| start <= addr);
    i > 0 && addr < ranges[i - 1].1
}

impl crate::heap::Census<'_, '_> {
    /// After the GC lists: find the objects the GC does not track (see the module docs) and send
    /// them to `sink`. Does nothing unless the census is a whole-heap one.
    pub fn walk_untracked(
        &mut self,
        image: &crate::attach::binaries::Image,
        interps: &[u64],
        sink: &mut dyn crate::heap::Sink,
        progress: &mut dyn FnMut(u64),
    ) {
        if !self.whole {
            return;
        }
        let r = self.r;
        let mut gate = TypeGate::default();
        let seen_types: Vec<u64> = self
            .types_seen
            .iter()
            .copied()
            .chain(self.type_objects.iter().copied())
            .collect();
        for tp in seen_types {
            gate.add(tp);
        }
        for &tp in &image.static_types {
            if self.types.get(r, tp).is_some() {
                gate.add(tp);
            }
        }
        self.stats.untracked_counted = true;

        // 1. pymalloc blocks (free-threaded: mimalloc's blocks).
        let ft = r.l.free_threaded.is_some();
        let mut ranges = Vec::new();
        if ft {
            ranges = self.walk_mimalloc_untracked(&mut gate, sink, progress);
        }
        let interps = if ft { &[][..] } else { interps };
        let mut tables = FxHashSet::default();
        let mut stats: Option<crate::heap::arenas::ArenaStats> = None;
        for &interp in interps {
            let table = match crate::heap::arenas::find_table(r, image, interp) {
                Ok(t) => t,
                Err(e) => {
                    if interp == interps[0] {
                        self.stats.warnings.push(format!(
                            "objects the GC does not track were counted by reference only: {e}"
                        ));
                    }
                    continue;
                }
            };
            if !tables.insert(table.table) {
                continue;
            }
            let mut bad_pools = 0;
            // Validated and sized on every core, a batch of parts at a time; added here, in block
            // order.
            let mut res = None;
            let parts = crate::heap::parallel::block_parts(r, &table);
            for batch in parts.chunks(crate::heap::parallel::threads()) {
                let input = crate::heap::parallel::BlockInput {
                    table: &table,
                    gate: &gate,
                    types: &self.types,
                    seen: &self.seen,
                };
                let found =
                    crate::heap::parallel::blocks(r, &input, batch, &mut bad_pools, &mut res);
                for part in found {
                    for (obj, tp, size) in part {
                        let size = (size != crate::heap::parallel::UNSIZED).then_some(size);
                        self.add_sized(obj, tp, false, Some(size), sink);
                    }
                }
            }
            let res = crate::heap::parallel::finish_stats(res);
            match res {
                Ok(s) => {
                    let acc = stats.get_or_insert_with(|| crate::heap::arenas::ArenaStats {
                        source: s.source.clone(),
                        ..Default::default()
                    });
                    acc.arenas += s.arenas;
                    acc.arena_bytes += s.arena_bytes;
                    acc.pools_used += s.pools_used;
                    acc.blocks += s.blocks;
                    acc.block_bytes += s.block_bytes;
                }
                Err(e) => self
                    .stats
                    .warnings
                    .push(format!("pymalloc arenas unreadable: {e}")),
            }
            if bad_pools > 0 {
                self.stats.warnings.push(format!(
                    "{bad_pools} pymalloc pools could not be read or did not hold together"
                ));
                self.stats.partial = true;
                // A pause that catches the GIL holder inside pymalloc (a free list or a count half
                // updated) tears a pool like a GC list: a paused dump takes the picture again.
                self.stats.torn = true;
            }
            ranges.extend(crate::heap::arenas::arena_ranges(r, &table));
        }
        ranges.sort_unstable();
        self.stats.pymalloc = stats;
        progress(self.stats.objects);

        // 2. References that leave the arenas.
        let mut refs = Vec::new();
        // Diagnostics only: validating in-arena pointers the block pass did not take costs reads
        // and a size computation each, so it is done only when debug logging is on.
        let diagnose = log::log_enabled!(log::Level::Debug);
        let mut missed_in_arenas = 0u64;
        let wants_references = sink.wants_references();
        let mut to: Vec<u32> = Vec::new();
        let mut outside = 0u64;
        let mut parts = Vec::new();
        let arenas_known = !ranges.is_empty();
        let mut source = RoundSource {
            next: self.all_walked,
            ..RoundSource::default()
        };
        if !self.seen.is_indexed() {
            self.pending = Some(Default::default());
        }
        let mut window = crate::heap::Objects::default();
        let mut walked = 0u64;
        // In rounds: the references of a round's objects are read on every core (the copy is
        // immutable), then resolved here in order, adding what they find.
        'rounds: while let Some(round) = source.next(self, &mut window) {
            let prepared = crate::heap::parallel::prepare_refs(
                r,
                &crate::heap::parallel::RoundInput {
                    objects: &window,
                    sizes_known: round.sizes_known,
                    types: &self.types,
                    seen: &self.seen,
                    ranges: &ranges,
                    arenas_known,
                },
            );
            let mut runs = prepared.iter();
            let mut run = runs.next();
            let mut k = 0usize;
            for w in 0..window.len() {
                let Some((obj, tp)) = window.get(w) else {
                    break 'rounds;
                };
                walked += 1;
                if walked.is_multiple_of(65536) {
                    progress(self.stats.objects);
                }
                let mut pre = None;
                while let Some(p) = run {
                    match p.get(k) {
                        Some(got) => {
                            pre = Some(got);
                            break;
                        }
                        None if p.len() <= k => {
                            k -= p.len();
                            run = runs.next();
                        }
                        None => break,
                    }
                }
                k += 1;
                to.clear();
                if let Some((out, prefs)) = pre {
                    outside = outside.saturating_add(out);
                    for &pr in prefs {
                        let p = match pr {
                            crate::heap::parallel::Ref::Known(j) => {
                                if wants_references {
                                    to.push(j);
                                }
                                continue;
                            }
                            crate::heap::parallel::Ref::InArena(p) => {
                                if diagnose
                                    && object_type(r, p, &mut gate, &mut self.types).is_some()
                                {
                                    missed_in_arenas += 1;
                                }
                                continue;
                            }
                            crate::heap::parallel::Ref::Check(p) => p,
                        };
                        self.resolve_outside(p, wants_references, &mut gate, &mut to, sink);
                    }
                } else {
                    refs.clear();
                    if let Some(info) = self.types.get(r, tp) {
                        crate::heap::referents::referents(r, obj, tp, info, &mut refs);
                        if arenas_known {
                            let size = round.sizes_known.then(|| window.size(w));
                            outside = outside.saturating_add(crate::model::sizes::outside_arenas(
                                r,
                                obj,
                                info,
                                size,
                                &mut parts,
                                &|a| in_ranges(&ranges, a),
                            ));
                        }
                    }
                    for &(p, _) in &refs {
                        if let Some(j) = self.seen.get(p) {
                            if wants_references {
                                to.push(j);
                            }
                            continue;
                        }
                        if in_ranges(&ranges, p) {
                            if diagnose && object_type(r, p, &mut gate, &mut self.types).is_some() {
                                missed_in_arenas += 1;
                            }
                            continue;
                        }
                        self.resolve_outside(p, wants_references, &mut gate, &mut to, sink);
                    }
                }
                if wants_references {
                    sink.references(round.first_index + w as u32, &to);
                }
                if walked >= crate::heap::MAX_OBJECTS {
                    self.stats.partial = true;
                    self.stats
                        .warnings
                        .push("stopped following references: object budget exhausted".into());
                    break 'rounds;
                }
            }
        }
        if arenas_known && !ft {
            self.stats.outside_arenas_bytes = Some(outside);
        }
        if missed_in_arenas > 0 {
            log::debug!(
                "{missed_in_arenas} referenced objects in arenas were not found by the block pass"
            );
        }
        // The object list stays (the refs graph's nodes, `Census::take_objects`); the seen set
        // too, so a second call finds nothing twice.
        if let Some(all) = self.seen.objects() {
            self.all_walked = all.len();
        }
        self.pending = None;
    }
}

/// One round of the reference walk, as [`RoundSource::next`] put it in the window.
struct Round {
    /// The window's sizes are the objects' (`false`: not kept, computed where needed).
    sizes_known: bool,
    /// Index of the window's first object (with an object list: the refs graph's node order).
    first_index: u32,
}

/// Where the reference walk takes its objects from, a round at a time: the object list in order
/// when the census keeps one (`refs`); else every address in the census' seen set (the GC lists'
/// objects and the block pass's, read again from the copy: no per-object list is held for a
/// dump), then the objects the walk itself added, until no round finds more.
#[derive(Default)]
struct RoundSource {
    /// Next object of the object list (list mode) or of the pending list.
    next: usize,
    scan: crate::heap::compact::ScanCursor,
    scanned: bool,
    addrs: Vec<u64>,
}

impl RoundSource {
    fn next(
        &mut self,
        c: &crate::heap::Census<'_, '_>,
        window: &mut crate::heap::Objects,
    ) -> Option<Round> {
        *window = crate::heap::Objects::default();
        let from_list =
            |list: &crate::heap::Objects, next: &mut usize, window: &mut crate::heap::Objects| {
                let start = *next;
                let end = list.len().min(start + ROUND);
                for i in start..end {
                    let (obj, tp) = list.get(i).unwrap_or_default();
                    window.push(obj, tp);
                    window.push_size(list.size(i));
                }
                *next = end;
                (end > start).then_some(Round {
                    sizes_known: true,
                    first_index: start as u32,
                })
            };
        if let Some(all) = c.seen.objects() {
            return from_list(all, &mut self.next, window);
        }
        let (pending, skip) = c.pending.as_ref()?;
        while !self.scanned {
            self.addrs.clear();
            c.seen.scan(&mut self.scan, ROUND, &mut self.addrs);
            if self.addrs.is_empty() {
                self.scanned = true;
                self.addrs = Vec::new();
                break;
            }
            for &obj in &self.addrs {
                if skip.contains(&obj) {
                    continue;
                }
                // The type read when it was found (the copy does not change); an object whose
                // type no longer reads is not walked.
                if let Ok(tp) = c.r.type_of(obj) {
                    window.push(obj, tp);
                    window.push_size(0);
                }
            }
            if !window.is_empty() {
                return Some(Round {
                    sizes_known: false,
                    first_index: u32::MAX,
                });
            }
        }
        from_list(pending, &mut self.next, window)
    }
}

/// Objects per round of the reference walk (see `walk_untracked`).
const ROUND: usize = 1 << 16;

impl crate::heap::Census<'_, '_> {
    /// A reference to `p`, outside the arenas and not found before this round: found since (by an
    /// earlier object of the round), or validated and added now.
    fn resolve_outside(
        &mut self,
        p: u64,
        wants_references: bool,
        gate: &mut TypeGate,
        to: &mut Vec<u32>,
        sink: &mut dyn crate::heap::Sink,
    ) {
        if let Some(j) = self.seen.get(p) {
            if wants_references {
                to.push(j);
            }
            return;
        }
        if let Some(ptp) = object_type(self.r, p, gate, &mut self.types) {
            self.add(p, ptp, false, sink);
            if let (true, Some(j)) = (wants_references, self.seen.get(p)) {
                to.push(j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcounts() {
        assert!(refcnt_ok(1));
        assert!(refcnt_ok(0xffff_ffff)); // 3.12 immortal
        assert!(refcnt_ok((1 << 32) | (3 << 30))); // 3.14 immortal with an overflow bit
        assert!(refcnt_ok((4 << 48) | (3 << 30))); // 3.14 statically allocated
        assert!(!refcnt_ok(0)); // freed (free lists keep the type, not the count)
        assert!(!refcnt_ok(0x7f12_3456_7890)); // a pointer
        assert!(!refcnt_ok(0x5555_5555_0000));
    }

    #[test]
    fn debug_blocks() {
        let mut b = vec![0u8; 48];
        b[0..8].copy_from_slice(&24u64.to_be_bytes());
        b[8] = b'o';
        b[9..16].fill(0xfd);
        assert_eq!(debug_header(&b), Some(24));
        b[12] = 0;
        assert_eq!(debug_header(&b), None);
    }

    #[test]
    fn ranges() {
        let r = [(0x1000, 0x2000), (0x5000, 0x6000)];
        assert!(in_ranges(&r, 0x1000));
        assert!(in_ranges(&r, 0x1fff));
        assert!(!in_ranges(&r, 0x2000));
        assert!(!in_ranges(&r, 0xfff));
        assert!(in_ranges(&r, 0x5abc));
        assert!(!in_ranges(&r, 0x7000));
        assert!(!in_ranges(&[], 0x7000));
    }
}
