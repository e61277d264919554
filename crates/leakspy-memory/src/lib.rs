//! The one seam between leakspy and a target's memory.
//!
//! Everything that reads a target goes through [`Memory`]: a live process ([`LiveProcess`], via
//! `process_vm_readv` with a `/proc/PID/mem` fallback), a cached copy of it taken while the target is
//! paused ([`Snapshot`]), and ELF core files ([`CoreFile`], with the files they leave out read from
//! disk after a build-id check). Walkers above this crate are written against the trait
//! and never know which one they read.
//!
//! This crate also owns the pause ([`PauseGuard`], ptrace `SEIZE` + `INTERRUPT`, so a killed leakspy
//! can never leave the target stopped) and the `/proc` helpers (maps, threads, namespaces).
//!
//! Invariant: target memory is untrusted and racy. Nothing here interprets it; every read is bounded by
//! the caller's length.
#![deny(unsafe_code)]

mod buffer;
mod corefile;
pub mod interrupt;
mod live;
mod maps;
mod pause;
pub mod proc;
pub mod procwait;
mod registers;
mod snapshot;

pub use corefile::{
    build_id_with, file_build_id, hex, Backing, CoreError, CoreFile, CoreThread, FileEntry,
};
pub use live::LiveProcess;
pub use maps::{parse_maps, Mapping};
pub use pause::{PauseError, PauseGuard};
pub use registers::{Registers, StackCopy, ThreadCapture};
pub use snapshot::{Snapshot, SnapshotStats};

/// Why a read failed. Small and `Copy`: reads fail often on racy memory and must stay cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("address {addr:#x} (+{len}) is not mapped in the target")]
    Unmapped { addr: u64, len: usize },
    #[error("permission denied reading the target's memory")]
    PermissionDenied,
    #[error("the target process is gone")]
    ProcessGone,
    #[error("read of {len} bytes at {addr:#x} exceeds the limit of {limit} bytes")]
    TooLarge { addr: u64, len: usize, limit: usize },
    #[error("I/O error {errno} reading the target")]
    Io { errno: i32 },
    #[error("{value:#x} is not a user-space address (garbage or a racing write)")]
    NotAPointer { value: u64 },
}

/// Highest user-space address on x86_64 (5-level paging; 4-level stops at 2^47). A pointer read from
/// the target above this is garbage, refused by [`MemoryExt::read_ptr`] so that `pointer + offset`
/// arithmetic on it can never overflow.
pub const MAX_USER_ADDRESS: u64 = (1 << 56) - 1;

/// Largest single read a caller may ask for through [`MemoryExt::read_vec`] (guards against lengths
/// taken from garbage).
pub const MAX_READ: usize = 64 << 20;

/// Read access to a target's address space. `Sync`: the heap walk reads the (immutable) copy from
/// several threads once the target is resumed.
pub trait Memory: Sync {
    /// Fill `buf` with the bytes at `addr`. Either all of `buf` is filled or an error is returned.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError>;

    /// The 8 little-endian bytes at `addr`. The walkers read mostly words through `&dyn Memory`,
    /// where [`Memory::read`]'s run-time length costs a `memcpy` call per word; a copy of the
    /// target overrides this with one load.
    fn read_word(&self, addr: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Whether `addr` lies in a writable mapping, when this memory knows the target's map (a copy
    /// does; `None`: unknown). Scans for heap pointers ask before reading at a candidate: a read of
    /// a page the target never touched maps it into the target (its RSS grows) and costs a syscall.
    fn writable_at(&self, _addr: u64) -> Option<bool> {
        None
    }
}

impl<M: Memory + ?Sized> Memory for &M {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read(addr, buf)
    }
    fn read_word(&self, addr: u64) -> Result<u64, ReadError> {
        (**self).read_word(addr)
    }
    fn writable_at(&self, addr: u64) -> Option<bool> {
        (**self).writable_at(addr)
    }
}

