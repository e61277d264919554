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

use crate::error::{Error, Result};
use crate::model::{Reader, TypeInfo};
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
            "builtins.StgDict" => builtin(SizeKind::StgDict),
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
        SizeKind::Buffered => {
            let p = l
                .private
                .as_ref()
                .ok_or_else(|| Error::Other("no buffered layout".into()))?;
            let buffer = r.ptr(obj + p.buffered_buffer)?;
            t.basicsize.saturating_add(if buffer != 0 {
                r.mem.read_u64(obj + p.buffered_buffer_size)?
            } else {
                0
            })
        }
        SizeKind::Frame => frame_sizeof(r, obj, t)?,
        SizeKind::ByteArray => {
            let s = sizeof_layout(r, "bytearray")?;
            let alloc = r
                .mem
                .read_u64(obj + field(s.bytearray_alloc, "bytearray_alloc")?)?;
            // 3.15 keeps the buffer in a bytes object and counts its header and NUL too.
            t.basicsize.saturating_add(match s.bytearray_bytes_object {
                Some(_) if alloc > 0 => field(s.bytes_sval, "bytes_sval")?
                    .saturating_add(1)
                    .saturating_add(alloc),
                Some(_) => 0,
                None => alloc,
            })
        }
        SizeKind::Array => {
            let s = sizeof_layout(r, "array.array")?;
            let descr = r.ptr(obj + field(s.array_descr, "array_descr")?)?;
            let itemsize = r
                .mem
                .read_i32(descr + field(s.arraydescr_itemsize, "arraydescr_itemsize")?)?;
            let allocated = r
                .mem
                .read_u64(obj + field(s.array_allocated, "array_allocated")?)?;
            t.basicsize
                .saturating_add(allocated.saturating_mul(u64::from(itemsize.unsigned_abs())))
        }
        SizeKind::BytesIO => {
            let s = sizeof_layout(r, "BytesIO")?;
            let buf = r.ptr(obj + field(s.bytesio_buf, "bytesio_buf")?)?;
            // SHARED_BUF: the buffer counts only while this object is its one owner (an immortal
            // buffer, 3.12+, never has a count of 1).
            let owned = buf != 0 && refcnt(r, s, buf)? == 1;
            t.basicsize.saturating_add(if owned {
                field(s.bytes_sval, "bytes_sval")?
                    .saturating_add(1)
                    .saturating_add(r.ob_size(buf)?.unsigned_abs())
            } else {
                0
            })
        }
        SizeKind::Struct => {
            let s = sizeof_layout(r, "Struct")?;
            let size = field(s.formatcode_size, "formatcode_size")?;
            let fmtdef = field(s.formatcode_fmtdef, "formatcode_fmtdef")?;
            let mut code = r.ptr(obj + field(s.struct_codes, "struct_codes")?)?;
            let mut n = 1u64;
            if code != 0 {
                while r.ptr(code + fmtdef)? != 0 {
                    n += 1;
                    code = code.saturating_add(size);
                    if n > MAX_STRUCT_CODES {
                        return Err(Error::Other(format!("Struct at {obj:#x}: too many codes")));
                    }
                }
            }
            t.basicsize.saturating_add(n.saturating_mul(size))
        }
        SizeKind::NdArray => ndarray_sizeof(r, obj, t)?,
        SizeKind::ODict => {
            let s = sizeof_layout(r, "OrderedDict")?;
            let mut n = t.basicsize.saturating_add(dict_extra(r, obj)?);
            let fast = r
                .mem
                .read_u64(obj + field(s.odict_fast_nodes_size, "odict_fast_nodes_size")?)?;
            n = n.saturating_add(fast.saturating_mul(field(
                s.odict_fast_node_ptr_size,
                "odict_fast_node_ptr_size",
            )?));
            if r.ptr(obj + field(s.odict_first, "odict_first")?)? != 0 {
                let used = r
                    .mem
                    .read_u64(obj + field(s.odict_ma_used, "odict_ma_used")?)?;
                n = n.saturating_add(
                    used.saturating_mul(field(s.odict_node_size, "odict_node_size")?),
                );
            }
            n
        }
        SizeKind::Decimal => {
            let s = sizeof_layout(r, "Decimal")?;
            let flags = u64::from(
                r.mem
                    .read_u8(obj + field(s.decimal_flags, "decimal_flags")?)?,
            );
            // mpd_isdynamic_data: none of MPD_STATIC_DATA, MPD_SHARED_DATA, MPD_CONST_DATA.
            t.basicsize.saturating_add(
                if flags & field(s.decimal_dataflags, "decimal_dataflags")? == 0 {
                    r.mem
                        .read_u64(obj + field(s.decimal_alloc, "decimal_alloc")?)?
                        .saturating_mul(field(s.decimal_limb_size, "decimal_limb_size")?)
                } else {
                    0
                },
            )
        }
        SizeKind::Combinations | SizeKind::CombinationsWithReplacement => {
            let s = sizeof_layout(r, "combinations")?;
            let off = if t.size_kind == SizeKind::Combinations {
                field(s.combinations_r, "combinations_r")?
            } else {
                field(s.cwr_r, "cwr_r")?
            };
            t.basicsize.saturating_add(
                r.mem
                    .read_u64(obj + off)?
                    .saturating_mul(field(s.itertools_index_size, "itertools_index_size")?),
            )
        }
        SizeKind::Permutations => {
            let s = sizeof_layout(r, "permutations")?;
            let pool = r.ptr(obj + field(s.permutations_pool, "permutations_pool")?)?;
            let n = r.ob_size(pool)?.unsigned_abs().saturating_add(
                r.mem
                    .read_u64(obj + field(s.permutations_r, "permutations_r")?)?,
            );
            t.basicsize.saturating_add(
                n.saturating_mul(field(s.itertools_index_size, "itertools_index_size")?),
            )
        }
        SizeKind::Product => {
            let s = sizeof_layout(r, "product")?;
            let pools = r.ptr(obj + field(s.product_pools, "product_pools")?)?;
            t.basicsize.saturating_add(
                r.ob_size(pools)?
                    .unsigned_abs()
                    .saturating_mul(field(s.itertools_index_size, "itertools_index_size")?),
            )
        }
        SizeKind::Element => {
            let s = sizeof_layout(r, "Element")?;
            let extra = r.ptr(obj + field(s.element_extra, "element_extra")?)?;
            let mut n = t.basicsize;
            if extra != 0 {
                n = n.saturating_add(field(s.element_extra_size, "element_extra_size")?);
                let children =
                    r.ptr(extra + field(s.element_extra_children, "element_extra_children")?)?;
                let inline = extra
                    + field(
                        s.element_extra_static_children,
                        "element_extra_static_children",
                    )?;
                if children != inline {
                    let allocated = r.mem.read_u64(
                        extra + field(s.element_extra_allocated, "element_extra_allocated")?,
                    )?;
                    n = n.saturating_add(allocated.saturating_mul(8));
                }
            }
            n
        }
        SizeKind::Pickler => {
            let s = sizeof_layout(r, "Pickler")?;
            let mut n = t.basicsize;
            let memo = r.ptr(obj + field(s.pickler_memo, "pickler_memo")?)?;
            if memo != 0 {
                let allocated = r.mem.read_u64(
                    memo + field(s.pickler_memotable_allocated, "pickler_memotable_allocated")?,
                )?;
                n = n
                    .saturating_add(field(s.pickler_memotable_size, "pickler_memotable_size")?)
                    .saturating_add(allocated.saturating_mul(field(
                        s.pickler_memoentry_size,
                        "pickler_memoentry_size",
                    )?));
            }
            let buf = r.ptr(obj + field(s.pickler_output_buffer, "pickler_output_buffer")?)?;
            if buf != 0 {
                n = n
                    .saturating_add(field(s.pickler_bytes_base, "pickler_bytes_base")?)
                    .saturating_add(r.ob_size(buf)?.unsigned_abs());
            }
            n
        }
        SizeKind::Unpickler => {
            let s = sizeof_layout(r, "Unpickler")?;
            let mut n = t.basicsize;
            if r.ptr(obj + field(s.unpickler_memo, "unpickler_memo")?)? != 0 {
                n = n.saturating_add(
                    r.mem
                        .read_u64(obj + field(s.unpickler_memo_size, "unpickler_memo_size")?)?
                        .saturating_mul(field(s.unpickler_ptr_size, "unpickler_ptr_size")?),
                );
            }
            if r.ptr(obj + field(s.unpickler_marks, "unpickler_marks")?)? != 0 {
                n = n.saturating_add(
                    r.mem
                        .read_u64(obj + field(s.unpickler_marks_size, "unpickler_marks_size")?)?
                        .saturating_mul(8),
                );
            }
            for (off, name) in [
                (s.unpickler_input_line, "unpickler_input_line"),
                (s.unpickler_encoding, "unpickler_encoding"),
                (s.unpickler_errors, "unpickler_errors"),
            ] {
                n = n.saturating_add(cstr_size(r, r.ptr(obj + field(off, name)?)?)?);
            }
            n
        }
        SizeKind::StgDict => {
            let s = sizeof_layout(r, "StgDict")?;
            // PyCStgDict_sizeof: _PyDict_SizeOf (with the StgDict's own basic size) plus the
            // StgDict fields once more, as the C code adds them.
            let mut n = t
                .basicsize
                .saturating_add(dict_extra(r, obj)?)
                .saturating_add(field(s.stgdict_extra, "stgdict_extra")?);
            n = n.saturating_add(cstr_size(
                r,
                r.ptr(obj + field(s.stgdict_format, "stgdict_format")?)?,
            )?);
            n = n.saturating_add(ndim_size(
                r.mem
                    .read_i32(obj + field(s.stgdict_ndim, "stgdict_ndim")?)?,
            ));
            if r.ptr(obj + field(s.stgdict_ffi_elements, "stgdict_ffi_elements")?)? != 0 {
                let length = r
                    .mem
                    .read_u64(obj + field(s.stgdict_length, "stgdict_length")?)?;
                n = n.saturating_add(length.saturating_add(1).saturating_mul(8));
            }
            n
        }
        SizeKind::CType => {
            let s = sizeof_layout(r, "CType_Type")?;
            let mut n = t
                .basicsize
                .saturating_add(t.itemsize.saturating_mul(r.ob_size(obj)?.unsigned_abs()));
            let info = obj + field(s.ctype_stginfo, "ctype_stginfo")?;
            if r.mem
                .read_i32(info + field(s.ctype_initialized, "ctype_initialized")?)?
                != 0
            {
                n = n.saturating_add(cstr_size(
                    r,
                    r.ptr(info + field(s.ctype_format, "ctype_format")?)?,
                )?);
                if r.ptr(info + field(s.ctype_ffi_elements, "ctype_ffi_elements")?)? != 0 {
                    let length = r
                        .mem
                        .read_u64(info + field(s.ctype_length, "ctype_length")?)?;
                    n = n.saturating_add(length.saturating_add(1).saturating_mul(8));
                }
                n = n.saturating_add(ndim_size(
                    r.mem.read_i32(info + field(s.ctype_ndim, "ctype_ndim")?)?,
                ));
            }
            n
        }
        SizeKind::SimpleQueue => match r.l.sizeof.as_ref().and_then(|s| s.simplequeue_items_cap) {
            Some(cap) => t
                .basicsize
                .saturating_add(r.mem.read_u64(obj + cap)?.saturating_mul(8)),
            None => t.basicsize,
        },
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

