//! Thread-local bytecode (free-threaded 3.14+): a frame may execute its own copy of the code's
//! bytecode, `co_tlbc->entries[frame->tlbc_index]` (CPython `_PyFrame_GetBytecode`), so its
//! `instr_ptr` is an offset into that copy, not into `co_code_adaptive` (which is entry 0).

use crate::model::Reader;
use leakspy_memory::MemoryExt;

/// Largest `_PyCodeArray.size` believed (one copy per thread that ran the code specialised).
const MAX_COPIES: i64 = 1 << 16;

/// Address of the bytecode the frame at `frame` (code object `code`) executes: its thread-local copy
/// where the layout has one and it reads back sane, else `code + co_code_adaptive`.
pub fn bytecode_start(r: &Reader<'_>, frame: u64, code: u64, adaptive: u64) -> u64 {
    let default = code.wrapping_add(adaptive);
    let Some(ft) = &r.l.free_threaded else {
        return default;
    };
    let (Some(idx_off), Some(tlbc_off), Some(entries)) =
        (ft.tlbc_index, ft.co_tlbc, ft.code_array_entries)
    else {
        return default;
    };
    let copy = || -> Option<u64> {
        let idx = i64::from(r.mem.read_i32(frame.wrapping_add(idx_off)).ok()?);
        let array = r
            .ptr(code.wrapping_add(tlbc_off))
            .ok()
            .filter(|&a| a != 0)?;
        let size = r.mem.read_u64(array).ok()? as i64;
        if !(0..size.min(MAX_COPIES)).contains(&idx) {
            return None;
        }
        let at = array.wrapping_add(entries).wrapping_add(8 * idx as u64);
        r.ptr(at).ok().filter(|&p| p != 0)
    };
    copy().unwrap_or(default)
}
