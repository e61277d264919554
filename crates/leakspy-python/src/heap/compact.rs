//! Compact per-object state of a whole-heap census: which addresses were found ([`Seen`]) and every
//! object found in order ([`Objects`]).
//!
//! A whole-heap census holds one entry per object of the target, so its size is what decides
//! leakspy's peak memory next to the copy of the target. The plain forms (a hash map address ->
//! index, a vector of `(address, type)` and one of `u64` sizes) cost ~60 bytes per object, ~90 with
//! the growth slack of the map and vectors. Here: one bit per 8-byte word of the pages that hold
//! objects, and 10 bytes per object (address and type id packed, size). The address -> index map is kept
//! only when a consumer needs indexes (the refs graph).

use rustc_hash::{FxHashMap, FxHashSet};

/// Bytes per bitmap page of [`AddrSet`] (one bit per 8-byte word: 64 bytes of bits per page).
const PAGE: u64 = 4096;
const WORDS: usize = (PAGE / 8 / 64) as usize;

/// A set of addresses: a bitmap of 8-byte words per 4 KiB page holding at least one, the pages
/// found through a hash map of page numbers (80 bytes per page in use: ~2% of a dense heap, and no
/// more than a hash set's entry per object for a sparse one). Addresses that are not 8-byte
/// aligned (never an object, but garbage is asked about too) go to a plain set.
#[derive(Debug, Default, Clone)]
pub struct AddrSet {
    pages: FxHashMap<u64, u32>,
    bits: Vec<[u64; WORDS]>,
    /// The page number of each entry of `bits` (for [`AddrSet::scan`]).
    page_of: Vec<u64>,
    odd: FxHashSet<u64>,
    len: u64,
}

/// Where an [`AddrSet::scan`] goes on: page entry, word bit within it, then the unaligned
/// addresses (sorted when the scan reaches them).
#[derive(Debug, Default, Clone)]
pub struct ScanCursor {
    page: usize,
    bit: usize,
    odd: Option<Vec<u64>>,
    odd_next: usize,
}

impl AddrSet {
    fn locate(a: u64) -> (u64, usize, u64) {
        let word = (a % PAGE) / 8;
        (a / PAGE, (word / 64) as usize, 1u64 << (word % 64))
    }

    pub fn contains(&self, a: u64) -> bool {
        if !a.is_multiple_of(8) {
            return self.odd.contains(&a);
        }
        let (page, w, bit) = Self::locate(a);
        self.pages
            .get(&page)
            .and_then(|&i| self.bits.get(i as usize))
            .is_some_and(|b| b[w] & bit != 0)
    }

    /// Add `a`; whether it was not there before.
    pub fn insert(&mut self, a: u64) -> bool {
        let new = if !a.is_multiple_of(8) {
            self.odd.insert(a)
        } else {
            let (page, w, bit) = Self::locate(a);
            let next = self.bits.len() as u32;
            let i = *self.pages.entry(page).or_insert(next);
            if i == next {
                self.bits.push([0; WORDS]);
                self.page_of.push(page);
            }
            match self.bits.get_mut(i as usize) {
                Some(b) if b[w] & bit == 0 => {
                    b[w] |= bit;
                    true
                }
                _ => false,
            }
        };
        self.len += u64::from(new);
        new
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append to `out` the addresses in the set from `cursor` on, page by page in the order the
    /// pages were first used and by address within a page, then the unaligned ones, until `out`
    /// holds `max`; moves `cursor` past them. Addresses inserted during a scan may or may not be
    /// visited (the caller keeps those apart).
    pub fn scan(&self, cursor: &mut ScanCursor, max: usize, out: &mut Vec<u64>) {
        const BITS: usize = WORDS * 64;
        while out.len() < max && cursor.page < self.bits.len() {
            let (Some(words), Some(&page)) =
                (self.bits.get(cursor.page), self.page_of.get(cursor.page))
            else {
                break;
            };
            while out.len() < max && cursor.bit < BITS {
                let (w, b) = (cursor.bit / 64, cursor.bit % 64);
                let rest = words[w] >> b;
                if rest == 0 {
                    cursor.bit = (w + 1) * 64;
                    continue;
                }
                let bit = cursor.bit + rest.trailing_zeros() as usize;
                out.push(page * PAGE + bit as u64 * 8);
                cursor.bit = bit + 1;
            }
            if cursor.bit >= BITS {
                cursor.page += 1;
                cursor.bit = 0;
            }
        }
        if out.len() < max && cursor.page >= self.bits.len() {
            let odd = cursor.odd.get_or_insert_with(|| {
                let mut v: Vec<u64> = self.odd.iter().copied().collect();
                v.sort_unstable();
                v
            });
            let take = (max - out.len()).min(odd.len().saturating_sub(cursor.odd_next));
            out.extend_from_slice(&odd[cursor.odd_next..cursor.odd_next + take]);
            cursor.odd_next += take;
        }
    }
}

/// The objects found so far: membership always; with indexes (order found), every object in
/// index order and the table that finds one by address.
#[derive(Debug, Default)]
pub struct Seen {
    set: AddrSet,
    indexed: Option<(Objects, IndexTable)>,
}

impl Seen {
    /// Also keep every object in order, and its index ([`Seen::get`] answers it,
    /// [`Seen::take_indexed`] hands them over).
    pub fn with_index() -> Self {
        Seen {
            set: AddrSet::default(),
            indexed: Some(Default::default()),
        }
    }