/// The part of `code.__sizeof__` that is the code object's own allocation: 3.11+
/// `_PyObject_VAR_SIZE` (basicsize + n * itemsize rounded up to 8; `co_code_adaptive` inline), the
/// basic size before.
fn code_inline(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok(if t.itemsize == 0 {
        t.basicsize
    } else {
        t.basicsize
            .saturating_add(t.itemsize.saturating_mul(r.ob_size(obj)?.unsigned_abs()))
            .div_ceil(8)
            .saturating_mul(8)
    })
}

/// The `[sizeof]` layout section, or an error naming what needs it.
fn sizeof_layout<'l>(r: &Reader<'l>, what: &str) -> Result<&'l leakspy_layout::Sizeof> {
    r.l.sizeof
        .as_ref()
        .ok_or_else(|| Error::Other(format!("no [sizeof] layout for {what}")))
}

/// A field the layout has for this version, or an error naming it.
fn field(v: Option<u64>, name: &str) -> Result<u64> {
    v.ok_or_else(|| Error::Other(format!("layout has no sizeof.{name}")))
}

/// `code.__sizeof__` (Objects/codeobject.c `code_sizeof`; the rules are cited in the generator).
fn code_sizeof(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    let mut n = code_inline(r, obj, t)?;
    let Some(s) = r.l.sizeof.as_ref() else {
        return Ok(n);
    };
    if let (Some(cell2arg), Some(cellvars)) = (s.code_cell2arg, s.code_cellvars) {
        let cellvars = r.ptr(obj + cellvars)?;
        if r.ptr(obj + cell2arg)? != 0 && cellvars != 0 {
            n = n.saturating_add(r.ob_size(cellvars)?.unsigned_abs().saturating_mul(8));
        }
    }
    if let Some(opcache) = s.code_opcache {
        if r.ptr(obj + opcache)? != 0 {
            let code = r.ptr(obj + field(s.code_code, "code_code")?)?;
            let unit = field(s.codeunit_size, "codeunit_size")?.max(1);
            let entries = u64::from(
                r.mem
                    .read_u8(obj + field(s.code_opcache_size, "code_opcache_size")?)?,
            );
            n = n
                .saturating_add(r.ob_size(code)?.unsigned_abs() / unit)
                .saturating_add(entries.saturating_mul(field(s.opcache_size, "opcache_size")?));
        }
    }
    if let Some(extra) = s.code_extra {
        let extra = r.ptr(obj + extra)?;
        if extra != 0 {
            let ce_size = r.mem.read_u64(extra)?;
            n = n
                .saturating_add(field(s.code_extra_size, "code_extra_size")?)
                .saturating_add(
                    ce_size
                        .saturating_sub(1)
                        .saturating_mul(field(s.code_extra_item, "code_extra_item")?),
                );
        }
    }
    Ok(n)
}

