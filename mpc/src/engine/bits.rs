//! Bit-level circuits over secret bits, batched: the bit decomposition of a bounded signed
//! integer (two circuits), and prefix-OR from the most significant bit.
//!
//! - **Bit decomposition** (the mask-and-open of Catrina, de Hoogh 2010, §2, followed by a
//!   binary subtraction as in Damgård, Fitzi, Kiltz, Nielsen, Toft 2006, §5 "BitAdd"): for `x`
//!   in `[-2^k, 2^k)`, open `d = x + 2^k + r + 2^(k+1) r''` with `k + 1` random bits `r` and a
//!   statistical mask `r''`; then `u = x + 2^k = (d mod 2^(k+1)) - r mod 2^(k+1)`. The borrow
//!   chain of the subtraction `d - r = d + ~r + 1` runs on (generate, propagate) pairs whose
//!   leaves are linear in the bits of `r` (the bits of `d` are public). Two circuits:
//!   - [`Engine::bit_decompose`] (public): a ripple-carry chain. With `g_i` and `p_i` exclusive,
//!     the one product `p_i c_i` gives both the carry `c_(i+1) = g_i + p_i c_i` and the sum bit
//!     `u_i = p_i + c_i - 2 p_i c_i`: `k` products per element in `k` rounds — the least
//!     traffic, for large batches (order statistics over every row);
//!   - `bit_decompose_shallow` (crate-internal, for the division's normalization): a Sklansky
//!     parallel-prefix network, `ceil(log2 k)` multiplication rounds and one more for the sum
//!     bits, about `(k/2) log2 k` products more per element.
//! - **Prefix-OR** from the top, `Y_i = x_(m-1) or ... or x_i`, by the same Sklansky network
//!   with `a or b = a + b - ab`: `ceil(log2 m)` multiplication rounds.
//!
//! A whole batch (and several independent rows of bits) goes through each level in one
//! multiplication call, so the rounds do not depend on the batch length. Callers can have
//! extra, unrelated products ride along with a circuit's first multiplication round.
//!
//! What the crate-internal circuits do not do: preprocessing. Their caller reserves the random
//! bits, the masking integers and (under DN07) the double sharings beforehand; [`shallow_decompose_mults`]
//! and [`prefix_or_mults`] say how many products a circuit consumes.

use super::Engine;
use super::preprocess::Needs;
use crate::error::Result;
use crate::field::Field;
use crate::field::pow2::weighted;
use crate::net::Network;
use crate::share::{STAT_SECURITY, Shared, check_bits};

/// The combination steps of a Sklansky parallel-prefix network over `m` positions, level by
/// level: at level `l`, position `i` with bit `l` set absorbs position `j`, the top of the lower
/// half of its block of `2^(l+1)`. After all levels, position `i` covers `[0, i]`.
pub(crate) fn sklansky(m: usize) -> Vec<Vec<(usize, usize)>> {
    let mut levels = Vec::new();
    let mut l = 0;
    while (1usize << l) < m {
        let level = (0..m)
            .filter(|&i| (i >> l) & 1 == 1)
            .map(|i| (i, ((i >> l) << l) - 1))
            .collect();
        levels.push(level);
        l += 1;
    }
    levels
}

/// Whether position `i`, combined at level `l`, then covers a span starting at position 0
/// (whose propagate flag is never needed, since the carry into position 0 is folded in).
fn reaches_zero(i: usize, l: usize) -> bool {
    i < (2usize << l)
}

/// Products per element of `bit_decompose_shallow` on a `k`-bit bound: the carry network
/// over `k` positions and the `k` sum bits above position 0.
pub(crate) fn shallow_decompose_mults(k: u32) -> usize {
    let network: usize = sklansky(k as usize)
        .iter()
        .enumerate()
        .map(|(l, level)| {
            level
                .iter()
                .map(|&(i, _)| if reaches_zero(i, l) { 1 } else { 2 })
                .sum::<usize>()
        })
        .sum();
    network + k as usize
}

