//! Comparisons of signed integers (or fixed-point numbers of one scale): `<`, `<=`, `>`,
//! `>=`, `==`, each a boolean batch.
//!
//! Catrina, de Hoogh 2010, "Improved primitives for secure multiparty integer computation":
//! - **LTZ** (§3, Protocol 3.1 via Mod2m, Protocol 3.2): for `a` in `[-2^(k-1), 2^(k-1))`,
//!   open `c = 2^(k-1) + a + 2^m r'' + r'` with `m = k - 1`, random bits `r'` and a
//!   statistical mask `r''`; then `a mod 2^m = c' - r' + 2^m [c' < r']` with `c' = c mod 2^m`,
//!   and `[a < 0] = (a mod 2^m - a) / 2^m`. `[c' < r']` for public `c'` is the carry out of
//!   `r' + ~c'`: its generate/propagate leaves are linear in the bits of `r'`, and the carry is a
//!   reduction tree of `ceil(log2 m)` multiplication rounds and about `2m` products.
//! - **EQZ** (§3.4, with the Hamming-distance recursion): open `c = a + r' + 2^k (r'' + 1)`;
//!   `a = 0` iff the low `k` bits of `c` equal the bits of `r'`. The number `s` of differing bits
//!   is linear in the bits of `r'`, and `a = 0` iff `s = 0`, a question about a number of only
//!   `log2 k` bits: recurse while more than 4 bits remain, then multiply the `1 - d_i` in a tree.
//!
//! A batch costs the same rounds whatever its length: one dealing round (plus the XOR rounds of
//! the random bits), then the openings and tree levels above. Bits of `k` come from the
//! operands' public bound, so comparing 32-bit values is cheaper than 64-bit ones.

use super::Engine;
use super::preprocess::Needs;
use crate::error::Result;
use crate::field::Field;
use crate::field::pow2::{low_value, weighted};
use crate::net::Network;
use crate::share::{STAT_SECURITY, Shared, check_bits};

/// Products in the carry-out reduction of `m` (generate, propagate) pairs.
fn carry_out_mults(m: u32) -> usize {
    let (mut segs, mut total) = (m as usize, 0);
    while segs > 1 {
        let pairs = segs / 2;
        total += 2 * pairs - 1;
        segs -= pairs;
    }
    total
}

/// Products in a product tree of `m` factors.
fn product_mults(m: u32) -> usize {
    (m as usize).saturating_sub(1)
}

/// The bit sizes of EQZ's recursion levels, starting from `k`.
fn eqz_levels(k: u32) -> Vec<u32> {
    let mut levels = vec![k];
    let mut k = k;
    while k > 4 {
        k = u32::BITS - k.leading_zeros();
        levels.push(k);
    }
    levels
}

/// The low `m` bits of the canonical value of `c` (one conversion out of Montgomery form).
fn low_bits<F: Field>(c: &F, m: u32) -> impl Iterator<Item = bool> + use<F> {
    let limbs = c.to_canonical_limbs();
    (0..m).map(move |i| (limbs[(i / 64) as usize] >> (i % 64)) & 1 == 1)
}

impl<N: Network, F: Field> Engine<N, F> {
    /// `[a < 0]` element-wise: on the edaBits path with PRSS (under both levels), the field
    /// path otherwise.
    pub async fn ltz(&mut self, a: &Shared<F>) -> Result<Shared<F>> {
        if a.bits >= 1 && self.prss_on() {
            return self.ltz_edabits(a).await;
        }
        self.ltz_field(a).await
    }

