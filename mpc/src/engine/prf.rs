//! Opening in the exponent, and the Dodis–Yampolskiy PRF evaluated on shared inputs with a
//! shared key: equality tags for record matching.
//!
//! **Opening in the exponent.** For shares `a_i` of `a`, the points `a_i·G` are shares of `a·G`
//! (as in [`super::commit`]), so the parties can reveal `a·G` without revealing `a`:
//! [`Engine::open_in_exponent`] is one round. Each party `i` of the first `t + 1` (the
//! interpolation set) sends `(λ_i a_i)·G`, with `λ_i` its Lagrange coefficient at 0 for that
//! set, so a receiver only adds `t + 1` points per element (a fixed-base multiplication per
//! element at the sender, no variable-base one at the receiver). Every point on the wire is
//! halved (`(λ_i a_i / 2)·G`), so that sender and receiver compress in batches (Ristretto's
//! double-and-compress: one inversion for the batch). With
//! [`EngineConfig::check_openings`](super::EngineConfig) and `n > t + 1`, the other parties
//! send `a_j·G` too, and every receiver checks them all at once against the polynomial with a
//! random linear combination (128-bit coefficients, `t + 2` multiscalar multiplications); a
//! party whose points are off is named, with the first element at fault.
//!
//! **DY tags.** Dodis, Yampolskiy 2005 ("A verifiable random function with short proofs and
//! keys", PKC 2005, §4): `F_k(x) = g^(1/(k+x))`. [`Engine::prf_tags`] evaluates it on every
//! element of a shared batch `x` with a shared key `k` (one element, e.g. from
//! [`Engine::random`]) by the masked inversion of Bar-Ilan, Beaver 1989: with a fresh random
//! `[r]`, open `z = (k + x)·r` (uniform, so it reveals nothing), invert it in the clear, and
//! `[1/(k+x)] = z^-1 [r]` is linear; then open `[1/(k+x)]` in the exponent. The tags are
//! compressed Ristretto points: equal exactly when the inputs are equal (`x ↦ 1/(k+x)` is a
//! bijection off `x = -k`, an event of probability `2^-252` per element, reported as an error).
//! Rounds: one dealing round for `r` (none when pooled), one multiplication, one opening, one
//! opening in the exponent.
//!
//! **Under the malicious level** the product `(k + x)·r` and the dealt randomness are checked
//! ([`Engine::verify`], through `open_masked`) before `z` is opened, so the tags are those of the honest `x` or the
//! job aborts before any tag is revealed: an additive error `δ` in `z` would otherwise give a
//! tag of `r/((k+x)r + δ)`, opened before the error is caught (found by
//! `mpc/tests/malicious.rs::cheating_on_every_other_operation_aborts`). A point off the
//! polynomial in the exponent opening fails with "integrity check failed: opening
//! consistency", as [`Engine::open_in_exponent`] does.
//!
//! What this module does not do: decide who may learn the equality pattern the tags reveal
//! (the record-matching protocol in `protocols` documents it), or draw the key (the caller
//! does, fresh per job, so tags are unlinkable across jobs).

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};

use super::Engine;
use super::commit::{decode_points, to_scalar};
use crate::error::{MpcError, Result};
use crate::field::{Field, Fr, batch_inverse};
use crate::net::Network;
use crate::party::PartyId;
use crate::share::Shared;

/// The DY tag of `x` under key `k`, computed in the clear: the compressed point
/// `(1/(k+x))·G`, or `None` when `k + x = 0`.
pub fn dy_tag(x: Fr, k: Fr) -> Option<[u8; 32]> {
    let inv = (x + k).inverse()?;
    Some(
        (RISTRETTO_BASEPOINT_TABLE * &to_scalar(inv))
            .compress()
            .to_bytes(),
    )
}

impl<N: Network> Engine<N, Fr> {
    /// Opens `a·G` for every element of `a` to every party, without revealing `a` (see the
    /// module doc). One round.
    pub async fn open_in_exponent(&mut self, a: &Shared<Fr>) -> Result<Vec<RistrettoPoint>> {
        self.verify().await?;
        let halves = self.open_half_in_exponent(a).await;
        let halves = halves.map_err(|e| self.as_integrity(e))?;
        Ok(halves.iter().map(|h| h + h).collect())
    }

