//! GF(2^64), the extension of the binary domain's GF(2^8) in which the check of binary ANDs
//! runs (`binary_check.rs`): elements are `u64` polynomials over GF(2) modulo
//! `x^64 + x^4 + x^3 + x + 1`, addition is XOR, multiplication a carry-less product and a
//! reduction.
//!
//! **The embedding.** GF(2^8) (AES's `x^8 + x^4 + x^3 + x + 1`) is the subfield of GF(2^64)
//! fixed by `z -> z^(2^8)`, since `8 | 64`. [`embed`] maps AES's generator `x` to a root `θ` of
//! the AES polynomial inside GF(2^64) and a byte `Σ a_i x^i` to `Σ a_i θ^i`: a ring
//! homomorphism (it is the evaluation map `GF(2)[x]/(p) -> GF(2^64)`, well defined because
//! `p(θ) = 0`), injective as every ring homomorphism out of a field. `θ` is found once: for a
//! few candidates `g`, `h = g^((2^64 - 1)/255)` lies in the subfield's multiplicative group;
//! the first of its powers that is a root of `p` is `θ`. Shamir shares over GF(2^8) therefore
//! stay shares over GF(2^64) of the embedded secret, at the embedded evaluation points.
//!
//! Multiplication is a carry-less product (`clmul.rs`) and a reduction: [`mul`] takes the
//! portable product (for the few scalar products outside hot loops); the checks' loops run
//! as `clmul::Kernel`s, with the CPU's `PCLMULQDQ` where there is one.

use std::sync::OnceLock;

use super::clmul::portable as clmul;

/// `x^64 ≡ x^4 + x^3 + x + 1`.
const REDUCE: u64 = 0x1b;

/// Reduces a 128-bit carry-less product (or a XOR of them) modulo `x^64 + x^4 + x^3 + x + 1`.
#[inline(always)]
pub(crate) fn reduce(product: u128) -> u64 {
    let (lo, hi) = (product as u64, (product >> 64) as u64);
    // hi · (x^4 + x^3 + x + 1): at most 68 bits.
    let t = (hi as u128) ^ ((hi as u128) << 1) ^ ((hi as u128) << 3) ^ ((hi as u128) << 4);
    let (t_lo, t_hi) = (t as u64, (t >> 64) as u64);
    lo ^ t_lo ^ t_hi ^ (t_hi << 1) ^ (t_hi << 3) ^ (t_hi << 4)
}

/// `a · b` in GF(2^64).
#[inline]
pub(crate) fn mul(a: u64, b: u64) -> u64 {
    reduce(clmul(a, b))
}

/// Multiplication by one constant `c`, by table: `c · v` is the XOR of `c · (byte_j x^(8j))`
/// over the 8 bytes of `v` (8 lookups in 16 KiB instead of a carry-less product); building
/// the table costs 2048 XORs, so it pays from a few hundred products on.
pub(crate) struct Scalar {
    table: Box<[[u64; 256]; 8]>,
}

impl Scalar {
    pub(crate) fn new(c: u64) -> Scalar {
        let mut table = Box::new([[0u64; 256]; 8]);
        let mut basis = c;
        for row in table.iter_mut() {
            for bit in 0..8 {
                let step = 1usize << bit;
                for b in 0..step {
                    row[step + b] = row[b] ^ basis;
                }
                basis = mul_x(basis);
            }
        }
        Scalar { table }
    }

    /// `c · v`.
    #[inline]
    pub(crate) fn mul(&self, v: u64) -> u64 {
        let bytes = v.to_le_bytes();
        (0..8).fold(0, |acc, j| acc ^ self.table[j][bytes[j] as usize])
    }
}

/// `a · x` in GF(2^64): a shift and a conditional reduction.
#[inline]
pub(crate) fn mul_x(a: u64) -> u64 {
    (a << 1) ^ ((a >> 63) * REDUCE)
}

/// The schoolbook carry-less product (tests compare the two).
#[cfg(test)]
fn mul_schoolbook(a: u64, b: u64) -> u64 {
    let mut acc = 0u128;
    for i in 0..64 {
        if (b >> i) & 1 == 1 {
            acc ^= (a as u128) << i;
        }
    }
    reduce(acc)
}

/// `a^e` in GF(2^64).
fn pow(mut a: u64, mut e: u128) -> u64 {
    let mut acc = 1u64;
    while e > 0 {
        if e & 1 == 1 {
            acc = mul(acc, a);
        }
        a = mul(a, a);
        e >>= 1;
    }
    acc
}

/// `a^-1` for `a != 0` (`a^(2^64 - 2)`).
pub(crate) fn inv(a: u64) -> u64 {
    debug_assert_ne!(a, 0, "0 has no inverse");
    pow(a, u64::MAX as u128 - 1)
}

