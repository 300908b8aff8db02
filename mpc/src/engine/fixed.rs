//! Fixed-point arithmetic: a value `x` with `f` fractional bits is the integer `x · 2^f`.
//!
//! - **Probabilistic truncation** (Catrina, Saxena 2010, "Secure computation with fixed-point
//!   numbers", §3.1, Protocol TruncPr): open `c = 2^(k-1) + a + 2^m r'' + r'` for `m` random bits
//!   `r'` and a statistical mask `r''`; `a' = (c mod 2^m) - r'` and `(a - a') / 2^m` is
//!   `floor(a / 2^m)` or one more, rounding up with probability `(a mod 2^m) / 2^m`: the error is
//!   below one unit in the last place, and unbiased. One opening round after preprocessing.
//! - **Multiplication** `fx_mul`: the integer product (scales add) truncated back by the smaller
//!   operand's fractional bits; its preprocessing (the product's double sharings, the truncation's
//!   bits and mask) shares one dealing round.

use super::preprocess::Needs;
use super::{Engine, same_len};
use crate::error::Result;
use crate::field::Field;
use crate::field::pow2::{low_value, weighted};
use crate::net::Network;
use crate::share::{STAT_SECURITY, Shared, check_bits, rules};

impl<N: Network, F: Field> Engine<N, F> {
    /// `a / 2^m` with probabilistic rounding (see the module doc); the result has `m` fewer
    /// fractional bits (never fewer than zero: on integers it is a division by `2^m`).
    pub async fn trunc_pr(&mut self, a: &Shared<F>, m: u32) -> Result<Shared<F>> {
        if m == 0 {
            return Ok(a.clone());
        }
        let k = check_bits("trunc_pr", a.bits + 1)?;
        let ints = self
            .preprocess(Needs {
                mults: 0,
                bits: a.len() * m as usize,
                ints: vec![mask_bits(k, m); a.len()],
            })
            .await?;
        self.trunc_with(a, m, &ints).await
    }

    /// Truncation with its mask integers already dealt (and its bits in the pool).
    async fn trunc_with(&mut self, a: &Shared<F>, m: u32, ints: &[F]) -> Result<Shared<F>> {
        let len = a.len();
        let k = a.bits + 1;
        let mu = m as usize;
        let r = self.take_bits(len * mu);
        let r_low: Vec<F> = r.chunks_exact(mu).map(weighted).collect();
        let (pow_m, pow_k1) = (F::pow2(m), F::pow2(k - 1));
        let masked: Vec<F> = (0..len)
            .map(|e| a.shares[e] + pow_k1 + pow_m * ints[e] + r_low[e])
            .collect();
        let c = self.open_masked(&masked).await?;
        let inv = pow_m.inverse().expect("2^m is invertible");
        let shares = (0..len)
            .map(|e| {
                let c_low = low_value::<F>(&c[e], m);
                (a.shares[e] - (c_low - r_low[e])) * inv
            })
            .collect();
        Shared::from_facts(shares, rules::trunc(a.facts(), m))
    }

    /// Fixed-point product: scales `f_a` and `f_b` give a result with `max(f_a, f_b)`
    /// fractional bits. One dealing round, one multiplication, one opening.
    pub async fn fx_mul(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        same_len("fx_mul", a.len(), b.len())?;
        let m = a.frac.min(b.frac);
        let bits = check_bits("fx_mul", a.bits + b.bits + 1)?;
        if m == 0 {
            return self.mul(a, b).await;
        }
        let ints = self
            .preprocess(Needs {
                mults: a.len(),
                bits: a.len() * m as usize,
                ints: vec![mask_bits(bits + 1, m); a.len()],
            })
            .await?;
        let product = self.mul(a, b).await?;
        self.trunc_with(&product, m, &ints).await
    }

    /// Multiplies by a public fixed-point constant, keeping `a`'s scale.
    pub async fn fx_scale(&mut self, a: &Shared<F>, c: f64) -> Result<Shared<F>> {
        let f = a.frac.max(1);
        let c_int = crate::field::encode::fixed_to_int(c, f, crate::share::MAX_BITS)
            .map_err(|source| crate::error::MpcError::Encode { index: 0, source })?;
        let scaled = a.scale(c_int)?;
        let mut out = self.trunc_pr(&scaled, f).await?;
        out.frac = a.frac;
        Ok(out)
    }
}

/// Bits of each dealer's mask `r''` when truncating a `k`-bit value by `m` bits: the masked
/// value `2^(k-1) + a + 2^m r'' + r'` then stays below `2^(k + 40 + log2(t+1) + 1)`, inside the
/// field for every `k` the bound check admits.
fn mask_bits(k: u32, m: u32) -> u32 {
    (k + STAT_SECURITY).saturating_sub(m).max(1)
}