    /// Opens `a·G / 2` for every element (the points every party sends are halved too), so
    /// that senders and receivers compress with `RistrettoPoint::double_and_compress_batch`:
    /// one batched inversion instead of one inverse square root per point.
    async fn open_half_in_exponent(&mut self, a: &Shared<Fr>) -> Result<Vec<RistrettoPoint>> {
        let quarter = Fr::from_u128(4).inverse().expect("4 is invertible");
        let len = a.len();
        let t = self.params.t();
        let parties: Vec<PartyId> = self.params.parties().collect();
        let base: Vec<PartyId> = parties[..=t].to_vec();
        let lambda: Vec<Fr> = self.interp.coefficients(&base, 0).to_vec();
        let check = self.config.check_openings && parties.len() > t + 1;
        let my_pos = parties
            .iter()
            .position(|&p| p == self.me)
            .expect("a party of the session");
        let sends = |pos: usize| pos <= t || check;
        let round = self.next_round();
        let mut mine = None;
        if sends(my_pos) {
            let weight = if my_pos <= t {
                lambda[my_pos]
            } else {
                Fr::one()
            };
            // Send w·a_i·G / 2, compressed in a batch as the double of w·a_i·G / 4.
            let quarters: Vec<RistrettoPoint> = a
                .shares
                .iter()
                .map(|&s| RISTRETTO_BASEPOINT_TABLE * &to_scalar(weight * s * quarter))
                .collect();
            let mut payload = Vec::with_capacity(32 * len);
            for c in RistrettoPoint::double_and_compress_batch(&quarters) {
                payload.extend_from_slice(c.as_bytes());
            }
            let payload = bytes::Bytes::from(payload);
            for p in self.others() {
                self.net.send(p, round, payload.clone())?;
            }
            mine = Some(quarters.iter().map(|q| q + q).collect());
        }
        // points[pos]: base parties' weighted points, other parties' plain points (all halved).
        let mut points: Vec<Option<Vec<RistrettoPoint>>> = Vec::with_capacity(parties.len());
        for (pos, &p) in parties.iter().enumerate() {
            if !sends(pos) {
                points.push(None);
            } else if p == self.me {
                points.push(mine.take());
            } else {
                let bytes = self.net.recv(p, round).await?;
                points.push(Some(decode_points(&bytes, len, p)?));
            }
        }
        let opened: Vec<RistrettoPoint> = (0..len)
            .map(|e| {
                points[..=t]
                    .iter()
                    .map(|v| v.as_ref().expect("base parties send")[e])
                    .fold(RistrettoPoint::identity(), |acc, p| acc + p)
            })
            .collect();
        if check {
            for (pos, &extra) in parties.iter().enumerate().skip(t + 1) {
                self.check_in_exponent(&base, &lambda, &points, pos, extra)?;
            }
        }
        Ok(opened)
    }

    /// Checks that party `extra`'s points `P_e = a_extra·G` lie on the polynomial through the
    /// base parties' weighted points `Q_ie = λ_i a_i·G`: `Σ_e ρ_e (P_e - Σ_i (μ_i/λ_i) Q_ie)`
    /// is the identity for random 128-bit `ρ_e` (a wrong point passes with probability
    /// `2^-128`).
    fn check_in_exponent(
        &mut self,
        base: &[PartyId],
        lambda: &[Fr],
        points: &[Option<Vec<RistrettoPoint>>],
        pos: usize,
        extra: PartyId,
    ) -> Result<()> {
        let mu: Vec<Fr> = self.interp.coefficients(base, extra.point()).to_vec();
        let ratio: Vec<Fr> = mu
            .iter()
            .zip(lambda)
            .map(|(&m, &l)| {
                m * l
                    .inverse()
                    .expect("Lagrange coefficients at 0 are non-zero")
            })
            .collect();
        let theirs = points[pos].as_ref().expect("checked parties send");
        let len = theirs.len();
        // 128-bit coefficients (a wrong point passes with probability 2^-128) halve the
        // multiscalar multiplications: Σ ρ_e P_e = Σ_i (μ_i/λ_i) Σ_e ρ_e Q_ie.
        let rho: Vec<Scalar> = (0..len)
            .map(|_| {
                Scalar::from(
                    rand::RngCore::next_u64(&mut self.rng) as u128
                        | ((rand::RngCore::next_u64(&mut self.rng) as u128) << 64),
                )
            })
            .collect();
        let mut sum = RistrettoPoint::vartime_multiscalar_mul(&rho, theirs);
        for (i, c) in ratio.iter().enumerate() {
            let q = points[i].as_ref().expect("base parties send");
            sum -= RistrettoPoint::vartime_multiscalar_mul(&rho, q) * to_scalar(*c);
        }
        if sum == RistrettoPoint::identity() {
            return Ok(());
        }
        // Find the first element at fault (only on failure).
        let index = (0..len)
            .find(|&e| {
                let expect =
                    ratio
                        .iter()
                        .enumerate()
                        .fold(RistrettoPoint::identity(), |acc, (i, &c)| {
                            acc + points[i].as_ref().expect("base parties send")[e] * to_scalar(c)
                        });
                expect != theirs[e]
            })
            .unwrap_or(0);
        Err(MpcError::InconsistentShares {
            party: extra,
            degree: self.params.t(),
            index,
        })
    }

