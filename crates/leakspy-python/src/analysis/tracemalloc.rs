//! Allocation sites from the target's own tracemalloc, read from outside.
//!
//! When the target traces (`PYTHONTRACEMALLOC=N`, `-X tracemalloc`, `tracemalloc.start()`), every
//! allocation made through the Python allocators is in tracemalloc's `traces` hashtable, keyed by the
//! pointer the allocator returned, with a traceback of up to N frames. For an object that pointer is
//! the object minus its GC header minus (3.11+) the managed pre-header; [`alloc_start`] computes it.
//!
//! Where the table lives: 3.12+ `_PyRuntime.tracemalloc.traces` (offsets from the layout, validated);
//! 3.9-3.11 the file-static `tracemalloc_traces`, found by symbol where `.symtab` survives, otherwise by
//! scanning the image's data sections for a pointer to a heap hashtable whose hash and compare
//! functions are the exported `_Py_hashtable_hash_ptr` / `_Py_hashtable_compare_direct` (the traces
//! table is the only long-lived table built from that pair), validated before use.

use crate::attach::process::Target;
use crate::error::{Error, Result};
use crate::model::Reader;
use leakspy_layout::Tracemalloc as TmLayout;
use leakspy_memory::MemoryExt;
use serde::Serialize;
use std::collections::HashMap;

/// Most traces read (a table larger than this is cut, with a warning).
pub const MAX_TRACES: u64 = 100_000_000;
/// Most frames decoded per traceback (tracemalloc's own limit is 65535).
pub const MAX_FRAMES: u64 = 1024;

/// What leakspy found out about tracemalloc in the target.
#[derive(Debug, Clone, Serialize)]
pub struct TracemallocInfo {
    pub tracing: bool,
    /// Where the table was found ("_PyRuntime.tracemalloc", "symbol tracemalloc_traces", "data scan").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Entries in the traces table.
    pub traces: u64,
    /// GC objects with an allocation site.
    pub traced_objects: u64,
    /// GC objects without one (allocated before tracing started, or from a free list).
    pub untraced_objects: u64,
    /// How to turn tracing on, when it is off or unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

pub const HINT: &str = "`leakspy record --pid PID` samples where objects are born now, without \
                        restarting; for exact sites of every object start the target with \
                        PYTHONTRACEMALLOC=25 (or -X tracemalloc=25)";

/// The traces table, loaded: allocation pointer -> traceback address.
#[derive(Debug, Default)]
pub struct Traces {
    pub by_ptr: super::tracemap::TraceMap,
    pub source: String,
}

/// One frame of an allocation traceback.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteFrame {
    pub filename: String,
    pub line: u32,
}

