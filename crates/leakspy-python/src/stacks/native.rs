//! `dump --native`: each thread's native stack, merged with its Python stack.
//!
//! The registers and stack bytes are captured under the pause ([`leakspy_memory::ThreadCapture`]);
//! unwinding and symbolizing ([`leakspy_native`]) run after the target resumed. The merge replaces
//! each native frame of the interpreter loop (`_PyEval_EvalFrameDefault`) by the Python frames that
//! invocation runs: one frame each on 3.9/3.10; on 3.11+ one invocation runs every frame from the
//! one it entered with (3.11: `is_entry`; 3.12+: the frame below it is an entry frame owned by the C
//! stack / the interpreter) up to the newest one it pushed.

use crate::dump::ThreadReport;
use crate::model::Reader;
use crate::stacks::{Frame, RawThread};
use leakspy_memory::{Mapping, MemoryExt, ThreadCapture};
pub use leakspy_native::NativeFrame;
use leakspy_native::{ImageCache, ModuleMap};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Names of the interpreter-loop function whose frames run Python code.
pub const EVAL_FUNCTIONS: &[&str] = &["_PyEval_EvalFrameDefault"];

/// Offset of `_PyInterpreterFrame.is_entry` in 3.11 (`bool is_entry` after `int stacktop`).
const IS_ENTRY_311: u64 = 68;
/// Most frames followed between two Python frames when looking for an entry frame.
const MAX_HIDDEN: usize = 64;

/// One frame of `merged`: native, or a Python frame in the place of the interpreter frame running it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MergedFrame {
    Native(NativeFrame),
    Python(Frame),
}

/// How many Python frames each interpreter-loop invocation runs, innermost invocation first (the
/// sizes add up to `t.frames.len()`). `minor` is the Python 3 minor version.
pub fn eval_groups(r: &Reader<'_>, t: &RawThread, minor: u8) -> Vec<usize> {
    let n = t.frames.len().min(t.frame_addrs.len());
    let mut out = Vec::new();
    let mut run = 0;
    for i in 0..n {
        run += 1;
        let last = i + 1 == n;
        let ends = last || minor < 11 || ends_invocation(r, t, i, minor);
        if ends {
            out.push(run);
            run = 0;
        }
    }
    out
}

/// Whether Python frame `i` is the first (oldest) frame of its interpreter invocation.
fn ends_invocation(r: &Reader<'_>, t: &RawThread, i: usize, minor: u8) -> bool {
    let frame = t.frame_addrs[i].0;
    if minor == 11 {
        return r.mem.read_u8(frame + IS_ENTRY_311).is_ok_and(|b| b != 0);
    }
    let Some(fr) = r.l.iframe.as_ref() else {
        return true;
    };
    let next = t.frame_addrs.get(i + 1).map(|f| f.0);
    let mut cur = frame;
    for _ in 0..MAX_HIDDEN {
        let Ok(prev) = r.ptr(cur + fr.previous) else {
            return true;
        };
        if prev == 0 || Some(prev) == next {
            return prev == 0;
        }
        match r.mem.read_u8(prev + fr.owner) {
            Ok(owner) if fr.owner_skip.contains(&owner) => return true,
            Ok(_) => cur = prev,
            Err(_) => return true,
        }
    }
    true
}

/// Merge: every non-inlined interpreter-loop frame is replaced by its Python frames, in order.
/// Python frames left over (an interpreter frame that could not be named, a stack cut short) are
/// put at the end; interpreter frames without Python frames stay native. Returns the merged stack
/// and whether the counts agreed.
pub fn merge(
    native: &[NativeFrame],
    python: &[Frame],
    groups: &[usize],
) -> (Vec<MergedFrame>, bool) {
    let mut out = Vec::with_capacity(native.len() + python.len());
    let mut py = python.iter();
    let total_groups = groups.len();
    let mut groups = groups.iter();
    let mut evals = 0;
    for f in native {
        let is_eval = !f.inlined
            && f.function
                .as_deref()
                .is_some_and(|name| EVAL_FUNCTIONS.contains(&name));
        if is_eval {
            evals += 1;
            if let Some(&g) = groups.next() {
                out.extend(py.by_ref().take(g).cloned().map(MergedFrame::Python));
                continue;
            }
        }
        out.push(MergedFrame::Native(f.clone()));
    }
    let rest: Vec<MergedFrame> = py.cloned().map(MergedFrame::Python).collect();
    let agreed = rest.is_empty() && evals == total_groups;
    out.extend(rest);
    (out, agreed)
}

