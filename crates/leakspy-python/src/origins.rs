//! Origin hints CPython records anyway, with no tracing: a generator, coroutine or async generator
//! knows its code and the line it is suspended at; a function knows where it was defined. Grouped
//! per type, they answer "where do these 40,000 coroutines come from?" on targets that never ran
//! tracemalloc.
//!
//! The walker records one key per object (type, code object, bytecode offset); code objects and line
//! tables are decoded once per distinct key when the histogram is finished.

use crate::objects::Reader;
use crate::stacks::{self, CodeCache};
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Which hint a type gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginKind {
    /// generator, coroutine, async_generator: the code and current line of the suspended frame.
    Suspended,
    /// function: the code and its `def` line.
    Defined,
}

impl OriginKind {
    /// The hint for a static type named `name` (`builtins.generator`, ...), if any.
    pub fn for_static_type(name: &str) -> Option<OriginKind> {
        match name {
            "builtins.generator" | "builtins.coroutine" | "builtins.async_generator" => {
                Some(OriginKind::Suspended)
            }
            "builtins.function" => Some(OriginKind::Defined),
            _ => None,
        }
    }
}

/// One group of instances of a type with the same origin.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Origin {
    /// "suspended_at" (the line a generator/coroutine will resume at, or its `def` line if it has
    /// not started), "finished" (ran to the end; the line is the `def` line), "defined_at" (a
    /// function's `def` line).
    pub kind: &'static str,
    /// `co_qualname` (3.11+) or `co_name`.
    pub function: String,
    pub filename: String,
    pub line: Option<i32>,
    pub count: u64,
    pub bytes: u64,
}

/// (type, kind, function, file, line) once codes are decoded.
type ResolvedKey = (u64, &'static str, String, String, Option<i32>);

/// Offset marker for a finished generator.
const FINISHED: i64 = i64::MIN;
/// Offset marker for a function (the `def` line).
const DEFINED: i64 = i64::MIN + 1;

/// Origins collected during a heap walk.
#[derive(Debug, Default)]
pub struct Origins {
    /// (type, code object, bytecode offset or a marker) -> (count, bytes)
    by_key: FxHashMap<(u64, u64, i64), (u64, u64)>,
    /// Objects whose origin could not be read (racing or finished without code).
    pub unreadable: u64,
}

impl Origins {
    /// Record the origin of `obj`, an instance of `tp` of the given kind.
    pub fn record(&mut self, r: &Reader<'_>, kind: OriginKind, tp: u64, obj: u64, size: u64) {
        let key = match kind {
            OriginKind::Defined => {
                r.l.func
                    .as_ref()
                    .and_then(|f| r.ptr(obj + f.code).ok())
                    .map(|code| (code, DEFINED))
            }
            OriginKind::Suspended => gen_position(r, obj),
        };
        match key {
            Some((code, offset)) if code != 0 => {
                let e = self.by_key.entry((tp, code, offset)).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.saturating_add(size);
            }
            _ => self.unreadable += 1,
        }
    }

    /// Resolve codes and lines; per type address, origins by bytes then count, descending.
    pub fn finish(self, r: &Reader<'_>) -> FxHashMap<u64, Vec<Origin>> {
        let mut codes = CodeCache::default();
        let mut merged: FxHashMap<ResolvedKey, (u64, u64)> = FxHashMap::default();
        for ((tp, code, offset), (count, bytes)) in self.by_key {
            let (kind, at) = match offset {
                FINISHED => ("finished", None),
                DEFINED => ("defined_at", None),
                off => ("suspended_at", Some(off)),
            };
            let Some((function, filename, line)) = stacks::code_location(r, &mut codes, code, at)
            else {
                continue;
            };
            let e = merged
                .entry((tp, kind, function, filename, line))
                .or_insert((0, 0));
            e.0 += count;
            e.1 = e.1.saturating_add(bytes);
        }
        let mut out: FxHashMap<u64, Vec<Origin>> = FxHashMap::default();
        for ((tp, kind, function, filename, line), (count, bytes)) in merged {
            out.entry(tp).or_default().push(Origin {
                kind,
                function,
                filename,
                line,
                count,
                bytes,
            });
        }
        for v in out.values_mut() {
            v.sort_by(|a, b| {
                (b.bytes, b.count)
                    .cmp(&(a.bytes, a.count))
                    .then_with(|| (&a.filename, a.line).cmp(&(&b.filename, b.line)))
            });
        }
        out
    }
}

/// (code object, bytecode byte offset or FINISHED) of a generator-like object.
fn gen_position(r: &Reader<'_>, obj: u64) -> Option<(u64, i64)> {
    let g = r.l.gen.as_ref()?;
    if let Some(gi_frame) = g.frame {
        // 3.9/3.10: the frame object, NULL once finished (gi_code stays).
        let frame = r.ptr(obj + gi_frame).ok()?;
        if frame == 0 {
            return Some((r.ptr(obj + g.code?).ok()?, FINISHED));
        }
        let fo = &r.l.frame_object;
        let code = r.ptr(frame + fo.f_code?).ok()?;
        let lasti = i64::from(r.mem.read_i32(frame + fo.f_lasti?).ok()?);
        return Some((code, lasti.saturating_mul(fo.lasti_unit? as i64)));
    }
    // 3.11+: the frame is embedded at gi_iframe.
    let fr = r.l.iframe.as_ref()?;
    let iframe = obj.checked_add(g.iframe?)?;
    let code = r.ptr(iframe + fr.executable).ok()? & !fr.executable_tag_mask;
    let state = i64::from(r.mem.read_u8(obj + g.frame_state?).ok()? as i8);
    if state >= g.frame_finished? {
        return Some((code, FINISHED));
    }
    let instr = r.ptr(iframe + fr.instr_ptr).ok()?;
    let start = code.checked_add(r.l.code.co_code_adaptive?)?;
    // Racing or garbage pointers give absurd offsets; addr2line bounds its work by the table.
    let offset = (instr as i64).wrapping_sub(start as i64);
    Some((code, offset))
}
