//! Which grid prices each secret limit reaches: for secret prices `p_o` on a public grid
//! `g_0 < ... < g_(G-1)`, the secret bits `[p_o >= g_j]` for every `j >= 1` (a thermometer
//! code), batched over all orders.
//!
//! **One-hot by a masked opening** (the default when the grid is dense enough): with `x_o` the
//! limit's position (`(p - g_0) / step` on an evenly spaced grid, else `p - g_0`), `x_o < 2^b`,
//! draw `b` random bits `r_i` (value `r`) and a 40-bit statistical mask `R`, and open
//! `c = x + r + 2^b R`. Its low `b` bits `c_low = (x + r) mod 2^b` are uniform, and its high
//! part hides the carry up to `2^-40`. The one-hot vector of `r` costs `2^b - 2`
//! multiplications in `b - 1` rounds (a demultiplexer over the bits of `r`), and the one-hot of
//! `x` is that of `r` rotated by the public `c_low`: `[x = v] = [r = (c_low - v) mod 2^b]`
//! (as `x < 2^b`). The thermometer is then suffix sums (free). Per order: `b + 40` random bits
//! and about `2^b` products, against `(G - 1)` comparisons of `b + 1` bits (each some `4b`
//! products and bits) for the comparison path. This is the masking idea of Catrina and de
//! Hoogh's comparison protocols (2010), applied to a one-hot (unary) rather than a binary
//! decomposition.
//!
//! **Comparisons** (when the grid is sparse: `2^b` far above `G`): one batch of `(G - 1)·N`
//! comparisons, in chunks that bound memory.
//!
//! Both rely on the upload check: every limit is on the grid (`x_o` in range).

use mpc::Field;

use super::{MatchingError, concat, in_step};
use crate::backend::{Backend, Secret};

/// Bits of the statistical mask hiding the carry of the masked opening.
const STAT: usize = 40;
/// Elements per comparison batch (bounds memory on the comparison path).
const CHUNK: usize = 1 << 19;

/// `[p_o >= g_j]` for `j = 1..G` (row `j - 1`, each row one element per order): a boolean
/// batch of `(G - 1)·N` elements.
pub(crate) async fn at_or_above<B: Backend>(
    b: &mut B,
    price: &Secret,
    grid: &[i128],
) -> Result<Secret, MatchingError> {
    let step = "limits against the grid";
    let (n, g) = (price.len(), grid.len());
    if g <= 1 || n == 0 {
        return b.constant(&[]).map_err(in_step(step));
    }
    let spacing = grid[1] - grid[0];
    let even = grid.windows(2).all(|w| w[1] - w[0] == spacing);
    // Positions: (p - g_0) / step on an even grid (exact: p is on the grid), else p - g_0.
    let rel = price.add_const(-grid[0]).map_err(in_step(step))?;
    let (x, thresholds): (Secret, Vec<i128>) = if even && spacing > 1 {
        let inv = mpc::Fr::from_i128(spacing)
            .inverse()
            .expect("a non-zero step");
        let shares = rel.shares().iter().map(|&s| s * inv).collect();
        let x = Secret::from_facts(shares, rel.facts()).map_err(in_step(step))?;
        (x, (1..g as i128).collect())
    } else {
        (rel, grid[1..].iter().map(|&p| p - grid[0]).collect())
    };
    let span = *thresholds.last().expect("g > 1");
    let bits = mpc::field::encode::bits_for(span).max(1);
    let x = x.assume_bits(bits);
    if bits <= 20 && (1usize << bits) <= (16 * g).max(1024) {
        one_hot_path(b, &x, bits, &thresholds).await
    } else {
        comparison_path(b, &x, &thresholds).await
    }
}

