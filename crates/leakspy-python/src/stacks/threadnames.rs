//! Python-level thread names: `threading._active[ident].name`, read from the target's `sys.modules`.
//!
//! Best effort: any failure (threading never imported, a racing dict, an unusual instance layout)
//! leaves the name to the kernel's thread name.

use crate::attach::process::Target;
use crate::error::{Error, Result};
use crate::model::Reader;
use crate::stacks::RawThread;
use leakspy_memory::MemoryExt;
use std::collections::HashMap;

/// pthread ident -> `Thread.name`, for the interpreters of `threads`.
pub fn thread_names(
    r: &Reader<'_>,
    _target: &Target,
    threads: &[RawThread],
) -> HashMap<u64, String> {
    let mut out = HashMap::new();
    let mut interps: Vec<u64> = threads.iter().map(|t| t.interp).collect();
    interps.dedup();
    for interp in interps {
        if let Ok(names) = names_of(r, interp) {
            out.extend(names);
        }
    }
    out
}

fn names_of(r: &Reader<'_>, interp: u64) -> Result<HashMap<u64, String>> {
    let modules = r.ptr(interp + r.l.interp.modules)?;
    let threading = r
        .dict_get_str(modules, "threading")?
        .ok_or_else(|| Error::Other("no threading".into()))?;
    // PyModuleObject { PyObject_HEAD; PyObject *md_dict; ... }
    let md_dict = r.ptr(threading + r.l.object.size)?;
    let mut out = HashMap::new();
    // `_active` maps get_ident() -> Thread for every started thread (threads still starting sit in
    // `_limbo` without an ident, so they cannot be matched and keep their kernel name).
    if let Some(active) = r.dict_get_str(md_dict, "_active")? {
        for (k, v) in r.dict_items(active)? {
            let Some(ident) = r.int(k)?.and_then(|i| u64::try_from(i).ok()) else {
                continue;
            };
            if let Some(name) = instance_attr(r, v, "_name")? {
                if let Ok(s) = r.str(name) {
                    out.insert(ident, s);
                }
            }
        }
    }
    Ok(out)
}

/// Largest basic size or dict offset believed (as `objects::read_type`); above is garbage.
const MAX_INSTANCE_OFFSET: u64 = 1 << 24;

/// Value of attribute `name` in the instance dict (or inline/split values) of `obj`.
pub fn instance_attr(r: &Reader<'_>, obj: u64, name: &str) -> Result<Option<u64>> {
    let l = r.l;
    let tp = r.type_of(obj)?;
    let flags = r.mem.read_u64(tp + l.type_.tp_flags)?;
    if l.misc.tpflags_managed_dict != 0 && flags & l.misc.tpflags_managed_dict != 0 {
        // Managed dict pointer sits 3 words before the object in 3.11+ (pycore_object.h
        // MANAGED_DICT_OFFSET); in 3.12 it is a tagged dict-or-values word.
        let word = r.ptr(obj.wrapping_sub(24))?;
        let inline = l.misc.tpflags_inline_values != 0;
        let preheader_has_weakref = l.misc.tpflags_preheader != l.misc.tpflags_managed_dict;
        if inline {
            // 3.13+: a materialised dict wins; otherwise the values live inline after the object.
            if word != 0 {
                return r.dict_get_str(word, name);
            }
            if flags & l.misc.tpflags_inline_values != 0 {
                let basicsize = r.mem.read_u64(tp + l.type_.tp_basicsize)?;
                if basicsize > MAX_INSTANCE_OFFSET {
                    return Err(Error::Other(format!("type {tp:#x}: absurd basicsize")));
                }
                return shared_lookup(r, tp, obj + basicsize, name);
            }
            return Ok(None);
        }
        if preheader_has_weakref {
            // 3.12 PyDictOrValues: an odd word is `values - 1` (_PyDictOrValues_SetValues).
            if word & 1 != 0 {
                return shared_lookup(r, tp, word + 1, name);
            }
            return if word != 0 {
                r.dict_get_str(word, name)
            } else {
                Ok(None)
            };
        }
        // 3.11: dict at -24, values pointer at -32.
        if word != 0 {
            return r.dict_get_str(word, name);
        }
        let values = r.ptr(obj.wrapping_sub(32))?;
        return if values != 0 {
            shared_lookup(r, tp, values, name)
        } else {
            Ok(None)
        };
    }
    let dictoffset = r.mem.read_i64(tp + l.type_.tp_dictoffset)?;
    if dictoffset <= 0 || dictoffset as u64 > MAX_INSTANCE_OFFSET {
        return Ok(None);
    }
    let dict = r.ptr(obj + dictoffset as u64)?;
    if dict == 0 {
        return Ok(None);
    }
    r.dict_get_str(dict, name)
}

/// Look `name` up in a split-table `PyDictValues` whose keys are the type's cached shared keys.
fn shared_lookup(r: &Reader<'_>, tp: u64, values: u64, name: &str) -> Result<Option<u64>> {
    let keys = r.ptr(tp + r.l.type_.ht_cached_keys)?;
    if keys == 0 {
        return Ok(None);
    }
    let t = r.keys_table(keys)?;
    let base = values + r.l.dict.values_offset.unwrap_or(0);
    for i in 0..t.nentries {
        let key = r.ptr(t.entries + i * t.entry_size + t.key_off)?;
        if key != 0 && r.str(key).ok().as_deref() == Some(name) {
            let v = r.ptr(base + 8 * i)?;
            return Ok((v != 0).then_some(v));
        }
    }
    Ok(None)
}
