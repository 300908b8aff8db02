//! Signed integers and fixed-point numbers as field elements.
//!
//! A signed integer `v` is the element `v mod p`. A fixed-point number `x` with `f` fractional
//! bits is the integer `round(x · 2^f)`, encoded the same way. Every encoding states the range
//! it accepts as a number of bits `b`: the (scaled) integer must lie in `[-2^b, 2^b)`, the range
//! of a `(b+1)`-bit two's-complement integer, and anything outside is an error, never a wrap.
//! Decoding takes the representative in `(-p/2, p/2)`.
//!
//! The exact integer arithmetic on that reading (sign, floor of a shift or a division, any
//! width through [`BigInt`]) is here too, for a reference computed in the clear (the `Clear`
//! backend of `protocols`) to read elements exactly as the engine's protocols do.

use num_bigint::{BigInt, Sign};

use super::Field;
use crate::error::{EncodeError, MpcError};

/// The range of a `(bits+1)`-bit two's-complement integer holds `v`.
pub fn fits(v: i128, bits: u32) -> bool {
    if bits >= 127 {
        return true;
    }
    let half = 1i128 << bits;
    (-half..half).contains(&v)
}

/// The smallest `b` with `v` in `[-2^b, 2^b)`.
pub fn bits_for(v: i128) -> u32 {
    if v >= 0 {
        128 - v.leading_zeros()
    } else {
        128 - (!v).leading_zeros()
    }
}

/// Encodes a signed integer that must lie in `[-2^bits, 2^bits)`.
pub fn encode_int<F: Field>(v: i128, bits: u32) -> Result<F, EncodeError> {
    if !fits(v, bits) {
        return Err(EncodeError::OutOfRange { bits });
    }
    Ok(F::from_i128(v))
}

/// Decodes an element to a signed integer; fails when it is not within `i128`.
pub fn decode_int<F: Field>(x: F) -> Result<i128, EncodeError> {
    x.to_i128().ok_or(EncodeError::NotAnInteger)
}

/// Decodes every element with `decode` (say [`decode_int`]); the first failure names its
/// index ([`MpcError::Encode`]). The one decoder of opened batches, for the engine and for
/// every backend.
pub fn decode_each<F: Field, T>(
    values: &[F],
    decode: impl Fn(F) -> Result<T, EncodeError>,
) -> Result<Vec<T>, MpcError> {
    values
        .iter()
        .enumerate()
        .map(|(index, &v)| decode(v).map_err(|source| MpcError::Encode { index, source }))
        .collect()
}

/// The scaled integer `round(x · 2^frac)`, which must lie in `[-2^bits, 2^bits)`.
pub fn fixed_to_int(x: f64, frac: u32, bits: u32) -> Result<i128, EncodeError> {
    if !x.is_finite() {
        return Err(EncodeError::NotFinite);
    }
    let scaled = (x * (frac as f64).exp2()).round();
    // f64 → i128 saturates, so compare in floating point first.
    if scaled.abs() >= (bits.min(126) as f64).exp2() + 1.0 {
        return Err(EncodeError::OutOfRange { bits });
    }
    let v = scaled as i128;
    if !fits(v, bits) {
        return Err(EncodeError::OutOfRange { bits });
    }
    Ok(v)
}

/// Encodes a fixed-point number with `frac` fractional bits; the scaled integer must lie in
/// `[-2^bits, 2^bits)`.
pub fn encode_fixed<F: Field>(x: f64, frac: u32, bits: u32) -> Result<F, EncodeError> {
    Ok(F::from_i128(fixed_to_int(x, frac, bits)?))
}

/// Decodes an element holding a fixed-point number with `frac` fractional bits.
pub fn decode_fixed<F: Field>(x: F, frac: u32) -> Result<f64, EncodeError> {
    Ok(decode_int(x)? as f64 / (frac as f64).exp2())
}

/// True when `x`, read as a signed integer (the representative in `(-p/2, p/2)`), is negative.
pub fn is_negative<F: Field>(x: F) -> bool {
    let (pos, neg) = (x.to_canonical_limbs(), (-x).to_canonical_limbs());
    // Exactly one of x, -x is below p/2 (for x != 0); x is negative when -x is the smaller.
    (0..4)
        .rev()
        .map(|i| pos[i].cmp(&neg[i]))
        .find(|o| o.is_ne())
        == Some(std::cmp::Ordering::Greater)
}

/// `floor(x / 2^m)` for `x` read as a signed integer.
pub fn floor_shift<F: Field>(x: F, m: u32) -> F {
    let negative = is_negative(x);
    // floor(-y / 2^m) = -ceil(y / 2^m) = -floor((y + 2^m - 1) / 2^m)
    let y = if negative {
        -x + F::pow2(m) - F::one()
    } else {
        x
    };
    let limbs = y.to_canonical_limbs();
    let mut shifted = [0u64; 4];
    let (words, bits) = ((m / 64) as usize, m % 64);
    for (i, out) in shifted.iter_mut().enumerate() {
        let lo = limbs.get(i + words).copied().unwrap_or(0);
        let hi = limbs.get(i + words + 1).copied().unwrap_or(0);
        *out = if bits == 0 {
            lo
        } else {
            (lo >> bits) | (hi << (64 - bits))
        };
    }
    let value = F::from_u128(((shifted[1] as u128) << 64) | shifted[0] as u128)
        + F::from_u128(((shifted[3] as u128) << 64) | shifted[2] as u128) * F::pow2(128);
    if negative { -value } else { value }
}

