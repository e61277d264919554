//! Origin hints CPython records anyway, with no tracing: a generator, coroutine or async generator
//! knows its code and the line it is suspended at; a function knows where it was defined. Grouped
//! per type, they answer "where do these 40,000 coroutines come from?" on targets that never ran
//! tracemalloc.
//!
//! asyncio futures and tasks (the C implementation, `_asyncio.Future`/`_asyncio.Task` and their
//! subclasses) are grouped by where they were created, which asyncio records only in debug mode
//! (`PYTHONASYNCIODEBUG=1`, `-X dev`, `loop.set_debug(True)`): `_source_traceback`, the stack at
//! creation as a `traceback.StackSummary` of `FrameSummary`. The site is the innermost frame whose
//! file is not in a directory named `asyncio` (so `asyncio.create_task(...)`, `ensure_future`,
//! `gather`, `loop.create_future()` inside `asyncio.sleep` are attributed to the user's line that
//! called them), or the innermost frame if every frame is asyncio's. Objects made while debug mode
//! was off have no `_source_traceback` and are counted as one "not_recorded" group.
//!
//! The walker records one key per object (type, code object, bytecode offset); code objects and line
//! tables are decoded once per distinct key when the histogram is finished. Creation sites are read
//! while walking (the strings are shared code-object names, decoded once per address).

pub use crate::model::OriginKind;
use crate::model::Reader;
use crate::stacks::{self, CodeCache};
use leakspy_layout::Asyncio;
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Frames of one `_source_traceback` looked at, from the innermost outwards.
const MAX_SOURCE_FRAMES: u64 = 1024;
/// Longest `_source_traceback` list believed.
const MAX_SOURCE_LIST: u64 = 1 << 20;
/// `tp_base` steps when looking for `_asyncio.Future`/`Task` or a slot of `FrameSummary`.
const MAX_BASES: usize = 32;
/// `PyMemberDef` entries read per type.
const MAX_MEMBERS: u64 = 256;
/// Distinct strings kept decoded (filenames and function names are shared; this only bounds garbage).
const MAX_CACHED_STRS: usize = 1 << 16;

/// One group of instances of a type with the same origin.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Origin {
    /// "suspended_at" (the line a generator/coroutine will resume at, or its `def` line if it has
    /// not started), "finished" (ran to the end; the line is the `def` line), "defined_at" (a
    /// function's `def` line), "created_at" (an asyncio future/task: the creating call, from
    /// `_source_traceback`), "not_recorded" (asyncio futures/tasks created while debug mode was
    /// off: no site; `function` and `filename` are empty, `line` null).
    pub kind: &'static str,
    /// `co_qualname` (3.11+) or `co_name`; for "created_at", `FrameSummary.name` (`co_name`).
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

/// (function, file, line) of a creation site; `None`: not recorded.
type CreatedKey = Option<(String, String, Option<i32>)>;

/// Slot offsets of a `traceback.FrameSummary` type.
#[derive(Debug, Clone, Copy)]
struct FrameSlots {
    filename: u64,
    lineno: u64,
    name: u64,
}

/// What an object's type says it is, for the values read out of `FrameSummary` slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Str,
    Int,
    None,
    Other,
}