/// Find and load the traces table. `Ok(None)` = the target is not tracing.
pub fn load(r: &Reader<'_>, target: &Target, warnings: &mut Vec<String>) -> Result<Option<Traces>> {
    let tm =
        r.l.tracemalloc
            .as_ref()
            .ok_or_else(|| Error::Other("no tracemalloc layout".into()))?;
    let syms = &target.image.symbols;
    let funcs = match (
        syms.get("_Py_hashtable_hash_ptr"),
        syms.get("_Py_hashtable_compare_direct"),
    ) {
        (Some(&h), Some(&c)) => (h, c),
        _ => {
            return Err(Error::Other(
                "_Py_hashtable_hash_ptr/_compare_direct not exported".into(),
            ))
        }
    };
    let (tracing, table, source) = if let (Some(state_off), Some(tracing_off), Some(traces_off)) =
        (r.l.runtime.tracemalloc, tm.state_tracing, tm.state_traces)
    {
        let state = target.runtime + state_off;
        let tracing = r.mem.read_i32(state + tracing_off)? != 0;
        let table = r.ptr(state + traces_off)?;
        if tracing && !is_table(r, tm, table, funcs) {
            // Patch releases moved this struct (3.13.0 vs 3.13.15+): look for the table nearby.
            match scan_words(r, tm, state.saturating_sub(512), 1536, funcs) {
                Some(t) => {
                    warnings
                        .push("tracemalloc state found by scanning near its layout offset".into());
                    (tracing, t, "_PyRuntime.tracemalloc (scan)".to_string())
                }
                None => {
                    return Err(Error::Other(
                        "tracemalloc traces table not found in _PyRuntime".into(),
                    ))
                }
            }
        } else {
            (tracing, table, "_PyRuntime.tracemalloc".to_string())
        }
    } else {
        // 3.8-3.11 export `_Py_tracemalloc_config`; 3.6/3.7 keep it file-static (`.symtab`).
        let config = *syms
            .get("_Py_tracemalloc_config")
            .or_else(|| syms.get("tracemalloc_config"))
            .ok_or_else(|| Error::Other("no _Py_tracemalloc_config".into()))?;
        let tracing = r.mem.read_i32(config + tm.config_tracing.unwrap_or(4))? != 0;
        if !tracing {
            return Ok(None);
        }
        match syms.get("tracemalloc_traces") {
            Some(&sym) if is_table(r, tm, r.ptr(sym)?, funcs) => {
                (true, r.ptr(sym)?, "symbol tracemalloc_traces".into())
            }
            _ => {
                let found = target
                    .image
                    .data_sections
                    .iter()
                    .find_map(|&(addr, size)| scan_words(r, tm, addr, size, funcs));
                match found {
                    Some(t) => (
                        true,
                        t,
                        "scan of the image's data for the traces table".into(),
                    ),
                    None => {
                        return Err(Error::Other(
                            "tracing, but the traces table was not found".into(),
                        ))
                    }
                }
            }
        }
    };
    if !tracing {
        return Ok(None);
    }
    let by_ptr = read_table(r, tm, table, warnings)?;
    Ok(Some(Traces { by_ptr, source }))
}

/// Whether `table` is a `_Py_hashtable_t` built with the pointer hash/compare pair.
fn is_table(r: &Reader<'_>, tm: &TmLayout, table: u64, (hash, cmp): (u64, u64)) -> bool {
    if table == 0 || !table.is_multiple_of(8) || table > leakspy_memory::MAX_USER_ADDRESS {
        return false;
    }
    let ok = || -> Result<bool> {
        let nbuckets = r.mem.read_u64(table + tm.ht_nbuckets)?;
        Ok(r.ptr(table + tm.ht_hash_func)? == hash
            && r.ptr(table + tm.ht_compare_func)? == cmp
            && nbuckets.is_power_of_two()
            && nbuckets <= 1 << 34
            && r.ptr(table + tm.ht_buckets)? != 0)
    };
    ok().unwrap_or(false)
}

/// First word in `[addr, addr+len)` that points at a valid traces table.
fn scan_words(
    r: &Reader<'_>,
    tm: &TmLayout,
    addr: u64,
    len: u64,
    funcs: (u64, u64),
) -> Option<u64> {
    crate::model::scan_words(r, addr, len, |p| is_table(r, tm, p, funcs).then_some(p))
}