/// The longest batch [`Engine::bit_decompose`] of `k`-bit values runs at once within `memory`
/// bytes: per element about eight field elements a bit position live at the peak (the random
/// bits, their XOR tree or doubles, the leaves, the products and the output), at least 1.
pub(crate) fn decompose_chunk(k: u32, memory: usize) -> usize {
    let per_element = 8 * (k as usize + 1) * 32;
    (memory / per_element).max(1)
}

/// Products per row of [`Engine::prefix_or_from_top`] over `m` bits.
pub(crate) fn prefix_or_mults(m: usize) -> usize {
    sklansky(m).iter().map(Vec::len).sum()
}

impl<N: Network, F: Field> Engine<N, F> {
    /// The bits of `u = x + 2^k` for a batch `x` with bound `k = x.bits()` (every value in
    /// `[-2^k, 2^k)`): `k + 1` boolean batches of `x.len()` elements, least significant first,
    /// so that `x = Σ_i 2^i u_i - 2^k` and `u_k = [x >= 0]`. A fixed-point batch is decomposed
    /// as its scaled integer. Nothing is revealed: the opened `d` is statistically masked.
    ///
    /// Cost: one dealing round (plus the XOR rounds of the random bits), one opening, then a
    /// ripple-carry subtraction of `k` multiplication rounds; `(k + 1) len` random bits and
    /// `k len` products (see the module doc).
    ///
    /// A batch longer than [`decompose_chunk`] runs in chunks of that size, one after the
    /// other (each with the rounds of a whole batch), so that the working memory stays within
    /// the engine's budget (the comparisons' 256 MiB unless a test sets another) whatever the
    /// batch's length; only the `k + 1` output batches grow with it.
    pub async fn bit_decompose(&mut self, x: &Shared<F>) -> Result<Vec<Shared<F>>> {
        check_bits("bit_decompose", x.bits + 1)?;
        let chunk = decompose_chunk(x.bits, self.comparison_memory);
        if x.len() <= chunk {
            return self.bit_decompose_batch(x).await;
        }
        let mut out: Vec<Vec<F>> = vec![Vec::with_capacity(x.len()); x.bits as usize + 1];
        for lo in (0..x.len()).step_by(chunk) {
            let part = self
                .bit_decompose_batch(&x.slice(lo..(lo + chunk).min(x.len())))
                .await?;
            for (all, bits) in out.iter_mut().zip(part) {
                all.extend(bits.shares);
            }
        }
        Ok(out.into_iter().map(Shared::from_bit_shares).collect())
    }

    async fn bit_decompose_batch(&mut self, x: &Shared<F>) -> Result<Vec<Shared<F>>> {
        let k = x.bits;
        check_bits("bit_decompose", k + 1)?;
        let (len, width) = (x.len(), k as usize + 1);
        let masks = self
            .preprocess(Needs {
                mults: len * k as usize,
                bits: len * width,
                ints: vec![STAT_SECURITY + 1; len],
            })
            .await?;
        let r = self.take_bits(len * width);
        let (offset, high) = (F::pow2(k), F::pow2(k + 1));
        let masked: Vec<F> = (0..len)
            .map(|e| {
                x.shares[e] + offset + weighted(&r[e * width..(e + 1) * width]) + high * masks[e]
            })
            .collect();
        let d: Vec<[u64; 4]> = self
            .open_masked(&masked)
            .await?
            .iter()
            .map(F::to_canonical_limbs)
            .collect();
        let d_bit = |e: usize, i: usize| (d[e][i / 64] >> (i % 64)) & 1 == 1;
        // Position i adds d_i, y_i = 1 - r_i and the carry: propagate p_i = d_i xor y_i and
        // generate g_i = d_i y_i, both linear in r_i.
        let leaves = |i: usize| -> (Vec<F>, Vec<F>) {
            (0..len)
                .map(|e| {
                    let ri = r[e * width + i];
                    if d_bit(e, i) {
                        (ri, F::one() - ri)
                    } else {
                        (F::one() - ri, F::zero())
                    }
                })
                .unzip()
        };
        // The carry into position 0 is 1: u_0 = not p_0, and position 0 carries out when it
        // generates or propagates (never both).
        let (p0, g0) = leaves(0);
        let mut bits = Vec::with_capacity(width);
        bits.push(Shared::from_bit_shares(
            p0.iter().map(|&p| F::one() - p).collect(),
        ));
        let mut carry: Vec<F> = p0.iter().zip(&g0).map(|(&p, &g)| p + g).collect();
        let two = F::from_u128(2);
        for i in 1..width {
            let (p, g) = leaves(i);
            let pc = self.mul_raw(&p, &carry).await?;
            bits.push(Shared::from_bit_shares(
                (0..len).map(|e| p[e] + carry[e] - two * pc[e]).collect(),
            ));
            if i + 1 < width {
                carry = g.iter().zip(&pc).map(|(&g, &pc)| g + pc).collect();
            }
        }
        Ok(bits)
    }