    /// `[a < 0]` element-wise on the field path (Catrina–de Hoogh's LTZ with checked bits),
    /// whatever the randomness. For an `a` outside its declared `m` bits the result is not a
    /// bit, which the owners' range check relies on (`owner_inputs.rs`; the edaBits path
    /// always returns a bit).
    pub(crate) async fn ltz_field(&mut self, a: &Shared<F>) -> Result<Shared<F>> {
        let m = a.bits;
        let k = check_bits("ltz", m + 1)?;
        let len = a.len();
        if m == 0 {
            // a is -1 or 0.
            return Ok(Shared::from_bit_shares(
                a.shares.iter().map(|&v| -v).collect(),
            ));
        }
        let ints = self
            .preprocess(Needs {
                mults: len * carry_out_mults(m),
                bits: len * m as usize,
                ints: vec![k + STAT_SECURITY - m; len],
            })
            .await?;
        let r = self.take_bits(len * m as usize);
        let mu = m as usize;
        let r_int: Vec<F> = r.chunks_exact(mu).map(|bits| weighted(bits)).collect();
        let (pow_m, pow_k1) = (F::pow2(m), F::pow2(k - 1));
        let masked: Vec<F> = (0..len)
            .map(|e| a.shares[e] + pow_k1 + pow_m * ints[e] + r_int[e])
            .collect();
        let c = self.open_masked(&masked).await?;

        // Leaves of r' + ~c': generate g_i = r_i (1 - c_i), propagate p_i = r_i xor (1 - c_i).
        let mut g = Vec::with_capacity(len * mu);
        let mut p = Vec::with_capacity(len * mu);
        let mut c_low = Vec::with_capacity(len);
        for e in 0..len {
            c_low.push(low_value(&c[e], m));
            for (i, ci) in low_bits(&c[e], m).enumerate() {
                let ri = r[e * mu + i];
                if ci {
                    g.push(F::zero());
                    p.push(ri);
                } else {
                    g.push(ri);
                    p.push(F::one() - ri);
                }
            }
        }
        let u = self.carry_out(g, p, mu).await?;
        let inv = pow_m.inverse().expect("2^m is invertible");
        let shares = (0..len)
            .map(|e| {
                let a_mod = c_low[e] - r_int[e] + pow_m * u[e];
                (a_mod - a.shares[e]) * inv
            })
            .collect();
        self.verify_if_full().await?;
        Ok(Shared::from_bit_shares(shares))
    }

    /// `[a < b]` element-wise.
    pub async fn lt(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        let d = a.sub(b)?;
        self.ltz(&d).await
    }

    /// `[a <= b]` element-wise.
    pub async fn le(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        let d = b.sub(a)?;
        self.ltz(&d).await?.not()
    }

    /// `[a > b]` element-wise.
    pub async fn gt(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        self.lt(b, a).await
    }

    /// `[a >= b]` element-wise.
    pub async fn ge(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        self.le(b, a).await
    }

    /// `[a == b]` element-wise.
    pub async fn eq(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        let d = a.sub(b)?;
        self.eqz(&d).await
    }

    /// `[a == 0]` element-wise.
    pub async fn eqz(&mut self, a: &Shared<F>) -> Result<Shared<F>> {
        let len = a.len();
        let levels = eqz_levels(check_bits("eqz", a.bits + 1)?);
        let last = *levels.last().expect("at least one level");
        let total_bits: usize = levels.iter().map(|&k| k as usize).sum::<usize>() * len;
        let ints = self
            .preprocess(Needs {
                mults: len * product_mults(last),
                bits: total_bits,
                ints: vec![STAT_SECURITY; len * levels.len()],
            })
            .await?;
        let mut x = a.shares.clone();
        for (level, &k) in levels.iter().enumerate() {
            let ku = k as usize;
            let r = self.take_bits(len * ku);
            let pow_k = F::pow2(k);
            let masked: Vec<F> = (0..len)
                .map(|e| {
                    x[e] + weighted(&r[e * ku..(e + 1) * ku])
                        + pow_k * (ints[level * len + e] + F::one())
                })
                .collect();
            let c = self.open_masked(&masked).await?;
            // d_i = c_i xor r_i, linear in r_i since c_i is public.
            let mut d = Vec::with_capacity(len * ku);
            for e in 0..len {
                for (i, ci) in low_bits(&c[e], k).enumerate() {
                    let ri = r[e * ku + i];
                    d.push(if ci { F::one() - ri } else { ri });
                }
            }
            if level + 1 < levels.len() {
                x = d
                    .chunks_exact(ku)
                    .map(|c| c.iter().copied().sum())
                    .collect();
            } else {
                let factors: Vec<F> = d.into_iter().map(|di| F::one() - di).collect();
                let product = self.product_tree(factors, ku).await?;
                self.verify_if_full().await?;
                return Ok(Shared::from_bit_shares(product));
            }
        }
        unreachable!("the last level returns")
    }

