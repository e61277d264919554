//! Which sampled frame holds a just-born object: the evidence of its allocation site.
//!
//! At each sample every thread's stack is read, and with it the named fast locals of every frame
//! (`co_varnames` slots of `f_localsplus` in 3.9/3.10, `co_localsplusnames` slots of
//! `_PyInterpreterFrame.localsplus` from 3.11). A born object that is still unattributed and sits
//! in one of them is charged to a stack:
//! - held by a frame as an ordinary local (`s = Session()`, still being filled in): that frame and
//!   its callers;
//! - held only as `self` (slot 0) of an `__init__`/`__new__` being run: the caller of the outermost
//!   such frame, at its current line (the `X()` call) — what tracemalloc would record;
//! - held by several frames of one stack (passed down as an argument): the outermost holder, the
//!   one that had it first.
//!
//! A constructor's object is held only while the constructor runs (`registry.append(Session(...))`
//! holds it nowhere else until the call returns), usually for less time than one list walk takes: a
//! check after the walk would find the constructor gone. So [`constructor_selfs`] are checked as
//! soon as the stacks are read, type included, and wait for the walk (this sample's or the next)
//! to find an object of that type born at that address.
//!
//! The line of the caller of a constructor is the line of the call only while the constructor
//! runs; a frame that looks like a constructor but returned already (3.11+ leaves popped frames
//! untouched in memory) would lend its caller's later line. Every pair's holder must therefore still
//! be on its thread's frame chain when checked ([`still_holds`]): it then ran throughout, from the
//! stack read to the check, and the caller's line read in between is the line of the call.
//!
//! The evaluation stack is not read: without the stack depth (`stacktop`), popped slots still
//! hold stale pointers, which would charge the previous iteration's object to the loop around it.

use crate::model::Reader;
use crate::stacks::{on_stack, Frame, RawThread};
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;

/// Most named locals read per frame.
pub const MAX_LOCALS: u64 = 256;

/// Named-local counts per code object address.
#[derive(Default)]
pub struct LocalsCache {
    counts: FxHashMap<u64, u64>,
}

impl LocalsCache {
    fn count(&mut self, r: &Reader<'_>, code: u64) -> u64 {
        *self.counts.entry(code).or_insert_with(|| {
            r.ptr(code + r.l.code.local_names)
                .and_then(|names| r.ob_size(names))
                .map_or(0, |n| (n.max(0) as u64).min(MAX_LOCALS))
        })
    }
}

/// The named locals of one frame (`frame`, `code` as in [`RawThread::frame_addrs`]).
pub fn frame_locals(r: &Reader<'_>, cache: &mut LocalsCache, frame: u64, code: u64) -> Vec<u64> {
    let base = match (&r.l.iframe, r.l.frame_object.f_localsplus) {
        (Some(fr), _) => frame + fr.localsplus,
        (None, Some(off)) => frame + off,
        (None, None) => return Vec::new(),
    };
    let n = cache.count(r, code);
    if n == 0 {
        return Vec::new();
    }
    let Ok(b) = r.mem.read_vec(base, (n * 8) as usize) else {
        return Vec::new();
    };
    // The target runs on while its stacks are read: by now the frame's memory may hold the next
    // call's frame (a function returned and its caller called another at the same place), whose
    // locals would be charged to the frame the stack walk saw. Keep them only if the frame still
    // runs the same code after they were read.
    if still_runs(r, frame) != Some(code) {
        return Vec::new();
    }
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// The code object frame `frame` runs now (`f_executable`/`f_code` with tag bits masked, 3.11+;
/// `f_code` of a frame object up to 3.10).
fn still_runs(r: &Reader<'_>, frame: u64) -> Option<u64> {
    match (&r.l.iframe, r.l.frame_object.f_code) {
        (Some(fr), _) => r
            .ptr(frame.wrapping_add(fr.executable))
            .ok()
            .map(|c| c & !fr.executable_tag_mask),
        (None, Some(off)) => r.ptr(frame.wrapping_add(off)).ok(),
        (None, None) => None,
    }
}

/// Whether a frame's function is a constructor whose slot 0 is the object being built.
pub(super) fn is_constructor(f: &Frame) -> bool {
    let name = f.function.rsplit('.').next().unwrap_or(&f.function);
    matches!(name, "__init__" | "__new__" | "__post_init__")
}

/// One piece of evidence: object `addr` was born at `stack` (innermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub addr: u64,
    pub stack: Vec<Frame>,
    /// Where the stack walk found it, for [`still_holds`].
    pub holder: Holder,
    /// The innermost frame's line is the allocating line: the stack starts at the caller of a
    /// running constructor, at its call. A frame holding the object in a local has moved on since.
    pub exact_line: bool,
    /// The caller's frame when the pair is a running constructor's `self` (`stack[0]` is its
    /// line): the check after the walk reads its position again, for the line to be of this moment.
    pub caller: Option<u64>,
}

