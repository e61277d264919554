//! `sys.getsizeof` as the target computes it: every size rule leakspy knows, in one place.
//!
//! Which `__sizeof__` applies to a type is decided the way Python decides it: the first class on the
//! type's MRO whose own `__dict__` has `__sizeof__` ([`resolve`]). If that class is one leakspy
//! models (its C implementation is mirrored here, from the version's source, with the struct
//! offsets from the layout), the size is exact. If it is another one (a third-party C type's
//! `__sizeof__`, or one written in Python), the object is counted at its type's basic size and the
//! type is flagged `size_exact: false`: a known under-count, never silently wrong.
//!
//! `tools/sizeof/list_types.py` lists, per interpreter, every type of the standard library with its
//! own `__sizeof__`; `tests/sizes.rs` checks each of them against the target's own `sys.getsizeof`.

mod builtins;
mod modules;
mod numpy;
mod outside;

pub use builtins::keys_size;
pub use numpy::{attach_numpy, numpy_layout};
pub use outside::{buffers, outside_arenas};

use crate::error::{Error, Result};
use crate::model::{Reader, TypeInfo};
use builtins::{code_inline, code_sizeof, dict_extra, frame_sizeof, gen_sizeof, str_sizeof};
use leakspy_memory::MemoryExt;

/// Sizes above this are garbage (a racing or corrupt object), not data.
pub const MAX_OBJECT_SIZE: u64 = 1 << 40;

/// Which `__sizeof__` implementation applies to instances of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeKind {
    /// `object.__sizeof__`: basicsize + itemsize * |ob_size|.
    Default,
    List,
    Dict,
    Set,
    Type,
    /// `PyFrameObject` in 3.9/3.10 (the frame holds its own stack: basicsize + itemsize*(ob_size-1)).
    Frame,
    /// `int` subclasses: `int.__sizeof__` = offsetof(ob_digit) + ndigits * sizeof(digit) (at least one
    /// digit from 3.12, where zero still allocates one).
    Int,
    /// `str` subclasses: `unicode_sizeof` (compact or two-block layout, plus the character data).
    Str,
    /// `code`: 3.11+ `_PyObject_VAR_SIZE` (basicsize + n * itemsize, rounded up to a pointer);
    /// 3.9/3.10 the basic size plus `co_cell2arg` and the 3.10 opcache; both plus `co_extra`.
    Code,
    /// `collections.deque`: whole blocks of `BLOCKLEN` items.
    Deque,
    /// `_io.BufferedReader/Writer/Random`: plus the buffer.
    Buffered,
    /// Generators, coroutines and async generators of 3.11+: the embedded frame sized by the code.
    Gen,
    /// `bytearray`: plus the allocated buffer (3.15: a bytes object's worth).
    ByteArray,
    /// `array.array`: plus `allocated` items of the descriptor's item size.
    Array,
    /// `_io.BytesIO`: plus `sys.getsizeof` of its buffer when not shared.
    BytesIO,
    /// `_struct.Struct`: plus one `formatcode` per code and the terminator.
    Struct,
    /// `_queue.SimpleQueue` (own `__sizeof__` from 3.15): plus its ring buffer.
    SimpleQueue,
    /// `collections.OrderedDict`: the dict, plus its fast-node index and a node per item.
    ODict,
    /// `decimal.Decimal`: plus its limbs when they are not the inline ones.
    Decimal,
    /// `itertools.combinations` / `combinations_with_replacement`: plus `r` indices.
    Combinations,
    CombinationsWithReplacement,
    /// `itertools.permutations`: plus an index per pool item and `r` cycles.
    Permutations,
    /// `itertools.product`: plus an index per pool.
    Product,
    /// `xml.etree.ElementTree.Element`: plus its extra block and grown children array.
    Element,
    /// `_pickle.Pickler`: plus its memo table and output buffer.
    Pickler,
    /// `_pickle.Unpickler`: plus memo, marks and its strings.
    Unpickler,
    /// 3.9-3.12 `StgDict` (a ctypes type's `__dict__`): the dict, its extra fields again, format,
    /// shape and ffi elements.
    StgDict,
    /// 3.13+ ctypes metatypes (`_ctypes.CType_Type`): the type object, plus its `StgInfo`'s
    /// format, shape and ffi elements.
    CType,
    /// `numpy.ndarray` and subclasses: dimensions and strides, plus the data when it owns it.
    NdArray,
    /// A `__sizeof__` leakspy does not model (third-party C, or written in Python): the object is
    /// counted at its type's basic size and the type is flagged `size_exact: false`.
    Unmodelled,
}