    /// The `k + 1` bits of `x + 2^k` for each `x` in `[-2^k, 2^k)` (element-major, least
    /// significant first; bit `k` is 1 exactly when `x >= 0`), in logarithmic depth. Consumes
    /// `(k + 1) * len` pooled random bits and one masking integer per element from `masks` (of
    /// [`STAT_SECURITY`](crate::share::STAT_SECURITY)` + 1` bits), and
    /// [`shallow_decompose_mults`]`(k) * len` products. One opening, then `ceil(log2 k) + 1` multiplication
    /// rounds. [`Engine::bit_decompose`] is the public, communication-lean variant.
    pub(crate) async fn bit_decompose_shallow(
        &mut self,
        x: &[F],
        k: u32,
        masks: &[F],
    ) -> Result<Vec<F>> {
        let len = x.len();
        let width = k as usize + 1;
        let r = self.take_bits(len * width);
        let (offset, high) = (F::pow2(k), F::pow2(k + 1));
        let masked: Vec<F> = (0..len)
            .map(|e| x[e] + offset + weighted(&r[e * width..(e + 1) * width]) + high * masks[e])
            .collect();
        let d = self.open_masked(&masked).await?;

        // u = d_low + ~r + 1 (mod 2^(k+1)). With d's bits public, generate g_i = d_i and (1 - r_i)
        // and propagate p_i = d_i xor (1 - r_i) are linear in r_i.
        let m = k as usize;
        let mut p = Vec::with_capacity(len * width);
        let mut g = Vec::with_capacity(len * m);
        let mut pp = Vec::with_capacity(len * m);
        for e in 0..len {
            for i in 0..width {
                let ri = r[e * width + i];
                let (gi, pi) = if d[e].canonical_bit(i as u32) {
                    (F::one() - ri, ri)
                } else {
                    (F::zero(), F::one() - ri)
                };
                p.push(pi);
                if i < m {
                    // The carry into position 0 is 1: position 0 carries out when it generates
                    // or propagates (never both), and its span's propagate is never needed.
                    g.push(if i == 0 { gi + pi } else { gi });
                    pp.push(if i == 0 { F::zero() } else { pi });
                }
            }
        }
        let carries = self.carries(g, pp, m).await?;

        // Sum bits: u_0 = not p_0 (carry-in 1), u_i = p_i xor carry_(i-1).
        let mut xs = Vec::with_capacity(len * m);
        let mut ys = Vec::with_capacity(len * m);
        for e in 0..len {
            for i in 1..width {
                xs.push(p[e * width + i]);
                ys.push(carries[e * m + i - 1]);
            }
        }
        let prods = self.mul_raw(&xs, &ys).await?;
        let two = F::from_u128(2);
        let mut u = Vec::with_capacity(len * width);
        for e in 0..len {
            u.push(F::one() - p[e * width]);
            for i in 1..width {
                let at = e * m + i - 1;
                u.push(xs[at] + ys[at] - two * prods[at]);
            }
        }
        Ok(u)
    }