    /// Whether indexes are kept ([`Seen::with_index`]).
    pub fn is_indexed(&self) -> bool {
        self.indexed.is_some()
    }

    pub fn contains(&self, a: u64) -> bool {
        self.set.contains(a)
    }

    /// Whether `a` was found; with the index kept, its index (without it, [`u32::MAX`]: callers
    /// use indexes only when they asked for them). The set answers first: most addresses asked
    /// about are not objects, and a miss in the table probes further than a hit.
    pub fn get(&self, a: u64) -> Option<u32> {
        if !self.set.contains(a) {
            return None;
        }
        match &self.indexed {
            Some((objects, table)) => table.get(a, objects),
            None => Some(u32::MAX),
        }
    }

    /// Add `a`; whether it was new. With indexes kept, use [`Seen::insert_object`].
    pub fn insert(&mut self, a: u64) -> bool {
        self.indexed.is_none() && self.set.insert(a)
    }

    /// With indexes kept: add object `a` of type `tp` as the next object, unless it was found
    /// before; its index. Follow with [`Seen::push_size`].
    pub fn insert_object(&mut self, a: u64, tp: u64) -> Option<u32> {
        let (objects, table) = self.indexed.as_mut()?;
        if !self.set.insert(a) {
            return None;
        }
        let i = objects.len() as u32;
        table.insert(a, i, objects);
        objects.push(a, tp);
        Some(i)
    }

    /// With indexes kept: the size of the object [`Seen::insert_object`] added last.
    pub fn push_size(&mut self, size: u64) {
        if let Some((objects, _)) = self.indexed.as_mut() {
            objects.push_size(size);
        }
    }

    /// The objects in index order (with indexes kept).
    pub fn objects(&self) -> Option<&Objects> {
        self.indexed.as_ref().map(|(objects, _)| objects)
    }

    /// [`AddrSet::scan`] of the addresses found (nothing when the index is kept: the index's
    /// owner walks its objects in index order instead).
    pub fn scan(&self, cursor: &mut ScanCursor, max: usize, out: &mut Vec<u64>) {
        if self.indexed.is_none() {
            self.set.scan(cursor, max, out);
        }
    }

    /// The objects in index order and their address table (empty unless [`Seen::with_index`]).
    pub fn take_indexed(&mut self) -> (Objects, IndexTable) {
        self.indexed.take().unwrap_or_default()
    }
}

/// An empty slot of [`IndexTable`] (no object has this index: `MAX_OBJECTS` is far below).
const EMPTY: u32 = u32::MAX;

/// Address -> index of the objects of an [`Objects`] list: open addressing over `u32` slots
/// (linear probing, at most 3/4 full), the address of a slot's object read back from the list.
/// 5.3–10.7 bytes per object, where a hash map of `(u64, u32)` costs 22–43 (and both tables
/// while it grows).
#[derive(Debug, Default, Clone)]
pub struct IndexTable {
    slots: Vec<u32>,
    len: usize,
}

/// The home slot of an 8-aligned address in an open-addressing table of `mask + 1` slots (a power
/// of two): a Fibonacci hash of the address without its alignment bits. Shared by [`IndexTable`] and
/// the tracemalloc map, so that both spread a heap's addresses the same way.
pub(crate) fn home_slot(a: u64, mask: usize) -> usize {
    let h = (a >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h ^ (h >> 29)) as usize & mask
}

impl IndexTable {
    /// The slot holding an index whose address (`addr`) is `a`, or else the empty slot the probe
    /// from `a`'s home ends at. At most 3/4 full, so every probe ends at an empty slot
    /// (`Err(None)` only for a table with none: empty).
    fn probe(
        slots: &[u32],
        a: u64,
        addr: impl Fn(u32) -> Option<u64>,
    ) -> Result<usize, Option<usize>> {
        if slots.is_empty() {
            return Err(None);
        }
        let mask = slots.len() - 1;
        let mut i = home_slot(a, mask);
        for _ in 0..slots.len() {
            match slots[i] {
                EMPTY => return Err(Some(i)),
                s if addr(s) == Some(a) => return Ok(i),
                _ => i = (i + 1) & mask,
            }
        }
        Err(None)
    }

