//! The local algebra of the binary check (`binary_check.rs`, where the argument is): the
//! recorded ANDs ([`PendingAnds`]), their claim ([`combine`], or [`first_halving`] from the
//! bytes when it will be halved), the parabola through a halving's three points, and the
//! folds ([`FirstFold`], [`Fold`]), which run as `clmul::Kernel`s (the CPU's carry-less
//! multiply where there is one) and compute the next halving's sums in the same pass.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::clmul::Kernel;
use super::gf64::{self, Scalar, mul, mul_x, reduce};
use crate::engine::binary;

/// ANDs not yet checked: both factors' and the result's shares.
#[derive(Default)]
pub(crate) struct PendingAnds {
    x: Vec<u8>,
    y: Vec<u8>,
    z: Vec<u8>,
}

impl PendingAnds {
    pub(crate) fn len(&self) -> usize {
        self.z.len()
    }

    /// Appends ANDs `z = x · y`.
    pub(super) fn extend(&mut self, x: &[u8], y: &[u8], z: &[u8]) {
        self.x.extend_from_slice(x);
        self.y.extend_from_slice(y);
        self.z.extend_from_slice(z);
    }
}

/// The claim `<X, Y> = z` of every AND, with coefficients from `seed` (see the module doc).
/// `z = Σ_b φ(b) (Σ_{k: z_k = b} α_k)`: one XOR an AND and 256 products.
pub(super) fn combine(p: &PendingAnds, seed: [u8; 32]) -> (Vec<u64>, Vec<u64>, u64) {
    let mut coins = ChaCha12Rng::from_seed(seed);
    let table = gf64::embed_table();
    let mut xs = Vec::with_capacity(p.len());
    let mut buckets = [0u64; 256];
    for (&x, &zk) in p.x.iter().zip(&p.z) {
        let alpha = coins.next_u64();
        xs.push(mul(alpha, table[x as usize]));
        buckets[zk as usize] ^= alpha;
    }
    let z = buckets
        .iter()
        .zip(table)
        .fold(0, |acc, (&a, &e)| acc ^ mul(a, e));
    let ys = p.y.iter().map(|&y| table[y as usize]).collect();
    (xs, ys, z)
}

/// `H(c)` for the degree-2 polynomial through `(0, h0)`, `(1, h1)`, `(p, hp)` (`p ∉ {0, 1}`).
pub(super) fn through_three(h0: u64, h1: u64, hp: u64, p: u64, c: u64) -> u64 {
    let l0 = mul(mul(c ^ 1, c ^ p), gf64::inv(p));
    let l1 = mul(mul(c, c ^ p), gf64::inv(1 ^ p));
    let lp = mul(mul(c, c ^ 1), gf64::inv(mul(p, p ^ 1)));
    mul(l0, h0) ^ mul(l1, h1) ^ mul(lp, hp)
}

/// The first halving's third point: `φ(2)`, in the embedded GF(2^8), so that `g(a)` stays
/// in it.
pub(super) const A: u8 = 2;

/// `Σ_b φ(b) · buckets[b]`: 256 products.
fn weigh(buckets: &[u64; 256]) -> u64 {
    let table = gf64::embed_table();
    buckets
        .iter()
        .zip(table)
        .fold(0, |acc, (&w, &e)| acc ^ mul(w, e))
}

/// The claim and its first halving's local values, all from bytes (see `first_halving`).
pub(super) struct FirstHalving {
    /// `ρ_i`, one a pair `(i, half + i)`.
    rho: Vec<u64>,
    beta: u64,
    /// The first halving's `h_0`, `h_a` and the claim's `z`.
    pub(super) h0: u64,
    pub(super) ha: u64,
    pub(super) z: u64,
}