    /// Carry out of each element's `(g, p)` leaves (element-major, `m` per element, least
    /// significant first), by a reduction tree.
    async fn carry_out(&mut self, mut g: Vec<F>, mut p: Vec<F>, m: usize) -> Result<Vec<F>> {
        let len = g.len().checked_div(m).unwrap_or(0);
        let mut segs = m;
        while segs > 1 {
            let (xs, ys) = carry_products(&g, &p, segs, len);
            let prods = self.mul_raw(&xs, &ys).await?;
            (g, p) = carry_combine(&g, &p, prods, segs, len, F::zero(), |a, b| a + b);
            segs -= segs / 2;
        }
        Ok(g)
    }

    /// The product of each element's `m` factors (element-major), by a tree.
    pub(crate) async fn product_tree(&mut self, mut f: Vec<F>, m: usize) -> Result<Vec<F>> {
        let len = f.len().checked_div(m).unwrap_or(0);
        let mut segs = m;
        while segs > 1 {
            let pairs = segs / 2;
            let next = segs - pairs;
            let mut xs = Vec::with_capacity(len * pairs);
            let mut ys = Vec::with_capacity(len * pairs);
            for e in 0..len {
                for j in 0..pairs {
                    xs.push(f[e * segs + 2 * j]);
                    ys.push(f[e * segs + 2 * j + 1]);
                }
            }
            let prods = self.mul_raw(&xs, &ys).await?;
            let mut nf = Vec::with_capacity(len * next);
            for e in 0..len {
                nf.extend_from_slice(&prods[e * pairs..(e + 1) * pairs]);
                if segs % 2 == 1 {
                    nf.push(f[e * segs + segs - 1]);
                }
            }
            f = nf;
            segs = next;
        }
        Ok(f)
    }
}

/// The products of one level of a carry-out reduction tree over `segs` (generate, propagate)
/// segments per element, in any domain: `p_hi g_lo` for every pair of segments and `p_hi p_lo`
/// for every pair but the lowest (whose propagate is never used: the carry-in is zero).
pub(crate) fn carry_products<T: Copy>(
    g: &[T],
    p: &[T],
    segs: usize,
    len: usize,
) -> (Vec<T>, Vec<T>) {
    let pairs = segs / 2;
    let mut xs = Vec::with_capacity(len * (2 * pairs).saturating_sub(1));
    let mut ys = Vec::with_capacity(xs.capacity());
    for e in 0..len {
        let base = e * segs;
        for j in 0..pairs {
            let (lo, hi) = (base + 2 * j, base + 2 * j + 1);
            xs.push(p[hi]);
            ys.push(g[lo]);
            if j > 0 {
                xs.push(p[hi]);
                ys.push(p[lo]);
            }
        }
    }
    (xs, ys)
}

/// The next level's segments from [`carry_products`]' products: `(g_hi + p_hi g_lo, p_hi p_lo)`,
/// with `add` the domain's sum (generate and propagate of one span exclude each other, so the
/// sum is their OR) and an odd last segment carried up.
pub(crate) fn carry_combine<T: Copy>(
    g: &[T],
    p: &[T],
    prods: Vec<T>,
    segs: usize,
    len: usize,
    zero: T,
    add: impl Fn(T, T) -> T,
) -> (Vec<T>, Vec<T>) {
    let (pairs, next) = (segs / 2, segs - segs / 2);
    let mut ng = Vec::with_capacity(len * next);
    let mut np = Vec::with_capacity(len * next);
    let mut it = prods.into_iter();
    for e in 0..len {
        let base = e * segs;
        for j in 0..pairs {
            ng.push(add(g[base + 2 * j + 1], it.next().expect("a product")));
            np.push(if j > 0 {
                it.next().expect("a product")
            } else {
                zero
            });
        }
        if segs % 2 == 1 {
            ng.push(g[base + segs - 1]);
            np.push(p[base + segs - 1]);
        }
    }
    (ng, np)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(carry_out_mults(1), 0);
        assert_eq!(carry_out_mults(2), 1);
        assert_eq!(carry_out_mults(4), 1 + 2 + 1);
        assert_eq!(eqz_levels(33), vec![33, 6, 3]);
        assert_eq!(eqz_levels(4), vec![4]);
    }
}
