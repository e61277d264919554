//! Bytecode offset → source line, i.e. `PyCode_Addr2Line` for the three
//! line-table formats used by CPython 3.9 – 3.15.
//!
//! References (see `cpython-frames.md` §3.2):
//! - 3.9 `co_lnotab`: `Objects/codeobject.c@v3.9.0` `PyCode_Addr2Line`.
//! - 3.10 PEP 626 `co_linetable`: `Objects/codeobject.c@v3.10.0`
//!   (`advance`, `_PyCode_CheckLineNumber`).
//! - 3.11+ PEP 657 location table: `Objects/locations.md`,
//!   `Objects/codeobject.c@v3.11.0` (`get_line_delta`, `advance`).

/// The encoding of a code object's line table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTableFormat {
    /// 3.9 `co_lnotab`: `(u8 addr_incr, s8 line_incr)` pairs.
    Lnotab,
    /// 3.10 `co_linetable` (PEP 626): `(u8 sdelta, s8 ldelta)` pairs, `-128` = no line.
    Pep626,
    /// 3.11+ `co_linetable` (PEP 657 location table).
    Pep657,
}

impl LineTableFormat {
    /// Parses the layout's `linetable_format` value: `"lnotab"`, `"pep626"` or `"pep657"`.
    pub fn from_layout_name(s: &str) -> Option<Self> {
        match s {
            "lnotab" => Some(Self::Lnotab),
            "pep626" => Some(Self::Pep626),
            "pep657" => Some(Self::Pep657),
            _ => None,
        }
    }
}

/// Exactly `PyCode_Addr2Line(code, byte_offset)`: `Some(line)`, or `None`
/// where CPython returns -1 (no line).
///
/// `byte_offset` is a byte offset into the bytecode (3.9: `f_lasti`;
/// 3.10: `2*f_lasti`; 3.11+: the distance of the instruction pointer from
/// the start of `co_code_adaptive`). `byte_offset < 0` returns
/// `Some(firstlineno)` like CPython. Garbage tables (truncated entries,
/// line-number overflow) yield `None`; the work is linear in `table.len()`.
pub fn addr2line(
    format: LineTableFormat,
    table: &[u8],
    firstlineno: i32,
    byte_offset: i64,
) -> Option<i32> {
    if byte_offset < 0 {
        return Some(firstlineno);
    }
    match format {
        LineTableFormat::Lnotab => lnotab(table, firstlineno, byte_offset),
        LineTableFormat::Pep626 => pep626(table, firstlineno, byte_offset),
        LineTableFormat::Pep657 => pep657(table, firstlineno, byte_offset),
    }
}

/// 3.9: `line = co_firstlineno; addr = 0; for (da, dl) in pairs: addr += da;
/// if addr > addrq: break; line += dl`. A trailing odd byte is ignored (as
/// CPython's `size / 2`).
fn lnotab(table: &[u8], firstlineno: i32, addrq: i64) -> Option<i32> {
    let mut line = firstlineno;
    let mut addr: i64 = 0;
    for pair in table.chunks_exact(2) {
        if let [da, dl] = *pair {
            addr += i64::from(da);
            if addr > addrq {
                break;
            }
            line = line.checked_add(i32::from(dl as i8))?;
        }
    }
    Some(line)
}

/// 3.10: address ranges `[start, end)` in bytes; `ldelta == -128` means
/// "no line" for the range but the address still advances.
fn pep626(table: &[u8], firstlineno: i32, addrq: i64) -> Option<i32> {
    let mut end: i64 = 0;
    let mut computed = firstlineno;
    let mut line: Option<i32> = None;
    let mut pairs = table.chunks_exact(2);
    while end <= addrq {
        // Running out of entries (including an odd trailing byte) means no line.
        let [sdelta, ldelta] = *pairs.next()? else {
            return None;
        };
        end += i64::from(sdelta);
        let ldelta = ldelta as i8;
        if ldelta == -128 {
            line = None;
        } else {
            computed = computed.checked_add(i32::from(ldelta))?;
            line = Some(computed);
        }
    }
    line
}

/// Reads an unsigned varint (6-bit chunks, LSB first, bit 6 = continue)
/// starting at `table[i]`. `None` if truncated or wider than 32 bits.
fn varint(table: &[u8], mut i: usize) -> Option<u32> {
    let mut b = *table.get(i)?;
    i += 1;
    let mut val: u32 = u32::from(b & 63);
    let mut shift: u32 = 0;
    while b & 64 != 0 {
        b = *table.get(i)?;
        i += 1;
        shift += 6;
        if shift >= 32 {
            return None;
        }
        val |= u32::from(b & 63) << shift;
    }
    Some(val)
}

