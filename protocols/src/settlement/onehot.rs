//! One-hot vectors of secret bits ("demultiplexing"): for `m` secret bits per row, the `2^m`
//! secret indicators `[value of the bits = v]`, built by outer products in `ceil(log2 m)`
//! multiplication rounds, every row and every group of bits in the same batch.
//!
//! Each bit `x` starts as the one-hot pair `(1 - x, x)`. A level multiplies adjacent one-hot
//! vectors `u` (length `A`, the lower bits) and `v` (length `B`) into `w[a + A b] = u_a v_b`.
//! Because both sum to one, only the `(A - 1)(B - 1)` products with `a < A - 1` and `b < B - 1`
//! are computed; the others follow linearly: `w[a, B-1] = u_a - sum_b w[a, b]`,
//! `w[A-1, b] = v_b - sum_a w[a, b]` and the corner from `u_(A-1)`. A 2-bit vector costs one
//! product, a 4-bit one 2 + 9, a 3-bit one 1 + 3.
//!
//! Linear steps work share-wise on the raw shares, exactly as [`Secret`]'s own linear methods
//! do (the shares of a public constant `c` are `c` at every party, and plain values in the
//! clear), so the same code runs on every backend.

use mpc::{Field, Fr};

use crate::backend::{Backend, Secret};

/// One one-hot vector per row: `len` indicators per row, row-major.
struct Part {
    len: usize,
    shares: Vec<Fr>,
}

/// For each group of bit batches (`groups[g][k]`: bit `k`, least significant first, of every
/// row), the rows' one-hot vectors of length `2^m_g`, row-major: entry `r * 2^m_g + v` is
/// `[bits of row r = v]`. Groups are built together, one multiplication call per level.
pub(crate) async fn unit_vectors<B: Backend>(
    b: &mut B,
    groups: &[Vec<Vec<Fr>>],
    rows: usize,
) -> mpc::Result<Vec<Vec<Fr>>> {
    let mut parts: Vec<Vec<Part>> = groups
        .iter()
        .map(|bits| {
            bits.iter()
                .map(|x| Part {
                    len: 2,
                    shares: x.iter().flat_map(|&xi| [Fr::one() - xi, xi]).collect(),
                })
                .collect()
        })
        .collect();
    while parts.iter().any(|p| p.len() > 1) {
        // Every product of this level, across groups and pairs, in one batch.
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for group in &parts {
            for pair in group.chunks_exact(2) {
                let (u, v) = (&pair[0], &pair[1]);
                for r in 0..rows {
                    for bb in 0..v.len - 1 {
                        for a in 0..u.len - 1 {
                            left.push(u.shares[r * u.len + a]);
                            right.push(v.shares[r * v.len + bb]);
                        }
                    }
                }
            }
        }
        let products = b
            .mul(
                &Secret::from_bit_shares(left),
                &Secret::from_bit_shares(right),
            )
            .await?
            .into_shares();
        let mut at = 0;
        for group in &mut parts {
            let mut next = Vec::with_capacity(group.len().div_ceil(2));
            let mut old = std::mem::take(group).into_iter();
            while let Some(u) = old.next() {
                match old.next() {
                    Some(v) => {
                        let used = rows * (u.len - 1) * (v.len - 1);
                        next.push(combine(&u, &v, &products[at..at + used], rows));
                        at += used;
                    }
                    None => next.push(u),
                }
            }
            *group = next;
        }
    }
    Ok(parts
        .into_iter()
        .map(|mut g| match g.pop() {
            Some(p) => p.shares,
            None => vec![Fr::one(); rows],
        })
        .collect())
}

/// The outer product `w[a + A b] = u_a v_b` from the products with `a < A - 1`, `b < B - 1`
/// (`products[(r (B - 1) + b) (A - 1) + a]`).
fn combine(u: &Part, v: &Part, products: &[Fr], rows: usize) -> Part {
    let (la, lb) = (u.len, v.len);
    let len = la * lb;
    let mut shares = vec![Fr::zero(); rows * len];
    for r in 0..rows {
        let w = &mut shares[r * len..(r + 1) * len];
        let p = &products[r * (la - 1) * (lb - 1)..(r + 1) * (la - 1) * (lb - 1)];
        let (ur, vr) = (
            &u.shares[r * la..(r + 1) * la],
            &v.shares[r * lb..(r + 1) * lb],
        );
        for bb in 0..lb - 1 {
            let mut column = Fr::zero();
            for a in 0..la - 1 {
                let x = p[bb * (la - 1) + a];
                w[a + la * bb] = x;
                column += x;
            }
            // sum_a u_a v_b = v_b
            w[la - 1 + la * bb] = vr[bb] - column;
        }
        for a in 0..la {
            // sum_b u_a v_b = u_a
            let row: Fr = (0..lb - 1).map(|bb| w[a + la * bb]).sum();
            w[a + la * (lb - 1)] = ur[a] - row;
        }
    }
    Part { len, shares }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Clear, Counting};

    #[test]
    fn unit_vectors_match_the_bits_values() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for m in 1..=5usize {
            let rows = 1 << m;
            // Row r's bits spell r; a second group spells rows - 1 - r on min(m, 2) bits.
            let bits = |value: &dyn Fn(usize) -> usize, width: usize| -> Vec<Vec<Fr>> {
                (0..width)
                    .map(|k| {
                        (0..rows)
                            .map(|r| Fr::from_u128(((value(r) >> k) & 1) as u128))
                            .collect()
                    })
                    .collect()
            };
            let second = m.min(2);
            let groups = vec![
                bits(&|r| r, m),
                bits(&|r| (rows - 1 - r) % (1 << second), second),
            ];
            let mut b = Counting::new(Clear::default());
            let out = rt.block_on(unit_vectors(&mut b, &groups, rows)).unwrap();
            for r in 0..rows {
                for v in 0..rows {
                    let want = Fr::from_u128((v == r) as u128);
                    assert_eq!(out[0][r * rows + v], want, "m={m} r={r} v={v}");
                }
                let w = 1 << second;
                for v in 0..w {
                    let want = Fr::from_u128((v == (rows - 1 - r) % w) as u128);
                    assert_eq!(out[1][r * w + v], want);
                }
            }
            // ceil(log2 m) multiplication rounds, whatever the number of rows or groups.
            let levels = usize::BITS - (m - 1).leading_zeros();
            assert_eq!(b.counts.batches, levels as u64, "m={m}");
        }
    }
}
