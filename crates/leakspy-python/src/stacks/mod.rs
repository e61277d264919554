//! Threads and their Python stacks.
//!
//! Walks `interp -> thread states -> frames -> code objects` and turns each frame into
//! `(function, filename, line)` exactly as the target's `frame.f_lineno` would report it. Entry/shim
//! frames (owned by the C stack or the interpreter) and incomplete frames are skipped, as CPython's
//! own tracebacks do. All chains are bounded.

pub mod blocked;
pub mod native;
pub mod threadnames;
mod tlbc;

use crate::error::{Error, Result};
use crate::model::decode::linetable::{addr2line, LineTableFormat};
use crate::model::Reader;
use leakspy_memory::MemoryExt;
use serde::Serialize;
use std::collections::HashMap;

pub const MAX_THREADS: usize = 4096;
pub const MAX_FRAMES: usize = 4096;
pub const MAX_INTERPRETERS: usize = 256;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    pub filename: String,
    /// `None` where `f_lineno` is `None` (no line for that instruction).
    pub line: Option<i32>,
}

/// One Python thread as read from the target.
#[derive(Debug, Clone)]
pub struct RawThread {
    pub tstate: u64,
    pub interp: u64,
    /// `threading.get_ident()`: the pthread_t.
    pub thread_id: u64,
    /// Kernel TID in the target's pid namespace, when the tstate records it (3.11+).
    pub native_id: Option<i64>,
    /// The tstate's own GIL flag (3.13+), when the version has one.
    pub holds_gil_flag: Option<bool>,
    pub frames: Vec<Frame>,
    /// `(frame, code object)` addresses of `frames`, in the same order: where their locals are
    /// (`PyFrameObject` in 3.9/3.10, `_PyInterpreterFrame` from 3.11).
    pub frame_addrs: Vec<(u64, u64)>,
    /// Frame walk stopped early (race or garbage).
    pub truncated: Option<String>,
}

/// Every interpreter, from `_PyRuntime.interpreters.head` (newest first).
pub fn interpreters(r: &Reader<'_>, runtime: u64) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let mut cur = r.ptr(runtime + r.l.runtime.interpreters_head)?;
    while cur != 0 && out.len() < MAX_INTERPRETERS && !out.contains(&cur) {
        out.push(cur);
        cur = r.ptr(cur + r.l.interp.next)?;
    }
    Ok(out)
}

/// How a stack cut at `MAX_FRAMES` is reported (the start of `truncated`).
pub const FRAME_CAP_PREFIX: &str = "more than ";

/// Why a walk stopped at [`MAX_FRAMES`]: the target's own depth, or a chain that comes back to a
/// frame it already passed. That loop is a picture taken while the thread was linking a frame
/// (its `previous` still the stale one of a frame popped from the same slot): a race, which a
/// paused dump answers by taking another picture, where a genuine depth is reported as such.
fn frame_cap(addrs: &[(u64, u64)]) -> Error {
    let mut frames: Vec<u64> = addrs.iter().map(|&(f, _)| f).collect();
    frames.sort_unstable();
    if frames.windows(2).any(|w| w[0] == w[1]) {
        Error::Other("the frame chain loops back on itself (changed under the read?)".into())
    } else {
        Error::Other(format!("{FRAME_CAP_PREFIX}{MAX_FRAMES} frames"))
    }
}

/// Code objects decoded once per address. A cache that outlives one picture (`record` keeps one for
/// the whole recording) must not trust an address forever: a code object that is freed (a module's
/// `<module>` code after its import, a lambda, `exec`'d code) leaves its address to the next one. So
/// each hit is checked against the code object's fingerprint (its name, file and line table
/// pointers and first line) and decoded again when that changed.
#[derive(Default)]
pub struct CodeCache {
    codes: HashMap<u64, (Fingerprint, Option<Code>)>,
}

/// What identifies a code object at an address: `co_name`/`co_qualname`, `co_filename` and
/// `co_linetable` pointers and `co_firstlineno`.
type Fingerprint = [u64; 4];

fn fingerprint(r: &Reader<'_>, code: u64) -> Result<Fingerprint> {
    let c = &r.l.code;
    Ok([
        r.ptr(code + c.co_qualname.unwrap_or(c.co_name))?,
        r.ptr(code + c.co_filename)?,
        r.ptr(code + c.co_linetable)?,
        r.mem.read_i32(code + c.co_firstlineno)? as u32 as u64,
    ])
}

#[derive(Clone)]
struct Code {
    function: String,
    filename: String,
    linetable: Vec<u8>,
    firstlineno: i32,
    firsttraceable: Option<i32>,
}

