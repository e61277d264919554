//! CPython `int` decoding: sign and digit count from the header, value
//! from the little-endian digit array (`PyLong_SHIFT` bits per digit).

/// Above this many digits, [`to_decimal`] returns hexadecimal instead
/// (decimal conversion is quadratic; hex is linear). 4096 30-bit digits
/// are about 37 000 decimal digits.
pub const MAX_DECIMAL_DIGITS: usize = 4096;

/// ≤3.11: `ob_size` is the signed digit count. Returns `(negative, ndigits)`.
pub fn sign_and_ndigits_ob_size(ob_size: i64) -> (bool, u64) {
    (ob_size < 0, ob_size.unsigned_abs())
}

/// 3.12+: `lv_tag`: `ndigits = tag >> 3`, `sign = tag & 3` (0 positive,
/// 1 zero, 2 negative); bit 2 (3.14 immortal) is ignored. `None` for
/// sign 3. Zero is reported as `(false, 0)` whatever the tag's digit count.
pub fn sign_and_ndigits_lv_tag(tag: u64) -> Option<(bool, u64)> {
    let ndigits = tag >> 3;
    match tag & 3 {
        0 => Some((false, ndigits)),
        1 => Some((false, 0)),
        2 => Some((true, ndigits)),
        _ => None,
    }
}

/// Bits per digit clamped to 1..=32; digits are masked to it.
fn norm_shift(shift: u32) -> u32 {
    shift.clamp(1, 32)
}

fn mask(d: u32, shift: u32) -> u32 {
    if shift >= 32 {
        d
    } else {
        d & ((1u32 << shift) - 1)
    }
}

