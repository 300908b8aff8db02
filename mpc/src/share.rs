//! [`Shared`]: one party's shares of a batch of secret values, with the public facts every
//! operation needs — a bound on the values' magnitude and their fixed-point scale.
//!
//! The bound is the heart of overflow safety. Every value `v` of a batch (the integer, or the
//! fixed-point number times `2^frac`) satisfies `-2^bits <= v < 2^bits`. Each operation derives
//! the bound of its result from its operands' (a sum grows by one bit, a product adds bits, a
//! sum of `L` values grows by `ceil(log2 L)` bits), and the engine refuses, before sending
//! anything, an operation whose result could exceed [`MAX_BITS`]: past it, masked openings
//! would wrap the field and comparison or truncation would silently return garbage.
//!
//! Shares never print: `Debug` shows the length and the public bound only.

use std::fmt;

use crate::error::{MpcError, Result};
use crate::field::Field;

/// Statistical security of masked openings, in bits.
pub const STAT_SECURITY: u32 = 40;

/// The largest magnitude bound (in bits) the engine lets a value reach. A masked opening adds
/// [`STAT_SECURITY`] bits of mask, a sign bit, a carry and up to 8 bits for masks summed from
/// up to 256 dealers; `200 + 1 + 40 + 8 + 2 < 252`, the capacity of the ristretto255 field.
pub const MAX_BITS: u32 = 200;

/// One party's shares of a batch of secret values.
#[derive(Clone, PartialEq, Eq)]
pub struct Shared<F> {
    pub(crate) shares: Vec<F>,
    pub(crate) bits: u32,
    pub(crate) frac: u32,
    pub(crate) boolean: bool,
}

impl<F> fmt::Debug for Shared<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Shared {{ len: {}, bits: {}, frac: {}{} }}",
            self.shares.len(),
            self.bits,
            self.frac,
            if self.boolean { ", boolean" } else { "" }
        )
    }
}

impl<F: Field> Shared<F> {
    /// Wraps stored shares of integers bounded by `bits` (see the module doc). The caller
    /// vouches for the bound: it was declared when the values were shared.
    pub fn from_shares(shares: Vec<F>, bits: u32) -> Result<Self> {
        check_bits("from_shares", bits)?;
        Ok(Shared {
            shares,
            bits,
            frac: 0,
            boolean: false,
        })
    }

    /// Wraps stored shares of fixed-point values with `frac` fractional bits.
    pub fn from_fixed_shares(shares: Vec<F>, bits: u32, frac: u32) -> Result<Self> {
        check_bits("from_fixed_shares", bits)?;
        Ok(Shared {
            shares,
            bits,
            frac,
            boolean: false,
        })
    }

    /// Wraps shares of values known to be 0 or 1.
    pub fn from_bit_shares(shares: Vec<F>) -> Self {
        Shared {
            shares,
            bits: 1,
            frac: 0,
            boolean: true,
        }
    }

    /// Number of values in the batch.
    pub fn len(&self) -> usize {
        self.shares.len()
    }
    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }
    /// The magnitude bound: every value lies in `[-2^bits, 2^bits)`.
    pub fn bits(&self) -> u32 {
        self.bits
    }
    /// Fixed-point fractional bits (0 for integers).
    pub fn frac(&self) -> u32 {
        self.frac
    }
    /// True when every value is 0 or 1.
    pub fn is_boolean(&self) -> bool {
        self.boolean
    }
    /// This party's raw shares (for storage; they reveal nothing alone).
    pub fn shares(&self) -> &[F] {
        &self.shares
    }
    /// Consumes the batch into its raw shares.
    pub fn into_shares(self) -> Vec<F> {
        self.shares
    }

    /// The sub-batch `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        Shared {
            shares: self.shares[range].to_vec(),
            ..self.meta()
        }
    }

    /// The values at `indices`, in that order (a public selection).
    pub fn gather(&self, indices: &[usize]) -> Self {
        Shared {
            shares: indices.iter().map(|&i| self.shares[i]).collect(),
            ..self.meta()
        }
    }

    /// Concatenates batches of the same scale; the bound is the widest.
    pub fn concat(parts: &[&Shared<F>]) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Ok(Shared {
                shares: Vec::new(),
                bits: 0,
                frac: 0,
                boolean: true,
            });
        };
        let mut out = Shared {
            shares: Vec::new(),
            ..first.meta()
        };
        for p in parts {
            if p.frac != first.frac {
                return Err(MpcError::ScaleMismatch {
                    op: "concat",
                    left: first.frac,
                    right: p.frac,
                });
            }
            out.bits = out.bits.max(p.bits);
            out.boolean &= p.boolean;
            out.shares.extend_from_slice(&p.shares);
        }
        Ok(out)
    }

    /// Re-declares the bound as `bits`, which the caller proves holds (for example, a value
    /// clamped by construction). Used by algorithms whose mathematics gives a tighter range than
    /// bound propagation can see.
    pub fn assume_bits(mut self, bits: u32) -> Self {
        self.bits = bits;
        self
    }

    /// The same shares read with another scale (no arithmetic): `x` with `frac` fractional bits.
    pub fn with_frac(mut self, frac: u32) -> Self {
        self.frac = frac;
        self
    }

    pub(crate) fn meta(&self) -> Shared<F> {
        Shared {
            shares: Vec::new(),
            bits: self.bits,
            frac: self.frac,
            boolean: self.boolean,
        }
    }
}