impl CodeCache {
    fn get(&mut self, r: &Reader<'_>, addr: u64) -> Option<Code> {
        let fp = fingerprint(r, addr).ok()?;
        match self.codes.get(&addr) {
            Some((known, code)) if *known == fp => code.clone(),
            _ => {
                let code = read_code(r, addr).ok();
                self.codes.insert(addr, (fp, code.clone()));
                code
            }
        }
    }
}

/// Where a code object is: (function, file, line). `byte_offset` is the instruction's offset in the
/// bytecode (as `PyCode_Addr2Line` takes it); `None` gives the `def` line (`co_firstlineno`).
pub fn code_location(
    r: &Reader<'_>,
    codes: &mut CodeCache,
    code: u64,
    byte_offset: Option<i64>,
) -> Option<(String, String, Option<i32>)> {
    let c = codes.get(r, code)?;
    let line = match byte_offset {
        None => Some(c.firstlineno),
        Some(off) => addr2line(linetable_format(r).ok()?, &c.linetable, c.firstlineno, off),
    };
    Some((c.function, c.filename, line))
}

fn read_code(r: &Reader<'_>, code: u64) -> Result<Code> {
    let c = &r.l.code;
    let name_field = c.co_qualname.unwrap_or(c.co_name);
    Ok(Code {
        function: r.str(r.ptr(code + name_field)?)?,
        filename: r.str(r.ptr(code + c.co_filename)?)?,
        linetable: r.bytes(r.ptr(code + c.co_linetable)?, 1 << 24)?,
        firstlineno: r.mem.read_i32(code + c.co_firstlineno)?,
        firsttraceable: match c.co_firsttraceable {
            Some(off) => Some(r.mem.read_i32(code + off)?),
            None => None,
        },
    })
}

/// All threads of one interpreter with their stacks.
/// Walk every thread's stack through `r` and throw the frames away. Called while the target is
/// paused, on a [`leakspy_memory::Snapshot`], this caches every piece of memory the walk needs that
/// the pause did not copy whole: the thread's C stack holds 3.11/3.12's `_PyCFrame` and, from 3.12,
/// the entry frames (`FRAME_OWNED_BY_CSTACK`) that link the chain. The walk after the target resumed
/// then reads the paused picture, not a running thread's stack. Errors are left to that walk. The
/// code objects decoded here are kept in `codes`, for that walk to reuse.
pub fn pin_stacks(r: &Reader<'_>, interps: &[u64], codes: &mut CodeCache) {
    for &interp in interps {
        let _ = threads(r, interp, codes);
    }
}

pub fn threads(r: &Reader<'_>, interp: u64, codes: &mut CodeCache) -> Result<Vec<RawThread>> {
    let ts = &r.l.tstate;
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut cur = r.ptr(interp + r.l.interp.threads_head)?;
    while cur != 0 && out.len() < MAX_THREADS {
        if seen.contains(&cur) {
            break;
        }
        seen.push(cur);
        let owner = r.ptr(cur + ts.interp)?;
        if owner != interp {
            return Err(Error::Other(format!(
                "thread state {cur:#x} belongs to another interpreter (race?)"
            )));
        }
        let thread_id = r.mem.read_u64(cur + ts.thread_id)?;
        let native_id = match ts.native_thread_id {
            Some(off) => Some(r.mem.read_i64(cur + off)?),
            None => None,
        };
        let holds_gil_flag = if let Some(off) = ts.holds_gil {
            Some(r.mem.read_i32(cur + off)? != 0)
        } else if let (Some(off), Some(bit)) = (ts.status, ts.status_holds_gil_bit) {
            Some(r.mem.read_u32(cur + off)? & (1 << bit) != 0)
        } else {
            None
        };
        let mut frame_addrs = Vec::new();
        let (frames, truncated) = match stack(r, cur, codes, &mut frame_addrs) {
            Ok(f) => (f, None),
            Err((f, why)) => (f, Some(why)),
        };
        out.push(RawThread {
            tstate: cur,
            interp,
            thread_id,
            native_id,
            holds_gil_flag,
            frames,
            frame_addrs,
            truncated,
        });
        cur = r.ptr(cur + ts.next)?;
    }
    Ok(out)
}

type Partial = (Vec<Frame>, String);

/// Frames of one thread, innermost first. On a broken chain: the frames read so far and why.
fn stack(
    r: &Reader<'_>,
    tstate: u64,
    codes: &mut CodeCache,
    addrs: &mut Vec<(u64, u64)>,
) -> std::result::Result<Vec<Frame>, Partial> {
    let mut frames = Vec::new();
    let res = if r.l.iframe.is_some() {
        stack_iframes(r, tstate, codes, &mut frames, addrs)
    } else {
        stack_frame_objects(r, tstate, codes, &mut frames, addrs)
    };
    match res {
        Ok(()) => Ok(frames),
        Err(e) => Err((frames, e.to_string())),
    }
}