/// A local slot of a frame of a thread: (thread state, frame, code object, slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holder {
    pub tstate: u64,
    pub frame: u64,
    pub code: u64,
    pub slot: usize,
}

/// How many frames [`still_holds`] follows from the innermost looking for the holder.
const CHAIN_LIMIT: usize = 1024;

/// Whether the holder's frame is still on its thread's frame chain, still runs its code, and its
/// local slot still holds `addr` (all read now).
///
/// Without a pause the stacks are read before the list walk: a local read then may point at an
/// object that died right after (a `Churn` dropped when `churn` returned), and the address be
/// reused by an object born before the walk (the next `Leak`, same size class: pymalloc hands out
/// the block just freed). The walk then finds that object born at an address the stale local
/// names, and the pair would charge it to the wrong function. A frame that still runs the same code
/// and still holds the address after the walk held the object the walk saw.
pub fn still_holds(r: &Reader<'_>, holder: Holder, addr: u64) -> bool {
    let Holder {
        tstate,
        frame,
        code,
        slot,
    } = holder;
    let base = match (&r.l.iframe, r.l.frame_object.f_localsplus) {
        (Some(fr), _) => frame.wrapping_add(fr.localsplus),
        (None, Some(off)) => frame.wrapping_add(off),
        (None, None) => return false,
    };
    let held = r.ptr(base.wrapping_add((slot as u64).wrapping_mul(8))).ok() == Some(addr);
    held && still_runs(r, frame) == Some(code) && on_stack(r, tstate, frame, CHAIN_LIMIT)
}

/// Charge the `candidates` (addresses of born, not yet attributed objects) held by the frames of
/// `threads`. `locals[t][i]` are the named locals of frame `i` of thread `t`.
pub fn attribute(
    threads: &[RawThread],
    locals: &[Vec<Vec<u64>>],
    is_candidate: &dyn Fn(u64) -> bool,
) -> Vec<Pair> {
    // addr -> (thread, outermost holding frame, held there only as a constructor's self, slot)
    let mut holders: FxHashMap<u64, (usize, usize, bool, usize)> = FxHashMap::default();
    for (t, thread) in threads.iter().enumerate() {
        let Some(frames_locals) = locals.get(t) else {
            continue;
        };
        for (i, words) in frames_locals.iter().enumerate() {
            let Some(frame) = thread.frames.get(i) else {
                continue;
            };
            for (slot, &w) in words.iter().enumerate() {
                if w == 0 || !is_candidate(w) {
                    continue;
                }
                let as_self = slot == 0 && is_constructor(frame);
                let e = holders.entry(w).or_insert((t, i, as_self, slot));
                if e.0 == t && i > e.1 {
                    *e = (t, i, as_self, slot);
                }
            }
        }
    }
    let mut out: Vec<Pair> = holders
        .into_iter()
        .filter_map(|(addr, (t, i, as_self, slot))| {
            let thread = threads.get(t)?;
            let frames = &thread.frames;
            let (frame, code) = thread.frame_addrs.get(i).copied().unwrap_or_default();
            let exact_line = as_self && i + 1 < frames.len();
            let from = if exact_line { i + 1 } else { i };
            let caller = exact_line
                .then(|| thread.frame_addrs.get(i + 1).map(|&(f, _)| f))
                .flatten();
            Some(Pair {
                addr,
                stack: frames.get(from..)?.to_vec(),
                holder: Holder {
                    tstate: thread.tstate,
                    frame,
                    code,
                    slot,
                },
                exact_line,
                caller,
            })
        })
        .collect();
    out.sort_by_key(|p| p.addr);
    out
}