/// The public facts of a batch: its bound, scale and whether it is boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Every value lies in `[-2^bits, 2^bits)`.
    pub bits: u32,
    /// Fixed-point fractional bits.
    pub frac: u32,
    /// Every value is 0 or 1.
    pub boolean: bool,
}

impl<F> Shared<F> {
    /// The batch's public facts.
    pub fn facts(&self) -> Meta {
        Meta {
            bits: self.bits,
            frac: self.frac,
            boolean: self.boolean,
        }
    }
}

impl<F: Field> Shared<F> {
    /// A batch with the facts a rule of [`rules`] derived (used by backends that compute the
    /// same operations another way, such as in the clear).
    pub fn from_facts(shares: Vec<F>, meta: Meta) -> Result<Self> {
        Ok(Shared {
            shares,
            bits: check_bits("from_facts", meta.bits)?,
            frac: meta.frac,
            boolean: meta.boolean,
        })
    }
}

/// How each non-linear operation transforms the public facts of its operands. The engine and
/// every other backend apply these same rules, so a computation refused by one is refused by
/// all.
pub mod rules {
    use super::{Meta, check_bits};
    use crate::error::Result;

    /// Element-wise product: scales add; a boolean factor keeps the other's bound.
    pub fn mul(a: Meta, b: Meta) -> Result<Meta> {
        let bits = match (a.boolean, b.boolean) {
            (true, _) => b.bits,
            (_, true) => a.bits,
            _ => a.bits + b.bits + 1,
        };
        Ok(Meta {
            bits: check_bits("mul", bits)?,
            frac: a.frac + b.frac,
            boolean: a.boolean && b.boolean,
        })
    }

    /// Sums of `width` products: the product's facts, plus `ceil(log2 width)` bits.
    pub fn dot(a: Meta, b: Meta, width: usize) -> Result<Meta> {
        let p = mul(a, b)?;
        let grown = if width <= 1 {
            p
        } else {
            Meta {
                bits: p.bits + super::log2_ceil(width),
                frac: p.frac,
                boolean: false,
            }
        };
        Ok(Meta {
            bits: check_bits("dot", grown.bits)?,
            ..grown
        })
    }

    /// Probabilistic truncation by `m` bits: the result may round up by one unit.
    pub fn trunc(a: Meta, m: u32) -> Meta {
        if m == 0 {
            return a;
        }
        Meta {
            bits: if a.bits > m { a.bits - m + 1 } else { 1 },
            frac: a.frac.saturating_sub(m),
            boolean: false,
        }
    }

    /// Fixed-point product: the product truncated by the smaller scale.
    pub fn fx_mul(a: Meta, b: Meta) -> Result<Meta> {
        Ok(trunc(mul(a, b)?, a.frac.min(b.frac)))
    }

    /// `c ? a : b`: the wider of the two bounds.
    pub fn select(a: Meta, b: Meta) -> Meta {
        Meta {
            bits: a.bits.max(b.bits),
            frac: a.frac,
            boolean: a.boolean && b.boolean,
        }
    }

    /// A comparison's result: a boolean batch.
    pub fn comparison() -> Meta {
        Meta {
            bits: 1,
            frac: 0,
            boolean: true,
        }
    }
}

/// Refuses a bound past [`MAX_BITS`].
pub(crate) fn check_bits(op: &'static str, bits: u32) -> Result<u32> {
    if bits > MAX_BITS {
        Err(MpcError::BoundExceeded {
            op,
            bits,
            limit: MAX_BITS,
        })
    } else {
        Ok(bits)
    }
}

/// `ceil(log2(len))`, the bits a sum of `len` values may grow by.
pub(crate) fn log2_ceil(len: usize) -> u32 {
    if len <= 1 {
        0
    } else {
        usize::BITS - (len - 1).leading_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;

    #[test]
    fn debug_hides_shares() {
        let s = Shared::from_shares(vec![Fr::from_u128(123456789)], 40).unwrap();
        let text = format!("{s:?}");
        assert!(!text.contains("123456789"));
        assert!(text.contains("bits: 40"));
    }

    #[test]
    fn log2_ceil_edges() {
        assert_eq!(log2_ceil(0), 0);
        assert_eq!(log2_ceil(1), 0);
        assert_eq!(log2_ceil(2), 1);
        assert_eq!(log2_ceil(3), 2);
        assert_eq!(log2_ceil(30_000), 15);
    }
}