/// The claim of every AND with coefficients `α_i = ρ_i` for the first half and
/// `α_(half+i) = β ρ_i` for the second (a tensor of uniform values: a false claim is a non-zero
/// polynomial of degree 2 in `(ρ, β)`, true with probability `2/2^64`), and its first
/// halving's `h_0 = <X_1, Y_1>` and `h_a = <f(a), g(a)>` at `a = φ(2)`. As `Y` and `g(a)` lie in
/// the embedded GF(2^8), every term is `ρ_i` times an embedded byte (a GF(2^8) product of
/// shares), so the sums are taken in 256 buckets per `φ(b)` and cost no GF(2^64) product an
/// AND: `X_1 Y_1 = ρ_i φ(x_1 y_1)`, `f(a) g(a) = ρ_i φ((1 + A) x_1 v) + β ρ_i φ(A x_2 v)` with
/// `v = y_1 + A (y_1 + y_2)`. An odd count is padded with one zero AND.
pub(super) fn first_halving(p: &PendingAnds, seed: [u8; 32]) -> FirstHalving {
    let mut coins = ChaCha12Rng::from_seed(seed);
    let beta = coins.next_u64();
    let len = p.len();
    let half = len.div_ceil(2);
    let rho: Vec<u64> = (0..half).map(|_| coins.next_u64()).collect();
    let at = |v: &[u8], k: usize| v.get(k).copied().unwrap_or(0);
    let bmul = binary::mul;
    let mut b0 = [0u64; 256];
    let (mut ba1, mut ba2) = ([0u64; 256], [0u64; 256]);
    let (mut bz1, mut bz2) = ([0u64; 256], [0u64; 256]);
    for (i, &r) in rho.iter().enumerate() {
        let (x1, y1, z1) = (p.x[i], p.y[i], p.z[i]);
        let k = half + i;
        let (x2, y2, z2) = (at(&p.x, k), at(&p.y, k), at(&p.z, k));
        b0[bmul(x1, y1) as usize] ^= r;
        let v = y1 ^ bmul(A, y1 ^ y2);
        ba1[bmul(bmul(1 ^ A, x1), v) as usize] ^= r;
        ba2[bmul(bmul(A, x2), v) as usize] ^= r;
        bz1[z1 as usize] ^= r;
        bz2[z2 as usize] ^= r;
    }
    FirstHalving {
        h0: weigh(&b0),
        ha: weigh(&ba1) ^ mul(beta, weigh(&ba2)),
        z: weigh(&bz1) ^ mul(beta, weigh(&bz2)),
        rho,
        beta,
    }
}

/// The next halving's two sums over folded vectors, unreduced: `<X_1, Y_1>` and
/// `<f(x), g(x)>` (see `binary_check.rs`'s step 2).
pub(super) type Sums = (u128, u128);

/// A fold that makes the folded vectors' entries one at a time.
trait Entries {
    /// Writes the folded entry `j` of both vectors and returns it.
    fn entry<C: Fn(u64, u64) -> u128>(&mut self, clmul: &C, j: usize) -> (u64, u64);
}

/// Makes the `len` folded entries, `i` with `next + i` (`next = ⌈len/2⌉`), and sums the next
/// halving's terms over them as they come (the entry past an odd end is the zero pad): the
/// next halving's [`Sums`] without another pass over the vectors.
#[inline(always)]
fn fold_with_sums<E: Entries, C: Fn(u64, u64) -> u128>(e: &mut E, clmul: &C, len: usize) -> Sums {
    let next = len.div_ceil(2);
    let (mut h0, mut hx) = (0u128, 0u128);
    for i in 0..next {
        let (x1, y1) = e.entry(clmul, i);
        let (x2, y2) = match next + i < len {
            true => e.entry(clmul, next + i),
            false => (0, 0),
        };
        h0 ^= clmul(x1, y1);
        hx ^= clmul(x1 ^ mul_x(x1 ^ x2), y1 ^ mul_x(y1 ^ y2));
    }
    (h0, hx)
}

/// The first halving's fold at the coin `c`, from the bytes: `X'_i = ρ_i ((1 + c) φ(x_1) +
/// c β φ(x_2))` (one product a pair, the rest by 256-entry tables), `Y'_i = φ(y_1) + c φ(y_1 +
/// y_2)`; and, in the same pass, the next halving's [`Sums`] over them.
pub(super) struct FirstFold<'a> {
    pub(super) first: &'a FirstHalving,
    pub(super) pending: &'a PendingAnds,
    pub(super) c: u64,
}

/// [`FirstFold`]'s state: its tables and the vectors it fills.
struct FirstEntries<'a> {
    first: &'a FirstHalving,
    pending: &'a PendingAnds,
    table: &'static [u64; 256],
    /// `(1 + c) φ(b)`, `c β φ(b)`, `c φ(b)` for every byte `b`.
    t1: Vec<u64>,
    u: Vec<u64>,
    tc: Vec<u64>,
    xs: Vec<u64>,
    ys: Vec<u64>,
}

