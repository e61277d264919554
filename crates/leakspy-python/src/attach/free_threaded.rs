//! Free-threaded builds (PEP 703, `--disable-gil`: `python3.13t`, `3.14t`, `3.15t`).
//!
//! Identified by `_Py_DebugOffsets.free_threaded` (3.13+); read with the `3.Xt.toml` layouts (split
//! object header, no GC lists). Threads and stacks are read as for default builds. There is no GIL, so
//! no thread is reported as holding it. Objects live in per-thread mimalloc heaps, not on GC
//! generation lists: `heap::mimalloc` walks them where the layout has a `[mimalloc]` section
//! (3.13t); elsewhere a heap report is refused (exit 6) instead of counting nothing.

use crate::attach::process::Target;
use crate::error::{Error, Result};
use leakspy_layout::{DebugOffsets, LoadedLayout, Mismatch, PyVersion};

/// Whether the target's own offsets table says it is a free-threaded build.
pub fn is_free_threaded(debug: Option<&DebugOffsets>) -> bool {
    debug.and_then(|d| d.get("free_threaded")).unwrap_or(0) != 0
}

/// Whether `target` is read with a free-threaded layout.
pub fn target_is_free_threaded(target: &Target) -> bool {
    target.layout.free_threaded.is_some()
}

/// For a free-threaded layout made from headers alone (no live interpreter of that kind was tested
/// here): refuse it when the target's `_Py_DebugOffsets` disagrees with it, otherwise the warning to
/// attach. `None` for layouts that were verified live (or default builds).
pub fn unverified_check(
    version: PyVersion,
    cand: &LoadedLayout,
    mismatches: &[Mismatch],
) -> Result<Option<String>> {
    let Some(ft) = &cand.layout.free_threaded else {
        return Ok(None);
    };
    if ft.live_verified {
        return Ok(None);
    }
    if !mismatches.is_empty() {
        let fields: Vec<String> = mismatches
            .iter()
            .map(|m| format!("{} {} vs {}", m.field, m.layout, m.target))
            .collect();
        return Err(Error::Unsupported(format!(
            "Python {version} free-threaded: python-layouts/{} (from headers, never tested against a \
             live free-threaded {}) disagrees with the target's _Py_DebugOffsets ({}); refusing to \
             guess the rest of the layout. Pass a layout generated from this build's headers with \
             --layout FILE",
            cand.file,
            version.minor_str(),
            fields.join(", ")
        )));
    }
    Ok(Some(format!(
        "free-threaded Python {version}: python-layouts/{} comes from headers and agrees with the \
         target's _Py_DebugOffsets, but was not verified against a live free-threaded {} here",
        cand.file,
        version.minor_str()
    )))
}

/// The warning every free-threaded dump carries: what "holds the GIL" means there.
pub const GIL_NOTE: &str = "free-threaded build: there is no GIL, so no thread is marked as \
                            holding it (threads run in parallel)";

/// Refuse a heap walk of a free-threaded target (`want_heap`) whose layout does not say how to walk
/// its mimalloc heaps (3.14t/3.15t: layouts from headers alone carry no `[mimalloc]`), with the
/// way to get the stacks. 3.13t's heap is read (`heap::mimalloc`).
pub fn refuse_heap(target: &Target, want_heap: bool) -> Result<()> {
    if want_heap && target_is_free_threaded(target) && target.layout.mimalloc.is_none() {
        return Err(Error::Unsupported(format!(
            "Python {} free-threaded: the heap is not read (leakspy walks the mimalloc heaps of \
             free-threaded 3.13 only; {} has no [mimalloc] section, as no live free-threaded {} \
             was tested here); `leakspy dump --no-heap` reads its threads and stacks",
            target.version,
            target.layout_file,
            target.version.minor_str()
        )));
    }
    Ok(())
}

/// Refuse `leakspy record` on a free-threaded target: its sampler watches the youngest GC list,
/// which free-threaded builds do not have.
pub fn refuse_record(target: &Target) -> Result<()> {
    if target_is_free_threaded(target) {
        return Err(Error::Unsupported(format!(
            "Python {} free-threaded: `leakspy record` is not supported (it samples new objects \
             on the youngest GC list, which free-threaded builds do not have); `leakspy dump` \
             reads the heap",
            target.version
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ft_layout(v: &str) -> (PyVersion, LoadedLayout) {
        let v = PyVersion::parse(v).unwrap();
        let mut c = leakspy_layout::candidates_for(v, true).unwrap();
        (v, c.remove(0))
    }

    #[test]
    fn header_only_layouts_warn_and_refuse_on_disagreement() {
        for v in ["3.14.10", "3.15.2"] {
            let (v, cand) = ft_layout(v);
            let w = unverified_check(v, &cand, &[]).unwrap().unwrap();
            assert!(w.contains("not verified against a live"), "{w}");
            let mm = [Mismatch {
                field: "thread_state.size",
                layout: 832,
                target: 840,
            }];
            let err = unverified_check(v, &cand, &mm).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Unsupported(_)), "{msg}");
            assert!(msg.contains("thread_state.size 832 vs 840"), "{msg}");
        }
    }

    #[test]
    fn the_live_verified_313t_and_default_layouts_pass_silently() {
        let (v, cand) = ft_layout("3.13.15");
        let mm = [Mismatch {
            field: "thread_state.size",
            layout: 1,
            target: 2,
        }];
        // 3.13t was tested live: a disagreement is a warning from the caller, as for default builds
        assert!(unverified_check(v, &cand, &mm).unwrap().is_none());
        let default = leakspy_layout::candidates(v).unwrap().remove(0);
        assert!(unverified_check(v, &default, &mm).unwrap().is_none());
    }

    #[test]
    fn free_threaded_flag_comes_from_the_debug_offsets() {
        assert!(!is_free_threaded(None));
        let names = 8 + 8 * 72; // enough for the 3.13 table
        let mut blob = leakspy_layout::debug_offsets_cookie().to_vec();
        blob.resize(names, 0);
        let d = DebugOffsets::decode(13, &blob).unwrap();
        assert!(!is_free_threaded(Some(&d)));
        blob[16] = 1; // the member after `version`
        let d = DebugOffsets::decode(13, &blob).unwrap();
        assert!(is_free_threaded(Some(&d)));
    }
}
