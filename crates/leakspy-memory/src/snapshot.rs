//! A copy of the target's memory taken in large blocks.
//!
//! Walking a heap from outside means millions of small reads. [`Snapshot`] turns them into a few
//! hundred large ones: the first read that touches a 1 MiB-aligned block copies the whole block (clipped
//! to the mapping that contains it) into local memory, and later reads of that block are `memcpy`s.
//! Taken while the target is paused, the snapshot is a consistent picture; the target can be resumed as
//! soon as the walk has read what it needs.

use crate::buffer::PageBuf;
use crate::{maps, Mapping, Memory, ReadError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Reads outside the mappings copied whole are copied in aligned blocks of 16 KiB, kept for the
/// rest of the picture. Small, because what is read this way is mostly scattered: a stacks-only
/// dump reads a few KB near the top of each thread's 8 MiB C stack (1 MiB blocks copied 57.6 MB
/// for 50 threads and paused the target 73-170 ms; 16 KiB blocks copy 3.7 MB in 4-6 ms).
const BLOCK_SHIFT: u32 = 14;
#[cfg(test)]
const BLOCK: u64 = 1 << BLOCK_SHIFT;

/// Snapshot identities (never reused, so a thread's last segment never matches another snapshot).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A thread's last segment: (snapshot id, segment start, its bytes).
type LastSegment = Option<(u64, u64, std::sync::Arc<Vec<u8>>)>;

thread_local! {
    /// Bounded mode: the segment this thread read last (snapshot id, start, bytes), so that the
    /// many small reads of one object or pool skip the cache's lock. An evicted segment stays
    /// readable here (its bytes are what was copied; at most one block per thread).
    static LAST_SEGMENT: std::cell::RefCell<LastSegment> = const { std::cell::RefCell::new(None) };
    /// The index of the copied region that served this thread's last read (reads are strongly
    /// local). Per thread, not per snapshot: a shared one bounced between the cores of a walk
    /// whose threads read different regions (the two ends of a GC list), and a stale index only
    /// misses (each use checks it against the regions).
    static LAST_REGION: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One copied piece of a block: the block clipped to one mapping.
#[derive(Debug)]
struct Segment {
    start: u64,
    data: Result<std::sync::Arc<Vec<u8>>, ReadError>,
}

/// Counters for the benchmark and the report header.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotStats {
    /// Bytes copied from the target.
    pub bytes_copied: u64,
    /// Large copies issued.
    pub copies: u64,
    /// Reads that bypassed the cache (address outside every known mapping).
    pub direct_reads: u64,
    /// Time spent copying.
    pub copy_time: Duration,
    /// Blocks dropped from a bounded cache ([`Snapshot::limit_cache`]).
    pub evictions: u64,
}

/// Block cache over another [`Memory`], plus whole mappings copied up front.
#[derive(Debug)]
pub struct Snapshot<M: Memory> {
    inner: M,
    maps: Vec<Mapping>,
    /// Mappings copied whole by [`Snapshot::copy_mappings`], sorted by start address.
    regions: Vec<(u64, PageBuf)>,
    /// Buffers allocated by [`Snapshot::prepare`]: (start, end, buffer).
    prepared: Vec<(u64, u64, PageBuf)>,
    blocks: Mutex<HashMap<u64, Vec<Segment>>>,
    /// Bounded mode ([`Snapshot::limit_cache`]): the most bytes the block cache holds, and the
    /// blocks in the order they were copied (the oldest is evicted first).
    cache_limit: Option<u64>,
    cache_order: Mutex<(std::collections::VecDeque<u64>, u64)>,
    /// Identity for the thread-local last segment (bounded mode); a new one after `clear`.
    id: std::sync::atomic::AtomicU64,
    /// Set by [`Snapshot::abort`]: every later read fails, so a walk on it ends quickly.
    aborted: std::sync::atomic::AtomicBool,
    stats: Mutex<SnapshotStats>,
}

impl<M: Memory> Snapshot<M> {
    /// `maps` must be sorted by address (as `/proc/PID/maps` lists them).
    pub fn new(inner: M, maps: Vec<Mapping>) -> Snapshot<M> {
        Snapshot {
            inner,
            maps,
            regions: Vec::new(),
            prepared: Vec::new(),
            blocks: Mutex::new(HashMap::new()),
            cache_limit: None,
            cache_order: Mutex::new((std::collections::VecDeque::new(), 0)),
            aborted: std::sync::atomic::AtomicBool::new(false),
            id: std::sync::atomic::AtomicU64::new(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            stats: Mutex::new(SnapshotStats::default()),
        }
    }

    /// Bounded mode: keep at most `bytes` of copied blocks, evicting the oldest block first (a
    /// read of an evicted block copies it again). Without a limit every block is kept for the
    /// rest of the picture.
    pub fn limit_cache(&mut self, bytes: u64) {
        self.cache_limit = Some(bytes.max(1 << BLOCK_SHIFT));
    }

    /// Record a newly copied block of `len` bytes; evict the oldest ones while over the limit.
    fn account(&self, blocks: &mut HashMap<u64, Vec<Segment>>, block: u64, len: u64) {
        let Some(limit) = self.cache_limit else {
            return;
        };
        let mut order = locked(&self.cache_order);
        order.0.push_back(block);
        order.1 += len;
        // Each entry is looked at once at most: the block being read stays (it is needed now).
        let mut budget = order.0.len();
        while order.1 > limit && budget > 0 {
            budget -= 1;
            let Some(old) = order.0.pop_front() else {
                break;
            };
            if old == block {
                order.0.push_back(old);
                continue;
            }
            if let Some(segs) = blocks.remove(&old) {
                let freed: u64 = segs.iter().map(|s| seg_end(s) - s.start).sum();
                order.1 = order.1.saturating_sub(freed);
                locked(&self.stats).evictions += 1;
            }
        }
    }

    /// Make every later read fail (`ECANCELED`): a walk reading this snapshot stops at its next
    /// read (bounded mode, once the census outgrows the limit).
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }

    /// Whether [`Snapshot::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    /// Bytes the block cache holds now (bounded mode only; 0 otherwise).
    pub fn cached_bytes(&self) -> u64 {
        locked(&self.cache_order).1
    }

    /// Allocate (and fault in) local buffers for the mappings `copy_mappings` is expected to copy.
    /// Called before pausing the target, so the pause is spent copying, not allocating.
    pub fn prepare(&mut self, maps: &[Mapping], want: impl Fn(&Mapping) -> bool) {
        for m in maps.iter().filter(|m| m.readable && want(m)) {
            if let Some(buf) = PageBuf::zeroed(m.len() as usize, false) {
                self.prepared.push((m.start, m.end, buf));
            }
        }
        let mut bufs: Vec<&mut [u8]> = self
            .prepared
            .iter_mut()
            .map(|p| p.2.as_mut_slice())
            .collect();
        crate::buffer::prefault_all(&mut bufs);
    }

    /// Copy every mapping for which `want` is true, whole, now (one read per mapping). This is what
    /// runs while the target is paused; afterwards, reads inside these mappings never touch the
    /// target. Mappings that fail to copy are left to the lazy block path.
    ///
    /// A mapping that grew since [`Snapshot::prepare`] (a growing heap: new arenas mapped next to
    /// the old ones join their mapping) is copied into the prepared buffers that lie inside it, and
    /// only the parts it gained into new ones: a new buffer for the whole of it would be faulted in
    /// page by page inside the pause.
    pub fn copy_mappings(&mut self, want: impl Fn(&Mapping) -> bool) {
        let t0 = Instant::now();
        let mut stats = *locked(&self.stats);
        let mut prepared = std::mem::take(&mut self.prepared);
        let mut todo: Vec<(u64, PageBuf)> = Vec::new();
        for m in self.maps.iter().filter(|m| m.readable && want(m)) {
            let mut inside = Vec::new();
            let mut i = 0;
            while i < prepared.len() {
                if prepared[i].0 >= m.start && prepared[i].1 <= m.end {
                    inside.push(prepared.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            inside.sort_by_key(|p| p.0);
            let mut pieces: Vec<(u64, Option<PageBuf>)> = Vec::new();
            let mut at = m.start;
            for (start, end, buf) in inside {
                if start > at {
                    pieces.push((at, PageBuf::zeroed((start - at) as usize, false)));
                }
                pieces.push((start, Some(buf)));
                at = end;
            }
            if at < m.end {
                pieces.push((at, PageBuf::zeroed((m.end - at) as usize, false)));
            }
            todo.extend(
                pieces
                    .into_iter()
                    .filter_map(|(start, b)| Some((start, b?))),
            );
        }
        stats.copies += todo.len() as u64;
        for (start, data, ok) in copy_all(&self.inner, todo) {
            if ok {
                stats.bytes_copied += data.as_slice().len() as u64;
                self.regions.push((start, data));
            }
        }
        self.regions.sort_by_key(|r| r.0);
        stats.copy_time += t0.elapsed();
        *locked(&self.stats) = stats;
    }

    /// Serve `[addr, addr+buf.len())` from copied regions, across the seams of a mapping copied in
    /// pieces. False (and `buf` unspecified) when some byte of it lies in no region.
    fn read_regions(&self, addr: u64, buf: &mut [u8]) -> bool {
        let mut done = 0usize;
        while done < buf.len() {
            let Some(at) = addr.checked_add(done as u64) else {
                return false;
            };
            let Some(i) = self.regions.partition_point(|r| r.0 <= at).checked_sub(1) else {
                return false;
            };
            let (start, data) = &self.regions[i];
            let data = data.as_slice();
            let off = (at - start) as usize;
            if off >= data.len() {
                return false;
            }
            let n = (data.len() - off).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&data[off..off + n]);
            done += n;
        }
        true
    }

    /// The copied region holding `[addr, addr+len)`, if any.
    fn region(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let hit = |i: usize| {
            let (start, data) = self.regions.get(i)?;
            let off = addr.checked_sub(*start)? as usize;
            data.as_slice().get(off..off.checked_add(len)?)
        };
        if let Some(s) = hit(LAST_REGION.with(std::cell::Cell::get)) {
            return Some(s);
        }
        let i = self
            .regions
            .partition_point(|r| r.0 <= addr)
            .checked_sub(1)?;
        let s = hit(i)?;
        LAST_REGION.with(|c| c.set(i));
        Some(s)
    }

    pub fn stats(&self) -> SnapshotStats {
        *locked(&self.stats)
    }

    /// Replace the memory map (e.g. re-read once the target is paused). Sorted by address.
    pub fn set_maps(&mut self, maps: Vec<Mapping>) {
        self.maps = maps;
    }

    pub fn maps(&self) -> &[Mapping] {
        &self.maps
    }

    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// Forget every copied block (the next reads copy afresh).
    pub fn clear(&self) {
        locked(&self.blocks).clear();
        self.id
            .store(NEXT_ID.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        let mut order = locked(&self.cache_order);
        order.0.clear();
        order.1 = 0;
    }

    /// Copy bytes `[addr, addr+buf.len())`, all inside one block.
    fn read_in_block(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let block = addr >> BLOCK_SHIFT;
        let mut blocks = locked(&self.blocks);
        let segs = blocks.entry(block).or_default();
        let seg = match segs
            .iter()
            .position(|s| s.start <= addr && seg_end(s) > addr)
        {
            Some(i) => &segs[i],
            None => {
                let Some(m) = maps::find(&self.maps, addr) else {
                    drop(blocks);
                    locked(&self.stats).direct_reads += 1;
                    return self.inner.read(addr, buf);
                };
                if !m.readable {
                    return Err(ReadError::Unmapped {
                        addr,
                        len: buf.len(),
                    });
                }
                let start = m.start.max(block << BLOCK_SHIFT);
                let end = m.end.min((block + 1).saturating_mul(1 << BLOCK_SHIFT));
                let t0 = Instant::now();
                let mut data = vec![0u8; (end - start) as usize];
                let res = self.inner.read(start, &mut data).map(|()| data);
                let mut s = locked(&self.stats);
                s.copies += 1;
                s.copy_time += t0.elapsed();
                if res.is_ok() {
                    s.bytes_copied += end - start;
                }
                drop(s);
                if let Err(e @ (ReadError::ProcessGone | ReadError::PermissionDenied)) = &res {
                    return Err(*e);
                }
                let len = match &res {
                    Ok(d) => d.len() as u64,
                    Err(_) => 1,
                };
                segs.push(Segment {
                    start,
                    data: res.map(std::sync::Arc::new),
                });
                self.account(&mut blocks, block, len);
                let segs = blocks.entry(block).or_default();
                segs.last().ok_or(ReadError::Unmapped {
                    addr,
                    len: buf.len(),
                })?
            }
        };
        match &seg.data {
            Ok(data) => {
                if self.cache_limit.is_some() {
                    let id = self.id.load(Ordering::Relaxed);
                    LAST_SEGMENT.with(|l| *l.borrow_mut() = Some((id, seg.start, data.clone())));
                }
                let off = (addr - seg.start) as usize;
                let src = data.get(off..off + buf.len()).ok_or(ReadError::Unmapped {
                    addr,
                    len: buf.len(),
                })?;
                buf.copy_from_slice(src);
                Ok(())
            }
            // The bulk copy failed (e.g. a guard page inside a mapping): fall back to a direct read.
            Err(_) => {
                drop(blocks);
                self.inner.read(addr, buf)
            }
        }
    }
}

/// How much one read of [`copy_all`] copies at most: pieces small enough for both cores to share a
/// large mapping, large enough that a read's fixed cost does not count.
const COPY_PIECE: usize = 4 << 20;

/// A piece of a copy: (index of its buffer, address, the piece of that buffer).
type Job<'a> = (usize, u64, &'a mut [u8]);

/// Fill every `(start, buffer)` from `mem`, on up to 8 threads (the copy runs while the target is
/// paused: its cores are idle, and one thread does not reach the memory bandwidth). Returns each
/// buffer with whether all of it was read.
fn copy_all<M: Memory>(mem: &M, mut todo: Vec<(u64, PageBuf)>) -> Vec<(u64, PageBuf, bool)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (i, (start, data)) in todo.iter_mut().enumerate() {
        let mut at = *start;
        for piece in data.as_mut_slice().chunks_mut(COPY_PIECE) {
            let n = piece.len() as u64;
            jobs.push((i, at, piece));
            at += n;
        }
    }
    let failed: Vec<usize> = if threads < 2 || jobs.len() < 2 {
        jobs.into_iter()
            .filter_map(|(i, at, piece)| mem.read(at, piece).is_err().then_some(i))
            .collect()
    } else {
        let next = AtomicUsize::new(0);
        let jobs: Vec<Mutex<Option<Job<'_>>>> =
            jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut failed = Vec::new();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(job) = jobs.get(k) else { break };
                            if let Some((i, at, piece)) = locked(job).take() {
                                if mem.read(at, piece).is_err() {
                                    failed.push(i);
                                }
                            }
                        }
                        failed
                    })
                })
                .collect();
            let mut failed = Vec::new();
            for w in workers {
                match w.join() {
                    Ok(f) => failed.extend(f),
                    // A thread that panicked may have left pieces unread: trust none of them.
                    Err(_) => failed.extend(0..jobs.len()),
                }
            }
            failed
        })
    };
    todo.into_iter()
        .enumerate()
        .map(|(i, (start, data))| (start, data, !failed.contains(&i)))
        .collect()
}

