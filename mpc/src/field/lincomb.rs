//! Element-wise linear combinations `Σ_k c_k · v_k[e]` of a few vectors with fixed
//! coefficients, in one pass over memory.
//!
//! Every degree reduction and every reconstruction ends in one: the Lagrange coefficients at
//! zero of the points `1, ..., 2t + 1` are the small integers `(-1)^(j+1) C(2t+1, j)`
//! (`3, −3, 1` for three parties). A [`Combination`] is planned once for its coefficients:
//! terms whose coefficients share a small magnitude are added (or subtracted) first and scaled
//! once by additions (`3a − 3b + c` is four additions an element, against three Montgomery
//! multiplications or eleven additions term by term), and the vectors are read together
//! instead of one pass each. Larger coefficients are multiplied as they are.
//!
//! What this module does not do: choose the coefficients (that is `shamir::Interpolator`).

use super::Field;

/// Coefficients up to this magnitude are applied by doubling and adding (at most eight
/// additions, cheaper than one Montgomery multiplication).
const SMALL: u128 = 16;

/// Elements combined at a time: the partial sums stay in the first-level cache.
const BLOCK: usize = 64;

/// How a group's sum is scaled.
#[derive(Clone, Copy, Debug)]
enum Scale<F> {
    One,
    Small(u32),
    Big(F),
}

/// Terms with one coefficient magnitude: `± scale · (Σ plus − Σ minus)`, `plus` never empty.
#[derive(Clone, Debug)]
struct Group<F> {
    scale: Scale<F>,
    negate: bool,
    plus: Vec<usize>,
    minus: Vec<usize>,
}

/// A planned linear combination of `terms` vectors (see the module doc).
#[derive(Clone, Debug)]
pub struct Combination<F> {
    terms: usize,
    groups: Vec<Group<F>>,
}