/// Every (key, traceback) of a traces table.
fn read_table(
    r: &Reader<'_>,
    tm: &TmLayout,
    table: u64,
    warnings: &mut Vec<String>,
) -> Result<super::tracemap::TraceMap> {
    let nentries = r.mem.read_u64(table + tm.ht_nentries)?;
    let nbuckets = r.mem.read_u64(table + tm.ht_nbuckets)?;
    let buckets = r.ptr(table + tm.ht_buckets)?;
    // 3.6-3.8: the value (`trace_t`) is stored inline right after the key, `key_size` bytes (8 for
    // a pointer, 12 for the packed `pointer_t` of domain tracing).
    let inline_value_at = match tm.ht_key_size {
        Some(off) => {
            let key_size = r.mem.read_u64(table + off)?;
            if key_size == 0 || key_size > 64 {
                return Err(Error::Other(format!(
                    "tracemalloc table {table:#x}: implausible key_size {key_size}"
                )));
            }
            Some(tm.entry_key + key_size)
        }
        None => None,
    };
    let nbuckets = nbuckets.min(1 << 27);
    let mut out = super::tracemap::TraceMap::with_capacity(nentries.min(MAX_TRACES) as usize);
    let mut seen = 0u64;
    let mut broken = 0u64;
    // The bucket heads a chunk at a time: the table keeps twice as many buckets as entries, and
    // a whole copy of them (64 MB at 2.5M traces) would sit beside the map being filled.
    const CHUNK: u64 = 8192;
    let mut heads = Vec::new();
    for b in 0..nbuckets {
        if b % CHUNK == 0 {
            let n = CHUNK.min(nbuckets - b);
            heads = r.mem.read_vec(buckets + b * 8, (n * 8) as usize)?;
        }
        let at = ((b % CHUNK) * 8) as usize;
        let Some(head) = heads.get(at..at + 8) else {
            break;
        };
        let mut e = u64::from_le_bytes(head.try_into().unwrap_or_default());
        if e > leakspy_memory::MAX_USER_ADDRESS {
            broken += 1;
            continue;
        }
        // A bucket chain cannot be longer than the table; a longer one is a race or garbage.
        let mut steps = 0u64;
        while e != 0 {
            steps += 1;
            seen += 1;
            if steps > nentries + 1 || seen > MAX_TRACES {
                broken += 1;
                break;
            }
            let trace = match inline_value_at {
                Some(at) => Ok(e.wrapping_add(at)),
                None => r.ptr(e + tm.entry_value),
            };
            let (Ok(key), Ok(trace)) = (r.ptr(e + tm.entry_key), trace) else {
                broken += 1;
                break;
            };
            if let Ok(tb) = r.ptr(trace + tm.trace_traceback) {
                out.insert(key, tb);
            }
            e = match r.ptr(e + tm.entry_next) {
                Ok(n) => n,
                Err(_) => {
                    broken += 1;
                    break;
                }
            };
        }
    }
    if broken > 0 {
        warnings.push(format!(
            "{broken} tracemalloc bucket chains could not be read to the end"
        ));
    }
    Ok(out)
}

/// Frames of one traceback, innermost first (tracemalloc stores the most recent frame first).
pub fn traceback(
    r: &Reader<'_>,
    tm: &TmLayout,
    tb: u64,
    names: &mut HashMap<u64, String>,
) -> Result<Vec<SiteFrame>> {
    let n = u64::from(r.mem.read_u16(tb + tm.traceback_nframe)?).min(MAX_FRAMES);
    let raw = r
        .mem
        .read_vec(tb + tm.traceback_frames, (n * tm.frame_size) as usize)?;
    let mut out = Vec::with_capacity(n as usize);
    for f in raw.chunks_exact(tm.frame_size as usize) {
        let word = |off: u64, len: usize| -> Option<u64> {
            let b = f.get(off as usize..off as usize + len)?;
            Some(b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
        };
        let (Some(fname), Some(line)) = (word(tm.frame_filename, 8), word(tm.frame_lineno, 4))
        else {
            continue;
        };
        if fname > leakspy_memory::MAX_USER_ADDRESS {
            return Err(Error::Other(format!(
                "traceback {tb:#x}: garbage filename pointer {fname:#x}"
            )));
        }
        let filename = match names.get(&fname) {
            Some(s) => s.clone(),
            None => {
                let s = if tm.filename_is_cstr {
                    String::from_utf8_lossy(&r.mem.read_cstr(fname, 4096)?).into_owned()
                } else {
                    r.str(fname)?
                };
                names.insert(fname, s.clone());
                s
            }
        };
        out.push(SiteFrame {
            filename,
            line: line as u32,
        });
    }
    Ok(out)
}

/// The pointer the allocator returned for an object: before the GC header (GC types) and, when the
/// type has one, the managed dict/weakref pre-header.
pub fn alloc_start(r: &Reader<'_>, obj: u64, type_flags: u64) -> u64 {
    obj.wrapping_sub(crate::model::sizes::gc_prefix(r, type_flags))
}
