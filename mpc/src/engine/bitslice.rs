//! Rank selection in the binary domain (GF(2^8), one byte a share; [`super::binary`]): the
//! values of given ranks among a column's flagged rows, for `MEDIAN` and `PERCENTILE_CONT`,
//! with every per-row operation a binary AND instead of a field product.
//!
//! 1. **Decomposition** ([`Engine::decompose_binary`]): `v = x + 2^w + 2^(w+1) m` (`m` the
//!    row's flag, so the top bit *is* the flag, with no conversion) is masked with an edaBit
//!    from the PRSS keys (Escudero, Ghosh, Keller, Rachuri, Scholl, CRYPTO 2020, §3; the
//!    replicated-term construction of [`super::edabits`]), opened in the field (one element a
//!    row), and its `W = w + 2` bits are the low bits of `c + C + Σ_A ~y_A`: carry-save layers
//!    (one AND per bit and full adder) down to two operands, then a ripple-carry adder (one AND
//!    per bit, `W` rounds). Why ripple and not a prefix (Sklansky / Kogge–Stone) network: the
//!    rows come in batches of a million, so a round costs far less than the bytes and table
//!    lookups, and a ripple adder spends `W` ANDs a row against about `W log2 W` for a prefix
//!    network.
//! 2. **Selection**, bitwise from the top (the radix search of `protocols::stats::order`),
//!    one *relative* rank `r` per selection (`L`-bit binary shares) and one candidate flag `f`
//!    per row and selection (initially the row's flag): at bit `j`, `a = f · ¬b_j` (one AND a
//!    row), `z = Σ_i a_i` by a carry-save (Wallace) tree of full adders over the rows (about one
//!    AND a row, `log_1.5 N` rounds) and a ripple adder of `L` bits, then `r - z = r + ¬z + 1`
//!    by a ripple adder whose carry out is the result bit `d = [z <= r]` (the `k`-th candidate
//!    has bit 1 exactly when at most `k` candidates have bit 0), and `r <- r ⊕ d (r ⊕ (r - z))`,
//!    `f <- a ⊕ d f` (the candidates with bit `d`; one AND a row).
//! 3. The selected bits leave the binary domain by daBits (Rotaru, Wood, INDOCRYPT 2019; per
//!    selection and bit, not per row) and are recombined: `x = Σ_j 2^j d_j - 2^w`.
//!
//! A rank at or beyond the number of flagged rows selects `2^w - 1` (every bit 1), as the
//! field variants do. Cost per row for `s` selections of `w`-bit values at `n = 3, t = 1`: one
//! field opening (32 bytes to each other party) and about `3 (w + 2)` ANDs for the
//! decomposition, and `3 s (w + 1)` ANDs for the selection (two bytes each from each of the
//! `2t + 1` dealers). Memory: the `W` bit planes (one byte a row each) and `s` candidate
//! flags; the decomposition runs in chunks of [`DECOMPOSE_MEMORY`].
//!
//! Under [`SecurityLevel::Malicious`](super::SecurityLevel) the same path runs, checked (see
//! [`Engine::binary_selection_available`]): every AND is recorded by `and_bytes` and checked in
//! GF(2^64), the masked `c` is opened through `Engine::open_masked` (after the pending checks),
//! binary openings check first, and the daBits' arithmetic halves are checked field products.
//! Tests: `mpc/tests/malicious.rs`
//! (`binary_rank_selection_under_malicious_equals_clear_and_catches_cheats`). The one-hot of
//! `GROUP BY` reuses the decomposition and the daBits exit: [`super::one_hot`].

use super::Engine;
use super::edabits::add_small;
use super::prss;
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;
use crate::share::{STAT_SECURITY, Shared, check_bits};

/// Working memory of the binary decomposition's chunks, per party, in bytes: 64 MiB.
pub(crate) const DECOMPOSE_MEMORY: usize = 64 << 20;

/// Bit planes: plane `i` holds bit `i` (least significant first) of every element.
pub(super) type Planes = Vec<Vec<u8>>;

/// Rows per chunk of the binary decomposition of `width`-bit values over `terms` PRSS terms:
/// per row, about three copies of the operands' bits, the edaBit's terms and four field
/// elements.
fn decompose_chunk(terms: usize, width: usize) -> usize {
    let per_row = 3 * (terms + 1) * width + 4 * 32;
    (DECOMPOSE_MEMORY / per_row).max(1)
}