/// Give an `ndarray` type the numpy layout of the target; without one (numpy not found in
/// `sys.modules`, or a major version leakspy has no layout for) its size is not modelled.
pub fn attach_numpy(t: &mut TypeInfo, numpy: Option<&std::sync::Arc<leakspy_layout::NumpyLayout>>) {
    if t.size_kind != SizeKind::NdArray {
        return;
    }
    match numpy {
        Some(l) => t.numpy = Some(l.clone()),
        None => {
            t.size_kind = SizeKind::Unmodelled;
            t.size_exact = false;
            t.sizeof_owner = Some(("numpy.ndarray".into(), "C, numpy version not recognised"));
        }
    }
}

/// The layout of the numpy that interpreter `interp` imported: `numpy.__version__` from
/// `sys.modules`, its major version picking the ABI.
pub fn numpy_layout(r: &Reader<'_>, interp: u64) -> Option<leakspy_layout::NumpyLayout> {
    let modules = r.ptr(interp + r.l.interp.modules).ok()?;
    let numpy = r.dict_get_str(modules, "numpy").ok()??;
    // PyModuleObject { PyObject_HEAD; PyObject *md_dict; ... }
    let md_dict = r.ptr(numpy + r.l.object.size).ok()?;
    let version = r.dict_get_str(md_dict, "__version__").ok()??;
    let text = r.str(version).ok()?;
    let major: u64 = text.split('.').next()?.parse().ok()?;
    leakspy_layout::numpy_layouts().for_major(major).cloned()
}