/// A lock that a panic elsewhere left poisoned still guards plain caches: use them.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn seg_end(s: &Segment) -> u64 {
    match &s.data {
        Ok(d) => s.start + d.len() as u64,
        Err(_) => s.start + 1,
    }
}

impl<M: Memory> Memory for Snapshot<M> {
    fn read_word(&self, addr: u64) -> Result<u64, ReadError> {
        if !self.aborted.load(Ordering::Relaxed) {
            if let Some(w) = self
                .region(addr, 8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
            {
                return Ok(u64::from_le_bytes(w));
            }
        }
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// From the memory map of the copy's moment (unknown without one); unmapped is not writable.
    fn writable_at(&self, addr: u64) -> Option<bool> {
        if self.maps.is_empty() {
            return None;
        }
        Some(maps::find(&self.maps, addr).is_some_and(|m| m.writable))
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        if self.aborted.load(Ordering::Relaxed) {
            return Err(ReadError::Io { errno: 125 });
        }
        if let Some(src) = self.region(addr, buf.len()) {
            buf.copy_from_slice(src);
            return Ok(());
        }
        if !self.regions.is_empty() && self.read_regions(addr, buf) {
            return Ok(());
        }
        if self.cache_limit.is_some() {
            let id = self.id.load(Ordering::Relaxed);
            let hit = LAST_SEGMENT.with(|l| {
                let l = l.borrow();
                let (sid, start, data) = l.as_ref()?;
                if *sid != id {
                    return None;
                }
                let off = usize::try_from(addr.checked_sub(*start)?).ok()?;
                let src = data.get(off..off.checked_add(buf.len())?)?;
                buf.copy_from_slice(src);
                Some(())
            });
            if hit.is_some() {
                return Ok(());
            }
        }
        let mut done = 0usize;
        while done < buf.len() {
            let at = addr.checked_add(done as u64).ok_or(ReadError::Unmapped {
                addr,
                len: buf.len(),
            })?;
            // The last block of the address space ends at 2^64 (wraps to 0 as a u64).
            let to_block_end = (((at >> BLOCK_SHIFT) + 1) << BLOCK_SHIFT).wrapping_sub(at);
            // Also split at mapping ends so each piece lies inside one segment.
            let mut n = (to_block_end as usize).min(buf.len() - done);
            if let Some(m) = maps::find(&self.maps, at) {
                n = n.min((m.end - at) as usize);
            }
            self.read_in_block(at, &mut buf[done..done + n])?;
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmem::Flat;

    /// [`Flat`] memory that counts the reads reaching it.
    struct Counting {
        flat: Flat,
        reads: std::sync::atomic::AtomicU32,
    }
    impl Memory for Counting {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.flat.read(addr, buf)
        }
    }

    fn mapping(start: u64, end: u64) -> Mapping {
        Mapping {
            start,
            end,
            readable: true,
            writable: true,
            executable: false,
            offset: 0,
            inode: 0,
            path: String::new(),
        }
    }

    #[test]
    fn writable_at_answers_from_the_map() {
        let flat = Flat {
            base: 0x1000,
            bytes: vec![0; 0x3000],
        };
        let none = Snapshot::new(&flat, Vec::new());
        assert_eq!(none.writable_at(0x1000), None, "no map: unknown");
        let code = Mapping {
            writable: false,
            executable: true,
            ..mapping(0x3000, 0x4000)
        };
        let snap = Snapshot::new(&flat, vec![mapping(0x1000, 0x2000), code]);
        assert_eq!(snap.writable_at(0x1fff), Some(true));
        assert_eq!(snap.writable_at(0x2000), Some(false), "unmapped");
        assert_eq!(snap.writable_at(0x3000), Some(false), "code");
        fn through<M: Memory>(m: M, addr: u64) -> Option<bool> {
            m.writable_at(addr)
        }
        assert_eq!(through(&snap, 0x1000), Some(true), "through a reference");
    }

    #[test]
    fn reads_across_blocks_and_caches() {
        let base = BLOCK - 16;
        let bytes: Vec<u8> = (0..(3 * BLOCK as usize)).map(|i| (i % 251) as u8).collect();
        let mem = Counting {
            flat: Flat {
                base,
                bytes: bytes.clone(),
            },
            reads: std::sync::atomic::AtomicU32::new(0),
        };
        let snap = Snapshot::new(mem, vec![mapping(base, base + 3 * BLOCK)]);
        let mut buf = [0u8; 32];
        snap.read(base, &mut buf).unwrap(); // spans two blocks
        assert_eq!(&buf[..], &bytes[..32]);
        let before = snap.inner().reads.load(Ordering::Relaxed);
        snap.read(base + 100, &mut buf).unwrap();
        assert_eq!(
            snap.inner().reads.load(Ordering::Relaxed),
            before,
            "second read must come from the cache"
        );
        assert_eq!(&buf[..], &bytes[100..132]);
        // Outside every mapping: a direct read, which fails here.
        assert!(snap.read(0x10, &mut buf).is_err());
    }

    #[test]
    fn copied_mappings_serve_reads_without_the_target() {
        let base = 0x10000;
        let bytes: Vec<u8> = (0..8192usize).map(|i| (i % 253) as u8).collect();
        let mem = Counting {
            flat: Flat {
                base,
                bytes: bytes.clone(),
            },
            reads: std::sync::atomic::AtomicU32::new(0),
        };
        let mut snap = Snapshot::new(
            mem,
            vec![
                mapping(base, base + 4096),
                mapping(base + 4096, base + 8192),
            ],
        );
        snap.copy_mappings(|m| m.start == base);
        let after_copy = snap.inner().reads.load(Ordering::Relaxed);
        let mut buf = [0u8; 16];
        snap.read(base + 100, &mut buf).unwrap();
        assert_eq!(&buf[..], &bytes[100..116]);
        assert_eq!(snap.inner().reads.load(Ordering::Relaxed), after_copy);
        // Straddling the copied region's end falls back to the block path (and stays correct).
        snap.read(base + 4090, &mut buf).unwrap();
        assert_eq!(&buf[..], &bytes[4090..4106]);
        assert!(snap.stats().bytes_copied >= 4096);
    }

    #[test]
    fn a_mapping_that_grew_since_prepare_reuses_its_buffer_and_reads_across_the_seams() {
        let base = 0x10000;
        let bytes: Vec<u8> = (0..3 * 4096usize).map(|i| (i % 241) as u8).collect();
        let mem = Counting {
            flat: Flat {
                base,
                bytes: bytes.clone(),
            },
            reads: std::sync::atomic::AtomicU32::new(0),
        };
        let mut snap = Snapshot::new(mem, Vec::new());
        // Prepared for the middle page; by the pause the mapping grew a page on each side.
        snap.prepare(&[mapping(base + 4096, base + 8192)], |_| true);
        snap.set_maps(vec![mapping(base, base + 3 * 4096)]);
        snap.copy_mappings(|_| true);
        assert_eq!(
            snap.stats().copies,
            3,
            "gained parts in new buffers, the middle in its own"
        );
        assert_eq!(snap.stats().bytes_copied, 3 * 4096);
        let after_copy = snap.inner().reads.load(Ordering::Relaxed);
        for at in [0usize, 4090, 8190, 100, 12_000] {
            let mut buf = [0u8; 16];
            let n = buf.len().min(bytes.len() - at);
            snap.read(base + at as u64, &mut buf[..n]).unwrap();
            assert_eq!(&buf[..n], &bytes[at..at + n], "at {at}");
            // A word, in one region or across a seam (the fallback), as `read` gives it.
            let word = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            assert_eq!(
                snap.read_word(base + at as u64).unwrap(),
                word,
                "word at {at}"
            );
        }
        assert_eq!(
            snap.inner().reads.load(Ordering::Relaxed),
            after_copy,
            "reads across the seams come from the copy"
        );
        assert!(
            snap.read_word(base + 3 * 4096 - 4).is_err(),
            "a word past the end"
        );
    }

    /// Bounded mode: the cache never holds more than its limit, evicted blocks read again
    /// correctly (copied afresh).
    #[test]
    fn bounded_cache_evicts_oldest_and_rereads() {
        let base = 0x100000;
        let bytes: Vec<u8> = (0..(8 * BLOCK as usize)).map(|i| (i % 241) as u8).collect();
        let mem = Counting {
            flat: Flat {
                base,
                bytes: bytes.clone(),
            },
            reads: std::sync::atomic::AtomicU32::new(0),
        };
        let mut snap = Snapshot::new(mem, vec![mapping(base, base + 8 * BLOCK)]);
        snap.limit_cache(2 * BLOCK);
        let mut buf = [0u8; 8];
        for round in 0..2 {
            for b in 0..8u64 {
                let at = base + b * BLOCK + 40;
                snap.read(at, &mut buf).unwrap();
                let off = (at - base) as usize;
                assert_eq!(&buf[..], &bytes[off..off + 8], "round {round} block {b}");
                assert!(snap.cached_bytes() <= 2 * BLOCK);
            }
        }
        // Every block was copied twice (evicted in between), never more.
        assert_eq!(snap.inner().reads.load(Ordering::Relaxed), 16);
        assert_eq!(snap.stats().evictions, 14);
    }

    /// Regression (issue #7 fuzzing): a read in the last 1 MiB block of the address space made the
    /// block end wrap to 0 and `block_end - addr` underflow.
    #[test]
    fn read_at_the_top_of_the_address_space_fails_cleanly() {
        let mem = Counting {
            flat: Flat {
                base: 0x1000,
                bytes: vec![0; 64],
            },
            reads: std::sync::atomic::AtomicU32::new(0),
        };
        let snap = Snapshot::new(mem, vec![mapping(0x1000, 0x2000)]);
        let mut buf = [0u8; 16];
        assert!(snap.read(u64::MAX - 7, &mut buf).is_err());
        assert!(snap.read(u64::MAX - 40, &mut buf).is_err());
    }
}
