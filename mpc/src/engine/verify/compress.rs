//! The malicious check's three steps on one inner-product claim (see `verify.rs` for the
//! argument): [`combine`] turns every recorded product and random bit into one claim
//! `<X, Y> = z` with a public random `ρ`; [`Engine::halve`] halves the claim's length with one
//! reduction of two sums of products and one public coin (Goyal, Song, Zhu, CRYPTO 2020, §6.2,
//! compression factor 2); [`Engine::check_last_claim`] checks the short claim left with a
//! secret random `[r]` (Chida et al., CRYPTO 2018, Protocol 3.1). Nothing here opens anything
//! but public coins and the final `Z·s`.

use crate::engine::Engine;
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::field::dot::{Dot, LANES};
use crate::net::Network;

/// Claims at most this long are checked directly (one shadow product an element) instead of
/// being halved again: each halving costs two rounds, a shadow product only its share of one
/// batch, so below about a thousand elements halving saves nothing worth its rounds.
pub const CHECK_BASE: usize = 1024;

/// How many halvings take a claim of `len` elements down to at most `base`.
pub(super) fn halvings(len: usize, base: usize) -> usize {
    let (mut len, mut count) = (len, 0);
    while len > base.max(1) {
        len = len.div_ceil(2);
        count += 1;
    }
    count
}

/// The powers `ρ, ρ², ρ³, ...` in order, computed as [`LANES`] independent chains (each
/// multiplied by `ρ^LANES`) so the multiplications overlap instead of waiting on each other.
struct Powers<F> {
    lanes: [F; LANES],
    step: F,
    at: usize,
}

impl<F: Field> Powers<F> {
    fn new(rho: F) -> Self {
        let mut lanes = [rho; LANES];
        for i in 1..LANES {
            lanes[i] = lanes[i - 1] * rho;
        }
        Powers {
            lanes,
            step: lanes[LANES - 1],
            at: 0,
        }
    }

    #[inline]
    fn next(&mut self) -> F {
        if self.at == LANES {
            for v in &mut self.lanes {
                *v *= self.step;
            }
            self.at = 0;
        }
        self.at += 1;
        self.lanes[self.at - 1]
    }
}

/// The inner-product claim `<X, Y> = z` of every recorded sum of products (`x`, `y` flattened,
/// `u` their results, `widths` their runs of `(count, width)`) and every random bit (`b·b = b`),
/// weighted by `α = ρ, ρ², ...`. Reuses `x` and `y` for `X` and `Y`. All local: one
/// multiplication per factor, about two per result (its weight, and its share of `z` with
/// lazy reduction), one per bit.
pub(super) fn combine<F: Field>(
    mut x: Vec<F>,
    mut y: Vec<F>,
    u: &[F],
    widths: &[(usize, usize)],
    bits: Vec<F>,
    rho: F,
) -> (Vec<F>, Vec<F>, F) {
    let mut alpha = Powers::new(rho);
    let mut weighted = Dot::default();
    let (mut at, mut k) = (0usize, 0usize);
    for &(count, width) in widths {
        for _ in 0..count {
            let a = alpha.next();
            for v in &mut x[at..at + width] {
                *v *= a;
            }
            weighted.add(a, u[k]);
            at += width;
            k += 1;
        }
    }
    let mut z = weighted.sum();
    x.reserve(bits.len());
    y.reserve(bits.len());
    for b in bits {
        let weighted = alpha.next() * b;
        x.push(weighted);
        y.push(b);
        z += weighted;
    }
    (x, y, z)
}

/// `H(c)` for the degree-2 polynomial through `(1, h1), (2, h2), (3, h3)` (Lagrange).
fn through_three<F: Field>(h: [F; 3], c: F) -> F {
    let one = F::one();
    let two = one + one;
    let half = two.inverse().expect("2 is invertible in an odd field");
    let (c1, c2, c3) = (c - one, c - two, c - two - one);
    h[0] * c2 * c3 * half - h[1] * c1 * c3 + h[2] * c1 * c2 * half
}

