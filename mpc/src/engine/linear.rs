//! Linear operations: local to each party, no communication, exact bound propagation.

use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::field::encode::bits_for;
use crate::share::{Shared, check_bits, log2_ceil};

/// Bits of `v · c` for `v` in `[-2^bits, 2^bits)` and a public integer `c`.
pub(crate) fn scaled_bits(bits: u32, c: i128) -> u32 {
    match c {
        0 => 0,
        c if c > 0 => bits + log2_ceil_u128(c as u128),
        c => bits + bits_for(c) + 1,
    }
}

fn log2_ceil_u128(c: u128) -> u32 {
    if c <= 1 {
        0
    } else {
        u128::BITS - (c - 1).leading_zeros()
    }
}

impl<F: Field> Shared<F> {
    fn zip_with(
        &self,
        other: &Self,
        op: &'static str,
        bits: u32,
        f: impl Fn(F, F) -> F,
    ) -> Result<Self> {
        if self.len() != other.len() {
            return Err(MpcError::LengthMismatch {
                op,
                left: self.len(),
                right: other.len(),
            });
        }
        if self.frac != other.frac {
            return Err(MpcError::ScaleMismatch {
                op,
                left: self.frac,
                right: other.frac,
            });
        }
        let bits = check_bits(op, bits)?;
        Ok(Shared {
            shares: self
                .shares
                .iter()
                .zip(&other.shares)
                .map(|(&a, &b)| f(a, b))
                .collect(),
            bits,
            frac: self.frac,
            boolean: false,
        })
    }

