//! Signed integers and fixed-point numbers as field elements.
//!
//! A signed integer `v` is the element `v mod p`. A fixed-point number `x` with `f` fractional
//! bits is the integer `round(x · 2^f)`, encoded the same way. Every encoding states the range
//! it accepts as a number of bits `b`: the (scaled) integer must lie in `[-2^b, 2^b)`, the range
//! of a `(b+1)`-bit two's-complement integer, and anything outside is an error, never a wrap.
//! Decoding takes the representative in `(-p/2, p/2)`.

use super::Field;
use crate::error::EncodeError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;
    use proptest::prelude::*;

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