/// A halving's two local sums `h_1 = <X_1, Y_1>` and `h_3 = <f(3), g(3)>` (`f(3) = 2 X_2 −
/// X_1`), summed with lazy reduction as the pairs `(i, half + i)` come.
pub(super) struct Sums<F> {
    h1: Dot<F>,
    h3: Dot<F>,
}

impl<F: Field> Default for Sums<F> {
    fn default() -> Self {
        Sums {
            h1: Dot::default(),
            h3: Dot::default(),
        }
    }
}

impl<F: Field> Sums<F> {
    /// Adds the pair `(X_1[i], X_2[i])`, `(Y_1[i], Y_2[i])`.
    #[inline]
    fn add(&mut self, x: [F; 2], y: [F; 2]) {
        self.h1.add(x[0], y[0]);
        self.h3.add(x[1] + x[1] - x[0], y[1] + y[1] - y[0]);
    }

    /// `[h_1, h_3]`.
    fn values(self) -> [F; 2] {
        [self.h1.sum(), self.h3.sum()]
    }

    /// The sums of the halving of `x`, `y` (of even length), in one pass.
    pub(super) fn of(x: &[F], y: &[F]) -> Self {
        let half = x.len() / 2;
        let mut sums = Sums::default();
        for i in 0..half {
            sums.add([x[i], x[half + i]], [y[i], y[half + i]]);
        }
        sums
    }

    /// Folds `x`, `y` (of even length) in place at the coin `c` (`v_i + (c − 1)(v_(half+i) −
    /// v_i)`: `f(c)`, `g(c)`), and returns the next halving's sums over the folded vectors,
    /// made in the same pass (the folded entries `i` and `next + i` together; the entry past
    /// an odd end is the zero pad). Entry `j` is written once, after it and `half + j` are
    /// read, and no entry at or past `half` is written, so folding in place is safe.
    pub(super) fn fold(x: &mut Vec<F>, y: &mut Vec<F>, c: F) -> Self {
        debug_assert!(x.len() % 2 == 0 && x.len() == y.len());
        let half = x.len() / 2;
        let step = c - F::one();
        let mut entry = |j: usize| -> (F, F) {
            let (dx, dy) = (x[half + j] - x[j], y[half + j] - y[j]);
            x[j] += step * dx;
            y[j] += step * dy;
            (x[j], y[j])
        };
        let next = half.div_ceil(2);
        let mut sums = Sums::default();
        for i in 0..next {
            let (x1, y1) = entry(i);
            let (x2, y2) = match next + i < half {
                true => entry(next + i),
                false => (F::zero(), F::zero()),
            };
            sums.add([x1, x2], [y1, y2]);
        }
        x.truncate(half);
        y.truncate(half);
        sums
    }
}

/// Appends a zero pair to odd-length vectors (before a halving).
pub(super) fn pad<F: Field>(x: &mut Vec<F>, y: &mut Vec<F>) {
    if x.len() % 2 == 1 {
        x.push(F::zero());
        y.push(F::zero());
    }
}

impl<N: Network, F: Field> Engine<N, F> {
    /// One halving of the claim `<x, y> = z` (even length) whose sums `[<x1, y1>]` and
    /// `[<2 x2 − x1, 2 y2 − y1>]` are `sums`: one reduction, then the public `coin` opened,
    /// then the folded claim (half the length) and the next halving's sums over it.
    pub(super) async fn halve(
        &mut self,
        x: &mut Vec<F>,
        y: &mut Vec<F>,
        z: F,
        sums: Sums<F>,
        coin: F,
    ) -> Result<(F, Sums<F>)> {
        let [h1, h3] = sums.values();
        let h = self.reduce(2, || vec![h1, h3]).await?;
        let (h1, h3) = (h[0], h[1]);
        let c = self.open_raw(&[coin], self.params.t()).await?[0];
        let next = Sums::fold(x, y, c);
        Ok((through_three([h1, z - h1, h3], c), next))
    }