    /// All prefix carries of each row's `(g, p)` leaves (row-major, `m` per row, least
    /// significant first, carry-in folded into position 0), by a Sklansky network.
    async fn carries(&mut self, mut g: Vec<F>, mut p: Vec<F>, m: usize) -> Result<Vec<F>> {
        let rows = g.len().checked_div(m).unwrap_or(0);
        for (l, level) in sklansky(m).iter().enumerate() {
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            for row in 0..rows {
                let base = row * m;
                for &(i, j) in level {
                    xs.push(p[base + i]);
                    ys.push(g[base + j]);
                    if !reaches_zero(i, l) {
                        xs.push(p[base + i]);
                        ys.push(p[base + j]);
                    }
                }
            }
            let prods = self.mul_raw(&xs, &ys).await?;
            let mut it = prods.into_iter();
            for row in 0..rows {
                let base = row * m;
                for &(i, _) in level {
                    // Generate and propagate of one span exclude each other: the sum is an OR.
                    g[base + i] += it.next().unwrap_or_default();
                    p[base + i] = if reaches_zero(i, l) {
                        F::zero()
                    } else {
                        it.next().unwrap_or_default()
                    };
                }
            }
        }
        Ok(g)
    }

    /// Prefix-OR from the most significant bit of each row of `m` bits (row-major, least
    /// significant first): `Y_i = x_(m-1) or ... or x_i`. The products `extra_x[e] * extra_y[e]`
    /// ride along with the first multiplication round (or take a round of their own when the
    /// network has none) and come back second.
    pub(crate) async fn prefix_or_from_top(
        &mut self,
        mut x: Vec<F>,
        m: usize,
        extra_x: &[F],
        extra_y: &[F],
    ) -> Result<(Vec<F>, Vec<F>)> {
        let rows = x.len().checked_div(m).unwrap_or(0);
        let levels = sklansky(m);
        let mut extra = Vec::new();
        if levels.is_empty() && !extra_x.is_empty() {
            extra = self.mul_raw(extra_x, extra_y).await?;
        }
        // Position t of the network is bit m - 1 - t: the network runs from the top down.
        let at = |row: usize, t: usize| row * m + (m - 1 - t);
        for (l, level) in levels.iter().enumerate() {
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            for row in 0..rows {
                for &(t, j) in level {
                    xs.push(x[at(row, t)]);
                    ys.push(x[at(row, j)]);
                }
            }
            let ours = xs.len();
            if l == 0 {
                xs.extend_from_slice(extra_x);
                ys.extend_from_slice(extra_y);
            }
            let mut prods = self.mul_raw(&xs, &ys).await?;
            if l == 0 {
                extra = prods.split_off(ours);
            }
            let mut k = 0;
            for row in 0..rows {
                for &(t, j) in level {
                    let (a, b) = (x[at(row, t)], x[at(row, j)]);
                    x[at(row, t)] = a + b - prods[k];
                    k += 1;
                }
            }
        }
        Ok((x, extra))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sklansky_covers_every_prefix() {
        for m in 1..40 {
            // Each position's span, as (low, high), must end as (0, i).
            let mut span: Vec<(usize, usize)> = (0..m).map(|i| (i, i)).collect();
            for level in sklansky(m) {
                let before = span.clone();
                for (i, j) in level {
                    assert_eq!(
                        before[j].1 + 1,
                        before[i].0,
                        "m={m}: {j} is not adjacent below {i}"
                    );
                    span[i] = (before[j].0, before[i].1);
                }
            }
            for (i, s) in span.iter().enumerate() {
                assert_eq!(*s, (0, i), "m={m}");
            }
            assert_eq!(
                sklansky(m).len() as u32,
                if m <= 1 {
                    0
                } else {
                    usize::BITS - (m - 1).leading_zeros()
                }
            );
        }
    }

    #[test]
    fn product_counts() {
        assert_eq!(shallow_decompose_mults(1), 1);
        // m = 2: one combination reaching zero, plus 2 sum bits.
        assert_eq!(shallow_decompose_mults(2), 1 + 2);
        assert_eq!(prefix_or_mults(1), 0);
        assert_eq!(prefix_or_mults(4), 4);
    }
}