/// Typed little helpers over [`Memory`] (x86_64 target: little-endian, 8-byte pointers).
pub trait MemoryExt: Memory {
    fn read_array<const N: usize>(&self, addr: u64) -> Result<[u8; N], ReadError> {
        let mut b = [0u8; N];
        self.read(addr, &mut b)?;
        Ok(b)
    }
    fn read_u8(&self, addr: u64) -> Result<u8, ReadError> {
        Ok(self.read_array::<1>(addr)?[0])
    }
    fn read_u16(&self, addr: u64) -> Result<u16, ReadError> {
        Ok(u16::from_le_bytes(self.read_array(addr)?))
    }
    fn read_u32(&self, addr: u64) -> Result<u32, ReadError> {
        Ok(u32::from_le_bytes(self.read_array(addr)?))
    }
    fn read_i32(&self, addr: u64) -> Result<i32, ReadError> {
        Ok(i32::from_le_bytes(self.read_array(addr)?))
    }
    fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        self.read_word(addr)
    }
    fn read_i64(&self, addr: u64) -> Result<i64, ReadError> {
        Ok(i64::from_le_bytes(self.read_array(addr)?))
    }
    /// Read a pointer-sized word; a value above [`MAX_USER_ADDRESS`] is refused (garbage).
    fn read_ptr(&self, addr: u64) -> Result<u64, ReadError> {
        let value = self.read_u64(addr)?;
        if value > MAX_USER_ADDRESS {
            return Err(ReadError::NotAPointer { value });
        }
        Ok(value)
    }
    /// Read `len` bytes into a new vector; `len` above [`MAX_READ`] is refused.
    fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        if len > MAX_READ {
            return Err(ReadError::TooLarge {
                addr,
                len,
                limit: MAX_READ,
            });
        }
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }
    /// Read a NUL-terminated byte string of at most `max` bytes (without the NUL).
    fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        let mut at = addr;
        while out.len() < max {
            // Never read across a page boundary in one go: the string may end just before an unmapped page.
            let to_page_end = (4096 - (at % 4096)) as usize;
            let n = chunk.len().min(to_page_end).min(max - out.len());
            self.read(at, &mut chunk[..n])?;
            if let Some(p) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..p]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            at += n as u64;
        }
        Ok(out)
    }
}

impl<M: Memory + ?Sized> MemoryExt for M {}

/// Memory for unit tests: a flat buffer mapped at a base address.
#[cfg(test)]
pub(crate) mod testmem {
    use crate::{Memory, ReadError};

    pub(crate) struct Flat {
        pub(crate) base: u64,
        pub(crate) bytes: Vec<u8>,
    }

    impl Memory for Flat {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
            let unmapped = || ReadError::Unmapped {
                addr,
                len: buf.len(),
            };
            let off = addr.checked_sub(self.base).ok_or_else(unmapped)? as usize;
            let src = self
                .bytes
                .get(off..off.checked_add(buf.len()).ok_or_else(unmapped)?)
                .ok_or_else(unmapped)?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testmem::Flat;

    #[test]
    fn cstr_stops_at_nul_and_at_max() {
        let mut bytes = b"hello\0world".to_vec();
        bytes.resize(4096 * 2, b'x');
        let m = Flat {
            base: 0x1000,
            bytes,
        };
        assert_eq!(m.read_cstr(0x1000, 100).unwrap(), b"hello");
        assert_eq!(m.read_cstr(0x1006, 3).unwrap(), b"wor");
        // Unterminated up to the end of the mapping: an error, not a hang.
        assert!(m.read_cstr(0x1006, 1 << 20).is_err());
    }

    #[test]
    fn read_vec_refuses_absurd_lengths() {
        let m = Flat {
            base: 0,
            bytes: vec![0; 16],
        };
        assert!(matches!(
            m.read_vec(0, usize::MAX),
            Err(ReadError::TooLarge { .. })
        ));
    }

    /// Pointers above the user address space are garbage: `read_ptr` refuses them, so that
    /// `pointer + offset` in the walkers cannot overflow (issue #7 fuzzing).
    #[test]
    fn read_ptr_refuses_non_user_addresses() {
        let mut bytes = Vec::new();
        for v in [
            0u64,
            0x7f00_0000_1000,
            MAX_USER_ADDRESS,
            MAX_USER_ADDRESS + 1,
            u64::MAX,
        ] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let m = Flat { base: 0, bytes };
        assert_eq!(m.read_ptr(0), Ok(0));
        assert_eq!(m.read_ptr(8), Ok(0x7f00_0000_1000));
        assert_eq!(m.read_ptr(16), Ok(MAX_USER_ADDRESS));
        assert!(matches!(m.read_ptr(24), Err(ReadError::NotAPointer { .. })));
        assert!(matches!(m.read_ptr(32), Err(ReadError::NotAPointer { .. })));
        assert_eq!(m.read_u64(32), Ok(u64::MAX));
    }
}
