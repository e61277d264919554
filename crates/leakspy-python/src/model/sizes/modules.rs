//! The `__sizeof__` of C types of the standard library's extension modules (buffers, containers,
//! numbers, itertools, xml, pickle, ctypes), from the version's C source; struct offsets from the
//! layout's `[sizeof]` section (mirrored and cited in `tools/layoutgen/sizeof_*.h`).

use super::{field, sizeof_layout, SizeKind};
use crate::error::{Error, Result};
use crate::model::{Reader, TypeInfo};
use leakspy_memory::MemoryExt;

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
/// Free-threaded builds (`Py_REFCNT`, Include/refcount.h): the owner thread's `ob_ref_local` plus
/// the count in `ob_ref_shared` (above its flag bits); a local count of `u32::MAX` is immortal.
pub(super) fn refcnt(r: &Reader<'_>, s: &leakspy_layout::Sizeof, obj: u64) -> Result<u64> {
    if r.l.free_threaded.is_some() {
        let hdr = r.mem.read_array::<32>(obj)?;
        let (local, shared) = crate::model::ft_refcounts(r.l, &hdr)
            .ok_or_else(|| Error::Other(format!("object at {obj:#x}: no refcount fields")))?;
        if local == u32::MAX {
            return Ok(u64::MAX);
        }
        return Ok((i64::from(local) + shared).max(0) as u64);
    }
    Ok(if s.object_refcnt_size == Some(4) {
        u64::from(r.mem.read_u32(obj)?)
    } else {
        r.mem.read_u64(obj)?
    })
}

/// `bytearray.__sizeof__`: plus the allocated buffer (3.15: a bytes object's worth).
pub(super) fn bytearray(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `array.array.__sizeof__`: plus `allocated` items of the descriptor's item size.
pub(super) fn array(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `_io.BytesIO.__sizeof__`: plus `sys.getsizeof` of its buffer when it is the buffer's one owner.
pub(super) fn bytesio(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `_struct.Struct.__sizeof__`: plus one `formatcode` per code and the terminator.
pub(super) fn struct_(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `collections.OrderedDict.__sizeof__`: the dict, plus the fast-node index and a node per item.
pub(super) fn odict(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
        let s = sizeof_layout(r, "OrderedDict")?;
        let mut n = t
            .basicsize
            .saturating_add(super::builtins::dict_extra(r, obj)?);
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
            n = n.saturating_add(used.saturating_mul(field(s.odict_node_size, "odict_node_size")?));
        }
        n
    })
}

/// `decimal.Decimal.__sizeof__`: plus its limbs when they are not the inline ones.
pub(super) fn decimal(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `itertools.combinations` / `combinations_with_replacement.__sizeof__`: plus `r` indices.
pub(super) fn combinations(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `itertools.permutations.__sizeof__`: plus an index per pool item and `r` cycles.
pub(super) fn permutations(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
        let s = sizeof_layout(r, "permutations")?;
        let pool = r.ptr(obj + field(s.permutations_pool, "permutations_pool")?)?;
        let n = r.ob_size(pool)?.unsigned_abs().saturating_add(
            r.mem
                .read_u64(obj + field(s.permutations_r, "permutations_r")?)?,
        );
        t.basicsize.saturating_add(
            n.saturating_mul(field(s.itertools_index_size, "itertools_index_size")?),
        )
    })
}

/// `itertools.product.__sizeof__`: plus an index per pool.
pub(super) fn product(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
        let s = sizeof_layout(r, "product")?;
        let pools = r.ptr(obj + field(s.product_pools, "product_pools")?)?;
        t.basicsize.saturating_add(
            r.ob_size(pools)?
                .unsigned_abs()
                .saturating_mul(field(s.itertools_index_size, "itertools_index_size")?),
        )
    })
}

/// `xml.etree.ElementTree.Element.__sizeof__`: plus its extra block and a grown children array.
pub(super) fn element(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `_pickle.Pickler.__sizeof__`: plus its memo table and output buffer.
pub(super) fn pickler(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
        let s = sizeof_layout(r, "Pickler")?;
        let mut n = t.basicsize;
        let memo = r.ptr(obj + field(s.pickler_memo, "pickler_memo")?)?;
        if memo != 0 {
            let allocated = r.mem.read_u64(
                memo + field(s.pickler_memotable_allocated, "pickler_memotable_allocated")?,
            )?;
            n = n
                .saturating_add(field(s.pickler_memotable_size, "pickler_memotable_size")?)
                .saturating_add(
                    allocated
                        .saturating_mul(field(s.pickler_memoentry_size, "pickler_memoentry_size")?),
                );
        }
        let buf = r.ptr(obj + field(s.pickler_output_buffer, "pickler_output_buffer")?)?;
        if buf != 0 {
            n = n
                .saturating_add(field(s.pickler_bytes_base, "pickler_bytes_base")?)
                .saturating_add(r.ob_size(buf)?.unsigned_abs());
        }
        n
    })
}

/// `_pickle.Unpickler.__sizeof__`: plus memo, marks and its C strings.
pub(super) fn unpickler(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// 3.9-3.12 ctypes `StgDict.__sizeof__`: `_PyDict_SizeOf` (with the StgDict's basic size), the
/// StgDict fields once more (as the C code adds them), format, shape and ffi elements.
pub(super) fn stgdict(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
        let s = sizeof_layout(r, "StgDict")?;
        // PyCStgDict_sizeof: _PyDict_SizeOf (with the StgDict's own basic size) plus the
        // StgDict fields once more, as the C code adds them.
        let mut n = t
            .basicsize
            .saturating_add(super::builtins::dict_extra(r, obj)?)
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
    })
}

/// 3.13+ `_ctypes.CType_Type.__sizeof__` (ctypes metatypes): the type object, plus its
/// `StgInfo`'s format, shape and ffi elements.
pub(super) fn ctype(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok({
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
    })
}

/// `_queue.SimpleQueue` (own `__sizeof__` from 3.15): plus its ring buffer.
pub(super) fn simplequeue(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok(
        match r.l.sizeof.as_ref().and_then(|s| s.simplequeue_items_cap) {
            Some(cap) => t
                .basicsize
                .saturating_add(r.mem.read_u64(obj + cap)?.saturating_mul(8)),
            None => t.basicsize,
        },
    )
}
