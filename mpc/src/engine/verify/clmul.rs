//! The carry-less product of two polynomials of degree below 64 over GF(2) (GF(2^64)'s
//! multiplication before its reduction, `gf64.rs`): by the CPU's `PCLMULQDQ` instruction
//! when it has one (x86_64, detected at run time), by integer multiplications with holes
//! ([`portable`]) otherwise. A hot loop is written once as a [`Kernel`], generic over the
//! product it is handed, and [`run`] compiles and runs it with the best product this CPU has.
//!
//! This is the one place of the crate with `unsafe` code: [`run`]'s call of a function
//! compiled for `PCLMULQDQ`, made only after `is_x86_feature_detected!` found it.

/// A loop over carry-less products, run by [`run`] with the best product available.
pub(crate) trait Kernel {
    /// What the loop computes.
    type Output;

    /// Runs the loop with `clmul` as the carry-less product; `native` says it is the CPU's
    /// instruction (a loop may then prefer it to a table). Implementations must be
    /// `#[inline(always)]`: inlined into the function compiled for `PCLMULQDQ`, the
    /// instruction is inlined into the loop instead of called once a product.
    fn run<C: Fn(u64, u64) -> u128 + Copy>(self, clmul: C, native: bool) -> Self::Output;
}

/// Runs `kernel` with `PCLMULQDQ` when this CPU has it, with [`portable`] otherwise.
#[allow(unsafe_code)]
pub(crate) fn run<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq") {
        // SAFETY: `with_pclmulqdq` is a safe function compiled with the `pclmulqdq` target
        // feature; the only condition for calling it is that the CPU running it has that
        // feature, which was checked on the line above.
        return unsafe { with_pclmulqdq(kernel) };
    }
    kernel.run(portable, false)
}

/// `kernel` compiled for `PCLMULQDQ` (the closure inherits the feature, so the intrinsic is
/// inlined into the kernel's loop once the kernel is inlined here).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
fn with_pclmulqdq<K: Kernel>(kernel: K) -> K::Output {
    kernel.run(|a, b| pclmulqdq(a, b), true)
}

/// The carry-less product by the instruction (the intrinsics are safe inside a function
/// with the feature).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
fn pclmulqdq(a: u64, b: u64) -> u128 {
    use std::arch::x86_64::{
        _mm_clmulepi64_si128, _mm_cvtsi64_si128, _mm_cvtsi128_si64, _mm_unpackhi_epi64,
    };
    let product = _mm_clmulepi64_si128(_mm_cvtsi64_si128(a as i64), _mm_cvtsi64_si128(b as i64), 0);
    let low = _mm_cvtsi128_si64(product) as u64;
    let high = _mm_cvtsi128_si64(_mm_unpackhi_epi64(product, product)) as u64;
    (u128::from(high) << 64) | u128::from(low)
}

/// Bits at positions `≡ r (mod 5)`, on 128 bits.
const fn holes(r: u32) -> u128 {
    let mut m = 0u128;
    let mut i = r;
    while i < 128 {
        m |= 1 << i;
        i += 5;
    }
    m
}

const HOLES: [u128; 5] = [holes(0), holes(1), holes(2), holes(3), holes(4)];

/// The carry-less product of `a` and `b` by integer multiplications with holes (after
/// BearSSL's `bmul`, Pornin 2017): split each operand into its 5 classes of bit positions
/// modulo 5, multiply the classes as integers (at most 13 bits of a class meet at any
/// position, so a column's count fits in the 5 bits up to the next position of its class and
/// its parity is exact), and keep from each sum of products only the positions of its class.
/// Branch-free, constant time, and on every architecture.
#[inline]
pub(crate) fn portable(a: u64, b: u64) -> u128 {
    // 64 x 64 -> 128-bit products: one machine multiplication each.
    let xa = HOLES.map(|m| a & m as u64);
    let yb = HOLES.map(|m| b & m as u64);
    let mut out = 0u128;
    for r in 0..5 {
        let mut z = 0u128;
        for i in 0..5 {
            z ^= xa[i] as u128 * yb[(r + 5 - i) % 5] as u128;
        }
        out |= z & HOLES[r];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha12Rng;

    /// The products of pairs, by whatever [`run`] picks.
    struct Products<'a>(&'a [(u64, u64)]);

    impl Kernel for Products<'_> {
        type Output = (Vec<u128>, bool);
        #[inline(always)]
        fn run<C: Fn(u64, u64) -> u128 + Copy>(self, clmul: C, native: bool) -> Self::Output {
            (self.0.iter().map(|&(a, b)| clmul(a, b)).collect(), native)
        }
    }

    /// The schoolbook carry-less product.
    fn schoolbook(a: u64, b: u64) -> u128 {
        (0..64)
            .filter(|i| (b >> i) & 1 == 1)
            .fold(0, |acc, i| acc ^ ((a as u128) << i))
    }

    /// The instruction (where this CPU has it) and the portable product agree with the
    /// schoolbook one on the edges (0, 1, all ones, the top bit, single bits) and on random
    /// pairs.
    #[test]
    fn the_instruction_and_the_portable_product_agree() {
        let edges = [
            0u64,
            1,
            2,
            u64::MAX,
            1 << 63,
            (1 << 63) | 1,
            0x1b,
            0x5555_5555_5555_5555,
        ];
        let mut pairs: Vec<(u64, u64)> = edges
            .iter()
            .flat_map(|&a| edges.iter().map(move |&b| (a, b)))
            .collect();
        let mut rng = ChaCha12Rng::seed_from_u64(64);
        pairs.extend((0..64).map(|i| (1u64 << i, rng.next_u64())));
        pairs.extend((0..500).map(|_| (rng.next_u64(), rng.next_u64())));
        let (got, native) = run(Products(&pairs));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            native,
            std::arch::is_x86_feature_detected!("pclmulqdq"),
            "run uses the instruction exactly when the CPU has it"
        );
        let _ = native;
        for (&(a, b), &product) in pairs.iter().zip(&got) {
            let expected = schoolbook(a, b);
            assert_eq!(product, expected, "{a:#x} · {b:#x} (native: {native})");
            assert_eq!(portable(a, b), expected, "{a:#x} · {b:#x}, portable");
        }
    }
}