/// Most dimensions an array may have (`NPY_MAXDIMS` is 64 in numpy 2, 32 before).
const MAX_NDIM: u64 = 64;

/// `array_sizeof` (numpy `methods.c`): the type's basic size, a dimension and a stride per axis,
/// and, when the array owns its data (`NPY_ARRAY_OWNDATA`), `elsize * product(dimensions)`.
fn ndarray_sizeof(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    let l = t
        .numpy
        .as_deref()
        .ok_or_else(|| Error::Other("no numpy layout".into()))?;
    let read_n = |addr: u64, size: u64| -> Result<u64> {
        Ok(match size {
            4 => u64::from(r.mem.read_u32(addr)?),
            _ => r.mem.read_u64(addr)?,
        })
    };
    let nd = read_n(obj + l.array_nd, l.array_nd_size)?;
    if nd > MAX_NDIM {
        return Err(Error::Other(format!(
            "ndarray at {obj:#x}: {nd} dimensions"
        )));
    }
    let mut n = t
        .basicsize
        .saturating_add(nd.saturating_mul(2).saturating_mul(l.sizeof_npy_intp));
    let flags = read_n(obj + l.array_flags, l.array_flags_size)?;
    if flags & l.array_owndata != 0 {
        n = n.saturating_add(ndarray_nbytes(r, obj, l, nd)?);
    }
    Ok(n)
}