impl Entries for FirstEntries<'_> {
    #[inline(always)]
    fn entry<C: Fn(u64, u64) -> u128>(&mut self, clmul: &C, j: usize) -> (u64, u64) {
        let (p, half) = (self.pending, self.xs.len());
        let at = |v: &[u8], k: usize| v.get(k).copied().unwrap_or(0) as usize;
        let (x1, y1) = (p.x[j] as usize, p.y[j] as usize);
        let (x2, y2) = (at(&p.x, half + j), at(&p.y, half + j));
        self.xs[j] = reduce(clmul(self.first.rho[j], self.t1[x1] ^ self.u[x2]));
        self.ys[j] = self.table[y1] ^ self.tc[y1 ^ y2];
        (self.xs[j], self.ys[j])
    }
}

/// `len` zeros, written by `memset` into memory the allocator may reuse (`vec![0; len]` asks
/// for zeroed memory, which for large sizes maps fresh pages: a page fault each 4 KiB).
fn zeros(len: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(len);
    v.resize(len, 0);
    v
}

impl Kernel for FirstFold<'_> {
    type Output = (Vec<u64>, Vec<u64>, Sums);

    #[inline(always)]
    fn run<C: Fn(u64, u64) -> u128 + Copy>(self, clmul: C, _native: bool) -> Self::Output {
        let FirstFold { first, pending, c } = self;
        let table = gf64::embed_table();
        let by = |k: u64| -> Vec<u64> { table.iter().map(|&e| mul(k, e)).collect() };
        let half = first.rho.len();
        let mut e = FirstEntries {
            first,
            pending,
            table,
            t1: by(1 ^ c),
            u: by(mul(c, first.beta)),
            tc: by(c),
            xs: zeros(half),
            ys: zeros(half),
        };
        let sums = fold_with_sums(&mut e, &clmul, half);
        (e.xs, e.ys, sums)
    }
}

/// A later halving's fold at the coin `c`, in place (`v_i += c (v_i + v_(half+i))` for both
/// vectors, of even length), and, in the same pass, the next halving's [`Sums`] over the
/// folded vectors.
pub(super) struct Fold<'a> {
    pub(super) xs: &'a mut Vec<u64>,
    pub(super) ys: &'a mut Vec<u64>,
    pub(super) c: u64,
}

/// [`Fold`]'s state. Entry `j` is written once, after it and `half + j` are read; no entry
/// at or past `half` is written, so folding `j` and `next + j` together in place is safe.
struct FoldEntries<'a> {
    xs: &'a mut [u64],
    ys: &'a mut [u64],
    c: u64,
    /// Without the instruction, 8 lookups in a table beat a portable product.
    by_table: Option<Scalar>,
    half: usize,
}

impl Entries for FoldEntries<'_> {
    #[inline(always)]
    fn entry<C: Fn(u64, u64) -> u128>(&mut self, clmul: &C, j: usize) -> (u64, u64) {
        let half = self.half;
        let (dx, dy) = (
            self.xs[j] ^ self.xs[half + j],
            self.ys[j] ^ self.ys[half + j],
        );
        let (mx, my) = match &self.by_table {
            Some(t) => (t.mul(dx), t.mul(dy)),
            None => (reduce(clmul(self.c, dx)), reduce(clmul(self.c, dy))),
        };
        self.xs[j] ^= mx;
        self.ys[j] ^= my;
        (self.xs[j], self.ys[j])
    }
}