/// Signed varint: `v >> 1`, negated if `v & 1`.
fn svarint(table: &[u8], i: usize) -> Option<i32> {
    let v = varint(table, i)?;
    // v >> 1 < 2^31, so the conversion cannot fail.
    let mag = i32::try_from(v >> 1).ok()?;
    Some(if v & 1 != 0 { -mag } else { mag })
}

const PY_CODE_LOCATION_INFO_NONE: u8 = 15;
const PY_CODE_LOCATION_INFO_LONG: u8 = 14;
const PY_CODE_LOCATION_INFO_NO_COLUMNS: u8 = 13;
const PY_CODE_LOCATION_INFO_ONE_LINE0: u8 = 10;
const PY_CODE_LOCATION_INFO_ONE_LINE2: u8 = 12;

/// 3.11+: entries start with a byte `1 CCCC LLL` (length `LLL+1` code
/// units, code `CCCC`); like CPython's `advance`, the next entry starts at
/// the next byte with bit 7 set, and only the line delta is decoded.
fn pep657(table: &[u8], firstlineno: i32, addrq: i64) -> Option<i32> {
    let unit = addrq / 2;
    let mut computed = firstlineno;
    let mut start: i64 = 0;
    let mut i = 0usize;
    while let Some(&b) = table.get(i) {
        let code = (b >> 3) & 15;
        let len = i64::from(b & 7) + 1;
        let delta = match code {
            PY_CODE_LOCATION_INFO_NONE => 0,
            PY_CODE_LOCATION_INFO_LONG | PY_CODE_LOCATION_INFO_NO_COLUMNS => svarint(table, i + 1)?,
            PY_CODE_LOCATION_INFO_ONE_LINE0..=PY_CODE_LOCATION_INFO_ONE_LINE2 => {
                i32::from(code - PY_CODE_LOCATION_INFO_ONE_LINE0)
            }
            _ => 0,
        };
        computed = computed.checked_add(delta)?;
        // CPython's `is_no_line_marker`: `(b >> 3) == 0x1f`.
        let line = if b >> 3 == 0x1f { None } else { Some(computed) };
        let end = start + len;
        if unit < end {
            return line;
        }
        start = end;
        // Skip to the start of the next entry.
        i += 1;
        while let Some(&next) = table.get(i) {
            if next & 128 != 0 {
                break;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use LineTableFormat::*;

    #[test]
    fn layout_names() {
        assert_eq!(LineTableFormat::from_layout_name("lnotab"), Some(Lnotab));
        assert_eq!(LineTableFormat::from_layout_name("pep626"), Some(Pep626));
        assert_eq!(LineTableFormat::from_layout_name("pep657"), Some(Pep657));
        assert_eq!(LineTableFormat::from_layout_name("PEP657"), None);
    }

    #[test]
    fn negative_offset_is_firstlineno() {
        for f in [Lnotab, Pep626, Pep657] {
            assert_eq!(addr2line(f, &[], 7, -1), Some(7));
            assert_eq!(addr2line(f, &[0xff, 0xff], 7, i64::MIN), Some(7));
        }
    }

    #[test]
    fn lnotab_basics() {
        // empty table: every address is on the first line
        assert_eq!(addr2line(Lnotab, &[], 10, 0), Some(10));
        assert_eq!(addr2line(Lnotab, &[], 10, 1000), Some(10));
        // (0,+1) (6,+2) (4,-3): line 11 from 0, 13 from 6, 10 from 10
        let t = [0, 1, 6, 2, 4, 0xfd];
        assert_eq!(addr2line(Lnotab, &t, 10, 0), Some(11));
        assert_eq!(addr2line(Lnotab, &t, 10, 5), Some(11));
        assert_eq!(addr2line(Lnotab, &t, 10, 6), Some(13));
        assert_eq!(addr2line(Lnotab, &t, 10, 9), Some(13));
        assert_eq!(addr2line(Lnotab, &t, 10, 10), Some(10));
        assert_eq!(addr2line(Lnotab, &t, 10, 1 << 40), Some(10));
        // odd trailing byte is ignored
        assert_eq!(addr2line(Lnotab, &[0, 1, 6], 10, 100), Some(11));
        // line jumps > 127 are split into several (0, 127) pairs
        assert_eq!(addr2line(Lnotab, &[0, 127, 0, 73], 1, 0), Some(201));
    }

    #[test]
    fn pep626_basics() {
        assert_eq!(addr2line(Pep626, &[], 10, 0), None);
        // [0,6) line 11, [6,8) no line, [8,8) empty line 13, [8,12) line 12
        let t = [6, 1, 2, 0x80, 0, 2, 4, 0xff];
        assert_eq!(addr2line(Pep626, &t, 10, 0), Some(11));
        assert_eq!(addr2line(Pep626, &t, 10, 5), Some(11));
        assert_eq!(addr2line(Pep626, &t, 10, 6), None);
        assert_eq!(addr2line(Pep626, &t, 10, 7), None);
        // -128 did not change the computed line; empty range is skipped
        assert_eq!(addr2line(Pep626, &t, 10, 8), Some(12));
        assert_eq!(addr2line(Pep626, &t, 10, 11), Some(12));
        // past the end
        assert_eq!(addr2line(Pep626, &t, 10, 12), None);
        // truncated (odd length)
        assert_eq!(addr2line(Pep626, &[6, 1, 2], 10, 7), None);
        assert_eq!(addr2line(Pep626, &[6, 1, 2], 10, 3), Some(11));
    }

    #[test]
    fn pep657_basics() {
        assert_eq!(addr2line(Pep657, &[], 10, 0), None);
        // NO_COLUMNS (13) len 2, dline +1  -> units [0,2)
        // NONE (15) len 3                 -> units [2,5) no line
        // ONE_LINE2 (12) len 1            -> unit 5, line +2
        // SHORT0 (0) len 8, 1 col byte    -> units [6,14)
        // LONG (14) len 1, dline -3, endline 0, col 1, endcol 2
        let t = [
            0x80 | (13 << 3) | 1,
            2,
            0x80 | (15 << 3) | 2,
            0x80 | (12 << 3),
            5,
            6,
            0x80 | 7,
            0x11,
            0x80 | (14 << 3),
            7,
            0,
            1,
            2,
        ];
        let f = |off| addr2line(Pep657, &t, 10, off);
        assert_eq!(f(0), Some(11));
        assert_eq!(f(3), Some(11));
        assert_eq!(f(4), None);
        assert_eq!(f(9), None);
        assert_eq!(f(10), Some(13));
        assert_eq!(f(11), Some(13));
        assert_eq!(f(12), Some(13));
        assert_eq!(f(27), Some(13));
        assert_eq!(f(28), Some(10));
        assert_eq!(f(29), Some(10));
        assert_eq!(f(30), None); // past the end
                                 // truncated varint
        assert_eq!(addr2line(Pep657, &[0x80 | (13 << 3)], 10, 0), None);
        assert_eq!(addr2line(Pep657, &[0x80 | (13 << 3), 0x41], 10, 0), None);
        // multi-chunk svarint: 0x41 0x01 = 1 | (1 << 6) = 65 -> -32
        assert_eq!(
            addr2line(Pep657, &[0x80 | (13 << 3), 0x41, 0x01], 100, 0),
            Some(68)
        );
        // overlong varint
        let t = [0x80 | (13 << 3), 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01];
        assert_eq!(addr2line(Pep657, &t, 1, 0), None);
    }

    #[test]
    fn line_overflow_is_none() {
        assert_eq!(addr2line(Lnotab, &[0, 1], i32::MAX, 0), None);
        assert_eq!(addr2line(Pep626, &[2, 1], i32::MAX, 0), None);
        assert_eq!(
            addr2line(Pep657, &[0x80 | (11 << 3), 0, 0], i32::MAX, 0),
            None
        );
    }

    /// Tiny deterministic PRNG (xorshift64*) for "no panic" fuzzing.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    #[test]
    fn no_panic_on_garbage() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        for _ in 0..20_000 {
            let len = (rng(&mut seed) % 64) as usize;
            let table: Vec<u8> = (0..len).map(|_| rng(&mut seed) as u8).collect();
            let first = rng(&mut seed) as i32;
            let off = match rng(&mut seed) % 4 {
                0 => rng(&mut seed) as i64,
                _ => (rng(&mut seed) % 512) as i64,
            };
            for f in [Lnotab, Pep626, Pep657] {
                let _ = addr2line(f, &table, first, off);
            }
        }
    }
}
