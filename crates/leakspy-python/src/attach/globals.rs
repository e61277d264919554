//! Pythons without `_PyRuntime` (3.6): the state leakspy reads lives in file statics of libpython
//! (`interp_head`, `_PyThreadState_Current`, the GIL's `gil_last_holder`/`gil_locked`, gcmodule.c's
//! `generations` and `collecting`), named by the layout's `[globals]` and found by symbol in the
//! image's `.symtab` (unstripped builds, as pyenv's and distributions' debug-symbol packages are).
//!
//! Every reader above this module addresses those structures as `runtime + offset`. So the lowest of
//! the globals' addresses stands in for `_PyRuntime`, and the layout's `[runtime]`, `[gil]` and `[gc]`
//! offsets are rewritten relative to it; nothing else needs to know the version has no runtime.

use crate::attach::binaries::Image;
use leakspy_layout::Layout;

/// The globals are statics of one library: they lie within this many bytes of each other.
const MAX_SPAN: u64 = 64 << 20;

/// Whether `image` looks like a Python without `_PyRuntime` whose globals can be found by symbol.
pub fn has_globals(image: &Image) -> bool {
    ["interp_head", "_PyThreadState_Current", "generations"]
        .iter()
        .all(|s| image.symbols.contains_key(*s))
}

/// An address to check readability with before a layout is chosen (`interp_head`).
pub fn first_address(image: &Image) -> Option<u64> {
    image.symbols.get("interp_head").copied()
}

/// Resolve `l`'s `[globals]` in `image`: rewrite the offsets (module docs) and return the base that
/// stands in for `_PyRuntime`. A layout without `[globals]` is left alone (`Ok(None)`).
pub fn resolve(image: &Image, l: &mut Layout) -> Result<Option<u64>, String> {
    let Some(g) = l.globals.clone() else {
        return Ok(None);
    };
    let sym = |name: &str| -> Result<u64, String> {
        image.symbols.get(name).copied().ok_or_else(|| {
            format!(
                "symbol {name} not found in {} (stripped? leakspy needs its .symtab for this version)",
                image.path
            )
        })
    };
    let interp_head = sym(&g.interp_head)?;
    let tstate = sym(&g.tstate_current)?;
    let last_holder = sym(&g.gil_last_holder)?;
    let locked = sym(&g.gil_locked)?;
    let generations = sym(&g.gc_generations)?;
    let collecting = sym(&g.gc_collecting)?;
    let all = [
        interp_head,
        tstate,
        last_holder,
        locked,
        generations,
        collecting,
    ];
    let base = all.iter().copied().min().unwrap_or(0);
    let top = all.iter().copied().max().unwrap_or(0);
    if top - base > MAX_SPAN {
        return Err(format!(
            "the globals of {} are {:#x} bytes apart: not one library's statics",
            image.path,
            top - base
        ));
    }
    let gil = last_holder.min(locked);
    let gc = generations.min(collecting);
    l.runtime.interpreters_head = interp_head - base;
    l.runtime.interpreters_main = interp_head - base;
    l.runtime.gilstate_tstate_current = Some(tstate - base);
    l.runtime.ceval_gil = Some(gil - base);
    l.gil.last_holder = last_holder - gil;
    l.gil.locked = locked - gil;
    l.runtime.gc = Some(gc - base);
    l.interp.gc = None;
    for h in &mut l.gc.list_heads {
        *h += generations - gc;
    }
    l.gc.size = (generations + l.gc.size).max(collecting + 4) - gc;
    l.gc.collecting = collecting - gc;
    Ok(Some(base))
}