impl SizeKind {
    /// The modelled `__sizeof__` of the class named `name` (`module.qualname`), if any. `trusted`:
    /// the class is a static type, or a heap type made from a C spec (a dotted `tp_name`), so a
    /// Python class that happens to be called `list` is not taken for the builtin.
    fn of_class(r: &Reader<'_>, name: &str, is_static: bool, trusted: bool) -> Option<SizeKind> {
        let l = r.l;
        let builtin = |k| is_static.then_some(k);
        match name {
            "builtins.list" => builtin(SizeKind::List),
            "builtins.dict" | "builtins.frozendict" => builtin(SizeKind::Dict),
            "builtins.int" => builtin(SizeKind::Int),
            "builtins.str" => builtin(SizeKind::Str),
            "builtins.set" | "builtins.frozenset" => builtin(SizeKind::Set),
            "builtins.type" => builtin(SizeKind::Type),
            "builtins.frame" => builtin(SizeKind::Frame),
            "builtins.bytearray" => builtin(SizeKind::ByteArray),
            "builtins.code" => builtin(SizeKind::Code),
            "builtins.generator" | "builtins.coroutine" | "builtins.async_generator"
                if l.iframe.is_some() =>
            {
                builtin(SizeKind::Gen)
            }
            "collections.deque" if trusted && l.private.is_some() => Some(SizeKind::Deque),
            "array.array" if trusted => Some(SizeKind::Array),
            "_io.BytesIO" if trusted => Some(SizeKind::BytesIO),
            "_struct.Struct" if trusted => Some(SizeKind::Struct),
            // 3.6-3.8: `_struct.Struct`'s static type is named plain "Struct" (tp_name).
            "builtins.Struct" => builtin(SizeKind::Struct),
            "_queue.SimpleQueue" if trusted => Some(SizeKind::SimpleQueue),
            "numpy.ndarray" if trusted => Some(SizeKind::NdArray),
            "collections.OrderedDict" if trusted => Some(SizeKind::ODict),
            "decimal.Decimal" if trusted => Some(SizeKind::Decimal),
            "itertools.combinations" if trusted => Some(SizeKind::Combinations),
            "itertools.combinations_with_replacement" if trusted => {
                Some(SizeKind::CombinationsWithReplacement)
            }
            "itertools.permutations" if trusted => Some(SizeKind::Permutations),
            "itertools.product" if trusted => Some(SizeKind::Product),
            "xml.etree.ElementTree.Element" if trusted => Some(SizeKind::Element),
            "_pickle.Pickler" if trusted => Some(SizeKind::Pickler),
            "_pickle.Unpickler" if trusted => Some(SizeKind::Unpickler),
            "builtins.StgDict" if l.sizeof.as_ref().is_some_and(|s| s.stgdict_extra.is_some()) => {
                builtin(SizeKind::StgDict)
            }
            // 3.6: no `__sizeof__` of its own (3.7+), dict's applies.
            "builtins.StgDict" => builtin(SizeKind::Dict),
            "_ctypes.CType_Type" if trusted => Some(SizeKind::CType),
            "_io.BufferedReader" | "_io.BufferedWriter" | "_io.BufferedRandom"
                if trusted && l.private.is_some() =>
            {
                Some(SizeKind::Buffered)
            }
            _ => None,
        }
    }
}

/// How instances of one type are sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeRule {
    pub kind: SizeKind,
    /// Whether leakspy reproduces `sys.getsizeof` exactly for these instances.
    pub exact: bool,
    /// When not exact: the class whose `__sizeof__` applies, and how it is written ("C" or
    /// "Python"), e.g. `("pandas.core.base.PandasObject", "Python")`.
    pub owner: Option<(String, &'static str)>,
}

/// Most classes an MRO walk looks at.
const MAX_MRO: usize = 64;

