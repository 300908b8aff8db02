//! GRR degree reduction over the binary extension fields (Gennaro, Rabin, Rabin 1998, §3, the
//! same protocol as [`super::MulProtocol::Grr`] over the prime field): products of degree-`t`
//! sharings have degree `2t`; each of the first `2t + 1` parties reshares its product with a
//! fresh degree-`t` polynomial, and every party recombines the shares it receives with the
//! Lagrange coefficients at 0 of the dealers' points. One round; a dealer sends each other
//! party one element a product.
//!
//! Written once for both fields it runs over, through [`BinaryField`]: GF(2^8), the binary
//! domain's ANDs (`u8`, `binary.rs`), and GF(2^64), the products of their malicious check
//! (`u64`, `verify/binary_check.rs`). What this module does not do: multiply (the callers
//! form the local products), record products for the malicious check (`and_bytes` does), or
//! open anything.

use std::ops::BitXorAssign;

use bytes::Bytes;
use rand::RngCore;

use super::Engine;
use crate::error::Result;
use crate::field::Field;
use crate::net::Network;
use crate::party::PartyId;

/// A binary extension field GRR reduces over, by its element type: `u8` is GF(2^8)
/// (`binary.rs`), `u64` is GF(2^64) (`verify/binary_check.rs`). Addition is XOR in both.
pub(crate) trait BinaryField:
    Copy + Default + PartialEq + BitXorAssign + Send + Sync + 'static
{
    /// `self · other`.
    fn times(self, other: Self) -> Self;
    /// Party `p`'s evaluation point.
    fn point(p: PartyId) -> Self;
    /// The Lagrange coefficients at 0 of the points of `parties`.
    fn lagrange_at_zero(parties: &[PartyId]) -> Vec<Self>;
    /// `len` uniform elements drawn from `rng`.
    fn random(rng: &mut impl RngCore, len: usize) -> Vec<Self>;
    /// The elements as sent: one after another, each little-endian.
    fn encode(values: Vec<Self>) -> Bytes;
    /// `out[e] += c · v[e]` for the elements `v` of `bytes` as [`BinaryField::encode`] sends
    /// them; an error naming `from` unless `bytes` holds `out.len()` of them.
    fn axpy_received(out: &mut [Self], c: Self, bytes: &[u8], from: PartyId) -> Result<()>;

    /// `out[e] += c · x[e]`.
    fn axpy(out: &mut [Self], c: Self, x: &[Self]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o ^= c.times(v);
        }
    }

    /// The shares at `x` of `z_e + x (c_0 + x (c_1 + ... + x c_(t-1)))` for each `z_e` of
    /// `local`, its `t` coefficients `coeffs[e t..(e + 1) t]` (Horner's rule).
    fn reshare(local: &[Self], coeffs: &[Self], t: usize, x: Self) -> Vec<Self> {
        local
            .iter()
            .enumerate()
            .map(|(e, &z)| {
                let c = &coeffs[e * t..(e + 1) * t];
                let mut acc = c.iter().rev().fold(Self::default(), |mut acc, &ck| {
                    acc = acc.times(x);
                    acc ^= ck;
                    acc
                });
                acc = acc.times(x);
                acc ^= z;
                acc
            })
            .collect()
    }
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Reduces the local products `local` (shares of degree `2t`) to shares of degree `t` of
    /// the same values: GRR by the first `2t + 1` parties (see the module doc). One round;
    /// `local` is read only by those parties.
    pub(crate) async fn reduce_binary<B: BinaryField>(&mut self, local: &[B]) -> Result<Vec<B>> {
        let t = self.params.t();
        let len = local.len();
        let round = self.next_round();
        let dealers: Vec<PartyId> = (0..=2 * t as u16).map(PartyId).collect();
        let mut own = Vec::new();
        if dealers.contains(&self.me) {
            let coeffs = B::random(&mut self.rng, len * t);
            for p in self.params.parties() {
                let share = B::reshare(local, &coeffs, t, B::point(p));
                if p == self.me {
                    own = share;
                } else {
                    self.net.send(p, round, B::encode(share))?;
                }
            }
        }
        let lambda = B::lagrange_at_zero(&dealers);
        let mut out = vec![B::default(); len];
        for (&d, &l) in dealers.iter().zip(&lambda) {
            if d == self.me {
                B::axpy(&mut out, l, &own);
            } else {
                let bytes = self.net.recv(d, round).await?;
                B::axpy_received(&mut out, l, &bytes, d)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    use super::*;

    /// A dealer's shares lie on a degree-`t` polynomial through its value (any `t + 1`
    /// parties recombine it), they are not the value itself when `t > 0`, and what is sent
    /// recombines as what was kept (a wrong length is refused, naming the sender).
    fn reshares_are_degree_t_sharings<B: BinaryField + Debug>() {
        let mut rng = ChaCha12Rng::seed_from_u64(16);
        for (n, t) in [(1, 0), (3, 1), (5, 2), (7, 3), (7, 2)] {
            let len = 40;
            let local = B::random(&mut rng, len);
            let coeffs = B::random(&mut rng, len * t);
            let parties: Vec<PartyId> = (0..n as u16).map(PartyId).collect();
            let shares: Vec<Vec<B>> = parties
                .iter()
                .map(|&p| B::reshare(&local, &coeffs, t, B::point(p)))
                .collect();
            for start in 0..n - t {
                let set = &parties[start..=start + t];
                let mut kept = vec![B::default(); len];
                let mut sent = vec![B::default(); len];
                for (&p, &l) in set.iter().zip(&B::lagrange_at_zero(set)) {
                    B::axpy(&mut kept, l, &shares[p.index()]);
                    let bytes = B::encode(shares[p.index()].clone());
                    B::axpy_received(&mut sent, l, &bytes, p).unwrap();
                }
                assert_eq!(kept, local, "n={n} t={t} from party {start}");
                assert_eq!(sent, local, "n={n} t={t} from party {start}");
            }
            if t > 0 {
                assert!(shares.iter().all(|s| *s != local), "n={n} t={t}");
            }
            let bytes = B::encode(shares[0].clone());
            let mut out = vec![B::default(); len + 1];
            let err = B::axpy_received(&mut out, B::point(PartyId(0)), &bytes, PartyId(2));
            assert!(
                matches!(
                    err,
                    Err(crate::MpcError::Malformed {
                        from: PartyId(2),
                        ..
                    })
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn gf256_reshares_are_degree_t_sharings() {
        reshares_are_degree_t_sharings::<u8>();
    }

    #[test]
    fn gf2_64_reshares_are_degree_t_sharings() {
        reshares_are_degree_t_sharings::<u64>();
    }
}