/// Unwind every captured thread of a live target (files read through `/proc/PID/root`, debug files
/// under its `usr/lib/debug`) and attach `native_frames` and `merged` to the thread with its TID.
pub fn attach_live(
    pid: i32,
    maps: &[Mapping],
    threads: &mut [ThreadReport],
    captures: &[ThreadCapture],
    warnings: &mut Vec<String>,
) {
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    // Paths in maps are as the reader sees them: in the target's mount namespace for a container
    // (found under /proc/PID/root), but the full host path for a chroot in ours.
    let open = |p: &str| -> Option<PathBuf> {
        if p.ends_with(" (deleted)") {
            return None;
        }
        let under = root.join(p.trim_start_matches('/'));
        if under.is_file() {
            Some(under)
        } else {
            Some(PathBuf::from(p)).filter(|h| h.is_file())
        }
    };
    attach(&open, &root, maps, threads, captures, warnings);
}

/// The registers and stacks of a core's threads (`NT_PRSTATUS` and the core's memory).
pub fn core_captures(
    core: &leakspy_memory::CoreFile,
    mem: &dyn leakspy_memory::Memory,
    maps: &[Mapping],
) -> Vec<ThreadCapture> {
    core.threads()
        .iter()
        .map(|t| ThreadCapture {
            tid: t.tid,
            regs: t.regs,
            stack: leakspy_memory::StackCopy::take(mem, maps, t.regs.rsp),
        })
        .collect()
}

/// Unwind `captures` with the target's files found by `open`, debug files under
/// `debug_root/usr/lib/debug`, and attach the stacks to the threads with those TIDs.
pub fn attach(
    open: &dyn Fn(&str) -> Option<PathBuf>,
    debug_root: &Path,
    maps: &[Mapping],
    threads: &mut [ThreadReport],
    captures: &[ThreadCapture],
    warnings: &mut Vec<String>,
) {
    let mut cache = ImageCache::default();
    let modules = ModuleMap::new(maps, open, debug_root, &mut cache);
    let unreadable: Vec<&str> = modules
        .modules()
        .iter()
        .filter(|m| m.image.is_none())
        .map(|m| m.path.as_str())
        .collect();
    if !unreadable.is_empty() {
        warnings.push(format!(
            "--native: cannot read {} (their frames have no names and are unwound by frame pointers)",
            unreadable.join(", ")
        ));
    }
    for t in threads.iter_mut() {
        let Some(c) = t
            .host_native_id
            .and_then(|h| captures.iter().find(|c| c.tid == h))
        else {
            t.native_truncated = Some("no registers for this thread (its TID is unknown)".into());
            continue;
        };
        let st = leakspy_native::native_stack(&modules, &c.regs, &c.stack);
        let (merged, agreed) = merge(&st.frames, &t.frames, &t.eval_groups);
        if !agreed && st.truncated.is_none() {
            warnings.push(format!(
                "--native: thread {:#x}: the interpreter frames of its native stack do not match                  its Python frames one to one; unplaced Python frames are at the end of `merged`",
                t.thread_id
            ));
        }
        t.native_frames = Some(st.frames);
        t.merged = Some(merged);
        t.native_truncated = st.truncated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nf(name: &str, inlined: bool) -> NativeFrame {
        NativeFrame {
            function: Some(name.into()),
            library: None,
            offset: 0,
            address: 0,
            filename: None,
            line: None,
            inlined,
            frame_pointer: false,
            aliases: Vec::new(),
        }
    }
    fn pf(name: &str) -> Frame {
        Frame {
            function: name.into(),
            filename: "x.py".into(),
            line: Some(1),
        }
    }

    #[test]
    fn eval_frames_become_their_python_frames() {
        let native = [
            nf("poll", false),
            nf("_PyEval_EvalFrameDefault", false),
            nf("ext_call", false),
            nf("_PyEval_EvalFrameDefault", false),
            nf("main", false),
        ];
        let python = [pf("inner"), pf("cb"), pf("outer")];
        let (m, ok) = merge(&native, &python, &[2, 1]);
        assert!(ok);
        let names: Vec<String> = m
            .iter()
            .map(|f| match f {
                MergedFrame::Native(n) => n.function.clone().unwrap(),
                MergedFrame::Python(p) => format!("py:{}", p.function),
            })
            .collect();
        assert_eq!(
            names,
            ["poll", "py:inner", "py:cb", "ext_call", "py:outer", "main"]
        );
    }

    #[test]
    fn leftover_python_frames_go_last() {
        let (m, ok) = merge(&[nf("main", false)], &[pf("a")], &[1]);
        assert!(!ok);
        assert_eq!(m.len(), 2);
        assert!(matches!(&m[1], MergedFrame::Python(p) if p.function == "a"));
    }

    #[test]
    fn serializes_with_a_kind() {
        let v = serde_json::to_value(MergedFrame::Python(pf("a"))).unwrap();
        assert_eq!(v["kind"], "python");
        assert_eq!(v["function"], "a");
        let v = serde_json::to_value(MergedFrame::Native(nf("b", true))).unwrap();
        assert_eq!(v["kind"], "native");
        assert_eq!(v["inlined"], true);
        assert!(v.get("frame_pointer").is_none());
    }
}