/// Find the `__sizeof__` that applies to instances of `tp`: walk its MRO (`tp_mro`, else the
/// `tp_base` chain) and stop at the first class that defines one. Static builtin types of 3.12+ keep
/// their `__dict__` per interpreter (`tp_dict` is NULL), so for them only the modelled names count:
/// every other builtin with its own `__sizeof__` is in `tools/sizeof/list_types.py`'s list, which
/// the tests hold against the modelled names.
pub fn resolve(r: &Reader<'_>, tp: u64) -> Result<SizeRule> {
    let t = &r.l.type_;
    for cls in mro(r, tp)? {
        let flags = r.mem.read_u64(cls + t.tp_flags)?;
        let is_static = flags & r.l.misc.tpflags_heaptype == 0;
        let raw = r.mem.read_cstr(r.ptr(cls + t.tp_name)?, 256)?;
        let trusted = is_static || raw.contains(&b'.');
        let Ok(name) = crate::model::type_name(r, cls, flags) else {
            continue;
        };
        if let Some(kind) = SizeKind::of_class(r, &name, is_static, trusted) {
            if !layout_fits(r, kind, cls)? {
                return Ok(SizeRule {
                    kind: SizeKind::Unmodelled,
                    exact: false,
                    owner: Some((name, "C, struct of another patch release")),
                });
            }
            return Ok(SizeRule {
                kind,
                exact: true,
                owner: None,
            });
        }
        if is_static && name == "builtins.object" {
            break;
        }
        let dict = r.ptr(cls + t.tp_dict).unwrap_or(0);
        if dict == 0 {
            continue;
        }
        if let Ok(Some(f)) = r.dict_get_str(dict, "__sizeof__") {
            let how = match r
                .type_of(f)
                .and_then(|ft| crate::model::type_name_of(r, ft))
            {
                Ok(n) if n == "builtins.function" => "Python",
                _ => "C",
            };
            return Ok(SizeRule {
                kind: SizeKind::Unmodelled,
                exact: false,
                owner: Some((name, how)),
            });
        }
    }
    Ok(SizeRule {
        kind: SizeKind::Default,
        exact: true,
        owner: None,
    })
}

/// Whether the layout's offsets hold for the class `cls` that defines the `__sizeof__` of `kind`:
/// `_pickle`'s structs changed within 3.13 and 3.14 (fields added in patch releases), so their
/// offsets are used only when the class's basic size is the one they were generated with.
fn layout_fits(r: &Reader<'_>, kind: SizeKind, cls: u64) -> Result<bool> {
    let want = match (kind, r.l.sizeof.as_ref()) {
        (SizeKind::Pickler, Some(s)) => s.pickler_size,
        (SizeKind::Unpickler, Some(s)) => s.unpickler_size,
        _ => return Ok(true),
    };
    let basicsize = r.mem.read_u64(cls + r.l.type_.tp_basicsize)?;
    Ok(want == Some(basicsize))
}

/// The classes of `tp`'s MRO, `tp` first: `tp_mro` when set, else the `tp_base` chain.
fn mro(r: &Reader<'_>, tp: u64) -> Result<Vec<u64>> {
    let l = r.l;
    let tuple = r.ptr(tp + l.type_.tp_mro).unwrap_or(0);
    if tuple != 0 {
        if let Ok(n) = r.ob_size(tuple) {
            if n > 0 && (n as usize) <= MAX_MRO {
                let raw = r.mem.read_vec(tuple + l.tuple.ob_item, n as usize * 8)?;
                let v: Vec<u64> = raw
                    .chunks_exact(8)
                    .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
                    .collect();
                if v.first() == Some(&tp) && v.iter().all(|&c| c != 0) {
                    return Ok(v);
                }
            }
        }
    }
    let mut v = Vec::new();
    let mut cur = tp;
    while cur != 0 && v.len() < MAX_MRO {
        v.push(cur);
        cur = r.ptr(cur + l.type_.tp_base)?;
    }
    Ok(v)
}

/// `sys.getsizeof(obj)` as the target would compute it, for an object on a GC list: every one is a
/// GC object, so `sys.getsizeof` adds the GC header, plus (3.11+) the managed dict/weakref
/// pre-header when the type has one.
pub fn getsizeof(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    let base = getsizeof_base(r, obj, t)?;
    Ok(base + gc_prefix(r, t.flags | r.l.misc.tpflags_have_gc))
}

