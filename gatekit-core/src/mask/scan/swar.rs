//! Eight bytes at a time in one `u64`: which of them are digits, and where a run of digits
//! ends. Every test sets the high bit of each byte lane that passes, with no
//! carry between lanes (each lane is first cut to seven bits), so a lane's answer depends
//! on its own byte only.

/// Every lane `0x01`.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every lane.
pub(super) const HIGH: u64 = 0x8080_8080_8080_8080;
/// The low seven bits of every lane.
pub(super) const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// The eight bytes at `i` as one little-endian `u64` (byte `i` in the lowest lane); bytes
/// past the end read as zero, which no test accepts.
#[inline(always)]
pub(super) fn load(bytes: &[u8], i: usize) -> u64 {
    match bytes.get(i..).and_then(|r| r.first_chunk::<8>()) {
        Some(&chunk) => u64::from_le_bytes(chunk),
        None => {
            let mut pad = [0u8; 8];
            let rest = bytes.get(i..).unwrap_or_default();
            if let Some(dst) = pad.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            u64::from_le_bytes(pad)
        }
    }
}

/// High bit set in the lanes whose seven low bits, xor `b`, are at least `n` (`n` ≤ 0x80):
/// lanes that are not in `b..b + n` (for a `b` whose low bits do not wrap).
#[inline(always)]
const fn outside(x7: u64, b: u8, n: u8) -> u64 {
    (x7 ^ (ONES * b as u64)) + ONES * (0x80 - n) as u64
}

/// High bit set in the lanes of `x` that hold an ASCII digit.
#[inline(always)]
pub(super) const fn digits(x: u64) -> u64 {
    !(outside(x & LOW7, b'0', 10) | x) & HIGH
}

/// The lane of the lowest set high bit of a non-zero mask.
#[inline(always)]
pub(super) const fn first_lane(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The offset of the first byte at or after `i` that is not an ASCII digit (`bytes.len()`
/// if there is none).
#[inline]
pub(super) fn digits_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        let other = !digits(load(bytes, i)) & HIGH;
        if other != 0 {
            return (i + first_lane(other)).min(bytes.len());
        }
        i += 8;
    }
    bytes.len().min(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn lanes(mask: u64) -> Vec<bool> {
        (0..8).map(|k| mask >> (8 * k + 7) & 1 == 1).collect()
    }

    #[test]
    fn every_byte_value_is_classified_as_bytewise() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                // The byte in one lane, neighbours that pass every test around it.
                let mut chunk = [b'7'; 8];
                chunk[lane] = b;
                let x = u64::from_le_bytes(chunk);
                let d = lanes(digits(x));
                assert_eq!(d[lane], b.is_ascii_digit(), "digit {b:#x} in lane {lane}");
                // And neighbours that pass none.
                for other in [0x00, 0x2F, 0x3A, 0xB0, 0xB9, 0xFF] {
                    let mut chunk = [other; 8];
                    chunk[lane] = b;
                    let d = lanes(digits(u64::from_le_bytes(chunk)));
                    let only: Vec<bool> = (0..8).map(|k| k == lane && b.is_ascii_digit()).collect();
                    assert_eq!(d, only, "digit {b:#x} among {other:#x}");
                }
            }
        }
    }

    #[test]
    fn loads_pad_with_zeros() {
        assert_eq!(load(b"abc", 0), u64::from_le_bytes(*b"abc\0\0\0\0\0"));
        assert_eq!(load(b"abc", 3), 0);
        assert_eq!(load(b"abc", 9), 0);
        assert_eq!(load(b"0123456789", 1), u64::from_le_bytes(*b"12345678"));
    }

    proptest! {
        #[test]
        fn masks_and_runs_match_bytewise(
            bytes in prop::collection::vec(prop_oneof![b'/'..=b';', any::<u8>()], 0..40),
            at in 0usize..48,
        ) {
            for (k, d) in lanes(digits(load(&bytes, at))).into_iter().enumerate() {
                let b = bytes.get(at + k).copied();
                prop_assert_eq!(d, b.is_some_and(|b| b.is_ascii_digit()));
            }
            let end = digits_end(&bytes, at.min(bytes.len()));
            let want = bytes
                .iter()
                .skip(at)
                .position(|b| !b.is_ascii_digit())
                .map_or(bytes.len(), |k| at + k);
            prop_assert_eq!(end, want.max(at.min(bytes.len())));
        }
    }
}