/// The exact value as a decimal string (`"-123"`), for up to
/// [`MAX_DECIMAL_DIGITS`] digits; above that, the exact value in
/// hexadecimal (`"-0x1f..."`). Digit bits above `shift` are ignored
/// (`shift` is clamped to 1..=32). Cost is O(n²) in `digits.len()` for
/// decimal, O(n) for hex.
pub fn to_decimal(negative: bool, digits: &[u32], shift: u32) -> String {
    let shift = norm_shift(shift);
    // strip leading zero digits
    let used = digits
        .iter()
        .rposition(|&d| mask(d, shift) != 0)
        .map_or(0, |p| p + 1);
    let digits = digits.get(..used).unwrap_or(&[]);
    if digits.is_empty() {
        return "0".to_string();
    }
    let sign = if negative { "-" } else { "" };
    if digits.len() > MAX_DECIMAL_DIGITS {
        return format!("{sign}0x{}", to_hex_magnitude(digits, shift));
    }
    // Base 10^9 limbs, least significant first.
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = Vec::with_capacity(digits.len() * 32 / 29 + 1);
    for &d in digits.iter().rev() {
        let mut carry = u64::from(mask(d, shift));
        for limb in limbs.iter_mut() {
            // limb < 10^9 < 2^30; (limb << 32) + carry < 2^63
            let v = (*limb << shift) + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry != 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut out = String::with_capacity(limbs.len() * 9 + 1);
    out.push_str(sign);
    let mut iter = limbs.iter().rev();
    if let Some(top) = iter.next() {
        out.push_str(&top.to_string());
    }
    for limb in iter {
        out.push_str(&format!("{limb:09}"));
    }
    out
}

/// Hex digits of the magnitude (no sign, no prefix, no leading zeros).
fn to_hex_magnitude(digits: &[u32], shift: u32) -> String {
    // Collect bits into nibbles, least significant first.
    let mut nibbles: Vec<u8> = Vec::with_capacity(digits.len() * 8 + 1);
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    for &d in digits {
        acc |= u64::from(mask(d, shift)) << nbits;
        nbits += shift;
        while nbits >= 4 {
            nibbles.push((acc & 15) as u8);
            acc >>= 4;
            nbits -= 4;
        }
    }
    if nbits > 0 {
        nibbles.push((acc & 15) as u8);
    }
    while nibbles.len() > 1 && nibbles.last() == Some(&0) {
        nibbles.pop();
    }
    nibbles
        .iter()
        .rev()
        .map(|&n| char::from_digit(u32::from(n), 16).unwrap_or('?'))
        .collect()
}

/// The value as an `i128`, or `None` if it does not fit. Digit bits above
/// `shift` are ignored (`shift` is clamped to 1..=32).
pub fn to_i128(negative: bool, digits: &[u32], shift: u32) -> Option<i128> {
    let shift = norm_shift(shift);
    let mut mag: u128 = 0;
    for &d in digits.iter().rev() {
        if mag.checked_shr(128 - shift).unwrap_or(0) != 0 {
            return None;
        }
        mag = (mag << shift) | u128::from(mask(d, shift));
    }
    if negative {
        if mag > 1u128 << 127 {
            return None;
        }
        Some(0i128.wrapping_sub_unsigned(mag))
    } else {
        i128::try_from(mag).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits_of(mut v: u128, shift: u32) -> Vec<u32> {
        let mut out = Vec::new();
        while v != 0 {
            out.push((v & ((1u128 << shift) - 1)) as u32);
            v >>= shift;
        }
        out
    }

    #[test]
    fn headers() {
        assert_eq!(sign_and_ndigits_ob_size(0), (false, 0));
        assert_eq!(sign_and_ndigits_ob_size(-3), (true, 3));
        assert_eq!(sign_and_ndigits_ob_size(2), (false, 2));
        assert_eq!(sign_and_ndigits_ob_size(i64::MIN), (true, 1 << 63));
        assert_eq!(sign_and_ndigits_lv_tag(1), Some((false, 0)));
        assert_eq!(sign_and_ndigits_lv_tag(8), Some((false, 1)));
        assert_eq!(sign_and_ndigits_lv_tag(8 | 4), Some((false, 1)));
        assert_eq!(sign_and_ndigits_lv_tag(1 | 4), Some((false, 0)));
        assert_eq!(sign_and_ndigits_lv_tag(16 | 2), Some((true, 2)));
        assert_eq!(sign_and_ndigits_lv_tag(3), None);
        assert_eq!(sign_and_ndigits_lv_tag(u64::MAX), None);
    }

    #[test]
    fn values() {
        for shift in [15u32, 30] {
            for v in [
                0u128,
                1,
                9,
                10,
                999_999_999,
                1_000_000_000,
                1 << 30,
                u64::MAX as u128,
                u128::MAX,
            ] {
                let d = digits_of(v, shift);
                assert_eq!(to_decimal(false, &d, shift), v.to_string());
                if v != 0 {
                    assert_eq!(to_decimal(true, &d, shift), format!("-{v}"));
                }
                assert_eq!(to_i128(false, &d, shift), i128::try_from(v).ok());
            }
        }
        let min = digits_of(1u128 << 127, 30);
        assert_eq!(to_i128(true, &min, 30), Some(i128::MIN));
        assert_eq!(to_i128(false, &min, 30), None);
        let over = digits_of((1u128 << 127) + 1, 30);
        assert_eq!(to_i128(true, &over, 30), None);
        assert_eq!(to_i128(false, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 30), None);
        assert_eq!(
            to_i128(false, &[5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 30),
            Some(5)
        );
        // -0 and empty
        assert_eq!(to_decimal(true, &[], 30), "0");
        assert_eq!(to_decimal(true, &[0, 0], 30), "0");
        assert_eq!(to_i128(true, &[], 30), Some(0));
        // 2**200
        let mut d = vec![0u32; 6];
        d.push(1 << 20);
        assert_eq!(
            to_decimal(false, &d, 30),
            "1606938044258990275541962092341162602522202993782792835301376"
        );
        // garbage bits above shift are ignored; odd shifts do not panic
        assert_eq!(
            to_decimal(false, &[0xffff_ffff], 30),
            (u64::from(u32::MAX >> 2)).to_string()
        );
        assert_eq!(to_decimal(false, &[7], 0), "1");
        assert_eq!(to_decimal(false, &[u32::MAX, 1], 99), "8589934591");
        assert_eq!(to_i128(false, &[u32::MAX, 1], 99), Some(8_589_934_591));
    }

    #[test]
    fn huge_is_hex() {
        let mut d = vec![0u32; MAX_DECIMAL_DIGITS];
        d.push(1);
        let s = to_decimal(true, &d, 30);
        // 2**(30*4096) = 0x1 followed by 30720 zero bits = 7680 hex zeros
        assert!(s.starts_with("-0x1"));
        assert_eq!(s.len(), 4 + 30 * MAX_DECIMAL_DIGITS / 4);
        assert!(s[4..].bytes().all(|b| b == b'0'));
    }
}