/// 3.9/3.10: a linked list of `PyFrameObject`s.
fn stack_frame_objects(
    r: &Reader<'_>,
    tstate: u64,
    codes: &mut CodeCache,
    out: &mut Vec<Frame>,
    addrs: &mut Vec<(u64, u64)>,
) -> Result<()> {
    let fo = &r.l.frame_object;
    let (Some(off_frame), Some(f_back), Some(f_code), Some(f_lasti), Some(unit)) = (
        r.l.tstate.frame,
        fo.f_back,
        fo.f_code,
        fo.f_lasti,
        fo.lasti_unit,
    ) else {
        return Err(Error::Other("layout lacks PyFrameObject fields".into()));
    };
    let format = linetable_format(r)?;
    let mut frame = r.ptr(tstate + off_frame)?;
    let mut n = 0;
    while frame != 0 {
        n += 1;
        if n > MAX_FRAMES {
            return Err(frame_cap(addrs));
        }
        let code_addr = r.ptr(frame + f_code)?;
        let code = codes
            .get(r, code_addr)
            .ok_or_else(|| Error::Other(format!("unreadable code object in frame {frame:#x}")))?;
        let lasti = i64::from(r.mem.read_i32(frame + f_lasti)?);
        // PyFrame_GetLineNumber: 3.9 trusts f_lineno only while tracing (f_trace set); 3.10 whenever it
        // is non-zero. Otherwise PyCode_Addr2Line(code, lasti * unit).
        let f_lineno = r.mem.read_i32(frame + fo.f_lineno)?;
        let use_lineno = if unit == 1 {
            r.ptr(frame + fo.f_trace)? != 0
        } else {
            f_lineno != 0
        };
        let line = if use_lineno {
            Some(f_lineno)
        } else {
            addr2line(
                format,
                &code.linetable,
                code.firstlineno,
                lasti * unit as i64,
            )
        };
        out.push(Frame {
            function: code.function,
            filename: code.filename,
            line,
        });
        addrs.push((frame, code_addr));
        frame = r.ptr(frame + f_back)?;
    }
    Ok(())
}

/// 3.11+: `_PyInterpreterFrame`s, reached through the thread's current frame.
fn stack_iframes(
    r: &Reader<'_>,
    tstate: u64,
    codes: &mut CodeCache,
    out: &mut Vec<Frame>,
    addrs: &mut Vec<(u64, u64)>,
) -> Result<()> {
    let ts = &r.l.tstate;
    let fr =
        r.l.iframe
            .as_ref()
            .ok_or_else(|| Error::Other("no iframe layout".into()))?;
    let adaptive =
        r.l.code
            .co_code_adaptive
            .ok_or_else(|| Error::Other("no co_code_adaptive".into()))?;
    let format = linetable_format(r)?;
    let mut frame = current_iframe(r, tstate)?;
    let base_frame = ts.base_frame.map(|off| tstate + off);
    let mut n = 0;
    while frame != 0 && Some(frame) != base_frame {
        n += 1;
        if n > MAX_FRAMES {
            return Err(frame_cap(addrs));
        }
        let owner = r.mem.read_u8(frame + fr.owner)?;
        let previous = r.ptr(frame + fr.previous)?;
        if fr.owner_skip.contains(&owner) {
            frame = previous;
            continue;
        }
        let exec_bits = r.ptr(frame + fr.executable)?;
        let code_addr = exec_bits & !fr.executable_tag_mask;
        if code_addr == 0 {
            frame = previous;
            continue;
        }
        let code = codes.get(r, code_addr).ok_or_else(|| {
            Error::Other(format!(
                "unreadable code object {code_addr:#x} in frame {frame:#x}"
            ))
        })?;
        let instr = r.ptr(frame + fr.instr_ptr)?;
        let offset = instr as i64 - tlbc::bytecode_start(r, frame, code_addr, adaptive) as i64;
        // _PyFrame_IsIncomplete: not yet past RESUME (e.g. the `_Py_InitCleanup` shim); CPython hides these.
        if let Some(first) = code.firsttraceable {
            if owner != fr.owner_generator && offset.div_euclid(2) < i64::from(first) {
                frame = previous;
                continue;
            }
        }
        // prev_instr (3.11/3.12) and instr_ptr (3.13+) both feed PyCode_Addr2Line(code, LASTI * 2).
        let line = addr2line(format, &code.linetable, code.firstlineno, offset);
        out.push(Frame {
            function: code.function,
            filename: code.filename,
            line,
        });
        addrs.push((frame, code_addr));
        frame = previous;
    }
    Ok(())
}