    /// Element-wise sum.
    pub fn add(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "add", self.bits.max(other.bits) + 1, |a, b| a + b)
    }

    /// Element-wise difference.
    pub fn sub(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "sub", self.bits.max(other.bits) + 1, |a, b| a - b)
    }

    /// Element-wise negation.
    pub fn neg(&self) -> Result<Self> {
        Ok(Shared {
            shares: self.shares.iter().map(|&a| -a).collect(),
            bits: check_bits("neg", self.bits + 1)?,
            ..self.meta()
        }
        .not_boolean())
    }

    /// Adds public integers (already scaled, for fixed point), one per element.
    pub fn add_public(&self, values: &[i128]) -> Result<Self> {
        if values.len() != self.len() {
            return Err(MpcError::LengthMismatch {
                op: "add_public",
                left: self.len(),
                right: values.len(),
            });
        }
        let cbits = values.iter().map(|&v| bits_for(v)).max().unwrap_or(0);
        Ok(Shared {
            shares: self
                .shares
                .iter()
                .zip(values)
                .map(|(&a, &v)| a + F::from_i128(v))
                .collect(),
            bits: check_bits("add_public", self.bits.max(cbits) + 1)?,
            ..self.meta()
        }
        .not_boolean())
    }

    /// Adds one public integer (already scaled) to every element.
    pub fn add_const(&self, c: i128) -> Result<Self> {
        let cf = F::from_i128(c);
        Ok(Shared {
            shares: self.shares.iter().map(|&a| a + cf).collect(),
            bits: check_bits("add_const", self.bits.max(bits_for(c)) + 1)?,
            ..self.meta()
        }
        .not_boolean())
    }

    /// Multiplies every element by a public integer.
    pub fn scale(&self, c: i128) -> Result<Self> {
        let cf = F::from_i128(c);
        let bits = if self.boolean && c >= 0 {
            bits_for(c)
        } else {
            scaled_bits(self.bits, c)
        };
        Ok(Shared {
            shares: self.shares.iter().map(|&a| a * cf).collect(),
            bits: check_bits("scale", bits)?,
            boolean: self.boolean && (c == 0 || c == 1),
            frac: self.frac,
        })
    }

    /// Multiplies element `e` by the public integer `values[e]`.
    pub fn scale_each(&self, values: &[i128]) -> Result<Self> {
        if values.len() != self.len() {
            return Err(MpcError::LengthMismatch {
                op: "scale_each",
                left: self.len(),
                right: values.len(),
            });
        }
        let bits = values
            .iter()
            .map(|&c| scaled_bits(self.bits, c))
            .max()
            .unwrap_or(0);
        Ok(Shared {
            shares: self
                .shares
                .iter()
                .zip(values)
                .map(|(&a, &c)| a * F::from_i128(c))
                .collect(),
            bits: check_bits("scale_each", bits)?,
            ..self.meta()
        }
        .not_boolean())
    }

    /// The sum of the batch, as a batch of one.
    pub fn sum(&self) -> Result<Self> {
        Ok(Shared {
            shares: vec![self.shares.iter().copied().sum()],
            bits: check_bits("sum", self.bits + log2_ceil(self.len()))?,
            ..self.meta()
        }
        .not_boolean())
    }

    /// Sums consecutive chunks of `width` elements: a batch of `len / width` sums.
    pub fn sum_chunks(&self, width: usize) -> Result<Self> {
        if width == 0 || self.len() % width != 0 {
            return Err(MpcError::InvalidArgument {
                op: "sum_chunks",
                reason: format!(
                    "batch of {} does not split into chunks of {width}",
                    self.len()
                ),
            });
        }
        Ok(Shared {
            shares: self
                .shares
                .chunks_exact(width)
                .map(|c| c.iter().copied().sum())
                .collect(),
            bits: check_bits("sum_chunks", self.bits + log2_ceil(width))?,
            ..self.meta()
        }
        .not_boolean())
    }

    /// `1 - b` for a boolean batch.
    pub fn not(&self) -> Result<Self> {
        if !self.boolean {
            return Err(MpcError::InvalidArgument {
                op: "not",
                reason: "operand is not boolean".into(),
            });
        }
        Ok(Shared {
            shares: self.shares.iter().map(|&b| F::one() - b).collect(),
            ..self.meta()
        })
    }

    /// Fixed-point rescale up: `x · 2^k` read with `k` more fractional bits (exact).
    pub fn upscale(&self, k: u32) -> Result<Self> {
        let mut out = self.scale_pow2(k)?;
        out.frac = self.frac + k;
        Ok(out)
    }

    /// Multiplies by `2^k`, keeping the scale.
    pub fn scale_pow2(&self, k: u32) -> Result<Self> {
        let bits = check_bits("scale_pow2", self.bits + k)?;
        let c = F::pow2(k);
        Ok(Shared {
            shares: self.shares.iter().map(|&a| a * c).collect(),
            bits,
            ..self.meta()
        }
        .not_boolean())
    }

    fn not_boolean(mut self) -> Self {
        self.boolean = false;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;

    #[test]
    fn bounds_propagate_and_overflow_is_refused() {
        let a = Shared::<Fr>::from_shares(vec![Fr::one(); 4], 63).unwrap();
        assert_eq!(a.add(&a).unwrap().bits(), 64);
        assert_eq!(a.scale(3).unwrap().bits(), 65);
        assert_eq!(a.scale(-1).unwrap().bits(), 64);
        assert_eq!(a.sum().unwrap().bits(), 65);
        let big = Shared::<Fr>::from_shares(vec![Fr::one(); 4], 199).unwrap();
        let err = big.scale_pow2(5).unwrap_err();
        assert!(
            matches!(
                err,
                MpcError::BoundExceeded {
                    op: "scale_pow2",
                    ..
                }
            ),
            "{err}"
        );
        let b = Shared::<Fr>::from_shares(vec![Fr::one(); 3], 63).unwrap();
        assert!(matches!(a.add(&b), Err(MpcError::LengthMismatch { .. })));
        let f = Shared::<Fr>::from_fixed_shares(vec![Fr::one(); 4], 63, 16).unwrap();
        assert!(matches!(a.add(&f), Err(MpcError::ScaleMismatch { .. })));
    }

    #[test]
    fn scaled_bits_covers_the_edges() {
        // v in [-2^3, 2^3): v * c must fit.
        for c in [-9i128, -8, -1, 0, 1, 2, 3, 8, 9] {
            let b = scaled_bits(3, c);
            for v in -8i128..8 {
                assert!(crate::field::encode::fits(v * c, b), "v={v} c={c} b={b}");
            }
        }
    }
}
