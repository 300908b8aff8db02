//! The one-hot encoding `[g = j]` for `j = 0..groups` of a column `g` in the binary domain
//! (GF(2^8), one byte a share; [`super::binary`]): the `GROUP BY` of `protocols::stats`, which
//! would otherwise spend one field equality test per row and group.
//!
//! For `g` in `[-2^w, 2^w)` (`w = g.bits()`), `k = ceil(log2 groups)` and `top = max(w, k)`:
//! 1. **Decomposition** ([`Engine::decompose_binary`], the edaBit construction of
//!    [`super::bitslice`]): `v = g + 2^top` lies in `[0, 2^(top + 1))`, and its `top + 1` bits
//!    leave as binary shares. `g = j` for a `j` in `[0, 2^k)` exactly when bits `0..k` of `v`
//!    spell `j`, bits `k..top` are 0 and bit `top` is 1.
//! 2. **Demultiplexer**: the `2^k` minterms of the low `k` bits (`Π_i (b_i or ¬b_i)`) by a
//!    product tree over the bits, adjacent pairs combined level by level (`|A| · |B|` ANDs for
//!    sets of `|A|` and `|B|` minterms), and beside it, in the same rounds, the AND tree of
//!    the other literals (`¬b_k, ..., ¬b_(top-1), b_top`: "the high bits say `g` is in
//!    `[0, 2^k)`"), which joins the product tree as one more factor once it is a single bit.
//!    The last level computes only the `groups` minterms asked for. So a value outside
//!    `[0, groups)` (negative, or above the domain) falls in no group, as with `eq`.
//! 3. The `groups` bits leave the binary domain by daBits ([`Engine::bits_to_field`], Rotaru,
//!    Wood, INDOCRYPT 2019), as the selected bits of `select_ranks` do.
//!
//! Cost per row at `n = 3, t = 1` (each AND: one byte from each of the `2t + 1` dealers to each
//! other party; a field product under GRR: 32 bytes to each other party): one field opening and
//! about `3 (top + 1)` ANDs for the decomposition; at most
//! `2^k + 2^(ceil(k/2) + 1) + (top - k) + groups` ANDs for the demultiplexer (the product
//! tree, the high literals' tree and the root; 8 groups of a 3-bit column: 14, of a 31-bit
//! one: 48); and per group one daBit (the field XOR tree of the PRSS terms: two products at
//! `C(3, 1) = 3` terms) and one byte opened.
//! Rounds: those of the decomposition, then about `ceil(log2 (top + 1)) + 1` AND levels, then the
//! daBits' tree and one binary opening, whatever the rows.
//!
//! **Under the malicious level** this runs too, covered by the checks that cover
//! `select_ranks` (see [`Engine::binary_selection_available`]): the decomposition is the one
//! `select_ranks` uses (its edaBit masks `v`, and `c` is opened through `Engine::open_masked`,
//! which runs every pending check first); every AND of the demultiplexer goes through
//! `and_bytes`, which records it for the GF(2^64) check (`verify/binary_check.rs`); the daBits'
//! arithmetic halves are field products, recorded and checked like any other; and the binary
//! opening of `u ⊕ b` runs the checks first (`open_bytes`), so an AND error never shows in an
//! opened byte. The result is linear in the checked daBits. Test: `mpc/tests/malicious.rs`,
//! `binary_one_hot_under_malicious_equals_clear_and_catches_cheats`.
//!
//! Not here: which groups a query has (`protocols::stats::plan`) and the field-path
//! alternative (`Engine::eq` per group), which callers keep where PRSS is off.

use super::Engine;
use super::bitslice::{Planes, bit_length};
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;
use crate::share::{Shared, check_bits};