    /// [`Engine::prf_tags`] under a key drawn fresh for this call (and then forgotten): the key,
    /// the masks and (under DN07) the products' double sharings come from one dealing round.
    pub async fn prf_tags_fresh_key(&mut self, x: &Shared<Fr>) -> Result<Vec<[u8; 32]>> {
        let products = match self.config.mul {
            super::MulProtocol::Dn07 => x.len(),
            super::MulProtocol::Grr => 0,
        };
        let short = (x.len() + 1 + products).saturating_sub(self.pooled_doubles());
        if short > 0 {
            self.deal_round(short, 0, &[]).await?;
        }
        let key = self.random(1).await?;
        self.prf_tags(x, &key).await
    }

    /// The DY tags `(1/(k+x))·G` (compressed) of every element of `x` under the shared key `key`
    /// (a batch of one), revealed to every party; `x` and `k` stay secret (see the module doc).
    /// Rounds: one dealing round (none when the pool suffices), the multiplication (one round
    /// under GRR, two under DN07), one opening and one opening in the exponent.
    pub async fn prf_tags(&mut self, x: &Shared<Fr>, key: &Shared<Fr>) -> Result<Vec<[u8; 32]>> {
        if key.len() != 1 {
            return Err(MpcError::InvalidArgument {
                op: "prf_tags",
                reason: format!("the key is a batch of {}, not one element", key.len()),
            });
        }
        let k = key.shares[0];
        let y: Vec<Fr> = x.shares.iter().map(|&v| v + k).collect();
        // One dealing round for the masks and (under DN07) the products' double sharings.
        if self.config.mul == super::MulProtocol::Dn07 {
            let short = (2 * x.len()).saturating_sub(self.pooled_doubles());
            if short > 0 {
                self.deal_round(short, 0, &[]).await?;
            }
        }
        let r = self.random(x.len()).await?;
        let z = self.mul_raw(&y, &r.shares).await?;
        // Checked before it is opened (`open_masked`): every tag below is computed from `z`.
        let z = self.open_masked(&z).await?;
        let inv = batch_inverse(&z).map_err(|index| MpcError::InvalidArgument {
            op: "prf_tags",
            reason: format!(
                "element {index}: the masked value is zero (its input equals minus the key, or \
                 the mask is zero; probability 2^-252): draw a new key"
            ),
        })?;
        let w = Shared {
            shares: inv.iter().zip(&r.shares).map(|(&i, &s)| i * s).collect(),
            bits: crate::share::MAX_BITS,
            frac: 0,
            boolean: false,
        };
        let halves = self.open_half_in_exponent(&w).await;
        let halves = halves.map_err(|e| self.as_integrity(e))?;
        Ok(RistrettoPoint::double_and_compress_batch(&halves)
            .into_iter()
            .map(|c| c.to_bytes())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dy_tags_are_injective_and_keyed() {
        let k = Fr::from_i128(123456789);
        let a = dy_tag(Fr::from_i128(5), k).unwrap();
        assert_eq!(a, dy_tag(Fr::from_i128(5), k).unwrap());
        assert_ne!(a, dy_tag(Fr::from_i128(6), k).unwrap());
        assert_ne!(a, dy_tag(Fr::from_i128(5), k + Fr::one()).unwrap());
        assert_eq!(dy_tag(-k, k), None);
    }
}
