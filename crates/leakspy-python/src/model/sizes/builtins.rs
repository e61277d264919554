//! The `__sizeof__` of the interpreter's own types: str, dict (keys and split values), code,
//! frames and generators (their frame's slots from the code object).

use super::{field, sizeof_layout};
use crate::error::{Error, Result};
use crate::model::{Reader, TypeInfo};
use leakspy_memory::MemoryExt;

/// The part of `code.__sizeof__` that is the code object's own allocation: 3.11+
/// `_PyObject_VAR_SIZE` (basicsize + n * itemsize rounded up to 8; `co_code_adaptive` inline), the
/// basic size before.
pub(super) fn code_inline(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    Ok(if t.itemsize == 0 {
        t.basicsize
    } else {
        t.basicsize
            .saturating_add(t.itemsize.saturating_mul(r.ob_size(obj)?.unsigned_abs()))
            .div_ceil(8)
            .saturating_mul(8)
    })
}

/// `code.__sizeof__` (Objects/codeobject.c `code_sizeof`; the rules are cited in the generator).
pub(super) fn code_sizeof(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
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
pub(super) fn gen_sizeof(r: &Reader<'_>, obj: u64) -> Result<u64> {
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
pub(super) fn frame_sizeof(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
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
pub(super) fn str_sizeof(r: &Reader<'_>, obj: u64) -> Result<u64> {
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
pub(super) fn dict_extra(r: &Reader<'_>, obj: u64) -> Result<u64> {
    let p = dict_parts(r, obj)?;
    Ok(p.keys_bytes.saturating_add(p.values_bytes))
}

/// The separately allocated parts `dict.__sizeof__` counts, read with one look at the keys table.
pub(super) struct DictParts {
    pub(super) keys: u64,
    /// `_PyDict_KeysSize` when the dict owns its keys (not shared), else 0.
    pub(super) keys_bytes: u64,
    pub(super) values: u64,
    /// The split values' slots, 0 for a combined table.
    pub(super) values_bytes: u64,
}

pub(super) fn dict_parts(r: &Reader<'_>, obj: u64) -> Result<DictParts> {
    let l = r.l;
    let keys = r.ptr(obj + l.dict.ma_keys)?;
    let values = r.ptr(obj + l.dict.ma_values)?;
    let t = r.keys_table(keys)?;
    let values_bytes = if values != 0 {
        // ≤3.10: USABLE_FRACTION(size) slots; 3.11+: shared_keys_usable_size = nentries + usable.
        // (`usable` is read from the target: saturate, getsizeof refuses an implausible total.)
        8u64.saturating_mul(if l.dictkeys.dk_size.is_some() {
            t.usable_fraction()
        } else {
            t.nentries.saturating_add(t.usable)
        })
    } else {
        0
    };
    let keys_bytes = if t.refcnt == 1 { table_size(r, &t) } else { 0 };
    Ok(DictParts {
        keys,
        keys_bytes,
        values,
        values_bytes,
    })
}

/// `_PyDict_KeysSize`.
pub fn keys_size(r: &Reader<'_>, keys: u64) -> Result<u64> {
    Ok(table_size(r, &r.keys_table(keys)?))
}

/// `_PyDict_KeysSize` of a decoded keys table.
fn table_size(r: &Reader<'_>, t: &crate::model::KeysTable) -> u64 {
    r.l.dictkeys
        .size
        .saturating_add(t.index_bytes)
        .saturating_add(t.usable_fraction().saturating_mul(t.entry_size))
}