/// The element `x` of GF(2^64): the third evaluation point (after 0 and 1) of a halving.
pub(crate) const X: u64 = 2;

/// The 256 images of GF(2^8) in GF(2^64) (see the module doc).
pub(crate) fn embed_table() -> &'static [u64; 256] {
    static TABLE: OnceLock<[u64; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let theta = aes_root();
        let mut powers = [1u64; 8];
        for i in 1..8 {
            powers[i] = mul(powers[i - 1], theta);
        }
        let mut table = [0u64; 256];
        for (a, slot) in table.iter_mut().enumerate() {
            *slot = (0..8)
                .filter(|i| (a >> i) & 1 == 1)
                .fold(0, |acc, i| acc ^ powers[i]);
        }
        table
    })
}

/// The image of a GF(2^8) element.
#[inline]
pub(crate) fn embed(a: u8) -> u64 {
    embed_table()[a as usize]
}

/// AES's polynomial `y^8 + y^4 + y^3 + y + 1` at `y` in GF(2^64).
fn aes_poly(y: u64) -> u64 {
    let y2 = mul(y, y);
    let y3 = mul(y2, y);
    let y4 = mul(y2, y2);
    let y8 = mul(y4, y4);
    y8 ^ y4 ^ y3 ^ y ^ 1
}

/// A root of AES's polynomial in GF(2^64).
fn aes_root() -> u64 {
    let cofactor = (u64::MAX / 255) as u128;
    for g in 2u64.. {
        let h = pow(g, cofactor);
        let mut y = h;
        for _ in 0..255 {
            if aes_poly(y) == 0 {
                return y;
            }
            y = mul(y, h);
        }
    }
    unreachable!("GF(2^8) is a subfield of GF(2^64)")
}

/// The Lagrange coefficients at `x` of the (distinct) points `xs`.
pub(crate) fn lagrange(xs: &[u64], x: u64) -> Vec<u64> {
    xs.iter()
        .enumerate()
        .map(|(i, &xi)| {
            let (mut num, mut den) = (1u64, 1u64);
            for (j, &xj) in xs.iter().enumerate() {
                if j != i {
                    num = mul(num, x ^ xj);
                    den = mul(den, xi ^ xj);
                }
            }
            mul(num, inv(den))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::binary;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha12Rng;

    #[test]
    fn gf64_is_a_field() {
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        for _ in 0..200 {
            let (a, b, c) = (rng.next_u64(), rng.next_u64(), rng.next_u64());
            assert_eq!(
                mul(a, b),
                mul_schoolbook(a, b),
                "holes and schoolbook agree"
            );
            assert_eq!(mul_x(a), mul(a, X));
            assert_eq!(Scalar::new(a).mul(b), mul(a, b));
            assert_eq!(reduce(clmul(a, b) ^ clmul(b, c)), mul(a, b) ^ mul(b, c));
            assert_eq!(mul(a, b), mul(b, a));
            assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
            assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
            if a != 0 {
                assert_eq!(mul(a, inv(a)), 1);
            }
        }
        // x^63 · x = x^64 = x^4 + x^3 + x + 1.
        assert_eq!(mul(1 << 63, X), REDUCE);
        assert_eq!(mul(u64::MAX, u64::MAX), mul_schoolbook(u64::MAX, u64::MAX));
        // The multiplicative group has order 2^64 - 1.
        assert_eq!(pow(X, u64::MAX as u128), 1);
    }

    #[test]
    fn the_embedding_is_an_injective_ring_homomorphism() {
        let table = embed_table();
        assert_eq!(table[0], 0);
        assert_eq!(table[1], 1);
        let mut seen = std::collections::HashSet::new();
        for a in 0..=255u8 {
            assert!(seen.insert(embed(a)), "{a} collides");
            for b in 0..=255u8 {
                assert_eq!(embed(a ^ b), embed(a) ^ embed(b));
                assert_eq!(embed(binary::mul(a, b)), mul(embed(a), embed(b)), "{a}·{b}");
            }
        }
    }

    #[test]
    fn lagrange_interpolates() {
        // f(y) = 7 + 5y + 9y^2 at three points, evaluated elsewhere.
        let f = |y: u64| 7 ^ mul(5, y) ^ mul(9, mul(y, y));
        let xs = [embed(1), embed(2), embed(3)];
        for x in [0u64, 1, X, embed(4), u64::MAX] {
            let got = lagrange(&xs, x)
                .iter()
                .zip(&xs)
                .fold(0, |acc, (&l, &xi)| acc ^ mul(l, f(xi)));
            assert_eq!(got, f(x));
        }
    }
}