async fn one_hot_path<B: Backend>(
    b: &mut B,
    x: &Secret,
    bits: u32,
    thresholds: &[i128],
) -> Result<Secret, MatchingError> {
    let step = "one-hot of the limits";
    let n = x.len();
    let nb = bits as usize;
    let size = 1usize << nb;
    let random = b
        .random_bits(n * (nb + STAT))
        .await
        .map_err(in_step(step))?;
    let r_bits = random.slice(0..n * nb);
    let weights = |count: usize, shift: usize| -> Vec<i128> {
        (0..n)
            .flat_map(|_| (0..count).map(move |i| 1i128 << (i + shift)))
            .collect()
    };
    let r = r_bits
        .scale_each(&weights(nb, 0))
        .and_then(|v| v.sum_chunks(nb))
        .map_err(in_step(step))?;
    let mask = random
        .slice(n * nb..n * (nb + STAT))
        .scale_each(&weights(STAT, nb))
        .and_then(|v| v.sum_chunks(STAT))
        .map_err(in_step(step))?;
    let masked = x
        .add(&r)
        .and_then(|v| v.add(&mask))
        .map_err(in_step(step))?;
    let opened = b.open(&masked).await.map_err(in_step(step))?;
    let low: Vec<usize> = opened
        .iter()
        .map(|&c| (c & (size as i128 - 1)) as usize)
        .collect();
    // The one-hot of r, order-major (2^i values per order after bit i), by a demultiplexer.
    let bit = |i: usize, width: usize| -> Secret {
        r_bits.gather(
            &(0..n)
                .flat_map(|o| std::iter::repeat_n(o * nb + i, width))
                .collect::<Vec<_>>(),
        )
    };
    let interleave = |width: usize| -> Vec<usize> {
        (0..n)
            .flat_map(|o| {
                (0..width)
                    .map(move |k| o * width + k)
                    .chain((0..width).map(move |k| n * width + o * width + k))
            })
            .collect()
    };
    let b0 = bit(0, 1);
    let ones = b.constant(&vec![1; n]).map_err(in_step(step))?;
    let mut v =
        concat(&[&ones.sub(&b0).map_err(in_step(step))?, &b0], step)?.gather(&interleave(1));
    for i in 1..nb {
        let width = 1usize << i;
        let v_bits = Secret::from_bit_shares(v.into_shares());
        let high = b
            .mul(&v_bits, &bit(i, width))
            .await
            .map_err(in_step(step))?;
        let low_half = v_bits.sub(&high).map_err(in_step(step))?;
        v = concat(&[&low_half, &high], step)?.gather(&interleave(width));
    }
    // [x = u] = [r = (low - u) mod 2^b]; thermometer rows by suffix sums (linear, on shares).
    let one_hot = v.shares();
    let rows = thresholds.len();
    let mut out = vec![mpc::Fr::zero(); rows * n];
    let mut suffix = vec![mpc::Fr::zero(); size + 1];
    for o in 0..n {
        for u in (0..size).rev() {
            let r_index = (low[o] + size - u) % size;
            suffix[u] = suffix[u + 1] + one_hot[o * size + r_index];
        }
        for (row, &t) in thresholds.iter().enumerate() {
            out[row * n + o] = suffix[t as usize];
        }
    }
    Ok(Secret::from_bit_shares(out))
}

async fn comparison_path<B: Backend>(
    b: &mut B,
    x: &Secret,
    thresholds: &[i128],
) -> Result<Secret, MatchingError> {
    let step = "limits against the grid";
    let n = x.len();
    let per_chunk = (CHUNK / n).max(1);
    let mut parts = Vec::new();
    for chunk in thresholds.chunks(per_chunk) {
        let xs = concat(&vec![x; chunk.len()], step)?;
        let t: Vec<i128> = chunk
            .iter()
            .flat_map(|&t| std::iter::repeat_n(t, n))
            .collect();
        let t = b.constant(&t).map_err(in_step(step))?;
        let below = b.lt(&xs, &t).await.map_err(in_step(step))?;
        parts.push(below.not().map_err(in_step(step))?);
    }
    let all = concat(&parts.iter().collect::<Vec<_>>(), step)?;
    Ok(Secret::from_bit_shares(all.into_shares()))
}