impl<F: Field> Combination<F> {
    /// Plans `Σ_k coeffs[k] · v_k`.
    pub fn new(coeffs: &[F]) -> Self {
        let mut groups: Vec<Group<F>> = Vec::new();
        for (k, &c) in coeffs.iter().enumerate() {
            let (magnitude, negative) = match c.to_i128() {
                Some(0) => continue,
                Some(v) if v.unsigned_abs() <= SMALL => (Some(v.unsigned_abs() as u32), v < 0),
                _ => (None, false),
            };
            let scale = match magnitude {
                Some(1) => Scale::One,
                Some(m) => Scale::Small(m),
                None => Scale::Big(c),
            };
            let same = |g: &Group<F>| match (g.scale, magnitude) {
                (Scale::One, Some(1)) => true,
                (Scale::Small(a), Some(b)) => a == b,
                _ => false,
            };
            let group = match groups.iter_mut().find(|g| same(g)) {
                Some(g) => g,
                None => {
                    groups.push(Group {
                        scale,
                        negate: false,
                        plus: Vec::new(),
                        minus: Vec::new(),
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            if negative {
                group.minus.push(k);
            } else {
                group.plus.push(k);
            }
        }
        for g in &mut groups {
            if g.plus.is_empty() {
                std::mem::swap(&mut g.plus, &mut g.minus);
                g.negate = true;
            }
        }
        Combination {
            terms: coeffs.len(),
            groups,
        }
    }

    /// Writes the combination of one block into `out`, the `k`-th term's elements (as many
    /// as `out` holds) given by `term(k)`; when `out` already holds the first group's leading
    /// term (`holds_lead`), that term is not read again. Group by group, each inner loop one
    /// straight pass; only a group after the first that is not a single unscaled term needs
    /// a scratch block.
    fn block<'a>(&self, out: &mut [F], holds_lead: bool, term: impl Fn(usize) -> &'a [F]) {
        let Some((first, rest)) = self.groups.split_first() else {
            out.iter_mut().for_each(|o| *o = F::zero());
            return;
        };
        if !holds_lead {
            out.copy_from_slice(term(first.plus[0]));
        }
        first.sum_rest_into(out, &term);
        first.scale_in_place(out);
        if first.negate {
            out.iter_mut().for_each(|o| *o = -*o);
        }
        let mut scratch = [F::zero(); BLOCK];
        for g in rest {
            let sum: &[F] = if g.plus.len() == 1 && g.minus.is_empty() && g.scale.is_one() {
                term(g.plus[0])
            } else {
                let sum = &mut scratch[..out.len()];
                sum.copy_from_slice(term(g.plus[0]));
                g.sum_rest_into(sum, &term);
                g.scale_in_place(sum);
                sum
            };
            match g.negate {
                false => out.iter_mut().zip(sum).for_each(|(o, &v)| *o += v),
                true => out.iter_mut().zip(sum).for_each(|(o, &v)| *o -= v),
            }
        }
    }

    /// `Σ_k coeffs[k] · vectors[k][e]` for `e < len` (each vector at least `len` long).
    pub fn apply(&self, vectors: &[&[F]], len: usize) -> Vec<F> {
        assert_eq!(vectors.len(), self.terms, "one vector per coefficient");
        let mut out = vec![F::zero(); len];
        for (b, chunk) in out.chunks_mut(BLOCK).enumerate() {
            let range = b * BLOCK..b * BLOCK + chunk.len();
            self.block(chunk, false, |k| &vectors[k][range.clone()]);
        }
        out
    }

    /// As [`Combination::apply`] over owned vectors of one length, writing the result into the
    /// first vector's memory (no new allocation) and returning it.
    pub fn apply_owned(&self, mut vectors: Vec<Vec<F>>) -> Vec<F> {
        assert_eq!(vectors.len(), self.terms, "one vector per coefficient");
        let Some((first, rest)) = vectors.split_first_mut() else {
            return Vec::new();
        };
        let len = first.len();
        assert!(rest.iter().all(|v| v.len() >= len), "vectors of one length");
        // When the first vector leads the first group (the Lagrange coefficients of the first
        // dealer do), the block is combined in place; otherwise it is copied out first.
        let leads = self.groups.first().is_some_and(|g| g.plus[0] == 0);
        let mut own = [F::zero(); BLOCK];
        for (b, chunk) in first.chunks_mut(BLOCK).enumerate() {
            let range = b * BLOCK..b * BLOCK + chunk.len();
            let own = &mut own[..chunk.len()];
            if !leads {
                own.copy_from_slice(chunk);
            }
            let own: &[F] = own;
            self.block(chunk, leads, |k| match k {
                0 => own,
                _ => &rest[k - 1][range.clone()],
            });
        }
        std::mem::take(first)
    }
}

impl<F: Field> Group<F> {
    /// `sum += Σ plus[1..] − Σ minus`, element-wise.
    fn sum_rest_into<'a>(&self, sum: &mut [F], term: &impl Fn(usize) -> &'a [F]) {
        for &k in &self.plus[1..] {
            sum.iter_mut().zip(term(k)).for_each(|(s, &v)| *s += v);
        }
        for &k in &self.minus {
            sum.iter_mut().zip(term(k)).for_each(|(s, &v)| *s -= v);
        }
    }

    /// `sum *= scale`, element-wise.
    fn scale_in_place(&self, sum: &mut [F]) {
        match self.scale {
            Scale::One => {}
            Scale::Small(k) => sum.iter_mut().for_each(|v| *v = times_small(*v, k)),
            Scale::Big(c) => sum.iter_mut().for_each(|v| *v *= c),
        }
    }
}

impl<F> Scale<F> {
    fn is_one(&self) -> bool {
        matches!(self, Scale::One)
    }
}

/// `v · k` for `1 <= k`, by doubling and adding from the top bit (two additions for `k = 3`).
#[inline]
pub(crate) fn times_small<F: Field>(v: F, k: u32) -> F {
    debug_assert!(k >= 1);
    let mut acc = v;
    for i in (0..u32::BITS - 1 - k.leading_zeros()).rev() {
        acc += acc;
        if (k >> i) & 1 == 1 {
            acc += v;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    fn direct(coeffs: &[Fr], vectors: &[Vec<Fr>], len: usize) -> Vec<Fr> {
        (0..len)
            .map(|e| coeffs.iter().zip(vectors).map(|(&c, v)| c * v[e]).sum())
            .collect()
    }

    #[test]
    fn times_small_is_multiplication() {
        let v = Fr::from_i128(-123456789);
        for k in 1..=40u32 {
            assert_eq!(times_small(v, k), v * Fr::from_u128(k as u128), "k = {k}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Small, repeated, negative, zero and large coefficients, as planned and applied
        /// (both forms), equal the products summed term by term.
        #[test]
        fn a_combination_equals_the_sum_of_products(
            seed in any::<u64>(),
            small in proptest::collection::vec(-20i128..=20, 1..8),
            big in any::<bool>(),
            len in 0usize..40,
        ) {
            let mut rng = ChaCha12Rng::seed_from_u64(seed);
            let mut coeffs: Vec<Fr> = small.iter().map(|&c| Fr::from_i128(c)).collect();
            if big {
                coeffs.push(Fr::random(&mut rng));
            }
            let vectors: Vec<Vec<Fr>> = coeffs
                .iter()
                .map(|_| (0..len + 3).map(|_| Fr::random(&mut rng)).collect())
                .collect();
            let plan = Combination::new(&coeffs);
            let want = direct(&coeffs, &vectors, len);
            let refs: Vec<&[Fr]> = vectors.iter().map(|v| v.as_slice()).collect();
            prop_assert_eq!(&plan.apply(&refs, len), &want);
            let owned: Vec<Vec<Fr>> = vectors.iter().map(|v| v[..len].to_vec()).collect();
            prop_assert_eq!(plan.apply_owned(owned), want);
        }
    }

    #[test]
    fn lagrange_coefficients_of_three_points_make_two_groups() {
        let c = [Fr::from_i128(3), Fr::from_i128(-3), Fr::from_i128(1)];
        let plan = Combination::new(&c);
        assert_eq!(plan.groups.len(), 2);
        assert_eq!(
            (plan.groups[0].plus.clone(), plan.groups[0].minus.clone()),
            (vec![0], vec![1])
        );
    }
}
