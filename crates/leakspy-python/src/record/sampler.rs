//! Births from the GC lists' tails, read while the target runs.
//!
//! `_PyObject_GC_TRACK` appends every newly tracked object at the tail of the youngest list
//! (`generation0`; `young` in 3.14.0–3.14.4), and a collection appends the survivors of the lists it
//! collected to the tail of the next older list, keeping their order (`gc_list_merge`, in
//! `Modules/gcmodule.c` 3.9–3.12, `Python/gc.c` 3.13+). So every object tracked since the last
//! sample sits at the tail of some generation list, behind the newest object leakspy has already
//! seen there. Each sample walks every generation list from its tail backwards (through `_gc_prev`)
//! and stops at [`STABLE_RUN`] objects in a row it has seen before that still have the predecessors
//! they had then (an address freed and reused by a new object of the same type usually has another
//! one; a run of objects made again in the same order does not, hence a run), never at a frame
//! (3.6–3.10 frames leave the lists and come back on every call).
//!
//! The target runs during the walk: every step checks that the node reached through `B._gc_prev`
//! links forward to `B` (`_gc_next`); a list that fails that check (a concurrent append, removal or
//! collection) is dropped for this sample and walked again at the next one, its births not yet
//! committed, so nothing is counted twice or lost. Every walk is bounded.

use crate::model::Reader;
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;

/// Most nodes one list walk visits in one sample.
pub const MAX_WALK: usize = 2_000_000;

/// What leakspy knows of one object it has seen on a GC list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenObject {
    /// `ob_type` when seen.
    pub tp: u64,
    /// The list node before it when last seen (its `_gc_prev`, unmasked of flags).
    pub prev: u64,
}

/// Every object seen on the GC lists, by address.
#[derive(Debug, Default)]
pub struct Seen {
    pub map: FxHashMap<u64, SeenObject>,
    /// Per older list head: the nodes nearest its tail at the last sample (newest first).
    pub anchors: FxHashMap<u64, Vec<u64>>,
    /// Per list head: its generation's `count` at the last sample.
    pub counts: FxHashMap<u64, i32>,
    /// Per type seen on a list: whether it is `frame` (see [`retracked`]).
    pub frame_types: FxHashMap<u64, bool>,
}

/// Whether objects of type `tp` are frames, which leave the GC lists and come back at the same
/// address with the same neighbours: up to 3.10 a frame is GC-tracked, and a function's frame is
/// reused from its code object (`co_zombieframe`) and tracked again on every call (on 3.6 every
/// call: `_PyFunction_FastCall` uses `PyFrame_New`). So after `f` calls `g`, returns, and is
/// called again, `f`'s and `g`'s frames are at the tail again, `g`'s with `f`'s as predecessor as
/// when it was seen: a stop there would miss what was born between the calls. A frame is never
/// where a tail walk stops.
fn retracked(r: &Reader<'_>, seen: &mut Seen, tp: u64) -> bool {
    *seen.frame_types.entry(tp).or_insert_with(|| {
        r.ptr(tp.wrapping_add(r.l.type_.tp_name))
            .and_then(|name| r.mem.read_cstr(name, 16).map_err(Into::into))
            .is_ok_and(|n| n == b"frame")
    })
}

/// How many seen objects in a row, each with the predecessor it had when seen, end a walk of the
/// youngest list. One is not enough: objects freed and made again in the same order (free lists
/// of tuples, bound methods, dicts, in a loop) come back at the same addresses with the same
/// predecessors, and the first of such a run may follow a birth the walk must not stop before.
pub const STABLE_RUN: usize = 8;

/// How many tail nodes of an older list are remembered as the place to stop next time.
pub const ANCHORS: usize = 32;

/// One object found born in a sample: its address and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birth {
    pub addr: u64,
    pub tp: u64,
}

/// The outcome of one sample's tail walks.
#[derive(Debug, Default)]
pub struct TailWalk {
    pub births: Vec<Birth>,
    /// Lists dropped for this sample (racing update or collection); walked again next time.
    pub torn: usize,
    /// Why the last dropped list was dropped.
    pub last_error: Option<String>,
}