    /// The index of the object at `a` in `objects`.
    pub fn get(&self, a: u64, objects: &Objects) -> Option<u32> {
        let at = Self::probe(&self.slots, a, |s| objects.get(s as usize).map(|(x, _)| x)).ok()?;
        self.slots.get(at).copied()
    }

    /// Add `a` as object `i` (not pushed to `objects` yet; every earlier index is), unless it
    /// is there; whether it was new.
    pub fn insert(&mut self, a: u64, i: u32, objects: &Objects) -> bool {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(objects);
        }
        match Self::probe(&self.slots, a, |s| objects.get(s as usize).map(|(x, _)| x)) {
            Err(Some(at)) => {
                self.slots[at] = i;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    fn grow(&mut self, objects: &Objects) {
        let cap = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap]);
        for s in old.into_iter().filter(|&s| s != EMPTY) {
            let a = objects.get(s as usize).map_or(0, |(addr, _)| addr);
            // The entries are distinct: the probe only looks for an empty slot.
            if let Err(Some(at)) = Self::probe(&self.slots, a, |_| None) {
                self.slots[at] = s;
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * 4
    }
}

/// Sizes at or above this are kept in [`Objects::big`].
const BIG: u16 = u16::MAX;

/// Bits of a packed entry of [`Objects::packed`] that hold the address over 8 (user-space
/// addresses are below 2^47); the other 20 hold the type id.
const ADDR_BITS: u32 = 44;
const TID_LIMIT: u32 = 1 << (64 - ADDR_BITS);
/// A packed entry that did not fit: the object is in [`Objects::odd`].
const ESCAPE: u64 = u64::MAX;

/// Every object found, in order: address and type (as an index into the distinct types) packed
/// into 8 bytes, and the size in 2 (10 bytes per object; the rare object that does not fit, an
/// address not 8-byte aligned or above 2^47, more than 2^20 types, a size of 64 KiB or more, is
/// kept in a map on the side).
#[derive(Debug, Default)]
pub struct Objects {
    packed: Vec<u64>,
    sizes: Vec<u16>,
    types: Vec<u64>,
    type_ids: FxHashMap<u64, u32>,
    /// Objects whose address and type do not pack, by object index.
    odd: FxHashMap<u32, (u64, u64)>,
    /// Sizes that do not fit `u16`, by object index.
    big: FxHashMap<u32, u64>,
}

impl Objects {
    pub fn len(&self) -> usize {
        self.packed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    pub fn push(&mut self, addr: u64, tp: u64) {
        let next = self.types.len() as u32;
        let tid = *self.type_ids.entry(tp).or_insert(next);
        if tid == next {
            self.types.push(tp);
        }
        let word = addr / 8;
        if addr.is_multiple_of(8) && word < 1 << ADDR_BITS && tid < TID_LIMIT {
            self.packed.push(word | (u64::from(tid) << ADDR_BITS));
        } else {
            self.odd.insert(self.packed.len() as u32, (addr, tp));
            self.packed.push(ESCAPE);
        }
    }

    /// Set the size of the last object pushed (called once per object, in order).
    pub fn push_size(&mut self, size: u64) {
        let i = self.sizes.len() as u32;
        match u16::try_from(size) {
            Ok(s) if s < BIG => self.sizes.push(s),
            _ => {
                self.big.insert(i, size);
                self.sizes.push(BIG);
            }
        }
    }

    /// Object `i`: `(address, type)`.
    pub fn get(&self, i: usize) -> Option<(u64, u64)> {
        let p = *self.packed.get(i)?;
        if p == ESCAPE {
            return self.odd.get(&(i as u32)).copied();
        }
        let addr = (p & ((1 << ADDR_BITS) - 1)) * 8;
        let tp = *self.types.get((p >> ADDR_BITS) as usize)?;
        Some((addr, tp))
    }

    /// Give back the vectors' growth slack (the list is complete).
    pub fn shrink_to_fit(&mut self) {
        self.packed.shrink_to_fit();
        self.sizes.shrink_to_fit();
    }

    /// Bytes held (the vectors' capacity, the side maps' entries).
    pub fn bytes(&self) -> usize {
        self.packed.capacity() * 8
            + self.sizes.capacity() * 2
            + self.types.capacity() * 8
            + (self.type_ids.capacity() + self.odd.capacity() + self.big.capacity()) * 24
    }

    /// `sys.getsizeof` of object `i` (0 if unknown).
    pub fn size(&self, i: usize) -> u64 {
        match self.sizes.get(i) {
            Some(&BIG) => self.big.get(&(i as u32)).copied().unwrap_or(0),
            Some(&s) => u64::from(s),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn addr_set_is_a_set(addrs in proptest::collection::vec(any::<u64>(), 0..300), probe in any::<u64>()) {
            let mut s = AddrSet::default();
            let mut h = FxHashSet::default();
            for &a in &addrs {
                // Neighbours too, so that pages and words are shared.
                for b in [a, a ^ 8, a.wrapping_add(4096)] {
                    prop_assert_eq!(s.insert(b), h.insert(b));
                }
            }
            prop_assert_eq!(s.len(), h.len() as u64);
            for &a in addrs.iter().chain([probe, probe & !7].iter()) {
                prop_assert_eq!(s.contains(a), h.contains(&a));
                prop_assert_eq!(s.contains(a ^ 16), h.contains(&(a ^ 16)));
            }
        }

        #[test]
        fn a_scan_visits_every_address_once(addrs in proptest::collection::vec(any::<u64>(), 0..300), chunk in 1usize..50) {
            let mut s = AddrSet::default();
            let mut h = FxHashSet::default();
            for &a in &addrs {
                for b in [a, a ^ 8, a & !7, a.wrapping_add(4096)] {
                    s.insert(b);
                    h.insert(b);
                }
            }
            let mut cursor = ScanCursor::default();
            let mut got = Vec::new();
            loop {
                let before = got.len();
                s.scan(&mut cursor, before + chunk, &mut got);
                prop_assert!(got.len() <= before + chunk);
                if got.len() == before {
                    break;
                }
            }
            let unique: FxHashSet<u64> = got.iter().copied().collect();
            prop_assert_eq!(unique.len(), got.len());
            prop_assert_eq!(unique, h);
        }

        #[test]
        fn the_index_table_is_a_map(addrs in proptest::collection::vec(any::<u64>(), 0..3000), probe in any::<u64>()) {
            // Any addresses (aligned or not, escapes too), many of them repeated and neighbours.
            let mut objects = Objects::default();
            let mut table = IndexTable::default();
            let mut h: FxHashMap<u64, u32> = FxHashMap::default();
            for &a in &addrs {
                for b in [a, a & !7, (a % (1 << 20)) & !15] {
                    let i = objects.len() as u32;
                    let new = table.insert(b, i, &objects);
                    prop_assert_eq!(new, !h.contains_key(&b));
                    if new {
                        objects.push(b, 1);
                        h.insert(b, i);
                    }
                }
            }
            for (&a, &i) in &h {
                prop_assert_eq!(table.get(a, &objects), Some(i));
            }
            prop_assert_eq!(table.get(probe, &objects), h.get(&probe).copied());
            prop_assert!(table.bytes() <= (h.len() * 4).max(1024) * 4 * 2);
        }

        #[test]
        fn objects_keep_what_was_pushed(v in proptest::collection::vec((any::<u64>(), 0u64..5, any::<u64>(), any::<bool>()), 0..100)) {
            // Half of them realistic (aligned user-space addresses, sizes below 64 KiB), the others
            // anything (the escapes).
            let v: Vec<(u64, u64, u64)> = v
                .into_iter()
                .map(|(a, t, s, real)| if real { ((a % (1 << 47)) & !7, t, s % 70_000) } else { (a, t, s) })
                .collect();
            let mut o = Objects::default();
            for &(a, t, s) in &v {
                o.push(a, t);
                o.push_size(s);
            }
            prop_assert_eq!(o.len(), v.len());
            for (i, &(a, t, s)) in v.iter().enumerate() {
                prop_assert_eq!(o.get(i), Some((a, t)));
                prop_assert_eq!(o.size(i), s);
            }
            prop_assert_eq!(o.get(v.len()), None);
        }
    }

    #[test]
    fn seen_with_and_without_index() {
        let mut s = Seen::default();
        assert!(s.insert(0x1000));
        assert!(!s.insert(0x1000));
        assert_eq!(s.get(0x1000), Some(u32::MAX));
        assert_eq!(s.get(0x1008), None);
        assert!(s.objects().is_none());
        let mut s = Seen::with_index();
        assert_eq!(s.insert_object(0x1000, 7), Some(0));
        assert_eq!(s.insert_object(0x1008, 7), Some(1));
        assert_eq!(s.insert_object(0x1000, 7), None);
        assert_eq!(s.get(0x1008), Some(1));
        assert!(s.contains(0x1000));
        assert_eq!(s.take_indexed().0.len(), 2);
    }
}