/// Origins collected during a heap walk.
#[derive(Debug, Default)]
pub struct Origins {
    /// (type, code object, bytecode offset or a marker) -> (count, bytes)
    by_key: FxHashMap<(u64, u64, i64), (u64, u64)>,
    /// (type, creation site) -> (count, bytes)
    created: FxHashMap<(u64, CreatedKey), (u64, u64)>,
    /// `FrameSummary` type -> its slots (None: not a usable FrameSummary).
    frame_slots: FxHashMap<u64, Option<FrameSlots>>,
    /// type object -> which kind of value its instances are.
    value_kinds: FxHashMap<u64, ValueKind>,
    /// str object -> decoded text.
    strs: FxHashMap<u64, Option<String>>,
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
            OriginKind::Created => {
                match self.creation_site(r, obj) {
                    Some(site) => {
                        let e = self.created.entry((tp, site)).or_insert((0, 0));
                        e.0 += 1;
                        e.1 = e.1.saturating_add(size);
                    }
                    None => self.unreadable += 1,
                }
                return;
            }
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
        for ((tp, site), (count, bytes)) in self.created {
            let (kind, (function, filename, line)) = match site {
                Some(site) => ("created_at", site),
                None => ("not_recorded", (String::new(), String::new(), None)),
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

impl Origins {
    /// The creation site of an asyncio future/task: `Some(None)` when it has no
    /// `_source_traceback` (debug mode off), `None` when it cannot be read.
    fn creation_site(&mut self, r: &Reader<'_>, obj: u64) -> Option<CreatedKey> {
        let a = r.l.asyncio.as_ref()?;
        let tb = r.ptr(obj + a.future_source_tb).ok()?;
        if tb == 0 {
            return Some(None);
        }
        let tb_type = r.type_of(tb).ok()?;
        let flags = r.mem.read_u64(tb_type + r.l.type_.tp_flags).ok()?;
        if flags & a.tpflags_list_subclass == 0 {
            return None;
        }
        let n = u64::try_from(r.ob_size(tb).ok()?).ok()?;
        if n == 0 || n > MAX_SOURCE_LIST {
            return None;
        }
        let items = r.ptr(tb + r.l.list.ob_item).ok()?;
        // Innermost frame last (traceback.extract_stack order); fall back to it when every frame
        // is asyncio's own.
        let mut innermost = None;
        for i in (n.saturating_sub(MAX_SOURCE_FRAMES)..n).rev() {
            let frame = r.ptr(items.checked_add(i.checked_mul(8)?)?).ok()?;
            let site = self.frame_summary(r, a, frame)?;
            if !is_asyncio_internal(&site.1) {
                return Some(Some(site));
            }
            innermost.get_or_insert(site);
        }
        innermost.map(Some)
    }

    /// (name, filename, lineno) of a `traceback.FrameSummary`.
    fn frame_summary(
        &mut self,
        r: &Reader<'_>,
        a: &Asyncio,
        frame: u64,
    ) -> Option<(String, String, Option<i32>)> {
        let tp = r.type_of(frame).ok()?;
        let slots = match self.frame_slots.get(&tp) {
            Some(s) => (*s)?,
            None => {
                let s = frame_slots(r, a, tp);
                self.frame_slots.insert(tp, s);
                s?
            }
        };
        let filename = self.str_slot(r, r.ptr(frame + slots.filename).ok()?)?;
        let name = self.str_slot(r, r.ptr(frame + slots.name).ok()?)?;
        let lineno = r.ptr(frame + slots.lineno).ok()?;
        let line = match self.value_kind(r, lineno)? {
            ValueKind::Int => Some(i32::try_from(r.int(lineno).ok()??).ok()?),
            ValueKind::None => None,
            _ => return None,
        };
        Some((name, filename, line))
    }

    fn value_kind(&mut self, r: &Reader<'_>, obj: u64) -> Option<ValueKind> {
        if obj == 0 {
            return None;
        }
        let tp = r.type_of(obj).ok()?;
        if let Some(k) = self.value_kinds.get(&tp) {
            return Some(*k);
        }
        let t = &r.l.type_;
        let flags = r.mem.read_u64(tp + t.tp_flags).ok()?;
        let raw = r.mem.read_cstr(r.ptr(tp + t.tp_name).ok()?, 16).ok()?;
        // Only the builtin types themselves (static, exact names): FrameSummary holds plain values.
        let kind = if flags & r.l.misc.tpflags_heaptype != 0 {
            ValueKind::Other
        } else {
            match raw.as_slice() {
                b"str" => ValueKind::Str,
                b"int" => ValueKind::Int,
                b"NoneType" => ValueKind::None,
                _ => ValueKind::Other,
            }
        };
        self.value_kinds.insert(tp, kind);
        Some(kind)
    }

    fn str_slot(&mut self, r: &Reader<'_>, obj: u64) -> Option<String> {
        if let Some(s) = self.strs.get(&obj) {
            return s.clone();
        }
        let s = match self.value_kind(r, obj)? {
            ValueKind::Str => r.str(obj).ok(),
            _ => None,
        };
        if self.strs.len() < MAX_CACHED_STRS {
            self.strs.insert(obj, s.clone());
        }
        s
    }
}

/// asyncio's own frames: a file in a directory named `asyncio` (the stdlib package).
fn is_asyncio_internal(filename: &str) -> bool {
    let mut parts = filename.rsplit(['/', '\\']);
    parts.next();
    parts.next() == Some("asyncio")
}

/// Offsets of the `filename`, `lineno` and `name` slots of a FrameSummary type, from the
/// `PyMemberDef` arrays (`tp_members`) of the type and its bases.
fn frame_slots(r: &Reader<'_>, a: &Asyncio, tp: u64) -> Option<FrameSlots> {
    let (mut filename, mut lineno, mut name) = (None, None, None);
    let basicsize = r.mem.read_u64(tp + r.l.type_.tp_basicsize).ok()?;
    if basicsize > 1 << 24 {
        return None;
    }
    let mut cur = tp;
    for _ in 0..MAX_BASES {
        if cur == 0 {
            break;
        }
        let members = r.ptr(cur + r.l.type_.tp_members).ok()?;
        if members != 0 {
            for i in 0..MAX_MEMBERS {
                let m = members + i * a.member_def_size;
                let name_ptr = r.ptr(m + a.member_def_name).ok()?;
                if name_ptr == 0 {
                    break;
                }
                let kind = r.mem.read_i32(m + a.member_def_type).ok()?;
                let offset = u64::try_from(r.mem.read_i64(m + a.member_def_offset).ok()?).ok()?;
                // A slot holds an object pointer inside the instance.
                if kind != a.member_type_object_ex
                    || offset < r.l.object.size
                    || offset.checked_add(8).is_none_or(|end| end > basicsize)
                {
                    continue;
                }
                let slot = match r.mem.read_cstr(name_ptr, 16).ok()?.as_slice() {
                    b"filename" => &mut filename,
                    b"lineno" => &mut lineno,
                    b"name" => &mut name,
                    _ => continue,
                };
                slot.get_or_insert(offset);
            }
        }
        cur = r.ptr(cur + r.l.type_.tp_base).ok()?;
    }
    Some(FrameSlots {
        filename: filename?,
        lineno: lineno?,
        name: name?,
    })
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

impl crate::heap::Sink for Origins {
    fn object(&mut self, r: &Reader<'_>, o: &crate::heap::Found<'_>) {
        if let Some(kind) = o.info.and_then(|t| t.origin) {
            self.record(r, kind, o.tp, o.addr, o.size);
        }
    }
}