/// `sys.getsizeof(obj)` for an object found off the GC lists: GC types still get their header
/// (an untracked tuple or dict is a GC object); a static type object follows the version's rule.
pub fn getsizeof_untracked(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    let l = r.l;
    let base = getsizeof_base(r, obj, t)?;
    let static_type =
        t.is_type && r.mem.read_u64(obj + l.type_.tp_flags)? & l.misc.tpflags_heaptype == 0;
    let extra = if !static_type {
        gc_prefix(r, t.flags)
    } else if l.misc.getsizeof_rule == "preheader" {
        // 3.11/3.12: `_PyType_PreHeaderSize(Py_TYPE(o))`, even for a static type object.
        gc_prefix(r, t.flags)
    } else {
        0
    };
    Ok(base + extra)
}

/// What `sys.getsizeof` adds in front of an object of a type with these flags: the GC header for
/// GC types, and the 3.11+ managed dict/weakref pre-header.
pub fn gc_prefix(r: &Reader<'_>, flags: u64) -> u64 {
    let m = &r.l.misc;
    if flags & m.tpflags_have_gc == 0 {
        return 0;
    }
    if let Some(mm) = &r.l.mimalloc {
        // free-threaded: `_PyType_PreHeaderSize` has no PyGC_Head, only the pre-header
        return if flags & m.tpflags_preheader != 0 {
            mm.presize_gc_pre
        } else {
            mm.presize_gc
        };
    }
    r.l.gc.head_size
        + if flags & m.tpflags_preheader != 0 {
            m.preheader_size
        } else {
            0
        }
}

/// `type(obj).__sizeof__(obj)`: what `sys.getsizeof` returns before it adds the GC header and
/// pre-header.
pub fn getsizeof_base(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    let l = r.l;
    let base = match t.size_kind {
        SizeKind::Default => {
            if t.itemsize == 0 {
                t.basicsize
            } else {
                t.basicsize
                    .saturating_add(t.itemsize.saturating_mul(r.ob_size(obj)?.unsigned_abs()))
            }
        }
        SizeKind::Unmodelled => t.basicsize,
        SizeKind::List => t
            .basicsize
            .saturating_add(r.mem.read_u64(obj + l.list.allocated)?.saturating_mul(8)),
        SizeKind::Set => {
            let table = r.ptr(obj + l.set.table)?;
            let extra = if table != obj + l.set.smalltable {
                r.mem
                    .read_u64(obj + l.set.mask)?
                    .saturating_add(1)
                    .saturating_mul(l.set.entry_size)
            } else {
                0
            };
            t.basicsize.saturating_add(extra)
        }
        SizeKind::Dict => t.basicsize.saturating_add(dict_extra(r, obj)?),
        SizeKind::Type => {
            // type.__sizeof__: heap types add their cached shared keys.
            if r.mem.read_u64(obj + l.type_.tp_flags)? & l.misc.tpflags_heaptype != 0 {
                let cached = r.ptr(obj + l.type_.ht_cached_keys)?;
                l.type_.heap_size
                    + if cached != 0 {
                        keys_size(r, cached)?
                    } else {
                        0
                    }
            } else {
                l.type_.size
            }
        }
        SizeKind::Gen => gen_sizeof(r, obj)?,
        SizeKind::Code => code_sizeof(r, obj, t)?,
        SizeKind::Int => {
            let lo = &l.long;
            let raw = r.mem.read_u64(obj + lo.size_or_tag)?;
            let n = if lo.lv_tag {
                raw >> 3
            } else {
                (raw as i64).unsigned_abs()
            };
            // 3.11+ allocate one digit even for zero, and int.__sizeof__ says so (Py_MAX(n, 1)).
            let n = if lo.sizeof_min_one_digit { n.max(1) } else { n };
            lo.ob_digit.saturating_add(n.saturating_mul(lo.digit_size))
        }
        SizeKind::Str => str_sizeof(r, obj)?,
        SizeKind::Deque => {
            let p = l
                .private
                .as_ref()
                .ok_or_else(|| Error::Other("no deque layout".into()))?;
            let left = r.mem.read_u64(obj + p.deque_leftindex)?;
            let len = r.ob_size(obj)?.unsigned_abs();
            let blocks = if p.deque_blocklen == 0 {
                0
            } else {
                left.saturating_add(len).div_ceil(p.deque_blocklen)
            };
            t.basicsize
                .saturating_add(blocks.saturating_mul(p.deque_block_size))
        }
        SizeKind::Buffered => t
            .basicsize
            .saturating_add(buffered_buffer(r, obj)?.map_or(0, |(_, n)| n)),
        SizeKind::Frame => frame_sizeof(r, obj, t)?,
        SizeKind::ByteArray => modules::bytearray(r, obj, t)?,
        SizeKind::Array => modules::array(r, obj, t)?,
        SizeKind::BytesIO => modules::bytesio(r, obj, t)?,
        SizeKind::Struct => modules::struct_(r, obj, t)?,
        SizeKind::NdArray => numpy::ndarray_sizeof(r, obj, t)?,
        SizeKind::ODict => modules::odict(r, obj, t)?,
        SizeKind::Decimal => modules::decimal(r, obj, t)?,
        SizeKind::Combinations | SizeKind::CombinationsWithReplacement => {
            modules::combinations(r, obj, t)?
        }
        SizeKind::Permutations => modules::permutations(r, obj, t)?,
        SizeKind::Product => modules::product(r, obj, t)?,
        SizeKind::Element => modules::element(r, obj, t)?,
        SizeKind::Pickler => modules::pickler(r, obj, t)?,
        SizeKind::Unpickler => modules::unpickler(r, obj, t)?,
        SizeKind::StgDict => modules::stgdict(r, obj, t)?,
        SizeKind::CType => modules::ctype(r, obj, t)?,
        SizeKind::SimpleQueue => modules::simplequeue(r, obj, t)?,
    };
    if base > MAX_OBJECT_SIZE {
        return Err(Error::Other(format!(
            "object at {obj:#x}: implausible size {base}"
        )));
    }
    Ok(base)
}