/// `x ⊕ y` element-wise.
fn xor(x: &[u8], y: &[u8]) -> Vec<u8> {
    x.iter().zip(y).map(|(a, b)| a ^ b).collect()
}

/// The number of bits of `v`: the least `L` with `v < 2^L`.
pub(super) fn bit_length(v: usize) -> u32 {
    usize::BITS - v.leading_zeros()
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Whether [`Engine::select_ranks`] runs in this session: PRSS randomness (for the edaBits
    /// and daBits). Under the malicious level every AND is recorded and checked in GF(2^64)
    /// (`verify/binary_check.rs`), `c` is opened after the check (`Engine::open_masked`) and
    /// binary openings run the check first (`open_bytes`): the edaBits comparison's argument
    /// (`edabits.rs`) covers the decomposition, and the rest is ANDs, checked openings and
    /// daBits (field products, checked).
    pub fn binary_selection_available(&self) -> bool {
        self.prss_on()
    }

    /// For each rank `k` of `ranks` (`0 <= k < 2^ranks.bits()`), the value of rank `k`
    /// (0-based, ascending, ties repeated) among the elements of `x` whose `members` flag is 1,
    /// or `2^w - 1` when fewer than `k + 1` elements are flagged (`w = x.bits()`). `members`
    /// must be boolean. See the module doc.
    pub async fn select_ranks(
        &mut self,
        x: &Shared<F>,
        members: &Shared<F>,
        ranks: &Shared<F>,
    ) -> Result<Shared<F>> {
        const OP: &str = "select_ranks";
        super::same_len(OP, x.len(), members.len())?;
        if !members.boolean {
            return Err(MpcError::InvalidArgument {
                op: OP,
                reason: "the members flags must be boolean".into(),
            });
        }
        if !self.binary_selection_available() {
            return Err(MpcError::InvalidArgument {
                op: OP,
                reason: "binary-domain selection needs PRSS randomness".into(),
            });
        }
        let w = x.bits;
        check_bits(OP, w + 2)?;
        let (n, sels) = (x.len(), ranks.len());
        if sels == 0 {
            return Shared::from_shares(Vec::new(), w);
        }
        // v = x + 2^w + 2^(w+1) m: bits 0..=w order the values, bit w + 1 is the flag.
        let (low, flag) = (F::pow2(w), F::pow2(w + 1));
        let v: Vec<F> = x
            .shares
            .iter()
            .zip(&members.shares)
            .map(|(&a, &m)| a + low + flag * m)
            .collect();
        let mut planes = self.decompose_binary(&v, w + 2).await?;
        drop(v);
        let flags = planes.pop().expect("w + 2 planes");
        let l = bit_length(n).max(ranks.bits).max(1);
        let rank_planes = self.decompose_binary(&ranks.shares, l).await?;
        let found = self.select_bits(planes, &flags, rank_planes, sels).await?;
        // found[k] is bit w - k of every selection.
        let flat: Vec<u8> = found.concat();
        let bits = self.bits_to_field(&flat).await?;
        let mut out = vec![-low; sels];
        for (k, plane) in bits.chunks_exact(sels).enumerate() {
            let weight = F::pow2(w - k as u32);
            for (o, &b) in out.iter_mut().zip(plane) {
                *o += weight * b;
            }
        }
        Shared::from_shares(out, w)
    }

    /// The radix search (module doc, step 2) over the value planes `0..=w` (consumed), the
    /// rows' flags and the ranks' planes (`sels` lanes each): the selected bits, top first, one
    /// plane of `sels` lanes per bit.
    async fn select_bits(
        &mut self,
        mut planes: Planes,
        flags: &[u8],
        mut rank: Planes,
        sels: usize,
    ) -> Result<Planes> {
        let n = flags.len();
        let l = rank.len();
        let mut cand: Vec<u8> = flags.repeat(sels);
        let mut found = Vec::with_capacity(planes.len());
        while let Some(plane) = planes.pop() {
            let zeros: Vec<u8> = plane
                .iter()
                .map(|b| b ^ 1)
                .collect::<Vec<u8>>()
                .repeat(sels);
            drop(plane);
            let a = self.and_bytes(&cand, &zeros).await?;
            drop(zeros);
            let count = self.popcount(&a, sels, l as u32).await?;
            // r - z = r + ¬z + 1; its carry out is [z <= r].
            let not_count: Planes = count
                .iter()
                .map(|p| p.iter().map(|b| b ^ 1).collect())
                .collect();
            let (diff, d) = self.ripple_add(&rank, &not_count, vec![1; sels]).await?;
            if !planes.is_empty() {
                let mut xs: Vec<u8> = Vec::with_capacity(l * sels + sels * n);
                let mut ys: Vec<u8> = Vec::with_capacity(l * sels + sels * n);
                for (r, s) in rank.iter().zip(&diff) {
                    xs.extend(r.iter().zip(s).map(|(a, b)| a ^ b));
                    ys.extend_from_slice(&d);
                }
                xs.extend_from_slice(&cand);
                for &bit in &d {
                    ys.extend(std::iter::repeat_n(bit, n));
                }
                let p = self.and_bytes(&xs, &ys).await?;
                for (i, r) in rank.iter_mut().enumerate() {
                    for (rv, pv) in r.iter_mut().zip(&p[i * sels..(i + 1) * sels]) {
                        *rv ^= pv;
                    }
                }
                cand = xor(&a, &p[l * sels..]);
            }
            found.push(d);
        }
        Ok(found)
    }

    /// Per lane, the number of ones among `items` (lane-major: `lanes` runs of equal length)
    /// modulo `2^l`, as `l` planes of `lanes` elements: a Wallace tree of full adders (one AND
    /// each) until every weight holds at most two bits, then one ripple adder.
    pub(crate) async fn popcount(&mut self, items: &[u8], lanes: usize, l: u32) -> Result<Planes> {
        let l = l as usize;
        // columns[j]: the bits of weight 2^j, lane-major (`lanes` runs of `counts[j]` bits).
        let mut columns: Planes = vec![Vec::new(); l];
        let mut counts = vec![0usize; l];
        columns[0] = items.to_vec();
        counts[0] = items.len().checked_div(lanes).unwrap_or(0);
        while counts.iter().any(|&c| c > 2) {
            let (mut xs, mut ys, mut zs) = (Vec::new(), Vec::new(), Vec::new());
            let triples: Vec<usize> = counts.iter().map(|&c| c / 3).collect();
            for (col, (&c, &k)) in columns.iter().zip(counts.iter().zip(&triples)) {
                if c == 0 {
                    continue;
                }
                for lane in col.chunks_exact(c) {
                    xs.extend_from_slice(&lane[..k]);
                    ys.extend_from_slice(&lane[k..2 * k]);
                    zs.extend_from_slice(&lane[2 * k..3 * k]);
                }
            }
            let (sums, carries) = self.full_adders(&xs, &ys, &zs).await?;
            let mut next: Planes = vec![Vec::new(); l];
            let mut next_counts = vec![0usize; l];
            let mut at = 0;
            let mut carried: Vec<(usize, usize)> = Vec::new(); // (offset, k) per column
            for (j, (&c, &k)) in counts.iter().zip(&triples).enumerate() {
                carried.push((at, k));
                let rest = c - 3 * k;
                let from_below = match j {
                    0 => 0,
                    _ => carried[j - 1].1,
                };
                next_counts[j] = k + rest + from_below;
                let mut col = Vec::with_capacity(next_counts[j] * lanes);
                for lane in 0..lanes {
                    col.extend_from_slice(&sums[at + lane * k..at + (lane + 1) * k]);
                    if rest > 0 {
                        col.extend_from_slice(&columns[j][lane * c + 3 * k..(lane + 1) * c]);
                    }
                    if j > 0 {
                        let (off, kb) = carried[j - 1];
                        col.extend_from_slice(&carries[off + lane * kb..off + (lane + 1) * kb]);
                    }
                }
                next[j] = col;
                at += k * lanes;
            }
            // Carries out of weight 2^(l-1) are dropped (the count is taken modulo 2^l).
            columns = next;
            counts = next_counts;
        }
        let pick = |which: usize| -> Planes {
            columns
                .iter()
                .zip(&counts)
                .map(|(col, &c)| match c > which {
                    true => (0..lanes).map(|lane| col[lane * c + which]).collect(),
                    false => vec![0u8; lanes],
                })
                .collect()
        };
        let (x, y) = (pick(0), pick(1));
        Ok(self.ripple_add(&x, &y, vec![0; lanes]).await?.0)
    }

    /// Full adders element-wise: `(x ⊕ y ⊕ z, maj(x, y, z))`, the majority as
    /// `((x ⊕ z)(y ⊕ z)) ⊕ z`: one AND each, in one round.
    async fn full_adders(&mut self, x: &[u8], y: &[u8], z: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let p = self.and_bytes(&xor(x, z), &xor(y, z)).await?;
        let sum = x
            .iter()
            .zip(y)
            .zip(z)
            .map(|((a, b), c)| a ^ b ^ c)
            .collect();
        let carry = xor(&p, z);
        Ok((sum, carry))
    }

    /// `x + y + carry` on planes (as many as `x` has; `y` as long), by a ripple-carry adder:
    /// one AND per plane, one round each. Returns the sum's planes and the carry out.
    pub(crate) async fn ripple_add(
        &mut self,
        x: &[Vec<u8>],
        y: &[Vec<u8>],
        mut carry: Vec<u8>,
    ) -> Result<(Planes, Vec<u8>)> {
        let mut sum = Vec::with_capacity(x.len());
        for (xi, yi) in x.iter().zip(y) {
            sum.push(
                xi.iter()
                    .zip(yi)
                    .zip(&carry)
                    .map(|((a, b), c)| a ^ b ^ c)
                    .collect(),
            );
            let p = self.and_bytes(&xor(xi, &carry), &xor(yi, &carry)).await?;
            carry = xor(&p, &carry);
        }
        Ok((sum, carry))
    }

    /// The `width` low bits of each value (which must lie in `[0, 2^width)`) as binary shares,
    /// one plane per bit (module doc, step 1), in chunks of rows within [`DECOMPOSE_MEMORY`].
    pub(crate) async fn decompose_binary(&mut self, values: &[F], width: u32) -> Result<Planes> {
        let w = width as usize;
        let terms = prss::subsets(self.params.n(), self.params.t());
        let chunk = decompose_chunk(terms, w);
        let mut planes: Planes = vec![Vec::with_capacity(values.len()); w];
        for part in values.chunks(chunk) {
            for (plane, bits) in planes
                .iter_mut()
                .zip(self.decompose_chunk_binary(part, width).await?)
            {
                plane.extend(bits);
            }
        }
        Ok(planes)
    }

    async fn decompose_chunk_binary(&mut self, values: &[F], width: u32) -> Result<Planes> {
        let (len, w) = (values.len(), width as usize);
        let prss = self.prss().await?;
        let terms = prss.terms();
        let (mask, operands) = prss.edabits(len, width, STAT_SECURITY);
        let masked: Vec<F> = values.iter().zip(&mask).map(|(&v, &r)| v + r).collect();
        let c = self.open_masked(&masked).await?;
        drop(masked);
        // v ≡ (c + C) + Σ_A ~y_A (mod 2^width): the public operand, then the complements.
        let mut ops: Vec<Planes> = Vec::with_capacity(terms + 1);
        let mut public: Planes = vec![vec![0u8; len]; w];
        for (e, ce) in c.iter().enumerate() {
            let (limbs, _) = add_small(ce.to_canonical_limbs(), terms as u64);
            for (i, plane) in public.iter_mut().enumerate() {
                plane[e] = ((limbs[i / 64] >> (i % 64)) & 1) as u8;
            }
        }
        ops.push(public);
        for y in operands {
            let planes: Planes = (0..w)
                .map(|i| (0..len).map(|e| y[e * w + i] ^ 1).collect())
                .collect();
            ops.push(planes);
        }
        self.sum_operands(ops, w).await
    }

    /// The sum modulo `2^w` of the operands (each `w` planes): carry-save layers down to two
    /// operands (the carries out of the top plane dropped), then a ripple-carry adder.
    async fn sum_operands(&mut self, mut ops: Vec<Planes>, w: usize) -> Result<Planes> {
        let len = ops.first().and_then(|o| o.first()).map_or(0, Vec::len);
        while ops.len() > 2 {
            let triples = ops.len() / 3;
            let rest = ops.split_off(3 * triples);
            let below = w - 1;
            let (mut xs, mut ys, mut zs) = (Vec::new(), Vec::new(), Vec::new());
            for tr in ops.chunks_exact(3) {
                xs.extend(tr[0][..below].concat());
                ys.extend(tr[1][..below].concat());
                zs.extend(tr[2][..below].concat());
            }
            let (_, carries) = self.full_adders(&xs, &ys, &zs).await?;
            let mut next = Vec::with_capacity(2 * triples + rest.len());
            for (k, tr) in ops.chunks_exact(3).enumerate() {
                let sum: Planes = (0..w)
                    .map(|i| {
                        let xy = xor(&tr[0][i], &tr[1][i]);
                        xor(&xy, &tr[2][i])
                    })
                    .collect();
                let mut carry: Planes = vec![vec![0u8; len]];
                for i in 0..below {
                    let at = (k * below + i) * len;
                    carry.push(carries[at..at + len].to_vec());
                }
                next.push(sum);
                next.push(carry);
            }
            next.extend(rest);
            ops = next;
        }
        match ops.len() {
            2 => Ok(self.ripple_add(&ops[0], &ops[1], vec![0; len]).await?.0),
            1 => Ok(ops.pop().expect("one operand")),
            _ => Ok(vec![Vec::new(); w]),
        }
    }

    /// Binary shares of bits to arithmetic shares, by daBits `b` (module doc, step 3): open
    /// `u ⊕ b` in the binary domain; `u = b` when it is 0, `1 - b` when it is 1.
    pub(crate) async fn bits_to_field(&mut self, bits: &[u8]) -> Result<Vec<F>> {
        let prss = self.prss().await?;
        let (binary, terms) = prss.dabits(bits.len());
        let dabit = self.xor_tree(terms).await?;
        let opened = self.open_bytes(&xor(bits, &binary)).await?;
        Ok(opened
            .iter()
            .zip(&dabit)
            .map(|(&e, &b)| if e { F::one() - b } else { b })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::super::binary::{mul, point};
    use super::*;
    use crate::engine::{EngineConfig, Randomness};
    use crate::field::Fr;
    use crate::params::Params;
    use crate::testing::{agreed, run_parties};

    const SIZES: [(usize, usize); 5] = [(3, 1), (5, 1), (5, 2), (7, 2), (7, 3)];

    fn config() -> EngineConfig {
        EngineConfig {
            randomness: Randomness::Prss,
            ..EngineConfig::default()
        }
    }

    /// Party `me`'s binary shares of `bits` under a polynomial whose other coefficients come
    /// from `seed` (every party draws the same ones: a test dealer).
    fn deal(bits: &[u8], me: crate::party::PartyId, t: usize, seed: u64) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = point(me);
        bits.iter()
            .map(|&b| {
                let coeffs: Vec<u8> = (0..t).map(|_| rng.random()).collect();
                b ^ coeffs.iter().rev().fold(0u8, |acc, &c| mul(acc ^ c, x))
            })
            .collect()
    }

    fn planes_of(values: &[u64], width: usize) -> Vec<Vec<u8>> {
        (0..width)
            .map(|i| values.iter().map(|v| ((v >> i) & 1) as u8).collect())
            .collect()
    }

    fn value_of(planes: &[Vec<bool>], e: usize) -> u64 {
        planes
            .iter()
            .enumerate()
            .map(|(i, p)| (p[e] as u64) << i)
            .sum()
    }

    #[test]
    fn ripple_add_and_popcount_match_the_clear_sums() {
        for (case, &(n, t)) in SIZES.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(case as u64);
            let width = 6;
            let lanes = 3;
            // Edges: zero, the largest value, and random values.
            let mut xs: Vec<u64> = vec![0, 63, 63, 0];
            let mut ys: Vec<u64> = vec![0, 63, 1, 63];
            xs.extend((0..8).map(|_| rng.random_range(0..64)));
            ys.extend((0..8).map(|_| rng.random_range(0..64)));
            let carry: Vec<u8> = (0..xs.len()).map(|e| (e % 2) as u8).collect();
            let items = [0usize, 1, 2, 3, 40, 100][case % 6].max(7 * case);
            let bits: Vec<u8> = (0..lanes * items).map(|_| rng.random_range(0..2)).collect();
            let seed = 1000 + case as u64;
            let (px, py) = (planes_of(&xs, width), planes_of(&ys, width));
            let (bits2, carry2) = (bits.clone(), carry.clone());
            let got = agreed(run_parties(
                Params::new(n, t).unwrap(),
                config(),
                seed,
                move |mut e| {
                    let (px, py, bits, carry) =
                        (px.clone(), py.clone(), bits2.clone(), carry2.clone());
                    async move {
                        let me = e.me;
                        let share = |p: &Vec<Vec<u8>>, s: u64| -> Vec<Vec<u8>> {
                            p.iter()
                                .enumerate()
                                .map(|(i, v)| deal(v, me, t, s + i as u64))
                                .collect()
                        };
                        let (sx, sy) = (share(&px, 1), share(&py, 100));
                        let sc = deal(&carry, me, t, 200);
                        let (sum, out) = e.ripple_add(&sx, &sy, sc).await?;
                        let mut opened = Vec::new();
                        for p in &sum {
                            opened.push(e.open_bytes(p).await?);
                        }
                        let out = e.open_bytes(&out).await?;
                        let counts = e.popcount(&deal(&bits, me, t, 300), lanes, 8).await?;
                        let mut c = Vec::new();
                        for p in &counts {
                            c.push(e.open_bytes(p).await?);
                        }
                        Ok((opened, out, c))
                    }
                },
            ));
            let (sum, out, counts) = got;
            for e in 0..xs.len() {
                let want = xs[e] + ys[e] + carry[e] as u64;
                assert_eq!(value_of(&sum, e), want % 64, "n={n} t={t} e={e}");
                assert_eq!(out[e], want >= 64, "n={n} t={t} e={e}");
            }
            for lane in 0..lanes {
                let want: u64 = bits[lane * items..(lane + 1) * items]
                    .iter()
                    .map(|&b| b as u64)
                    .sum();
                assert_eq!(
                    value_of(&counts, lane),
                    want % 256,
                    "n={n} t={t} items={items}"
                );
            }
        }
    }

    #[test]
    fn binary_decomposition_and_rank_selection_match_the_clear_values() {
        for (case, &(n, t)) in SIZES.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(50 + case as u64);
            let w = 20u32;
            let rows = [0usize, 1, 2, 9, 33][case];
            // Edges of [-2^w, 2^w), zero, -1, ties.
            let edges = [-(1i64 << w), (1i64 << w) - 1, 0, -1, 5, 5];
            let xs: Vec<i64> = (0..rows)
                .map(|i| match i < edges.len() && case % 2 == 0 {
                    true => edges[i],
                    false => rng.random_range(-(1i64 << w)..(1i64 << w)),
                })
                .collect();
            let flags: Vec<bool> = (0..rows)
                .map(|i| case == 4 || rng.random_bool(0.7) || i == 0)
                .collect();
            let ranks: Vec<i64> = vec![0, 1, 2, rows as i64 / 2, rows as i64 + 1];
            let (x2, f2, r2) = (xs.clone(), flags.clone(), ranks.clone());
            let got = agreed(run_parties(
                Params::new(n, t).unwrap(),
                config(),
                7 + case as u64,
                move |mut e| {
                    let (xs, flags, ranks) = (x2.clone(), f2.clone(), r2.clone());
                    async move {
                        let own = |v: &[i64]| -> Vec<Fr> {
                            // Shares of a public value: the constant polynomial.
                            v.iter().map(|&x| Fr::from_i128(x as i128)).collect()
                        };
                        let x = Shared::from_shares(own(&xs), w)?;
                        let m: Vec<i64> = flags.iter().map(|&f| f as i64).collect();
                        let m = Shared::from_bit_shares(own(&m));
                        let r = Shared::from_shares(own(&ranks), 8)?;
                        // The decomposition alone, of x + 2^w.
                        let u: Vec<Fr> = x.shares.iter().map(|&v| v + Fr::pow2(w)).collect();
                        let planes = e.decompose_binary(&u, w + 1).await?;
                        let mut bits = Vec::new();
                        for p in &planes {
                            bits.push(e.open_bytes(p).await?);
                        }
                        let sel = e.select_ranks(&x, &m, &r).await?;
                        let sel = e.open(&sel).await?;
                        Ok((bits, sel))
                    }
                },
            ));
            let (bits, sel) = got;
            for (i, &x) in xs.iter().enumerate() {
                assert_eq!(value_of(&bits, i), (x + (1 << w)) as u64, "n={n} t={t}");
            }
            let mut members: Vec<i64> = xs
                .iter()
                .zip(&flags)
                .filter(|(_, f)| **f)
                .map(|(&x, _)| x)
                .collect();
            members.sort();
            for (k, &r) in ranks.iter().enumerate() {
                let want = members.get(r as usize).copied().unwrap_or((1 << w) - 1);
                let got = crate::field::encode::decode_int(sel[k]);
                assert_eq!(
                    got.ok(),
                    Some(want as i128),
                    "n={n} t={t} rank {r} of {members:?}"
                );
            }
        }
    }
}
