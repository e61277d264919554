//! Reading individual CPython objects out of target memory: strings, bytes, ints, dicts, and the
//! names and size rules of types.
//!
//! Every reader is bounded (lengths are capped before allocating) and returns an error instead of
//! panicking on garbage. Type information is cached per type address by [`TypeCache`].

use super::decode::{long, unicode};
use crate::error::{Error, Result};
use leakspy_layout::Layout;
use leakspy_memory::{Memory, MemoryExt};

/// Longest string leakspy decodes (names, filenames): longer ones are truncated.
pub const MAX_STR_CHARS: u64 = 4096;
/// Most entries a dict walk visits.
pub const MAX_DICT_ENTRIES: u64 = 1 << 20;

/// The free-threaded object header's halves of the reference count, from the header's bytes
/// (Include/object.h: `ob_ref_local`, the owning thread's count, `u32::MAX` when immortal; and
/// `ob_ref_shared`, the other threads' count above its `_Py_REF_SHARED_SHIFT` flag bits, which may
/// be negative): `(local, shared)`. `None` for a default build's layout or a header too short.
pub fn ft_refcounts(l: &Layout, hdr: &[u8]) -> Option<(u32, i64)> {
    let ft = l.free_threaded.as_ref()?;
    let field = |off: u64, n: usize| -> Option<u64> {
        let s = usize::try_from(off).ok()?;
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(hdr.get(s..s.checked_add(n)?)?);
        Some(u64::from_le_bytes(w))
    };
    // _Py_REF_SHARED_SHIFT is 2 in every free-threaded release (3.13-3.15).
    let shift = l
        .mimalloc
        .as_ref()
        .map_or(2, |m| m.ref_shared_shift.min(62));
    let local = u32::try_from(field(ft.ob_ref_local, 4)?).ok()?;
    Some((local, (field(ft.ob_ref_shared, 8)? as i64) >> shift))
}

/// Object reader over one memory and one layout.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    pub mem: &'a dyn Memory,
    pub l: &'a Layout,
}