/// A list node's links and its object's type: `_gc_next`, `_gc_prev` (flags masked), `ob_type`.
fn node(r: &Reader<'_>, addr: u64) -> Option<(u64, u64, u64)> {
    let mask = !r.l.gc.flag_mask;
    let head = r.l.gc.head_size;
    let ob_type = head + r.l.object.ob_type;
    let b = r.mem.read_array::<32>(addr).ok()?;
    let word = |at: u64| -> Option<u64> {
        let at = at as usize;
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let next = word(0)? & mask;
    let prev = word(8)? & mask;
    let tp = if ob_type + 8 <= 32 {
        word(ob_type)?
    } else {
        r.ptr(addr + ob_type).ok()?
    };
    Some((next, prev, tp))
}

fn plausible(addr: u64) -> bool {
    addr != 0 && addr.is_multiple_of(8) && addr <= leakspy_memory::MAX_USER_ADDRESS
}

/// The list heads of the generations of one gc state (`Layout::gc_state`: an interpreter's, or the
/// process's on 3.6-3.8); the permanent generation is left out: only `gc.freeze()` moves objects
/// there.
pub fn generation_heads(r: &Reader<'_>, gc: u64) -> Vec<u64> {
    r.l.gc
        .list_heads
        .iter()
        .zip(r.l.gc.list_names.iter())
        .filter(|(_, name)| name.as_str() != "permanent")
        .map(|(&off, _)| gc + off)
        .collect()
}

/// Whether a collection is running on that gc state (`gc.collecting`); unreadable counts as yes.
pub fn collecting(r: &Reader<'_>, gc: u64) -> bool {
    r.mem
        .read_i32(gc + r.l.gc.collecting)
        .ok()
        .is_none_or(|c| c != 0)
}

/// Walk a whole list forwards from its head and mark every object seen (the recording's baseline).
/// Returns the objects marked, or an error when the list changed under the walk (what was read is
/// kept).
pub fn mark_list(r: &Reader<'_>, head: u64, seen: &mut Seen) -> Result<u64, String> {
    let (first, _, _) = node(r, head).ok_or("unreadable list head")?;
    let hs = r.l.gc.head_size;
    let mut prev = head;
    let mut cur = first;
    let mut n = 0u64;
    while cur != head {
        if n as usize >= super::MAX_BASELINE {
            return Err(format!("more than {} objects", super::MAX_BASELINE));
        }
        if !plausible(cur) {
            return Err(format!("garbage link {cur:#x}"));
        }
        let (next, back, tp) = node(r, cur).ok_or_else(|| format!("unreadable node {cur:#x}"))?;
        if back != prev {
            return Err(format!("broken back link at {cur:#x} (list modified)"));
        }
        seen.map.insert(cur + hs, SeenObject { tp, prev: back });
        n += 1;
        prev = cur;
        cur = next;
    }
    // The tail nodes (newest first) are where the next tail walk of an older list stops.
    let mut anchors = Vec::new();
    let mut at = prev;
    while at != head && anchors.len() < ANCHORS {
        anchors.push(at);
        at = seen.map.get(&(at + hs)).map_or(head, |s| s.prev);
    }
    seen.anchors.insert(head, anchors);
    if let Ok(c) = r.mem.read_i32(head + hs + 4) {
        seen.counts.insert(head, c);
    }
    Ok(n)
}

/// Walk one list from its tail back to the first stable seen object. `Ok` gives the births (not yet
/// committed) and the seen objects whose predecessor changed; `Err` says why the list was dropped.
type Walked = (Vec<(Birth, u64)>, Vec<(u64, u64)>, Vec<u64>);

/// How a tail walk knows where the new part of a list ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop<'a> {
    /// The youngest list only ever gets appends: at the first seen object with its old predecessor.
    FirstStable,
    /// An older list gets whole blocks appended by collections, reordered inside (`move_unreachable`
    /// moves objects found reachable late to the end): at one of the nodes that were its tail last
    /// time.
    Anchors(&'a [u64]),
    /// After a collection of this very list (reordered in place): the whole list.
    Head,
}

fn walk_tail(r: &Reader<'_>, head: u64, seen: &mut Seen, stop: Stop<'_>) -> Result<Walked, String> {
    let hs = r.l.gc.head_size;
    let (_, tail, _) = node(r, head).ok_or("unreadable list head")?;
    let mut births = Vec::new();
    let mut moved = Vec::new();
    let mut visited = Vec::new();
    let mut after = head;
    let mut cur = tail;
    let mut steps = 0usize;
    let mut run = 0usize;
    while cur != head {
        steps += 1;
        if steps > MAX_WALK {
            return Err(format!("more than {MAX_WALK} new objects on one list"));
        }
        if !plausible(cur) {
            return Err(format!("garbage link {cur:#x}"));
        }
        let (next, prev, tp) = node(r, cur).ok_or_else(|| format!("unreadable node {cur:#x}"))?;
        // The tail itself may already have a successor (an append after the head was read): it is
        // then simply not the newest any more; every other node must link forward to the one after.
        if after != head && next != after {
            return Err(format!("broken forward link at {cur:#x} (list modified)"));
        }
        let obj = cur + hs;
        let known = seen.map.get(&obj).copied().filter(|s| s.tp == tp);
        let stable = known.is_some_and(|s| s.prev == prev) && !retracked(r, seen, tp);
        match stop {
            Stop::FirstStable => {
                run = if stable { run + 1 } else { 0 };
                if run >= STABLE_RUN {
                    break;
                }
            }
            Stop::Anchors(a) if stable && a.contains(&cur) => break,
            _ => {}
        }
        if visited.len() < ANCHORS {
            visited.push(cur);
        }
        match known {
            Some(s) if s.prev == prev => {}
            Some(_) => moved.push((obj, prev)),
            None => births.push((Birth { addr: obj, tp }, prev)),
        }
        after = cur;
        cur = prev;
    }
    Ok((births, moved, visited))
}

/// One sample: every generation list of the gc state `gc`, walked from its tail. A list is retried
/// once when it changed under the walk, then left to the next sample. Skipped altogether while a
/// collection runs.
pub fn sample(r: &Reader<'_>, gc: u64, seen: &mut Seen) -> TailWalk {
    let mut out = TailWalk::default();
    if collecting(r, gc) {
        out.torn += 1;
        out.last_error = Some("a garbage collection was running".into());
        return out;
    }
    // Older lists first: a collection during the sample moves objects from younger to older lists,
    // so walking the younger ones last finds what arrived there meanwhile at the next sample.
    let heads = generation_heads(r, gc);
    let last = heads.len().saturating_sub(1);
    for (i, &head) in heads.iter().enumerate().rev() {
        // `count` of the oldest generation drops to 0 when a full collection reorders it.
        let count = r.mem.read_i32(head + r.l.gc.head_size + 4).ok();
        let full = i == last
            && i > 0
            && count.is_some_and(|c| seen.counts.get(&head).is_some_and(|&old| c < old));
        let anchors = seen.anchors.get(&head).cloned().unwrap_or_default();
        let stop = if i == 0 {
            Stop::FirstStable
        } else if full || (anchors.is_empty() && !seen.counts.contains_key(&head)) {
            Stop::Head
        } else {
            Stop::Anchors(&anchors)
        };
        let mut tries = 0;
        loop {
            tries += 1;
            match walk_tail(r, head, seen, stop) {
                Ok((births, moved, visited)) => {
                    if collecting(r, gc) {
                        out.torn += 1;
                        out.last_error = Some("a garbage collection started".into());
                        break;
                    }
                    for (obj, prev) in moved {
                        if let Some(s) = seen.map.get_mut(&obj) {
                            s.prev = prev;
                        }
                    }
                    for (b, prev) in births {
                        seen.map.insert(b.addr, SeenObject { tp: b.tp, prev });
                        out.births.push(b);
                    }
                    if i > 0 {
                        let mut a = visited;
                        a.extend(anchors.iter().copied());
                        a.truncate(ANCHORS);
                        seen.anchors.insert(head, a);
                    }
                    if let Some(c) = count {
                        seen.counts.insert(head, c);
                    }
                    break;
                }
                Err(e) if tries >= 2 => {
                    out.torn += 1;
                    out.last_error = Some(e);
                    break;
                }
                Err(_) => {}
            }
        }
    }
    // Oldest first, as they were born.
    out.births.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::pages::tests::{layout, Flat};

    /// A list head at 0x100 and nodes at 0x1000 + 0x40*i (all of type 0x77).
    fn image(nodes: &[usize]) -> Vec<u8> {
        let mut m = vec![0u8; 0x4000];
        let head = 0x100usize;
        let addr = |i: usize| 0x1000 + 0x40 * i;
        let put =
            |m: &mut Vec<u8>, at: usize, v: u64| m[at..at + 8].copy_from_slice(&v.to_le_bytes());
        let mut prev = head;
        for &i in nodes {
            put(&mut m, prev, addr(i) as u64);
            put(&mut m, addr(i) + 8, prev as u64);
            put(&mut m, addr(i) + 16 + 8, 0x77);
            prev = addr(i);
        }
        put(&mut m, prev, head as u64);
        put(&mut m, head + 8, prev as u64);
        m
    }

    #[test]
    fn tail_walk_finds_only_new_objects_and_stops() {
        let l = layout();
        let mut seen = Seen::default();
        let m = Flat(image(&[0, 1, 2]));
        let r = Reader::new(&m, &l);
        mark_list(&r, 0x100, &mut seen).unwrap();
        assert_eq!(seen.map.len(), 3);
        let m = Flat(image(&[0, 1, 2, 3, 4]));
        let r = Reader::new(&m, &l);
        let (b, moved, _) = walk_tail(&r, 0x100, &mut seen, Stop::FirstStable).unwrap();
        let addrs: Vec<u64> = b.iter().map(|(b, _)| b.addr).collect();
        assert_eq!(addrs, vec![0x1000 + 0x40 * 4 + 16, 0x1000 + 0x40 * 3 + 16]);
        assert!(moved.is_empty());
        // Node 1 died: node 2's predecessor changed; it is not a birth and the walk goes on to 0.
        let m = Flat(image(&[0, 2, 5]));
        let r = Reader::new(&m, &l);
        let (b, moved, _) = walk_tail(&r, 0x100, &mut seen, Stop::FirstStable).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(moved.len(), 1);
    }

    #[test]
    fn objects_made_again_in_the_same_order_are_no_stop() {
        // Seen: 0 1 2 then 6 7 (a caller's and a callee's frame, or two free-list objects).
        let l = layout();
        let mut seen = Seen::default();
        let m = Flat(image(&[0, 1, 2, 6, 7]));
        mark_list(&Reader::new(&m, &l), 0x100, &mut seen).unwrap();
        // 6 and 7 left the list; 5 was born; 6 and 7 came back at the same addresses: 7 has its
        // old predecessor, 6 does not. The birth before them is found.
        let m = Flat(image(&[0, 1, 2, 5, 6, 7]));
        let (b, _, _) =
            walk_tail(&Reader::new(&m, &l), 0x100, &mut seen, Stop::FirstStable).unwrap();
        let addrs: Vec<u64> = b.iter().map(|(b, _)| b.addr).collect();
        assert_eq!(addrs, vec![0x1000 + 0x40 * 5 + 16]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Garbage anywhere in the list: no panic, no hang (every walk is bounded).
        #[test]
        fn tail_walk_survives_garbage(edits in proptest::collection::vec((0usize..0x4000, proptest::prelude::any::<u8>()), 0..32)) {
            let l = layout();
            let mut seen = Seen::default();
            let mut m = image(&[0, 1, 2, 3]);
            for (at, b) in edits {
                m[at] = b;
            }
            let m = Flat(m);
            let r = Reader::new(&m, &l);
            let _ = walk_tail(&r, 0x100, &mut seen, Stop::FirstStable);
            let _ = walk_tail(&r, 0x100, &mut seen, Stop::Anchors(&[0x1040]));
            let _ = walk_tail(&r, 0x100, &mut seen, Stop::Head);
            let _ = mark_list(&r, 0x100, &mut seen);
            let _ = sample(&r, 0, &mut seen);
        }
    }
}