/// `x` read as a signed integer, exactly.
pub fn to_bigint<F: Field>(x: F) -> BigInt {
    let (negative, mag) = if is_negative(x) {
        (true, -x)
    } else {
        (false, x)
    };
    let limbs = mag.to_canonical_limbs();
    let mut v = BigInt::from(0u8);
    for &l in limbs.iter().rev() {
        v = (v << 64) + BigInt::from(l);
    }
    if negative { -v } else { v }
}

/// A signed integer as a field element (exact when `|v| < p/2`; reduced mod `p` otherwise).
pub fn from_bigint<F: Field>(v: &BigInt) -> F {
    let (sign, digits) = v.to_u64_digits();
    let mut x = F::zero();
    for &d in digits.iter().rev() {
        x = x * F::pow2(64) + F::from_u128(d as u128);
    }
    if sign == Sign::Minus { -x } else { x }
}

/// `floor(n / d)` for `d > 0`.
pub fn floor_div(n: &BigInt, d: &BigInt) -> BigInt {
    let q = n / d;
    if n.sign() == Sign::Minus && &q * d != *n {
        q - 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;
    use proptest::prelude::*;

    #[test]
    fn floor_shift_and_sign() {
        for (v, m) in [
            (7i128, 1u32),
            (-7, 1),
            (-8, 3),
            (1 << 100, 60),
            (-(1 << 100) - 1, 60),
            (0, 5),
            (-1, 5),
            (i128::MIN, 127),
            (i128::MAX, 0),
        ] {
            let got = floor_shift(Fr::from_i128(v), m).to_i128().unwrap();
            assert_eq!(got, v >> m, "v={v} m={m}");
        }
        assert!(is_negative(Fr::from_i128(-1)));
        assert!(!is_negative(Fr::from_i128(0)));
        assert!(!is_negative(Fr::pow2(200)));
        assert!(is_negative(-Fr::pow2(200)));
    }

    #[test]
    fn big_integers_round_trip() {
        for v in [0i128, 1, -1, i128::MAX, i128::MIN + 1, i128::MIN] {
            assert_eq!(
                from_bigint::<Fr>(&to_bigint(Fr::from_i128(v))).to_i128(),
                Some(v)
            );
        }
        let big = -Fr::pow2(199) + Fr::from_i128(12345);
        assert_eq!(from_bigint::<Fr>(&to_bigint(big)), big);
        let (seven, two) = (BigInt::from(7), BigInt::from(2));
        assert_eq!(floor_div(&seven, &two), BigInt::from(3));
        assert_eq!(floor_div(&-seven, &two), BigInt::from(-4));
        assert_eq!(floor_div(&BigInt::from(-8), &two), BigInt::from(-4));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn exact_reading_matches_i128(v in any::<i128>(), m in 0u32..128, d in 1i128..i128::MAX) {
            let x = Fr::from_i128(v);
            prop_assert_eq!(is_negative(x), v < 0);
            prop_assert_eq!(floor_shift(x, m).to_i128(), Some(v >> m));
            prop_assert_eq!(to_bigint(x), BigInt::from(v));
            prop_assert_eq!(floor_div(&BigInt::from(v), &BigInt::from(d)), BigInt::from(v.div_euclid(d)));
        }
    }

    #[test]
    fn ranges_are_two_complement() {
        assert!(fits(i64::MIN as i128, 63) && fits(i64::MAX as i128, 63));
        assert!(!fits(i64::MIN as i128 - 1, 63) && !fits(i64::MAX as i128 + 1, 63));
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(-1), 0);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(i32::MIN as i128), 31);
        assert_eq!(bits_for(i32::MAX as i128), 31);
        assert!(encode_int::<Fr>(1 << 63, 63).is_err());
    }

    #[test]
    fn fixed_point_rejects_out_of_range_and_nan() {
        assert!(encode_fixed::<Fr>(f64::NAN, 16, 63).is_err());
        assert!(encode_fixed::<Fr>(1e30, 16, 63).is_err());
        let x: Fr = encode_fixed(-2.5, 16, 63).unwrap();
        assert_eq!(decode_fixed(x, 16).unwrap(), -2.5);
    }

    proptest! {
        #[test]
        fn int_roundtrip(v in any::<i64>()) {
            let x: Fr = encode_int(v as i128, 63).unwrap();
            prop_assert_eq!(decode_int(x).unwrap(), v as i128);
        }

        #[test]
        fn bits_for_is_tight(v in any::<i128>()) {
            let b = bits_for(v);
            prop_assert!(fits(v, b));
            if b > 0 { prop_assert!(!fits(v, b - 1)); }
        }
    }
}
