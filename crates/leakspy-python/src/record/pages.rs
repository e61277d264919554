//! A page cache over target memory for one sample's list walks.
//!
//! New objects sit side by side in pymalloc's pools, so a tail walk reads many nodes from the same
//! page: reading each page once per sample (one `process_vm_readv` instead of one per node) makes
//! the walk tens of times cheaper. The bytes of one page are from one moment, different pages from
//! slightly different ones; the walk's link checks catch the difference like any other race.

use leakspy_memory::{Memory, ReadError};
use rustc_hash::FxHashMap;
use std::sync::Mutex;

const PAGE: u64 = 4096;
/// Most pages kept per sample (16 MiB).
const MAX_PAGES: usize = 4096;

pub struct PageCache<'a> {
    mem: &'a dyn Memory,
    /// One sample's thread uses it; a `Mutex` (never contended) because `Memory` is `Sync`.
    pages: Mutex<FxHashMap<u64, Option<Box<[u8]>>>>,
}

impl<'a> PageCache<'a> {
    pub fn new(mem: &'a dyn Memory) -> Self {
        PageCache {
            mem,
            pages: Mutex::new(FxHashMap::default()),
        }
    }
}

impl Memory for PageCache<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let len = buf.len() as u64;
        let end = addr.checked_add(len).ok_or(ReadError::Unmapped {
            addr,
            len: buf.len(),
        })?;
        // Big or page-crossing reads go straight to the target.
        if len > PAGE || addr / PAGE != (end.saturating_sub(1)) / PAGE {
            return self.mem.read(addr, buf);
        }
        let base = addr - addr % PAGE;
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if !pages.contains_key(&base) {
            if pages.len() >= MAX_PAGES {
                pages.clear();
            }
            let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
            let got = self.mem.read(base, &mut page).is_ok();
            pages.insert(base, got.then_some(page));
        }
        match pages.get(&base) {
            Some(Some(page)) => {
                let at = (addr - base) as usize;
                match page.get(at..at + buf.len()) {
                    Some(s) => {
                        buf.copy_from_slice(s);
                        Ok(())
                    }
                    None => self.mem.read(addr, buf),
                }
            }
            _ => self.mem.read(addr, buf),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A flat memory image at address 0 (the record module's tests share it).
    pub(crate) struct Flat(pub(crate) Vec<u8>);
    impl Memory for Flat {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
            let a = addr as usize;
            match self.0.get(a..a + buf.len()) {
                Some(s) => {
                    buf.copy_from_slice(s);
                    Ok(())
                }
                None => Err(ReadError::Unmapped {
                    addr,
                    len: buf.len(),
                }),
            }
        }
    }

    #[test]
    fn cached_reads_equal_direct_reads() {
        let bytes: Vec<u8> = (0..3 * PAGE as usize + 100)
            .map(|i| (i * 7) as u8)
            .collect();
        let flat = Flat(bytes.clone());
        let c = PageCache::new(&flat);
        for &(addr, len) in &[
            (0u64, 8usize),
            (4090, 16),
            (8192, 32),
            (12300, 8),
            (12380, 64),
        ] {
            let mut a = vec![0u8; len];
            let r = c.read(addr, &mut a);
            let want = bytes.get(addr as usize..addr as usize + len);
            match want {
                Some(w) => assert_eq!((r, &a[..]), (Ok(()), w)),
                None => assert!(r.is_err()),
            }
        }
    }
}