/// The bytes an object occupies in its own allocation (without GC header and pre-header), when
/// its fields say so exactly; `None` when it varies in ways leakspy does not model. Buffers the
/// object owns elsewhere (a list's items, a dict's keys) are not part of it.
pub fn inline_size(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Option<u64> {
    if t.flags & r.l.misc.tpflags_inline_values != 0 {
        return None;
    }
    match t.size_kind {
        SizeKind::Default | SizeKind::Int => getsizeof_base(r, obj, t).ok(),
        SizeKind::Code => code_inline(r, obj, t).ok(),
        SizeKind::Str => {
            if r.str_state(obj).ok()?.compact {
                getsizeof_base(r, obj, t).ok()
            } else {
                None
            }
        }
        SizeKind::List | SizeKind::Dict | SizeKind::Set | SizeKind::Deque | SizeKind::Buffered => {
            Some(t.basicsize)
        }
        SizeKind::ByteArray
        | SizeKind::Array
        | SizeKind::BytesIO
        | SizeKind::Struct
        | SizeKind::SimpleQueue
        | SizeKind::NdArray
        | SizeKind::Decimal
        | SizeKind::Combinations
        | SizeKind::CombinationsWithReplacement
        | SizeKind::Permutations
        | SizeKind::Product
        | SizeKind::Element
        | SizeKind::Pickler
        | SizeKind::Unpickler
        | SizeKind::ODict
        | SizeKind::StgDict => Some(t.basicsize),
        SizeKind::Type
        | SizeKind::CType
        | SizeKind::Gen
        | SizeKind::Frame
        | SizeKind::Unmodelled => None,
    }
}

/// `_io.Buffered*`'s buffer, `(address, buffer_size)`, when it has one.
pub(super) fn buffered_buffer(r: &Reader<'_>, obj: u64) -> Result<Option<(u64, u64)>> {
    let p =
        r.l.private
            .as_ref()
            .ok_or_else(|| Error::Other("no buffered layout".into()))?;
    let buffer = r.ptr(obj + p.buffered_buffer)?;
    Ok(if buffer != 0 {
        Some((buffer, r.mem.read_u64(obj + p.buffered_buffer_size)?))
    } else {
        None
    })
}

/// The `[sizeof]` layout section, or an error naming what needs it.
pub(super) fn sizeof_layout<'l>(r: &Reader<'l>, what: &str) -> Result<&'l leakspy_layout::Sizeof> {
    r.l.sizeof
        .as_ref()
        .ok_or_else(|| Error::Other(format!("no [sizeof] layout for {what}")))
}

/// A field the layout has for this version, or an error naming it.
pub(super) fn field(v: Option<u64>, name: &str) -> Result<u64> {
    v.ok_or_else(|| Error::Other(format!("layout has no sizeof.{name}")))
}