impl Kernel for Fold<'_> {
    type Output = Sums;

    #[inline(always)]
    fn run<C: Fn(u64, u64) -> u128 + Copy>(self, clmul: C, native: bool) -> Sums {
        let Fold { xs, ys, c } = self;
        debug_assert!(xs.len() % 2 == 0 && xs.len() == ys.len());
        let half = xs.len() / 2;
        let mut e = FoldEntries {
            xs,
            ys,
            c,
            by_table: (!native).then(|| Scalar::new(c)),
            half,
        };
        let sums = fold_with_sums(&mut e, &clmul, half);
        xs.truncate(half);
        ys.truncate(half);
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::verify::clmul;
    use gf64::{X, embed};

    #[test]
    fn the_parabola_through_zero_one_and_x() {
        // H(c) = 5 c^2 + 3 c + 9.
        let h = |c: u64| mul(5, mul(c, c)) ^ mul(3, c) ^ 9;
        for p in [X, embed(A)] {
            for c in [0u64, 1, X, 77, u64::MAX] {
                assert_eq!(through_three(h(0), h(1), h(p), p, c), h(c));
            }
        }
    }

    /// In the clear (one party holding the values), the first halving's folded claim holds
    /// for true products (an odd count, padded) and fails for one wrong product.
    #[test]
    fn the_first_halving_folds_a_true_claim_into_a_true_one() {
        let mut rng = ChaCha12Rng::seed_from_u64(5);
        let mut p = PendingAnds::default();
        for _ in 0..37 {
            let (a, b) = (rng.next_u64() as u8, rng.next_u64() as u8);
            p.x.push(a);
            p.y.push(b);
            p.z.push(binary::mul(a, b));
        }
        let holds = |p: &PendingAnds| {
            let first = first_halving(p, [9; 32]);
            let c = 0x0123_4567_89ab_cdef;
            let (xs, ys, sums) = clmul::run(FirstFold {
                first: &first,
                pending: p,
                c,
            });
            // The next halving's sums, computed in the same pass, over the padded vectors.
            let q = xs.len().div_ceil(2);
            let at = |v: &[u64], k: usize| v.get(k).copied().unwrap_or(0);
            let (mut h0, mut hx) = (0u64, 0u64);
            for i in 0..q {
                h0 ^= mul(xs[i], ys[i]);
                let f = xs[i] ^ mul(X, xs[i] ^ at(&xs, q + i));
                let g = ys[i] ^ mul(X, ys[i] ^ at(&ys, q + i));
                hx ^= mul(f, g);
            }
            assert_eq!((reduce(sums.0), reduce(sums.1)), (h0, hx));
            let inner = xs.iter().zip(&ys).fold(0, |acc, (&a, &b)| acc ^ mul(a, b));
            inner == through_three(first.h0, first.z ^ first.h0, first.ha, embed(A), c)
        };
        assert!(holds(&p));
        p.z[30] ^= 4;
        assert!(!holds(&p));
    }

    /// The sums of the halving after [`Fold`] (computed in its pass) equal the sums computed
    /// separately over the folded, padded vectors, for even and odd folded lengths; and the
    /// folded vectors are `v_i + c (v_i + v_(half+i))`.
    #[test]
    fn a_fold_computes_the_next_halvings_sums() {
        let mut rng = ChaCha12Rng::seed_from_u64(6);
        for len in [2usize, 4, 6, 10, 22, 64] {
            let mut xs: Vec<u64> = (0..len).map(|_| rng.next_u64()).collect();
            let mut ys: Vec<u64> = (0..len).map(|_| rng.next_u64()).collect();
            xs[0] = u64::MAX;
            ys[len - 1] = 1 << 63;
            let c = rng.next_u64();
            let half = len / 2;
            let fold = |v: &[u64]| -> Vec<u64> {
                (0..half)
                    .map(|i| v[i] ^ mul(c, v[i] ^ v[half + i]))
                    .collect()
            };
            let (mut fx, mut fy) = (fold(&xs), fold(&ys));
            // The portable path (a table for `c`), then the best one (`run`).
            let (mut px, mut py) = (xs.clone(), ys.clone());
            let portable = Fold {
                xs: &mut px,
                ys: &mut py,
                c,
            }
            .run(clmul::portable, false);
            let sums = clmul::run(Fold {
                xs: &mut xs,
                ys: &mut ys,
                c,
            });
            assert_eq!((&xs, &ys), (&fx, &fy), "length {len}");
            assert_eq!((&px, &py, portable), (&fx, &fy, sums), "length {len}");
            if half % 2 == 1 {
                fx.push(0);
                fy.push(0);
            }
            let q = fx.len() / 2;
            let (mut h0, mut hx) = (0u64, 0u64);
            for i in 0..q {
                h0 ^= mul(fx[i], fy[i]);
                let f = fx[i] ^ mul(X, fx[i] ^ fx[q + i]);
                let g = fy[i] ^ mul(X, fy[i] ^ fy[q + i]);
                hx ^= mul(f, g);
            }
            assert_eq!((reduce(sums.0), reduce(sums.1)), (h0, hx), "length {len}");
        }
    }

    #[test]
    fn combine_holds_for_true_products_and_fails_for_a_wrong_one() {
        let mut p = PendingAnds::default();
        for (a, b) in [(1u8, 1u8), (0, 1), (0x53, 0xca), (7, 200)] {
            p.x.push(a);
            p.y.push(b);
            p.z.push(binary::mul(a, b));
        }
        let inner = |(xs, ys, z): (Vec<u64>, Vec<u64>, u64)| {
            xs.iter().zip(&ys).fold(z, |acc, (&a, &b)| acc ^ mul(a, b))
        };
        assert_eq!(inner(combine(&p, [3; 32])), 0);
        p.z[2] ^= 1;
        assert_ne!(inner(combine(&p, [3; 32])), 0);
    }
}