/// One level of the demultiplexer's product trees: for each adjacent pair of `sets` (lists of
/// bit planes, the lower bits first), the planes of every product `a_i · b_j` at index
/// `i + |A| j` (the first `last` of them only, when `last` is given: the tree's root), listed
/// in `xs`/`ys` order; an odd set out is carried over. Returns the operands and the sizes of
/// the next level's sets (`None`: carried over unchanged).
fn pair_up(sets: &[Planes], last: Option<usize>) -> (Vec<u8>, Vec<u8>, Vec<Option<usize>>) {
    let (mut xs, mut ys, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for pair in sets.chunks(2) {
        match pair {
            [a, b] => {
                let want = last.unwrap_or(a.len() * b.len());
                for j in 0..want {
                    xs.extend_from_slice(&a[j % a.len()]);
                    ys.extend_from_slice(&b[j / a.len()]);
                }
                sizes.push(Some(want));
            }
            _ => sizes.push(None),
        }
    }
    (xs, ys, sizes)
}

/// The next level's sets from the products `p` (planes of `len` elements, in the order of
/// [`pair_up`]) and its sizes, carried sets taken from `sets`.
fn regroup(mut sets: Vec<Planes>, p: &[u8], sizes: &[Option<usize>], len: usize) -> Vec<Planes> {
    let mut planes = p.chunks_exact(len.max(1)).map(<[u8]>::to_vec);
    let mut carried = (sets.len() % 2 == 1).then(|| sets.pop().expect("an odd set out"));
    sizes
        .iter()
        .map(|size| match size {
            Some(s) => planes.by_ref().take(*s).collect(),
            None => carried.take().expect("an odd set out"),
        })
        .collect()
}

impl<N: Network, F: Field> Engine<N, F> {
    /// `[g = j]` for `j = 0..groups`, group-major (`groups` runs of `g.len()` bits): 1 where
    /// `g` equals `j`, 0 elsewhere, so an element outside `[0, groups)` is 0 in every run.
    /// Needs PRSS randomness ([`Engine::binary_selection_available`]); see the module doc for
    /// the protocol and its cost.
    pub async fn one_hot(&mut self, g: &Shared<F>, groups: usize) -> Result<Shared<F>> {
        const OP: &str = "one_hot";
        if !self.binary_selection_available() {
            return Err(MpcError::InvalidArgument {
                op: OP,
                reason: "the binary-domain one-hot needs PRSS randomness".into(),
            });
        }
        let len = g.len();
        if groups == 0 || len == 0 {
            return Ok(Shared::from_bit_shares(Vec::new()));
        }
        let k = bit_length(groups - 1);
        let top = g.bits.max(k);
        check_bits(OP, top + 1)?;
        let offset = F::pow2(top);
        let v: Vec<F> = g.shares.iter().map(|&a| a + offset).collect();
        let planes = self.decompose_binary(&v, top + 1).await?;
        drop(v);
        let mut digits: Vec<Planes> = Vec::with_capacity(k as usize);
        let mut zeros: Planes = Vec::with_capacity(planes.len() - k as usize);
        for (i, plane) in planes.into_iter().enumerate() {
            let not: Vec<u8> = plane.iter().map(|b| b ^ 1).collect();
            match i as u32 {
                i if i < k => digits.push(vec![not, plane]),
                i if i < top => zeros.push(not),
                _ => zeros.push(plane),
            }
        }
        let minterms = self.demultiplex(digits, zeros, groups, len).await?;
        let bits = self.bits_to_field(&minterms.concat()).await?;
        Ok(Shared::from_bit_shares(bits))
    }

    /// Step 2 of the module doc: the first `groups` minterms of the `digits` (each the planes
    /// `[¬b_i, b_i]`, lowest bit first), each ANDed with every plane of `zeros` (at least one).
    async fn demultiplex(
        &mut self,
        mut digits: Vec<Planes>,
        mut zeros: Planes,
        groups: usize,
        len: usize,
    ) -> Result<Planes> {
        loop {
            if zeros.len() == 1 {
                // The AND of the high literals is one factor more (size 1: the indices stay).
                digits.push(vec![zeros.pop().expect("one plane")]);
            }
            if zeros.is_empty() && digits.len() == 1 {
                let mut out = digits.pop().expect("one set");
                out.truncate(groups);
                return Ok(out);
            }
            let root = (zeros.is_empty() && digits.len() == 2).then_some(groups);
            let (mut xs, mut ys, sizes) = pair_up(&digits, root);
            let from_digits = xs.len();
            for pair in zeros.chunks_exact(2) {
                xs.extend_from_slice(&pair[0]);
                ys.extend_from_slice(&pair[1]);
            }
            let p = self.and_bytes(&xs, &ys).await?;
            drop((xs, ys));
            digits = regroup(digits, &p[..from_digits], &sizes, len);
            let odd = (zeros.len() % 2 == 1).then(|| zeros.pop().expect("odd"));
            zeros = p[from_digits..]
                .chunks_exact(len)
                .map(<[u8]>::to_vec)
                .collect();
            zeros.extend(odd);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::engine::{EngineConfig, Randomness};
    use crate::field::{Field, Fr};
    use crate::params::Params;
    use crate::share::Shared;
    use crate::testing::{agreed, run_parties};

    const SIZES: [(usize, usize); 5] = [(3, 1), (5, 1), (5, 2), (7, 2), (7, 3)];

    /// The clear one-hot, group-major.
    fn clear(xs: &[i64], groups: usize) -> Vec<i128> {
        (0..groups)
            .flat_map(|j| xs.iter().map(move |&x| (x == j as i64) as i128))
            .collect()
    }

    #[test]
    fn one_hot_matches_the_clear_encoding() {
        // (declared bits, groups): powers of two and not, one group, more groups than the
        // declared bits reach, a wide column.
        let shapes = [
            (3u32, 8usize),
            (3, 5),
            (2, 1),
            (1, 6),
            (0, 1),
            (32, 3),
            (5, 17),
        ];
        for (case, &(n, t)) in SIZES.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(90 + case as u64);
            for (s, &(w, groups)) in shapes.iter().enumerate() {
                if (case + s) % 2 == 1 && !(case == 0 || s == 0) {
                    continue; // every shape at (3, 1), every size at the first shape
                }
                let (lo, hi) = (-(1i64 << w), (1i64 << w) - 1);
                // Edges: 0, groups - 1, groups (above the domain), the extremes of w bits, -1.
                let mut xs: Vec<i64> = [0, groups as i64 - 1, groups as i64, hi, lo, -1]
                    .into_iter()
                    .filter(|x| (lo..=hi).contains(x))
                    .collect();
                xs.extend((0..6).map(|_| rng.random_range(lo..=hi.min(groups as i64 + 1))));
                let want = clear(&xs, groups);
                let x2 = xs.clone();
                let got = agreed(run_parties(
                    Params::new(n, t).unwrap(),
                    EngineConfig {
                        randomness: Randomness::Prss,
                        ..EngineConfig::default()
                    },
                    300 + s as u64,
                    move |mut e| {
                        let xs = x2.clone();
                        async move {
                            // Shares of a public value: the constant polynomial.
                            let own: Vec<Fr> =
                                xs.iter().map(|&x| Fr::from_i128(x as i128)).collect();
                            let g = Shared::from_shares(own, w)?;
                            let hot = e.one_hot(&g, groups).await?;
                            assert!(hot.boolean);
                            let empty = e.one_hot(&g.slice(0..0), groups).await?;
                            assert_eq!(empty.len(), 0);
                            e.open_ints(&hot).await
                        }
                    },
                ));
                assert_eq!(got, want, "n={n} t={t} w={w} groups={groups} xs={xs:?}");
            }
        }
    }

    #[test]
    fn one_hot_needs_prss() {
        let got = agreed(run_parties(
            Params::new(3, 1).unwrap(),
            EngineConfig {
                randomness: Randomness::Dealt,
                ..EngineConfig::default()
            },
            1,
            |mut e| async move {
                let g = Shared::from_shares(vec![Fr::from_i128(1)], 3)?;
                Ok(e.one_hot(&g, 4).await.map_err(|e| e.to_string()))
            },
        ));
        assert!(got.unwrap_err().contains("PRSS"));
    }
}