/// `PyArray_NBYTES`: the item size times every dimension.
fn ndarray_nbytes(
    r: &Reader<'_>,
    obj: u64,
    l: &leakspy_layout::NumpyLayout,
    nd: u64,
) -> Result<u64> {
    let descr = r.ptr(obj + l.array_descr)?;
    let elsize = match l.descr_elsize_size {
        4 => u64::from(r.mem.read_u32(descr + l.descr_elsize)?),
        _ => r.mem.read_u64(descr + l.descr_elsize)?,
    };
    let dims = r.ptr(obj + l.array_dimensions)?;
    let mut n = elsize;
    if nd > 0 {
        let raw = r.mem.read_vec(dims, (nd * 8) as usize)?;
        for w in raw.chunks_exact(8) {
            n = n.saturating_mul(u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
    }
    Ok(n)
}

/// Longest C string a `__sizeof__` counts (`strlen + 1`): an unpickler's input line is one whole
/// protocol-0 line.
const MAX_CSTR: usize = 64 << 20;

/// `strlen(p) + 1` of a C string, 0 for NULL.
fn cstr_size(r: &Reader<'_>, p: u64) -> Result<u64> {
    if p == 0 {
        return Ok(0);
    }
    Ok(r.mem.read_cstr(p, MAX_CSTR)?.len() as u64 + 1)
}

/// `ndim * sizeof(Py_ssize_t)` of a ctypes shape (a negative `ndim` from garbage counts nothing).
fn ndim_size(ndim: i32) -> u64 {
    u64::from(ndim.max(0).unsigned_abs()).saturating_mul(8)
}

/// Most codes a `Struct` may have (a format's codes are bounded by its length; this bounds a walk
/// over garbage).
const MAX_STRUCT_CODES: u64 = 1 << 20;

/// An object's reference count (its low 32 bits from 3.14, where the word also holds flags).
fn refcnt(r: &Reader<'_>, s: &leakspy_layout::Sizeof, obj: u64) -> Result<u64> {
    Ok(if s.object_refcnt_size == Some(4) {
        u64::from(r.mem.read_u32(obj)?)
    } else {
        r.mem.read_u64(obj)?
    })
}

/// The value slots of a frame running `code` (3.11+ `_PyFrame_NumSlotsForCodeObject`):
/// `co_framesize - FRAME_SPECIALS_SIZE` (3.12+), `co_nlocalsplus + co_stacksize` (3.11).
fn frame_slots(r: &Reader<'_>, s: &leakspy_layout::Sizeof, code: u64) -> Result<u64> {
    let n = match s.code_framesize {
        Some(fs) => {
            i64::from(r.mem.read_i32(code + fs)?)
                - field(s.frame_specials_size, "frame_specials_size")? as i64
        }
        None => {
            i64::from(
                r.mem
                    .read_i32(code + field(s.code_nlocalsplus, "code_nlocalsplus")?)?,
            ) + i64::from(
                r.mem
                    .read_i32(code + field(s.code_stacksize, "code_stacksize")?)?,
            )
        }
    };
    u64::try_from(n).map_err(|_| Error::Other(format!("code at {code:#x}: {n} frame slots")))
}

/// The code object an interpreter frame runs (3.14+: a `_PyStackRef`, tag bit cleared).
fn iframe_code(r: &Reader<'_>, s: &leakspy_layout::Sizeof, iframe: u64) -> Result<u64> {
    let raw = r
        .mem
        .read_u64(iframe + field(s.iframe_code, "iframe_code")?)?;
    Ok(raw & !s.stackref_tag_refcnt.unwrap_or(0))
}

/// `gen_sizeof` (Objects/genobject.c, 3.11+): the object up to its embedded frame's
/// `localsplus`, and the slots of the code it runs (fixed for the generator's life: not started,
/// suspended, running, finished alike).
fn gen_sizeof(r: &Reader<'_>, obj: u64) -> Result<u64> {
    let s = sizeof_layout(r, "generator")?;
    let gi = field(s.gen_iframe, "gen_iframe")?;
    let code = match s.gen_code {
        Some(gc) => r.ptr(obj + gc)?,
        None => iframe_code(r, s, obj + gi)?,
    };
    Ok(gi
        .saturating_add(field(s.iframe_localsplus, "iframe_localsplus")?)
        .saturating_add(frame_slots(r, s, code)?.saturating_mul(8)))
}

/// `frame_sizeof` (Objects/frameobject.c). 3.9/3.10: `sizeof(PyFrameObject)` plus one slot per
/// stack entry, local, cell and free variable of its code, less the one in the struct (not
/// `ob_size`: a frame reused from the free list keeps a larger one). 3.11+: the object up to the
/// embedded frame's `localsplus`, plus the slots of the code its frame runs (`f_frame` points to
/// the embedded data, a live frame on a thread's stack, or a generator's frame: all alike).
fn frame_sizeof(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    let s = sizeof_layout(r, "frame")?;
    if let Some(fc) = s.frame_code {
        let code = r.ptr(obj + fc)?;
        let int = |off: Option<u64>, name| -> Result<i64> {
            Ok(i64::from(r.mem.read_i32(code + field(off, name)?)?))
        };
        let tuple_len = |off: Option<u64>, name| -> Result<i64> {
            let tuple = r.ptr(code + field(off, name)?)?;
            r.ob_size(tuple)
        };
        let extras = int(s.code_stacksize, "code_stacksize")?
            + int(s.code_nlocals, "code_nlocals")?
            + tuple_len(s.code_cellvars, "code_cellvars")?
            + tuple_len(s.code_freevars, "code_freevars")?;
        let slots = u64::try_from(extras - 1)
            .map_err(|_| Error::Other(format!("frame at {obj:#x}: {extras} slots")))?;
        return Ok(field(s.frame_struct_size, "frame_struct_size")?.saturating_add(slots * 8));
    }
    if let Some(ff) = s.frame_frame {
        let iframe = r.ptr(obj + ff)?;
        let code = iframe_code(r, s, iframe)?;
        return Ok(field(s.frame_data, "frame_data")?
            .saturating_add(field(s.iframe_localsplus, "iframe_localsplus")?)
            .saturating_add(frame_slots(r, s, code)?.saturating_mul(8)));
    }
    Ok(t.basicsize)
}

/// `str.__sizeof__` (Objects/unicodeobject.c `unicode_sizeof`): compact strings carry their data
/// (plus a NUL) inline; two-block strings (subclasses) add their separate data block.
fn str_sizeof(r: &Reader<'_>, obj: u64) -> Result<u64> {
    let u = &r.l.unicode;
    let len = r.mem.read_u64(obj + u.length)?;
    let st = r.str_state(obj)?;
    let kind = u64::from(st.kind);
    Ok(if st.compact && st.ascii {
        u.ascii_size.saturating_add(len).saturating_add(1)
    } else if st.compact {
        u.compact_size
            .saturating_add(len.saturating_add(1).saturating_mul(kind))
    } else {
        let data = r.ptr(obj + u.data_any)?;
        (u.data_any + 8).saturating_add(if data != 0 {
            len.saturating_add(1).saturating_mul(kind)
        } else {
            0
        })
    })
}

/// What `dict.__sizeof__` adds to the basic size: split values and (unshared) keys.
fn dict_extra(r: &Reader<'_>, obj: u64) -> Result<u64> {
    let l = r.l;
    let keys = r.ptr(obj + l.dict.ma_keys)?;
    let values = r.ptr(obj + l.dict.ma_values)?;
    let t = r.keys_table(keys)?;
    let mut extra = 0u64;
    if values != 0 {
        // ≤3.10: USABLE_FRACTION(size) slots; 3.11+: shared_keys_usable_size = nentries + usable.
        // (`usable` is read from the target: saturate, getsizeof refuses an implausible total.)
        extra = 8u64.saturating_mul(if l.dictkeys.dk_size.is_some() {
            t.usable_fraction()
        } else {
            t.nentries.saturating_add(t.usable)
        });
    }
    if t.refcnt == 1 {
        extra = extra.saturating_add(keys_size(r, keys)?);
    }
    Ok(extra)
}

/// `_PyDict_KeysSize`.
pub fn keys_size(r: &Reader<'_>, keys: u64) -> Result<u64> {
    let t = r.keys_table(keys)?;
    Ok(r.l
        .dictkeys
        .size
        .saturating_add(t.index_bytes)
        .saturating_add(t.usable_fraction().saturating_mul(t.entry_size)))
}

/// Of `size` (the object's `sys.getsizeof`), the bytes outside pymalloc's arenas: the object's own
/// block when `in_arena(obj)` is false, and each separately allocated part it owns
/// ([`buffers`]) that is not in an arena. `parts` is scratch space.
pub fn outside_arenas(
    r: &Reader<'_>,
    obj: u64,
    t: &TypeInfo,
    size: u64,
    parts: &mut Vec<(u64, u64)>,
    in_arena: &dyn Fn(u64) -> bool,
) -> u64 {
    parts.clear();
    buffers(r, obj, t, parts);
    let owned: u64 = parts.iter().map(|&(_, n)| n).sum();
    // A racing object's buffers may claim more than its size: never count more than the size.
    let owned = owned.min(size);
    let mut out = if in_arena(obj) { 0 } else { size - owned };
    for &(addr, n) in parts.iter() {
        if !in_arena(addr) {
            out = out.saturating_add(n);
        }
    }
    out.min(size)
}

/// The separately allocated parts of an object that its `__sizeof__` counts: `(address, bytes)`.
/// Unreadable fields give no part (the bytes then count with the object's own block).
pub fn buffers(r: &Reader<'_>, obj: u64, t: &TypeInfo, out: &mut Vec<(u64, u64)>) {
    let l = r.l;
    let _ = (|| -> Result<()> {
        match t.size_kind {
            SizeKind::List => {
                let items = r.ptr(obj + l.list.ob_item)?;
                let n = r.mem.read_u64(obj + l.list.allocated)?.saturating_mul(8);
                if items != 0 && n > 0 {
                    out.push((items, n));
                }
            }
            SizeKind::Dict => {
                let keys = r.ptr(obj + l.dict.ma_keys)?;
                let values = r.ptr(obj + l.dict.ma_values)?;
                let total = dict_extra(r, obj)?;
                let kt = r.keys_table(keys)?;
                let keys_part = if kt.refcnt == 1 {
                    keys_size(r, keys)?
                } else {
                    0
                };
                if keys_part > 0 {
                    out.push((keys, keys_part));
                }
                if values != 0 && total > keys_part {
                    out.push((values, total - keys_part));
                }
            }
            SizeKind::Set => {
                let table = r.ptr(obj + l.set.table)?;
                if table != obj + l.set.smalltable {
                    let n = r
                        .mem
                        .read_u64(obj + l.set.mask)?
                        .saturating_add(1)
                        .saturating_mul(l.set.entry_size);
                    out.push((table, n));
                }
            }
            SizeKind::Str if !r.str_state(obj)?.compact => {
                let data = r.ptr(obj + l.unicode.data_any)?;
                let n = str_sizeof(r, obj)?.saturating_sub(l.unicode.data_any + 8);
                if data != 0 && n > 0 {
                    out.push((data, n));
                }
            }
            SizeKind::Type
                if r.mem.read_u64(obj + l.type_.tp_flags)? & l.misc.tpflags_heaptype != 0 =>
            {
                let cached = r.ptr(obj + l.type_.ht_cached_keys)?;
                if cached != 0 {
                    out.push((cached, keys_size(r, cached)?));
                }
            }
            SizeKind::NdArray => {
                let n = getsizeof_base(r, obj, t)?.saturating_sub(t.basicsize);
                if let Some(l) = t.numpy.as_deref() {
                    // Dimensions and strides are one small block; the data is usually large.
                    let nd_part = n.min(
                        u64::from(r.mem.read_u32(obj + l.array_nd)?)
                            .saturating_mul(2 * l.sizeof_npy_intp),
                    );
                    out.push((r.ptr(obj + l.array_dimensions)?, nd_part));
                    if n > nd_part {
                        out.push((r.ptr(obj + l.array_data)?, n - nd_part));
                    }
                }
            }
            SizeKind::ByteArray | SizeKind::Array | SizeKind::Struct | SizeKind::SimpleQueue => {
                let s = sizeof_layout(r, "buffer")?;
                let ptr_field = match t.size_kind {
                    SizeKind::ByteArray => s.bytearray_bytes_object.or(s.bytearray_bytes),
                    SizeKind::Array => s.array_item,
                    SizeKind::Struct => s.struct_codes,
                    _ => None,
                };
                let n = getsizeof_base(r, obj, t)?.saturating_sub(t.basicsize);
                let at = match ptr_field {
                    Some(f) => r.ptr(obj + f)?,
                    None => 0,
                };
                if n > 0 {
                    out.push((at, n));
                }
            }
            SizeKind::Deque => {
                // Blocks are PyMem_Malloc'd and bigger than pymalloc's largest class: all outside.
                let n = getsizeof_base(r, obj, t)?.saturating_sub(t.basicsize);
                if n > 0 {
                    out.push((0, n));
                }
            }
            SizeKind::Buffered => {
                let p = l
                    .private
                    .as_ref()
                    .ok_or_else(|| Error::Other("no buffered layout".into()))?;
                let buffer = r.ptr(obj + p.buffered_buffer)?;
                if buffer != 0 {
                    out.push((buffer, r.mem.read_u64(obj + p.buffered_buffer_size)?));
                }
            }
            _ => {}
        }
        Ok(())
    })();
}