impl<'a> Reader<'a> {
    pub fn new(mem: &'a dyn Memory, l: &'a Layout) -> Reader<'a> {
        Reader { mem, l }
    }

    pub fn ptr(&self, addr: u64) -> Result<u64> {
        Ok(self.mem.read_ptr(addr)?)
    }

    pub fn type_of(&self, obj: u64) -> Result<u64> {
        self.ptr(obj.wrapping_add(self.l.object.ob_type))
    }

    pub fn ob_size(&self, obj: u64) -> Result<i64> {
        Ok(self.mem.read_i64(obj.wrapping_add(self.l.object.ob_size))?)
    }

    /// Whether the object at `obj` is a `str` (or a subclass of it).
    pub fn is_str(&self, obj: u64) -> bool {
        self.type_of(obj)
            .and_then(|tp| Ok(self.mem.read_u64(tp.wrapping_add(self.l.type_.tp_flags))?))
            .is_ok_and(|f| f & self.l.misc.tpflags_unicode_subclass != 0)
    }

    /// The decoded `state` word of a `str` object (kind, compact, ascii).
    pub fn str_state(&self, obj: u64) -> Result<unicode::StrState> {
        let u = &self.l.unicode;
        let state = self.mem.read_u32(obj.wrapping_add(u.state))?;
        unicode::parse_state(
            state,
            u.kind_shift,
            u.kind_bits,
            u.compact_bit,
            u.ascii_bit,
            u.ready_bit,
        )
        .ok_or_else(|| Error::Other(format!("str at {obj:#x}: bad state word {state:#x}")))
    }

    /// Decode a `str` object (at most [`MAX_STR_CHARS`] characters).
    pub fn str(&self, obj: u64) -> Result<String> {
        let u = &self.l.unicode;
        let len = self.mem.read_u64(obj.wrapping_add(u.length))?;
        let st = self.str_state(obj)?;
        let n = len.min(MAX_STR_CHARS);
        let data = if st.compact && st.ascii {
            obj.wrapping_add(u.ascii_size)
        } else if st.compact {
            obj.wrapping_add(u.compact_size)
        } else {
            self.ptr(obj.wrapping_add(u.data_any))?
        };
        if data == 0 {
            return Err(Error::Other(format!(
                "str at {obj:#x} has no data (not ready)"
            )));
        }
        let bytes = self.mem.read_vec(data, (n * u64::from(st.kind)) as usize)?;
        unicode::decode(st.kind, &bytes)
            .ok_or_else(|| Error::Other(format!("str at {obj:#x}: undecodable")))
    }

    /// Payload of a `bytes` object, at most `max` bytes.
    pub fn bytes(&self, obj: u64, max: u64) -> Result<Vec<u8>> {
        let len = self.ob_size(obj)?;
        if len < 0 {
            return Err(Error::Other(format!("bytes at {obj:#x}: negative size")));
        }
        Ok(self.mem.read_vec(
            obj.wrapping_add(self.l.bytes.ob_sval),
            (len as u64).min(max) as usize,
        )?)
    }

    /// Value of an `int` object if it fits in an i128.
    pub fn int(&self, obj: u64) -> Result<Option<i128>> {
        let lo = &self.l.long;
        let raw = self.mem.read_u64(obj.wrapping_add(lo.size_or_tag))?;
        let (neg, n) = if lo.lv_tag {
            long::sign_and_ndigits_lv_tag(raw).ok_or_else(|| Error::Other("bad int tag".into()))?
        } else {
            long::sign_and_ndigits_ob_size(raw as i64)
        };
        if n > 8 {
            return Ok(None);
        }
        let bytes = self
            .mem
            .read_vec(obj.wrapping_add(lo.ob_digit), (n * lo.digit_size) as usize)?;
        let digits: Vec<u32> = bytes
            .chunks_exact(lo.digit_size as usize)
            .map(|c| c.iter().rev().fold(0u32, |a, &b| (a << 8) | u32::from(b)))
            .collect();
        Ok(long::to_i128(neg, &digits, lo.shift))
    }

    /// `(key, value)` pairs of a dict, in insertion order (split, combined and 3.11+ unicode tables).
    pub fn dict_items(&self, dict: u64) -> Result<Vec<(u64, u64)>> {
        let keys = self.ptr(dict.wrapping_add(self.l.dict.ma_keys))?;
        let values = self.ptr(dict.wrapping_add(self.l.dict.ma_values))?;
        let t = self.keys_table(keys)?;
        let mut out = Vec::new();
        for i in 0..t.nentries {
            let e = t.entries.wrapping_add(i.wrapping_mul(t.entry_size));
            let key = self.ptr(e.wrapping_add(t.key_off))?;
            let value = if values != 0 {
                self.ptr(
                    values
                        .wrapping_add(self.values_offset())
                        .wrapping_add(i.wrapping_mul(8)),
                )?
            } else {
                self.ptr(e.wrapping_add(t.key_off).wrapping_add(8))?
            };
            if key != 0 && value != 0 {
                out.push((key, value));
            }
        }
        Ok(out)
    }

    /// Offset of the first value inside `PyDictValues` (3.13 added a 4-byte header, padded to 8).
    fn values_offset(&self) -> u64 {
        self.l.dict.values_offset.unwrap_or(0)
    }

    /// Look up a `str` key in a dict by comparing decoded key text.
    pub fn dict_get_str(&self, dict: u64, key: &str) -> Result<Option<u64>> {
        for (k, v) in self.dict_items(dict)? {
            if self.str(k).ok().as_deref() == Some(key) {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Shape of a `PyDictKeysObject`.
    pub fn keys_table(&self, keys: u64) -> Result<KeysTable> {
        let dk = &self.l.dictkeys;
        let (size, index_bytes, general) = match (
            dk.dk_size,
            dk.dk_log2_size,
            dk.dk_log2_index_bytes,
            dk.dk_kind,
        ) {
            (Some(off), _, _, _) => {
                let size = self.mem.read_u64(keys.wrapping_add(off))?;
                // Same bound as the log2 form below (CPython sizes are powers of two).
                if !size.is_power_of_two() || size > 1 << 40 {
                    return Err(Error::Other(format!("dict keys at {keys:#x}: absurd size")));
                }
                let ix = if size <= 0xff {
                    1
                } else if size <= 0xffff {
                    2
                } else if size <= 0xffff_ffff {
                    4
                } else {
                    8
                };
                (size, size.saturating_mul(ix), true)
            }
            (None, Some(l2), Some(l2i), Some(kind)) => {
                let log2 = u64::from(self.mem.read_u8(keys.wrapping_add(l2))?);
                let log2i = u64::from(self.mem.read_u8(keys.wrapping_add(l2i))?);
                let kind = self.mem.read_u8(keys.wrapping_add(kind))?;
                if log2 > 40 || log2i > 43 {
                    return Err(Error::Other(format!("dict keys at {keys:#x}: absurd size")));
                }
                (1u64 << log2, 1u64 << log2i, kind == 0)
            }
            _ => return Err(Error::Other("layout has no dict keys shape".into())),
        };
        let nentries = self.mem.read_u64(keys.wrapping_add(dk.dk_nentries))?;
        let usable = self.mem.read_u64(keys.wrapping_add(dk.dk_usable))?;
        if nentries > size || nentries > MAX_DICT_ENTRIES {
            return Err(Error::Other(format!(
                "dict keys at {keys:#x}: {nentries} entries for size {size}"
            )));
        }
        let (entry_size, key_off) = if general {
            (dk.entry_size, 8)
        } else {
            (dk.unicode_entry_size.unwrap_or(16), 0)
        };
        Ok(KeysTable {
            size,
            index_bytes,
            nentries,
            usable,
            entry_size,
            key_off,
            entries: keys.wrapping_add(dk.dk_indices).wrapping_add(index_bytes),
            refcnt: self.mem.read_u64(keys.wrapping_add(dk.dk_refcnt))?,
        })
    }
}

/// The first pointer-like word (8-aligned, above the zero page, in user space) in `[addr, addr +
/// len)` for which `f` returns something. Read a page at a time: a data section can span two
/// mappings (`.bss` running on from the file-backed part into anonymous memory), and an unreadable
/// page is skipped rather than ending the scan.
pub fn scan_words<T>(
    r: &Reader<'_>,
    addr: u64,
    len: u64,
    mut f: impl FnMut(u64) -> Option<T>,
) -> Option<T> {
    const PAGE: u64 = 4096;
    let end = addr.saturating_add(len.min(64 << 20));
    let mut at = addr & !7;
    let mut page = vec![0u8; PAGE as usize];
    while at < end {
        let n = (PAGE - at % PAGE).min(end - at) as usize;
        if r.mem.read(at, &mut page[..n]).is_ok() {
            for w in page[..n].chunks_exact(8) {
                let p = u64::from_le_bytes(w.try_into().ok()?);
                if p > 0x10000 && p.is_multiple_of(8) && p <= leakspy_memory::MAX_USER_ADDRESS {
                    if let Some(t) = f(p) {
                        return Some(t);
                    }
                }
            }
        }
        at += n as u64;
    }
    None
}

/// A decoded `PyDictKeysObject` header.
#[derive(Debug, Clone, Copy)]
pub struct KeysTable {
    pub size: u64,
    pub index_bytes: u64,
    pub nentries: u64,
    pub usable: u64,
    pub entry_size: u64,
    /// Offset of `me_key` inside an entry (8 for {hash,key,value}, 0 for {key,value}).
    pub key_off: u64,
    pub entries: u64,
    pub refcnt: u64,
}

impl KeysTable {
    /// `USABLE_FRACTION(size)` = size*2/3.
    pub fn usable_fraction(&self) -> u64 {
        (self.size << 1) / 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(file: &str) -> Layout {
        leakspy_layout::all()
            .into_iter()
            .find(|l| l.file == file)
            .unwrap()
            .layout
    }

    /// The split count of a free-threaded header: the local half as is, the shared one above its
    /// flag bits (negative while other threads hold fewer references than they dropped).
    #[test]
    fn free_threaded_refcounts() {
        let l = layout("3.13t.toml");
        let ft = l.free_threaded.clone().unwrap();
        let mut hdr = [0u8; 32];
        let (lo, sh) = (ft.ob_ref_local as usize, ft.ob_ref_shared as usize);
        hdr[lo..lo + 4].copy_from_slice(&3u32.to_le_bytes());
        hdr[sh..sh + 8].copy_from_slice(&((-2i64 << 2) | 1).to_le_bytes());
        assert_eq!(ft_refcounts(&l, &hdr), Some((3, -2)));
        hdr[lo..lo + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(ft_refcounts(&l, &hdr).map(|c| c.0), Some(u32::MAX));
        assert_eq!(ft_refcounts(&l, &hdr[..8]), None);
        assert_eq!(ft_refcounts(&layout("3.13.toml"), &hdr), None);
    }

    proptest::proptest! {
        /// Any header bytes of any length, for every shipped layout: no panic.
        #[test]
        fn refcounts_of_any_bytes(hdr in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            for l in leakspy_layout::all() {
                let got = ft_refcounts(&l.layout, &hdr);
                proptest::prop_assert!(got.is_none() || l.layout.free_threaded.is_some());
            }
        }
    }
}
