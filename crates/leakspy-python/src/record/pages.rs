//! A page cache over target memory for one sample's list walks (and, separately, its stack walk).
//!
//! New objects sit side by side in pymalloc's pools, so a tail walk reads many nodes from the same
//! page: reading each page once per sample (one `process_vm_readv` instead of one per node) makes
//! the walk tens of times cheaper. The bytes of one page are from one moment, different pages from
//! slightly different ones; the walk's link checks catch the difference like any other race. For the
//! stack walk the same holds per frame: a frame's header and its locals, read from one copy of
//! their page(s), come from one moment, not from two reads microseconds apart.

use leakspy_memory::{Memory, ReadError};
use rustc_hash::FxHashMap;
use std::sync::Mutex;

const PAGE: u64 = 4096;
/// Most pages kept per sample (16 MiB).
const MAX_PAGES: usize = 4096;
/// Reads up to this long are put together from cached pages (a frame with its locals that crosses
/// a page boundary); longer ones go straight to the target.
const MAX_ASSEMBLED: u64 = 4 * PAGE;

type Page = Box<[u8]>;

pub struct PageCache<'a> {
    mem: &'a dyn Memory,
    /// One sample's thread uses it; a `Mutex` (never contended) because `Memory` is `Sync`.
    pages: Mutex<Pages>,
}

#[derive(Default)]
struct Pages {
    map: FxHashMap<u64, Option<Page>>,
    /// Buffers of an earlier sample, reused (no fresh zeroed pages from the allocator per sample).
    spare: Vec<Page>,
}

/// Page buffers kept from one sample to the next ([`PageCache::into_pool`]).
#[derive(Default)]
pub struct PagePool(Vec<Page>);

impl<'a> PageCache<'a> {
    pub fn new(mem: &'a dyn Memory) -> Self {
        Self::with_pool(mem, PagePool::default())
    }

    /// A cache that takes its page buffers from `pool` before allocating.
    pub fn with_pool(mem: &'a dyn Memory, pool: PagePool) -> Self {
        PageCache {
            mem,
            pages: Mutex::new(Pages {
                map: FxHashMap::default(),
                spare: pool.0,
            }),
        }
    }

    /// The page buffers, for the next sample's cache.
    pub fn into_pool(self) -> PagePool {
        let mut p = self.pages.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut spare = std::mem::take(&mut p.spare);
        spare.extend(p.map.into_values().flatten());
        spare.truncate(MAX_PAGES);
        PagePool(spare)
    }
}

impl Pages {
    /// The page at `base`, read from `mem` the first time (`None`: unreadable).
    fn page(&mut self, mem: &dyn Memory, base: u64) -> Option<&Page> {
        if !self.map.contains_key(&base) {
            if self.map.len() >= MAX_PAGES {
                let old: Vec<Page> = self.map.drain().filter_map(|(_, p)| p).collect();
                self.spare.extend(old);
            }
            let mut page = self
                .spare
                .pop()
                .unwrap_or_else(|| vec![0u8; PAGE as usize].into_boxed_slice());
            let entry = if mem.read(base, &mut page).is_ok() {
                Some(page)
            } else {
                self.spare.push(page);
                None
            };
            self.map.insert(base, entry);
        }
        self.map.get(&base).and_then(|p| p.as_ref())
    }
}

impl Memory for PageCache<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let len = buf.len() as u64;
        let end = addr.checked_add(len).ok_or(ReadError::Unmapped {
            addr,
            len: buf.len(),
        })?;
        if len == 0 || len > MAX_ASSEMBLED {
            return self.mem.read(addr, buf);
        }
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let mut at = addr;
        let mut filled = 0usize;
        while at < end {
            let base = at - at % PAGE;
            let upto = end.min(base + PAGE);
            let n = (upto - at) as usize;
            let from = (at - base) as usize;
            let src = pages
                .page(self.mem, base)
                .and_then(|p| p.get(from..from + n));
            let dst = buf.get_mut(filled..filled + n);
            match (src, dst) {
                (Some(s), Some(d)) => d.copy_from_slice(s),
                // An unreadable page: the target itself says why (and may have more to say).
                _ => return self.mem.read(addr, buf),
            }
            filled += n;
            at = upto;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The shipped 3.12 layout (the record module's tests share it).
    pub(crate) fn layout() -> leakspy_layout::Layout {
        leakspy_layout::all()
            .into_iter()
            .find(|l| l.file == "3.12.toml")
            .map(|l| l.layout)
            .expect("shipped layout")
    }

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
            (4000, 5000),
            (100, 3 * PAGE as usize),
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

    #[test]
    fn reused_buffers_hold_the_new_sample_bytes() {
        let a = Flat(vec![1u8; 2 * PAGE as usize]);
        let b = Flat(vec![2u8; 2 * PAGE as usize]);
        let c = PageCache::new(&a);
        let mut buf = [0u8; 16];
        c.read(PAGE - 8, &mut buf).unwrap();
        assert_eq!(buf, [1u8; 16]);
        let pool = c.into_pool();
        assert_eq!(pool.0.len(), 2);
        let c = PageCache::with_pool(&b, pool);
        c.read(PAGE - 8, &mut buf).unwrap();
        assert_eq!(buf, [2u8; 16]);
        // Unreadable: an error, the same as a direct read.
        assert!(c.read(2 * PAGE - 4, &mut buf).is_err());
    }
}
