//! Large local buffers for copies of target memory, backed by transparent huge pages.
//!
//! Copying a few hundred MB out of a paused target is dominated by page faults on *our* side (one per
//! 4 KiB page the kernel writes into). Asking for huge pages on the destination cuts those faults by
//! 512x, which shortens the pause. This is the only `unsafe` in leakspy: an anonymous private mapping
//! that this type alone owns.
#![allow(unsafe_code)]

use nix::sys::mman::{madvise, mmap_anonymous, munmap, MapFlags, MmapAdvise, ProtFlags};
use std::num::NonZeroUsize;
use std::ptr::NonNull;

/// A zero-initialised, owned, writable byte buffer.
#[derive(Debug)]
pub struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
    map_len: usize,
}

const HUGE: usize = 2 << 20;

impl PageBuf {
    /// Allocate `len` zero bytes (None if the kernel refuses the mapping). With `prefault`, every page
    /// is faulted in now (after asking for huge pages, so one fault per 2 MiB where the kernel allows),
    /// so that filling the buffer later costs no page faults.
    ///
    /// Only the whole huge pages of the buffer are advised huge: a mapping smaller than one (most
    /// of a target's writable mappings are a few KiB of a library's data) or the tail of a larger
    /// one gets 4 KiB pages. Advising the whole rounded-up mapping made every small buffer cost a
    /// 2 MiB huge page once touched: ~40 MB of leakspy's RSS on a 153 MB target.
    pub fn zeroed(len: usize, prefault: bool) -> Option<PageBuf> {
        // Large buffers are mapped in whole huge pages (the kernel aligns such mappings to them).
        let huge_len = len / HUGE * HUGE;
        let map_len = if huge_len > 0 {
            len.checked_next_multiple_of(HUGE)?
        } else {
            len.checked_next_multiple_of(4096)?.max(4096)
        };
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a fresh anonymous private mapping with no address hint; it aliases nothing, and the
        // returned pointer is valid for `map_len` bytes until we unmap it in Drop.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                NonZeroUsize::new(map_len)?,
                prot,
                MapFlags::MAP_PRIVATE,
            )
        }
        .ok()?;
        if huge_len > 0 {
            // SAFETY: advising the start of our own mapping (`huge_len <= map_len`, a multiple of
            // the page size); a refusal (no THP) is harmless.
            let _ = unsafe { madvise(ptr, huge_len, MmapAdvise::MADV_HUGEPAGE) };
        }
        let mut buf = PageBuf {
            ptr: ptr.cast(),
            len,
            map_len,
        };
        if prefault {
            prefault_pages(buf.as_mut_slice());
        }
        Some(buf)
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `map_len >= len` bytes of initialised (zero-filled) memory owned by
        // self; the shared borrow of self prevents concurrent mutation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and the exclusive borrow of self makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

/// Fault in every page of `s` (the kernel zeroes each one: for a large buffer, that is most of the
/// cost, so it is done on every core).
fn prefault_pages(s: &mut [u8]) {
    prefault_all(&mut [s]);
}

/// Fault in every page of every buffer, on every core (in pieces of one huge page).
pub(crate) fn prefault_all(bufs: &mut [&mut [u8]]) {
    let touch = |s: &mut [u8]| {
        for off in (0..s.len()).step_by(4096) {
            s[off] = 0;
        }
    };
    let mut pieces: Vec<&mut [u8]> = bufs.iter_mut().flat_map(|b| b.chunks_mut(HUGE)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
    if threads < 2 || pieces.len() < 4 {
        pieces.into_iter().for_each(touch);
        return;
    }
    let per = pieces.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for group in pieces.chunks_mut(per) {
            scope.spawn(move || group.iter_mut().for_each(|p| touch(p)));
        }
    });
}

// SAFETY: PageBuf owns its mapping exclusively (no other pointer to it exists); moving it to another
// thread moves that ownership, and shared access only hands out `&[u8]` (no interior mutability).
unsafe impl Send for PageBuf {}
// SAFETY: as above: `&PageBuf` only allows reads of memory nobody writes while it is borrowed.
unsafe impl Sync for PageBuf {}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `zeroed`; no slice borrowed from it can
        // outlive self.
        let _ = unsafe { munmap(self.ptr.cast(), self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_writable() {
        let mut b = PageBuf::zeroed(5 << 20, true).unwrap();
        assert_eq!(b.as_slice().len(), 5 << 20);
        assert!(b.as_slice().iter().all(|&x| x == 0));
        b.as_mut_slice()[12345] = 7;
        assert_eq!(b.as_slice()[12345], 7);
        for len in [1, 4095, 4096, 70_000, HUGE - 1, HUGE, HUGE + 1] {
            let mut b = PageBuf::zeroed(len, true).unwrap();
            assert_eq!(b.as_slice().len(), len);
            b.as_mut_slice()[len - 1] = 1;
            assert!(b.map_len >= len);
        }
    }
}
