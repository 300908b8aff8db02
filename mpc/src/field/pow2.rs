//! Integers below a power of two, as field elements: composing bits into their value,
//! reducing a canonical value mod `2^m`, and drawing uniformly below `2^b`.
//!
//! The bit-level protocols (comparison, truncation, bit decomposition, PRSS masks) all need
//! these three; they live here, below the engine, so that no protocol file has to reach into
//! another for them.

use super::Field;

/// `Σ 2^i x_i`.
pub(crate) fn weighted<F: Field>(bits: &[F]) -> F {
    bits.iter().rev().fold(F::zero(), |acc, &b| acc + acc + b)
}

/// `c mod 2^m` of the canonical value of `c`, as a field element.
pub(crate) fn low_value<F: Field>(c: &F, m: u32) -> F {
    let limbs = c.to_canonical_limbs();
    let mut acc = F::zero();
    let mut done = 0;
    for (i, &limb) in limbs.iter().enumerate() {
        if done >= m {
            break;
        }
        let take = (m - done).min(64);
        let word = if take == 64 {
            limb
        } else {
            limb & ((1u64 << take) - 1)
        };
        acc += F::from_u128(word as u128) * F::pow2(64 * i as u32);
        done += take;
    }
    acc
}

/// A uniform integer in `[0, 2^bits)` as a field element (`bits <= 252`).
pub(crate) fn random_below_pow2<F: Field, R: rand::RngCore + ?Sized>(rng: &mut R, bits: u32) -> F {
    let mut acc = F::zero();
    let mut done = 0;
    while done < bits {
        let take = (bits - done).min(64);
        let word = if take == 64 {
            rng.next_u64()
        } else {
            rng.next_u64() & ((1u64 << take) - 1)
        };
        acc += F::from_u128(word as u128) * F::pow2(done);
        done += take;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn int(x: Fr) -> u128 {
        let limbs = x.to_canonical_limbs();
        assert!(limbs[2..].iter().all(|&l| l == 0));
        limbs[0] as u128 | (limbs[1] as u128) << 64
    }

    #[test]
    fn the_three_agree_with_integers() {
        let mut rng = ChaCha20Rng::seed_from_u64(16);
        for _ in 0..200 {
            let v: u128 = rng.random::<u128>() >> rng.random_range(0..128);
            let bits: Vec<Fr> = (0..128).map(|i| Fr::from_u128((v >> i) & 1)).collect();
            assert_eq!(int(weighted(&bits)), v);
            let m = rng.random_range(0..=128u32);
            let low = if m == 128 { v } else { v & ((1u128 << m) - 1) };
            assert_eq!(
                int(low_value(&Fr::from_u128(v), m)),
                low,
                "v = {v}, m = {m}"
            );
            let b = rng.random_range(1..=127u32);
            assert!(int(random_below_pow2::<Fr, _>(&mut rng, b)) < 1u128 << b);
        }
        assert_eq!(int(weighted::<Fr>(&[])), 0);
    }
}
