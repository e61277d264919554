//! Allocation pointer -> traceback address for every trace of tracemalloc's table, in 8 bytes a
//! trace: an open-addressing table of packed words (the pointer over 8 in 44 bits, the index of
//! its distinct traceback in 20) at most 3/4 full. A hash map of (u64, u64) took 17 bytes a bucket
//! at up to 7/8 load, doubling: 71 MB for 2M traces against 34 MB here, beside a copy of the target
//! that already holds the traces once. What does not pack (an address not 8-aligned or at 2^47 or
//! above, more than 2^20 distinct tracebacks) is kept in a map on the side.

use rustc_hash::FxHashMap;

const EMPTY: u64 = 0;
const TB_BITS: u32 = 20;
const ADDR_LIMIT: u64 = 1 << 44;

#[derive(Debug)]
pub struct TraceMap {
    slots: Vec<u64>,
    packed: usize,
    tracebacks: Vec<u64>,
    tb_ids: FxHashMap<u64, u32>,
    side: FxHashMap<u64, u64>,
    /// Distinct tracebacks that pack (`1 << TB_BITS`; smaller in tests).
    tb_limit: u32,
}

impl Default for TraceMap {
    fn default() -> Self {
        TraceMap {
            slots: Vec::new(),
            packed: 0,
            tracebacks: Vec::new(),
            tb_ids: FxHashMap::default(),
            side: FxHashMap::default(),
            tb_limit: 1 << TB_BITS,
        }
    }
}

impl TraceMap {
    /// Room for `n` traces without growing.
    pub fn with_capacity(n: usize) -> Self {
        let mut m = TraceMap::default();
        let want = n.saturating_mul(4) / 3 + 1;
        m.slots = vec![EMPTY; want.next_power_of_two().max(1024)];
        m
    }

    /// The slot holding `key`, or the empty slot its probe ends at (`Err`); `None` for no slots.
    fn probe(slots: &[u64], key: u64) -> Option<Result<usize, usize>> {
        if slots.is_empty() {
            return None;
        }
        let mask = slots.len() - 1;
        let mut i = crate::heap::compact::home_slot(key, mask);
        // At most 3/4 full: an empty slot ends every probe.
        for _ in 0..slots.len() {
            match slots[i] {
                EMPTY => return Some(Err(i)),
                s if (s >> TB_BITS) << 3 == key => return Some(Ok(i)),
                _ => i = (i + 1) & mask,
            }
        }
        None
    }

    fn packs(key: u64) -> bool {
        key != 0 && key.is_multiple_of(8) && (key >> 3) < ADDR_LIMIT
    }

    /// Record `key -> tb` (a later record of the same key replaces the earlier one).
    pub fn insert(&mut self, key: u64, tb: u64) {
        let id = match self.tb_ids.get(&tb) {
            Some(&id) => Some(id),
            None if (self.tracebacks.len() as u64) < u64::from(self.tb_limit) => {
                let id = self.tracebacks.len() as u32;
                self.tracebacks.push(tb);
                self.tb_ids.insert(tb, id);
                Some(id)
            }
            None => None,
        };
        let (Some(id), true) = (id, Self::packs(key)) else {
            // Out of the packed table, if it was there.
            if let Some(Ok(at)) = Self::probe(&self.slots, key) {
                self.remove_at(at);
            }
            self.side.insert(key, tb);
            return;
        };
        self.side.remove(&key);
        if (self.packed + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let word = ((key >> 3) << TB_BITS) | u64::from(id);
        match Self::probe(&self.slots, key) {
            Some(Ok(at)) => self.slots[at] = word,
            Some(Err(at)) => {
                self.slots[at] = word;
                self.packed += 1;
            }
            None => {
                self.side.insert(key, tb);
            }
        }
    }

    /// Linear probing's deletion: empty the slot and re-place the run after it.
    fn remove_at(&mut self, at: usize) {
        let mask = self.slots.len() - 1;
        self.slots[at] = EMPTY;
        self.packed -= 1;
        let mut i = (at + 1) & mask;
        while self.slots[i] != EMPTY {
            let w = std::mem::replace(&mut self.slots[i], EMPTY);
            if let Some(Err(to)) = Self::probe(&self.slots, (w >> TB_BITS) << 3) {
                self.slots[to] = w;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap]);
        for w in old.into_iter().filter(|&w| w != EMPTY) {
            if let Some(Err(at)) = Self::probe(&self.slots, (w >> TB_BITS) << 3) {
                self.slots[at] = w;
            }
        }
    }

    /// The traceback address recorded for `key`.
    pub fn get(&self, key: u64) -> Option<u64> {
        if Self::packs(key) {
            if let Some(Ok(at)) = Self::probe(&self.slots, key) {
                let id = (self.slots[at] & ((1 << TB_BITS) - 1)) as usize;
                return self.tracebacks.get(id).copied();
            }
        }
        self.side.get(&key).copied()
    }

    /// Traces recorded (distinct keys).
    pub fn len(&self) -> usize {
        self.packed + self.side.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (the table, the distinct tracebacks and the side map, roughly).
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * 8
            + self.tracebacks.capacity() * 8
            + (self.tb_ids.capacity() + self.side.capacity()) * 17
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn two_million_traces_in_eight_bytes_each() {
        let mut m = TraceMap::with_capacity(2_000_000);
        for i in 0..2_000_000u64 {
            m.insert(0x7f00_0000_0000 + i * 16, 0x5000 + (i % 300) * 64);
        }
        assert_eq!(m.len(), 2_000_000);
        assert_eq!(m.get(0x7f00_0000_0000 + 16 * 12345), Some(0x5000 + 45 * 64));
        assert_eq!(m.get(0x7f00_0000_0008), None);
        assert!(m.bytes() < 36 << 20, "{}", m.bytes());
    }

    proptest! {
        /// Same answers as a hash map, whatever the keys (0, unaligned, above 2^47, repeated) and
        /// however many distinct tracebacks (beyond the packed limit, here 4).
        #[test]
        fn agrees_with_a_hash_map(
            ops in proptest::collection::vec(
                (prop_oneof![
                    4 => (1u64..64).prop_map(|k| 0x1000 + k * 8),
                    1 => any::<u64>(),
                    1 => Just(0u64),
                    1 => (1u64..64).prop_map(|k| 0x1000 + k * 8 + 3),
                ], 0u64..8),
                0..300,
            ),
            cap in 0usize..40,
        ) {
            let mut m = TraceMap::with_capacity(cap);
            m.tb_limit = 4;
            let mut want = FxHashMap::default();
            for &(k, tb) in &ops {
                m.insert(k, tb * 64);
                want.insert(k, tb * 64);
            }
            prop_assert_eq!(m.len(), want.len());
            for (&k, &tb) in &want {
                prop_assert_eq!(m.get(k), Some(tb));
            }
            for &(k, _) in &ops {
                prop_assert_eq!(m.get(k ^ 0x8000_0000), want.get(&(k ^ 0x8000_0000)).copied());
            }
        }
    }
}
