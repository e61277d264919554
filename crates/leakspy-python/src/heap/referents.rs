//! What an object refers to, read from outside: the out-edges of the heap graph.
//!
//! Containers are decoded by their layout (list items, tuple items, dict keys and values in every
//! dict layout, set entries, instance attributes in managed dicts and inline or split values); every
//! other object's fixed part is scanned word by word (slots, `__dict__` at `tp_dictoffset`, cells,
//! function, code, module and type fields are all pointer members there). A scanned word is only a
//! candidate: the caller keeps it when it is an object it knows or can validate. Each edge carries a
//! [`Label`] so that a path can be printed (`list[3]`, `.name`, `['key']`).
//!
//! Everything is bounded: lengths come from the target and are capped before anything is read.

use crate::model::{Reader, SizeKind, TypeInfo};
use leakspy_memory::MemoryExt;

/// Most items read out of one list, tuple or set.
pub const MAX_ITEMS: u64 = 1 << 26;
/// Largest fixed part scanned word by word.
const MAX_SCAN: u64 = 8192;

/// How an object refers to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Item `i` of a list or tuple.
    Item(u64),
    /// A dict's key (entry `i`).
    Key(u64),
    /// A dict's value under key object `key`.
    Value { key: u64 },
    /// An instance attribute stored in managed or inline values, named by str object `name`.
    Attr { name: u64 },
    /// A set member.
    Member,
    /// The word at this offset of the object's fixed part (a slot, `__dict__`, a C field).
    Field(u64),
}

/// Append `(referent, label)` for every reference `obj` (of type `t` at `tp`) holds. Unreadable
/// parts are skipped: the result may be short, never wrong in kind.
pub fn referents(r: &Reader<'_>, obj: u64, tp: u64, t: &TypeInfo, out: &mut Vec<(u64, Label)>) {
    let l = r.l;
    match t.size_kind {
        // Atoms: their fixed part holds data, not references.
        SizeKind::Str | SizeKind::Int => return,
        SizeKind::List => {
            if let (Ok(items), Ok(n)) = (r.ptr(obj + l.list.ob_item), r.ob_size(obj)) {
                push_array(r, items, n, out);
            }
            scan(r, obj, l.list.allocated + 8, t.basicsize, out);
            return;
        }
        SizeKind::Dict => {
            if let Ok(items) = r.dict_items(obj) {
                for (i, (k, v)) in items.into_iter().enumerate() {
                    out.push((k, Label::Key(i as u64)));
                    out.push((v, Label::Value { key: k }));
                }
            }
            scan(r, obj, l.dict.ma_values + 8, t.basicsize, out);
            instance_values(r, obj, tp, t, out);
            return;
        }
        SizeKind::Set => {
            set_members(r, obj, out);
            return;
        }
        _ => {}
    }
    if t.is_atom {
        return;
    }
    if t.tuple_like {
        if let Ok(n) = r.ob_size(obj) {
            push_array(r, obj + l.tuple.ob_item, n, out);
        }
        return;
    }
    // The fixed part (after the header, and after ob_size for var-sized objects).
    let from = if t.itemsize > 0 { 24 } else { 16 };
    let end = match t.size_kind {
        // 3.9/3.10 frames keep their locals and stack inline: f_localsplus[ob_size].
        SizeKind::Frame if l.frame_object.f_back.is_some() => {
            r.ob_size(obj).map_or(t.basicsize, |n| {
                t.basicsize
                    .saturating_add(8u64.saturating_mul(n.unsigned_abs().saturating_sub(1)))
            })
        }
        // 3.11+ code objects: the object pointers end at `co_linetable`; what follows is weak
        // references, optimizer and monitoring structs, and words a default build leaves
        // uninitialized (`_co_unique_id`, set only when free-threaded: sid 3.15 showed one holding
        // a stale pointer to a live str, an edge the target does not have).
        SizeKind::Code if l.code.co_code_adaptive.is_some() => {
            (l.code.co_linetable + 8).min(t.basicsize)
        }
        _ => t.basicsize,
    };
    scan(r, obj, from, end, out);
    instance_values(r, obj, tp, t, out);
}

/// Items of a `PyObject *[n]` array.
fn push_array(r: &Reader<'_>, items: u64, n: i64, out: &mut Vec<(u64, Label)>) {
    if items == 0 || n <= 0 || n as u64 > MAX_ITEMS {
        return;
    }
    if let Ok(raw) = r.mem.read_vec(items, n as usize * 8) {
        for (i, w) in raw.chunks_exact(8).enumerate() {
            let p = word(w);
            if p != 0 {
                out.push((p, Label::Item(i as u64)));
            }
        }
    }
}

