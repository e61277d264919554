//! Which of an object's bytes lie outside pymalloc's arenas: its own block, and each separately
//! allocated buffer its `__sizeof__` counts.

use super::builtins::{dict_parts, keys_size, str_sizeof};
use super::{getsizeof_base, sizeof_layout, SizeKind};
use crate::error::Result;
use crate::model::{Reader, TypeInfo};
use leakspy_memory::MemoryExt;

/// Of `size` (the object's `sys.getsizeof`; `None`: computed here, and only when needed, from the
/// object), the bytes outside pymalloc's arenas: the object's own block when `in_arena(obj)` is
/// false, and each separately allocated part it owns ([`buffers`]) that is not in an arena.
/// `parts` is scratch space.
pub fn outside_arenas(
    r: &Reader<'_>,
    obj: u64,
    t: &TypeInfo,
    size: Option<u64>,
    parts: &mut Vec<(u64, u64)>,
    in_arena: &dyn Fn(u64) -> bool,
) -> u64 {
    parts.clear();
    buffers(r, obj, t, parts);
    let size = match size {
        Some(size) => size,
        None if parts.is_empty() && in_arena(obj) => return 0,
        // As the census sized it (an object that cannot be sized counts at its basic size).
        None => super::getsizeof_untracked(r, obj, t).unwrap_or(t.basicsize),
    };
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
                let p = dict_parts(r, obj)?;
                if p.keys_bytes > 0 {
                    out.push((p.keys, p.keys_bytes));
                }
                if p.values != 0 && p.values_bytes > 0 {
                    out.push((p.values, p.values_bytes));
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
                out.extend(super::buffered_buffer(r, obj)?);
            }
            _ => {}
        }
        Ok(())
    })();
}
