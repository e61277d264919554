//! CPython `str` (PEP 393) decoding: the `state` bitfield and the
//! Latin-1 / UCS-2 / UCS-4 data buffer.

/// The interesting fields of `PyASCIIObject.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrState {
    /// Code unit size in bytes: 1, 2 or 4.
    pub kind: u8,
    /// Data follows the header (`sizeof(PyASCIIObject)` if `ascii`, else
    /// `sizeof(PyCompactUnicodeObject)`); otherwise it is at `*data.any`.
    pub compact: bool,
    /// Pure ASCII (kind 1).
    pub ascii: bool,
    /// ≤3.11 `ready` bit; always `true` when the layout has no such bit.
    pub ready: bool,
}

fn bit(word: u32, n: u32) -> Option<bool> {
    Some(word.checked_shr(n)? & 1 != 0)
}

/// Parses the 32-bit `state` word. The bit positions come from the layout
/// (`python-layouts/*.toml`, `[unicode]`). `None` if `kind` is not 1, 2 or 4
/// or a bit position is out of range.
pub fn parse_state(
    word: u32,
    kind_shift: u32,
    kind_bits: u32,
    compact_bit: u32,
    ascii_bit: u32,
    ready_bit: Option<u32>,
) -> Option<StrState> {
    if kind_bits == 0 || kind_bits > 8 {
        return None;
    }
    let mask = (1u32 << kind_bits) - 1;
    let kind = word.checked_shr(kind_shift)? & mask;
    let kind = match kind {
        1 => 1u8,
        2 => 2,
        4 => 4,
        _ => return None,
    };
    let ready = match ready_bit {
        Some(b) => bit(word, b)?,
        None => true,
    };
    Some(StrState {
        kind,
        compact: bit(word, compact_bit)?,
        ascii: bit(word, ascii_bit)?,
        ready,
    })
}

/// Decodes `data` (`length * kind` bytes, native little-endian code units)
/// to a Rust `String`. Lone surrogates and invalid code points become
/// U+FFFD (each UCS-2 unit is a code point of its own, as in Python).
/// `None` if `kind` is not 1, 2 or 4 or `data.len()` is not a multiple of it.
pub fn decode(kind: u8, data: &[u8]) -> Option<String> {
    fn lossy(cp: u32) -> char {
        char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
    match kind {
        1 => Some(data.iter().map(|&b| char::from(b)).collect()),
        2 => {
            let chunks = data.chunks_exact(2);
            if !chunks.remainder().is_empty() {
                return None;
            }
            Some(
                chunks
                    .map(|c| match *c {
                        [a, b] => lossy(u32::from(u16::from_le_bytes([a, b]))),
                        _ => char::REPLACEMENT_CHARACTER,
                    })
                    .collect(),
            )
        }
        4 => {
            let chunks = data.chunks_exact(4);
            if !chunks.remainder().is_empty() {
                return None;
            }
            Some(
                chunks
                    .map(|c| match *c {
                        [a, b, d, e] => lossy(u32::from_le_bytes([a, b, d, e])),
                        _ => char::REPLACEMENT_CHARACTER,
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_bits() {
        // 3.9-3.11: interned 0-1, kind 2-4, compact 5, ascii 6, ready 7
        let s = parse_state(0xe4, 2, 3, 5, 6, Some(7));
        assert_eq!(
            s,
            Some(StrState {
                kind: 1,
                compact: true,
                ascii: true,
                ready: true
            })
        );
        let s = parse_state(0x28, 2, 3, 5, 6, None);
        assert_eq!(
            s,
            Some(StrState {
                kind: 2,
                compact: true,
                ascii: false,
                ready: true
            })
        );
        let s = parse_state(0x10, 2, 3, 5, 6, Some(7));
        assert_eq!(
            s,
            Some(StrState {
                kind: 4,
                compact: false,
                ascii: false,
                ready: false
            })
        );
        // free-threaded 3.14: kind at bit 8
        let s = parse_state(0x1900, 8, 3, 11, 12, None);
        assert_eq!(
            s,
            Some(StrState {
                kind: 1,
                compact: true,
                ascii: true,
                ready: true
            })
        );
        assert_eq!(parse_state(0x0, 2, 3, 5, 6, None), None);
        assert_eq!(parse_state(0xc, 2, 3, 5, 6, None), None);
        assert_eq!(parse_state(0x1c, 2, 3, 5, 6, None), None);
        assert_eq!(parse_state(0x4, 40, 3, 5, 6, None), None);
        assert_eq!(parse_state(0x4, 2, 3, 32, 6, None), None);
        assert_eq!(parse_state(0x4, 2, 0, 5, 6, None), None);
        assert_eq!(parse_state(0x4, 2, 40, 5, 6, None), None);
        assert_eq!(parse_state(0x4, 2, 3, 5, 6, Some(99)), None);
    }

    #[test]
    fn decode_kinds() {
        assert_eq!(decode(1, b"abc").as_deref(), Some("abc"));
        assert_eq!(
            decode(1, &[0x63, 0x61, 0x66, 0xe9]).as_deref(),
            Some("café")
        );
        assert_eq!(decode(1, &[]).as_deref(), Some(""));
        assert_eq!(decode(2, &[0xac, 0x20, 0x41, 0x00]).as_deref(), Some("€A"));
        // lone surrogate, and a "pair" stays two separate code points
        assert_eq!(
            decode(2, &[0x00, 0xd8, 0x41, 0x00]).as_deref(),
            Some("\u{fffd}A")
        );
        assert_eq!(
            decode(2, &[0x3d, 0xd8, 0x00, 0xde]).as_deref(),
            Some("\u{fffd}\u{fffd}")
        );
        assert_eq!(
            decode(4, &[0x00, 0xf6, 0x01, 0x00]).as_deref(),
            Some("\u{1f600}")
        );
        assert_eq!(
            decode(4, &[0x00, 0xdc, 0x00, 0x00]).as_deref(),
            Some("\u{fffd}")
        );
        assert_eq!(
            decode(4, &[0xff, 0xff, 0xff, 0xff]).as_deref(),
            Some("\u{fffd}")
        );
        assert_eq!(
            decode(4, &[0x00, 0x00, 0x11, 0x00]).as_deref(),
            Some("\u{fffd}")
        );
        assert_eq!(decode(2, &[0x41]), None);
        assert_eq!(decode(4, &[0x41, 0, 0]), None);
        assert_eq!(decode(3, &[0x41, 0, 0]), None);
        assert_eq!(decode(0, &[]), None);
    }
}