fn word(w: &[u8]) -> u64 {
    w.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

/// Every 8-aligned non-zero word of `obj[from..end)` as a candidate reference.
fn scan(r: &Reader<'_>, obj: u64, from: u64, end: u64, out: &mut Vec<(u64, Label)>) {
    let end = end.min(MAX_SCAN);
    if end <= from {
        return;
    }
    if let Ok(raw) = r.mem.read_vec(obj + from, (end - from) as usize) {
        for (i, w) in raw.chunks_exact(8).enumerate() {
            let p = word(w);
            if p > 0x1000 && p.is_multiple_of(8) && p <= leakspy_memory::MAX_USER_ADDRESS {
                out.push((p, Label::Field(from + 8 * i as u64)));
            }
        }
    }
}

/// Set entries (`{key, hash}`), skipping empty and dummy (hash -1) slots.
fn set_members(r: &Reader<'_>, obj: u64, out: &mut Vec<(u64, Label)>) {
    let s = &r.l.set;
    let (Ok(table), Ok(mask)) = (r.ptr(obj + s.table), r.mem.read_u64(obj + s.mask)) else {
        return;
    };
    let n = mask.saturating_add(1);
    if table == 0 || n > MAX_ITEMS || s.entry_size < 16 {
        return;
    }
    if let Ok(raw) = r.mem.read_vec(table, (n * s.entry_size) as usize) {
        for e in raw.chunks_exact(s.entry_size as usize) {
            let key = word(&e[0..8]);
            let hash = word(&e[8..16]) as i64;
            if key != 0 && hash != -1 {
                out.push((key, Label::Member));
            }
        }
    }
}

/// 3.11+ instances without a materialised `__dict__`: attribute values stored in split values
/// (3.11/3.12, reached from the pre-header) or inline after the object (3.13+), named by the type's
/// cached shared keys. A materialised managed dict is a referent of its own.
fn instance_values(r: &Reader<'_>, obj: u64, tp: u64, t: &TypeInfo, out: &mut Vec<(u64, Label)>) {
    let l = r.l;
    let m = &l.misc;
    if m.tpflags_managed_dict == 0 || t.flags & m.tpflags_managed_dict == 0 {
        return;
    }
    // free-threaded builds have no PyGC_Head: the dict pointer is the word before the object
    let back = l.mimalloc.as_ref().map_or(24, |mm| mm.managed_dict_back);
    let Ok(pre) = r.mem.read_u64(obj.wrapping_sub(back)) else {
        return;
    };
    let inline = m.tpflags_inline_values != 0;
    let preheader_has_weakref = m.tpflags_preheader != m.tpflags_managed_dict;
    let values = if inline {
        if pre != 0 {
            out.push((pre, Label::Field(MANAGED_DICT_LABEL)));
            return;
        }
        if t.flags & m.tpflags_inline_values == 0 {
            return;
        }
        obj + t.basicsize
    } else if preheader_has_weakref {
        // 3.12: a dict, or `values - 1` (odd).
        if pre & 1 == 0 {
            if pre != 0 {
                out.push((pre, Label::Field(MANAGED_DICT_LABEL)));
            }
            return;
        }
        match pre.checked_add(1) {
            Some(v) => v,
            None => return,
        }
    } else {
        // 3.11: dict at -24, values at -32.
        if pre != 0 {
            out.push((pre, Label::Field(MANAGED_DICT_LABEL)));
            return;
        }
        match r.ptr(obj.wrapping_sub(32)) {
            Ok(v) if v != 0 => v,
            _ => return,
        }
    };
    let Ok(keys) = r.ptr(tp + l.type_.ht_cached_keys) else {
        return;
    };
    if keys == 0 {
        return;
    }
    let Ok(kt) = r.keys_table(keys) else {
        return;
    };
    let base = values.saturating_add(l.dict.values_offset.unwrap_or(0));
    let Ok(raw) = r.mem.read_vec(base, (kt.nentries * 8) as usize) else {
        return;
    };
    for (i, w) in raw.chunks_exact(8).enumerate() {
        let v = word(w);
        if v == 0 {
            continue;
        }
        let name = r
            .ptr(kt.entries + i as u64 * kt.entry_size + kt.key_off)
            .unwrap_or(0);
        out.push((v, Label::Attr { name }));
    }
}

/// The offset label used for a managed `__dict__` (it sits before the object, at -24).
pub const MANAGED_DICT_LABEL: u64 = u64::MAX - 23;
