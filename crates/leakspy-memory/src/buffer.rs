//! Large local buffers for copies of target memory.
//!
//! Copying a few hundred MB out of a paused target would be dominated by page faults on *our* side
//! (one per 4 KiB page the kernel writes into), so the buffers are faulted in before the pause.
//! They use the system's default pages, not huge pages: on this project's machine (a VM whose
//! guest hands freed memory back to the host) a huge page is always fresh host memory, and
//! faulting in 141 MB took 280-560 ms with `MADV_HUGEPAGE` against 65-75 ms with 4 KiB pages;
//! `leakspy dump` of 1.34M objects (pyenv 3.12.1) went from 700-970 ms to 620-710 ms wall, same
//! pause. This is the only `unsafe` in leakspy: an anonymous private mapping that this type alone
//! owns.
#![allow(unsafe_code)]

use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
use std::num::NonZeroUsize;
use std::ptr::NonNull;

/// A zero-initialised, owned, writable byte buffer.
#[derive(Debug)]
pub struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
    map_len: usize,
}

/// The pieces [`prefault_all`] hands its threads.
const PIECE: usize = 2 << 20;

impl PageBuf {
    /// Allocate `len` zero bytes (None if the kernel refuses the mapping). With `prefault`, every page
    /// is faulted in now, so that filling the buffer later costs no page faults.
    pub fn zeroed(len: usize, prefault: bool) -> Option<PageBuf> {
        let map_len = len.checked_next_multiple_of(4096)?.max(4096);
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

/// Fault in every page of every buffer, on every core (in pieces of 2 MiB).
pub(crate) fn prefault_all(bufs: &mut [&mut [u8]]) {
    let touch = |s: &mut [u8]| {
        for off in (0..s.len()).step_by(4096) {
            s[off] = 0;
        }
    };
    let mut pieces: Vec<&mut [u8]> = bufs.iter_mut().flat_map(|b| b.chunks_mut(PIECE)).collect();
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
        for len in [1, 4095, 4096, 70_000, PIECE - 1, PIECE, PIECE + 1] {
            let mut b = PageBuf::zeroed(len, true).unwrap();
            assert_eq!(b.as_slice().len(), len);
            b.as_mut_slice()[len - 1] = 1;
            assert!(b.map_len >= len);
        }
    }
}