/// 3.11+: the thread's innermost `_PyInterpreterFrame` (0 when it runs none).
fn current_iframe(r: &Reader<'_>, tstate: u64) -> Result<u64> {
    let ts = &r.l.tstate;
    match (ts.current_frame, ts.cframe, ts.cframe_current_frame) {
        (Some(off), _, _) => r.ptr(tstate + off),
        (None, Some(cf), Some(cur)) => {
            let cframe = r.ptr(tstate + cf)?;
            if cframe == 0 {
                Ok(0)
            } else {
                r.ptr(cframe + cur)
            }
        }
        _ => Err(Error::Other("layout cannot reach the current frame".into())),
    }
}

/// Whether `frame` is on thread `tstate`'s frame chain now (read through `r`, at most `limit`
/// frames from the innermost). A frame that returned is not, even where its memory still looks
/// like a frame: 3.11+ leaves a popped `_PyInterpreterFrame` untouched on the thread's frame stack.
pub fn on_stack(r: &Reader<'_>, tstate: u64, frame: u64, limit: usize) -> bool {
    let (first, back) = match (&r.l.iframe, r.l.tstate.frame, r.l.frame_object.f_back) {
        (Some(fr), _, _) => (current_iframe(r, tstate).ok(), fr.previous),
        (None, Some(off), Some(f_back)) => (r.ptr(tstate.wrapping_add(off)).ok(), f_back),
        _ => return false,
    };
    let mut cur = first.unwrap_or(0);
    for _ in 0..limit {
        if cur == 0 {
            return false;
        }
        if cur == frame {
            return true;
        }
        match r.ptr(cur.wrapping_add(back)) {
            Ok(p) => cur = p,
            Err(_) => return false,
        }
    }
    false
}

/// Where `frame` is in its code, as the raw word the line comes from (3.11+ `instr_ptr` or
/// `prev_instr`, before that `f_lasti`), read through `r`. Two reads of a frame that agree saw it at
/// the same instruction, so on the same line, even where the frame was reused by another call.
pub fn frame_position(r: &Reader<'_>, frame: u64) -> Option<u64> {
    match (&r.l.iframe, r.l.frame_object.f_lasti) {
        (Some(fr), _) => r.ptr(frame.wrapping_add(fr.instr_ptr)).ok(),
        (None, Some(off)) => r
            .mem
            .read_i32(frame.wrapping_add(off))
            .ok()
            .map(|v| v as u32 as u64),
        (None, None) => None,
    }
}

fn linetable_format(r: &Reader<'_>) -> Result<LineTableFormat> {
    LineTableFormat::from_layout_name(&r.l.code.linetable_format).ok_or_else(|| {
        Error::Other(format!(
            "unknown line table format {}",
            r.l.code.linetable_format
        ))
    })
}

/// The thread state holding the GIL, for versions that record it outside the tstate.
pub fn gil_holder(r: &Reader<'_>, runtime: u64, interp: u64) -> Option<u64> {
    if let Some(off) = r.l.runtime.gilstate_tstate_current {
        return r.ptr(runtime + off).ok().filter(|&t| t != 0);
    }
    let gil = match (r.l.runtime.ceval_gil, r.l.interp.ceval_gil_ptr) {
        (Some(off), _) => runtime + off,
        (None, Some(off)) => r.ptr(interp + off).ok()?,
        _ => return None,
    };
    let locked = r.mem.read_i32(gil + r.l.gil.locked).ok()?;
    if locked == 0 {
        return None;
    }
    r.ptr(gil + r.l.gil.last_holder).ok().filter(|&t| t != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain that passes a frame twice is a race (retaken), a long one without repeats is the
    /// target's depth (reported with the cap's prefix, not retaken).
    #[test]
    fn frame_cap_tells_a_loop_from_depth() {
        let deep: Vec<(u64, u64)> = (0..=MAX_FRAMES as u64)
            .map(|i| (0x1000 + i * 64, 7))
            .collect();
        assert!(frame_cap(&deep).to_string().starts_with(FRAME_CAP_PREFIX));
        let looped: Vec<(u64, u64)> = (0..=MAX_FRAMES as u64)
            .map(|i| (0x1000 + i % 3 * 64, 7))
            .collect();
        let why = frame_cap(&looped).to_string();
        assert!(
            !why.starts_with(FRAME_CAP_PREFIX) && why.contains("loops"),
            "{why}"
        );
    }
}