    /// Chida's check of the claim `<x, y> = z` with secret random `r`, `s`: `[w] = [r]·[x]`,
    /// `[Z] = <w, y> − r·z`, and `[Z·s]` opened with every share; zero or an abort.
    pub(super) async fn check_last_claim(
        &mut self,
        x: &[F],
        y: &[F],
        z: F,
        r: F,
        s: F,
    ) -> Result<()> {
        let w = self
            .reduce(x.len(), || x.iter().map(|&v| r * v).collect())
            .await?;
        let local: F = w.iter().zip(y).map(|(&a, &b)| a * b).sum::<F>() - r * z;
        let big_z = self.reduce(1, || vec![local]).await?[0];
        let zs = self.reduce(1, || vec![big_z * s]).await?;
        let opened = self.open_raw(&zs, self.params.t()).await?;
        if opened[0].is_zero() {
            Ok(())
        } else {
            Err(MpcError::IntegrityCheckFailed {
                check: "multiplication",
                parties: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;

    fn f(v: u128) -> Fr {
        Fr::from_u128(v)
    }

    #[test]
    fn halvings_reach_the_base() {
        assert_eq!(halvings(0, 4), 0);
        assert_eq!(halvings(4, 4), 0);
        assert_eq!(halvings(5, 4), 1);
        assert_eq!(halvings(1 << 20, 1024), 10);
        assert_eq!(halvings((1 << 20) + 1, 1024), 11);
        assert_eq!(halvings(7, 1), 3);
        assert_eq!(halvings(7, 0), 3);
    }

    #[test]
    fn combine_weights_products_and_bits() {
        // Products 2·3 = 6 (width 1) and 1·4 + 5·6 = 34 (width 2), bit 1; rho = 7.
        let rho = f(7);
        let (x, y, z) = combine(
            vec![f(2), f(1), f(5)],
            vec![f(3), f(4), f(6)],
            &[f(6), f(34)],
            &[(1, 1), (1, 2)],
            vec![f(1)],
            rho,
        );
        let inner: Fr = x.iter().zip(&y).map(|(&a, &b)| a * b).sum();
        assert_eq!(inner, z);
        assert_eq!(x, vec![f(14), f(49), f(245), f(343)]);
        // A wrong result breaks the claim.
        let (x, y, z) = combine(vec![f(2)], vec![f(3)], &[f(7)], &[(1, 1)], vec![], rho);
        assert_ne!(x[0] * y[0], z);
    }

    /// A fold gives `f(c)`, `g(c)` and, in the same pass, the next halving's sums: equal to
    /// summing the folded, padded vectors afterwards (even and odd folded lengths; the claim
    /// `<f(c), g(c)> = H(c)` holds for a true claim).
    #[test]
    fn a_fold_makes_the_next_halvings_sums() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(3);
        for len in [2usize, 4, 6, 10, 22] {
            let mut x: Vec<Fr> = (0..len).map(|_| Fr::random(&mut rng)).collect();
            let mut y: Vec<Fr> = (0..len).map(|_| Fr::random(&mut rng)).collect();
            x[0] = -Fr::one();
            let z: Fr = x.iter().zip(&y).map(|(&a, &b)| a * b).sum();
            let [h1, h3] = Sums::of(&x, &y).values();
            let c = Fr::random(&mut rng);
            let half = len / 2;
            let folded = |v: &[Fr]| -> Vec<Fr> {
                (0..half)
                    .map(|i| v[i] + (c - f(1)) * (v[half + i] - v[i]))
                    .collect()
            };
            let (mut fx, mut fy) = (folded(&x), folded(&y));
            let next = Sums::fold(&mut x, &mut y, c).values();
            assert_eq!((&x, &y), (&fx, &fy), "length {len}");
            let inner: Fr = fx.iter().zip(&fy).map(|(&a, &b)| a * b).sum();
            assert_eq!(inner, through_three([h1, z - h1, h3], c), "length {len}");
            pad(&mut fx, &mut fy);
            assert_eq!(next, Sums::of(&fx, &fy).values(), "length {len}");
        }
    }

    #[test]
    fn the_parabola_through_three_points() {
        // H(c) = c² + 1: 2, 5, 10 at 1, 2, 3.
        let h = [f(2), f(5), f(10)];
        for c in [0u128, 1, 2, 3, 4, 1000] {
            assert_eq!(through_three(h, f(c)), f(c * c + 1));
        }
    }
}