/// The objects constructors are building now (`self` of a running `__init__`), charged to the
/// caller of the outermost such frame at its current line: the call. Every running constructor
/// counts, born or not: the caller checks each at once ([`still_holds`] and its type) and matches
/// it against the births its list walks find.
pub fn constructor_selfs(threads: &[RawThread], locals: &[Vec<Vec<u64>>]) -> Vec<Pair> {
    let mut out = Vec::new();
    for (t, thread) in threads.iter().enumerate() {
        let Some(frames_locals) = locals.get(t) else {
            continue;
        };
        let mut i = 0;
        while i < thread.frames.len() {
            let self_of = |i: usize| -> Option<u64> {
                let f = thread.frames.get(i)?;
                let w = *frames_locals.get(i)?.first()?;
                (is_constructor(f) && w != 0).then_some(w)
            };
            let Some(w) = self_of(i) else {
                i += 1;
                continue;
            };
            // `super().__init__()`: the same object in the next frames out; the outermost is the
            // one its caller called.
            let mut outer = i;
            while self_of(outer + 1) == Some(w) {
                outer += 1;
            }
            if outer + 1 < thread.frames.len() {
                let (frame, code) = thread.frame_addrs.get(outer).copied().unwrap_or_default();
                let caller = thread.frame_addrs.get(outer + 1).map(|&(f, _)| f);
                out.push(Pair {
                    addr: w,
                    stack: thread.frames[outer + 1..].to_vec(),
                    holder: Holder {
                        tstate: thread.tstate,
                        frame,
                        code,
                        slot: 0,
                    },
                    exact_line: true,
                    caller,
                });
            }
            i = outer + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f: &str, line: i32) -> Frame {
        Frame {
            function: f.into(),
            filename: "app.py".into(),
            line: Some(line),
        }
    }

    fn thread(frames: Vec<Frame>) -> RawThread {
        RawThread {
            tstate: 1,
            interp: 1,
            thread_id: 1,
            native_id: None,
            holds_gil_flag: None,
            frame_addrs: vec![(0, 0); frames.len()],
            frames,
            truncated: None,
        }
    }

    #[test]
    fn constructor_self_goes_to_the_caller_and_locals_to_their_frame() {
        let t = thread(vec![
            frame("Session.__init__", 3),
            frame("handle", 31),
            frame("worker", 40),
        ]);
        // 0x10: self of __init__; 0x20: a local of handle; 0x30: not born.
        let locals = vec![vec![vec![0x10, 0x30], vec![0x20, 7], vec![0x30]]];
        let pairs = attribute(&[t], &locals, &|a| a == 0x10 || a == 0x20);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].stack[0].function, "handle");
        assert_eq!(pairs[0].stack.len(), 2);
        assert_eq!(pairs[1].stack[0].function, "handle");
    }

    /// A 3.12 thread state at 0x800 whose current (and only) frame is at 0x100, running code
    /// 0x2000, local slot 1 holding 0x3000.
    fn frame_image(l: &leakspy_layout::Layout) -> Vec<u8> {
        let fr = l.iframe.as_ref().expect("3.12 has interpreter frames");
        let mut m = vec![0u8; 0x1000];
        let put = |m: &mut Vec<u8>, at: u64, v: u64| {
            m[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes())
        };
        put(&mut m, 0x100 + fr.executable, 0x2000);
        put(&mut m, 0x100 + fr.localsplus + 8, 0x3000);
        match (
            l.tstate.current_frame,
            l.tstate.cframe,
            l.tstate.cframe_current_frame,
        ) {
            (Some(off), _, _) => put(&mut m, 0x800 + off, 0x100),
            (None, Some(cf), Some(cur)) => {
                put(&mut m, 0x800 + cf, 0xc00);
                put(&mut m, 0xc00 + cur, 0x100);
            }
            _ => panic!("layout cannot reach the current frame"),
        }
        m
    }

    fn holder(frame: u64, code: u64, slot: usize) -> Holder {
        Holder {
            tstate: 0x800,
            frame,
            code,
            slot,
        }
    }

    #[test]
    fn a_pair_needs_the_frame_to_still_hold_the_object() {
        use crate::record::pages::tests::{layout, Flat};
        let l = layout();
        let fr = l.iframe.clone().expect("iframe");
        let m = Flat(frame_image(&l));
        let r = Reader::new(&m, &l);
        assert!(still_holds(&r, holder(0x100, 0x2000, 1), 0x3000));
        // Another slot, another object, another code object (the frame now runs the next call).
        assert!(!still_holds(&r, holder(0x100, 0x2000, 0), 0x3000));
        assert!(!still_holds(&r, holder(0x100, 0x2000, 1), 0x3008));
        assert!(!still_holds(&r, holder(0x100, 0x2008, 1), 0x3000));
        // The local changed after the stack walk: the object the walk saw is not held any more.
        let mut img = frame_image(&l);
        let at = (0x100 + fr.localsplus + 8) as usize;
        img[at..at + 8].copy_from_slice(&0x3100u64.to_le_bytes());
        let m = Flat(img);
        let r = Reader::new(&m, &l);
        assert!(!still_holds(&r, holder(0x100, 0x2000, 1), 0x3000));
    }

    #[test]
    fn a_returned_frame_holds_nothing_even_where_its_memory_is_unchanged() {
        use crate::record::pages::tests::{layout, Flat};
        let l = layout();
        // The same frame memory, but the thread's current frame is another one (0x400): the frame
        // at 0x100 returned, and 3.11+ leaves its slots as they were.
        let mut img = frame_image(&l);
        let fr = l.iframe.clone().expect("iframe");
        let at = match (l.tstate.current_frame, l.tstate.cframe_current_frame) {
            (Some(off), _) => 0x800 + off,
            (None, Some(cur)) => 0xc00 + cur,
            _ => unreachable!(),
        } as usize;
        img[at..at + 8].copy_from_slice(&0x400u64.to_le_bytes());
        let m = Flat(img.clone());
        let r = Reader::new(&m, &l);
        assert!(!still_holds(&r, holder(0x100, 0x2000, 1), 0x3000));
        // Called from 0x100 again (0x400's previous frame is 0x100): held.
        let p = (0x400 + fr.previous) as usize;
        img[p..p + 8].copy_from_slice(&0x100u64.to_le_bytes());
        let m = Flat(img);
        let r = Reader::new(&m, &l);
        assert!(still_holds(&r, holder(0x100, 0x2000, 1), 0x3000));
    }

    #[test]
    fn constructor_selfs_go_to_the_caller_of_the_outermost_constructor() {
        let t = thread(vec![
            frame("Base.__init__", 3),
            frame("Session.__init__", 8),
            frame("handle", 36),
            frame("worker", 44),
        ]);
        // super().__init__(): the same self in both constructors; handle's local is not a self.
        let locals = vec![vec![vec![0x10], vec![0x10, 5], vec![0x20], vec![]]];
        let pairs = constructor_selfs(&[t], &locals);
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].addr, 0x10);
        assert_eq!(pairs[0].stack[0].function, "handle");
        assert_eq!(pairs[0].stack[0].line, Some(36));
        assert!(pairs[0].exact_line);
        // A constructor with no caller frame: nothing to charge.
        let t = thread(vec![frame("Session.__init__", 8)]);
        assert!(constructor_selfs(&[t], &[vec![vec![0x10]]]).is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Garbage frames, wild addresses and slots: no panic.
        #[test]
        fn still_holds_survives_garbage(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..0x800),
            frame in proptest::prelude::any::<u64>(),
            code in proptest::prelude::any::<u64>(),
            slot in proptest::prelude::any::<usize>(),
            addr in proptest::prelude::any::<u64>(),
        ) {
            let l = crate::record::pages::tests::layout();
            let m = crate::record::pages::tests::Flat(bytes);
            let r = Reader::new(&m, &l);
            let _ = still_holds(&r, Holder { tstate: frame ^ code, frame, code, slot }, addr);
            let _ = still_holds(&r, Holder { tstate: 0x800, frame: frame % 0x800, code, slot: slot % 64 }, addr);
        }
    }

    #[test]
    fn an_object_passed_down_is_charged_to_the_outermost_holder() {
        let t = thread(vec![frame("store", 9), frame("handle", 31)]);
        let locals = vec![vec![vec![0x10], vec![5, 0x10]]];
        let pairs = attribute(&[t], &locals, &|a| a == 0x10);
        assert_eq!(pairs[0].stack[0].function, "handle");
    }
}
