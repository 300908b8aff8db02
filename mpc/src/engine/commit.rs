//! Pedersen commitments to shared values, computed in the exponent so that no party learns
//! the value.
//!
//! A commitment to `v` with blinding `r` is `C = v·G + r·H` on ristretto255, where `G` is the
//! Ristretto basepoint and `H` is hashed to the group from [`H_DOMAIN`] (SHA-512, then the
//! Elligator map of `RistrettoPoint::from_uniform_bytes`), so nobody knows `log_G H`. `C` hides
//! `v` perfectly and binds it under the discrete-log assumption.
//!
//! **In the exponent.** Shamir sharing is linear and so is `(v, r) ↦ v·G + r·H`: party `i`
//! holding shares `(v_i, r_i)` computes the point `C_i = v_i·G + r_i·H`, and the points are the
//! shares of `C` "in the exponent": `C = Σ λ_i C_i` over any `t + 1` parties, with the same
//! Lagrange coefficients that would reconstruct `v`. [`Engine::commit_with`] is one round:
//! every party sends its points to every other, and each interpolates from the first `t + 1`
//! and, with [`EngineConfig::check_openings`](super::EngineConfig), checks that every further
//! party's point lies on the same polynomial (as [`Engine::open`] does for scalars). Only the
//! points are revealed, and the points of `t` parties are uniform given `C`, so `v` stays
//! secret. [`Engine::commit`] draws the blinding with [`Engine::random`].
//!
//! **Openings.** [`Engine::reveal_to`] opens `v` and `r` to one recipient in one round; the
//! recipient checks the pair against the public commitment with [`verify`]. An [`Opening`]
//! holds canonical scalar bytes, so integers, fixed-point values and raw field elements open
//! alike.
//!
//! What this module does not do: prove anything about the committed values (range proofs),
//! or stop a malicious party from committing with a share it did not hold — it is
//! semi-honest like the rest of the engine, but a party whose point is off the polynomial is
//! named when `n > t + 1`.

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

use super::Engine;
use crate::error::{MpcError, Result};
use crate::field::{Field, Fr};
use crate::net::Network;
use crate::party::PartyId;
use crate::share::Shared;

/// The domain string hashed (SHA-512) to the second generator `H`.
pub const H_DOMAIN: &[u8] = b"quorate/pedersen/H/v1";

/// The second generator `H`, hashed to the group from [`H_DOMAIN`].
pub fn generator_h() -> RistrettoPoint {
    *h_point()
}

fn h_point() -> &'static RistrettoPoint {
    static H: OnceLock<RistrettoPoint> = OnceLock::new();
    H.get_or_init(|| {
        let digest: [u8; 64] = Sha512::digest(H_DOMAIN).into();
        RistrettoPoint::from_uniform_bytes(&digest)
    })
}

fn h_table() -> &'static RistrettoBasepointTable {
    static TABLE: OnceLock<RistrettoBasepointTable> = OnceLock::new();
    TABLE.get_or_init(|| RistrettoBasepointTable::create(h_point()))
}

/// The scalar with the same value as a field element (both are the ristretto255 scalar field).
pub fn to_scalar(x: Fr) -> Scalar {
    Scalar::from_bytes_mod_order(x.to_canonical_bytes())
}

/// `v·G + r·H` (constant time in `v` and `r`).
fn pedersen(v: &Scalar, r: &Scalar) -> RistrettoPoint {
    RISTRETTO_BASEPOINT_TABLE * v + h_table() * r
}

/// A Pedersen commitment: a compressed Ristretto point, 32 bytes. Hex in `Display` and in
/// human-readable serde formats, raw bytes otherwise (postcard).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Commitment([u8; 32]);

impl Commitment {
    /// The commitment to `value` with `blinding`, computed in the clear (by a dealer, or by a
    /// verifier).
    pub fn to_value(value: Fr, blinding: Fr) -> Commitment {
        Commitment::from_point(&pedersen(&to_scalar(value), &to_scalar(blinding)))
    }
    /// The commitment whose point is `p`.
    pub fn from_point(p: &RistrettoPoint) -> Commitment {
        Commitment(p.compress().to_bytes())
    }
    /// The commitment from its 32 bytes (not checked here: bytes that are not a point fail
    /// every [`verify`]).
    pub fn from_bytes(bytes: [u8; 32]) -> Commitment {
        Commitment(bytes)
    }
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The point, if the bytes are a valid Ristretto encoding.
    pub fn point(&self) -> Option<RistrettoPoint> {
        CompressedRistretto(self.0).decompress()
    }
    /// Whether `opening` opens this commitment; see [`verify`].
    pub fn verify(&self, opening: &Opening) -> bool {
        verify(self, opening)
    }
}

impl fmt::Display for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Commitment({})", hex::encode(&self.0[..8]))
    }
}

impl Serialize for Commitment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex32::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Commitment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        hex32::deserialize(d).map(Commitment)
    }
}

/// What opens a commitment: the value and the blinding, as canonical little-endian scalar
/// bytes. A recipient holds it privately, so `Debug` does not show it.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The committed value (canonical scalar bytes; see [`Opening::value`]).
    #[serde(with = "hex32")]
    pub value: [u8; 32],
    /// The blinding (canonical scalar bytes).
    #[serde(with = "hex32")]
    pub blinding: [u8; 32],
}

impl Opening {
    /// The opening of a commitment to `value` with `blinding`.
    pub fn new(value: Fr, blinding: Fr) -> Opening {
        Opening {
            value: value.to_canonical_bytes(),
            blinding: blinding.to_canonical_bytes(),
        }
    }
    /// The opening of a commitment to the integer `value`.
    pub fn from_int(value: i128, blinding: Fr) -> Opening {
        Opening::new(Fr::from_i128(value), blinding)
    }
    /// The value, if its bytes are canonical.
    pub fn value(&self) -> Option<Fr> {
        Fr::from_canonical_bytes(&self.value)
    }
    /// The value as a signed integer, if it is canonical and fits.
    pub fn value_int(&self) -> Option<i128> {
        self.value()?.to_i128()
    }
    /// The blinding, if its bytes are canonical.
    pub fn blinding(&self) -> Option<Fr> {
        Fr::from_canonical_bytes(&self.blinding)
    }
}

impl fmt::Debug for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Opening(..)")
    }
}

/// Whether `opening` opens `commitment`: both scalars canonical and `v·G + r·H = C`.
/// Non-canonical scalars are refused, so one commitment has exactly one byte form of opening.
pub fn verify(commitment: &Commitment, opening: &Opening) -> bool {
    let (Some(v), Some(r)) = (opening.value(), opening.blinding()) else {
        return false;
    };
    let Some(c) = commitment.point() else {
        return false;
    };
    pedersen(&to_scalar(v), &to_scalar(r)) == c
}

impl<N: Network> Engine<N, Fr> {
    /// Commits to every value of `v` with fresh blindings: returns the public commitments
    /// (every party gets the same) and this party's shares of the blindings, to be opened to
    /// a recipient with [`Engine::reveal_to`]. One round to draw the blindings (none when the
    /// pool has them) plus one round of points.
    pub async fn commit(&mut self, v: &Shared<Fr>) -> Result<(Vec<Commitment>, Shared<Fr>)> {
        let r = self.random(v.len()).await?;
        let commitments = self.commit_with(v, &r).await?;
        Ok((commitments, r))
    }

    /// Commits to every value of `v` with the shared blindings `r`: one round. Each party
    /// sends `v_i·G + r_i·H` to all; each interpolates in the exponent and, with
    /// `check_openings`, names the first party whose point is off the polynomial.
    pub async fn commit_with(&mut self, v: &Shared<Fr>, r: &Shared<Fr>) -> Result<Vec<Commitment>> {
        super::same_len("commit", v.len(), r.len())?;
        self.verify().await?;
        let len = v.len();
        let mine: Vec<RistrettoPoint> = v
            .shares
            .iter()
            .zip(&r.shares)
            .map(|(&vi, &ri)| pedersen(&to_scalar(vi), &to_scalar(ri)))
            .collect();
        let mut payload = Vec::with_capacity(32 * len);
        for p in &mine {
            payload.extend_from_slice(p.compress().as_bytes());
        }
        let payload = Bytes::from(payload);
        let round = self.next_round();
        for p in self.others() {
            self.net.send(p, round, payload.clone())?;
        }
        let parties: Vec<PartyId> = self.params.parties().collect();
        let mut points: Vec<Vec<RistrettoPoint>> = Vec::with_capacity(parties.len());
        for &p in &parties {
            if p == self.me {
                points.push(mine.clone());
            } else {
                let bytes = self.net.recv(p, round).await?;
                points.push(decode_points(&bytes, len, p)?);
            }
        }
        let degree = self.params.t();
        let base = &parties[..=degree];
        let lambda: Vec<Scalar> = self
            .interp
            .coefficients(base, 0)
            .iter()
            .map(|&c| to_scalar(c))
            .collect();
        let at = |coeffs: &[Scalar], e: usize| {
            RistrettoPoint::vartime_multiscalar_mul(coeffs, points[..=degree].iter().map(|v| v[e]))
        };
        let commitments: Vec<Commitment> = (0..len)
            .map(|e| Commitment::from_point(&at(&lambda, e)))
            .collect();
        if self.config.check_openings {
            for (k, &extra) in parties.iter().enumerate().skip(degree + 1) {
                let mu: Vec<Scalar> = self
                    .interp
                    .coefficients(base, extra.point())
                    .iter()
                    .map(|&c| to_scalar(c))
                    .collect();
                if let Some(index) = (0..len).find(|&e| at(&mu, e) != points[k][e]) {
                    return Err(self.as_integrity(MpcError::InconsistentShares {
                        party: extra,
                        degree,
                        index,
                    }));
                }
            }
        }
        Ok(commitments)
    }

    /// Opens values `v` and their blindings `r` to `recipient` in one round: it gets the
    /// openings of the commitments [`Engine::commit`] made, everyone else `None`.
    pub async fn reveal_to(
        &mut self,
        v: &Shared<Fr>,
        r: &Shared<Fr>,
        recipient: PartyId,
    ) -> Result<Option<Vec<Opening>>> {
        super::same_len("reveal_to", v.len(), r.len())?;
        let len = v.len();
        let mut both = v.meta();
        both.shares = v.shares.iter().chain(&r.shares).copied().collect();
        let Some(opened) = self.open_to(&both, recipient).await? else {
            return Ok(None);
        };
        let (values, blindings) = opened.split_at(len);
        Ok(Some(
            values
                .iter()
                .zip(blindings)
                .map(|(&v, &r)| Opening::new(v, r))
                .collect(),
        ))
    }
}

/// Decodes exactly `len` compressed points sent by `from`.
pub(super) fn decode_points(
    bytes: &[u8],
    len: usize,
    from: PartyId,
) -> Result<Vec<RistrettoPoint>> {
    if bytes.len() != 32 * len {
        return Err(MpcError::Malformed {
            from,
            reason: format!(
                "expected {len} points ({} bytes), got {} bytes",
                32 * len,
                bytes.len()
            ),
        });
    }
    bytes
        .chunks_exact(32)
        .enumerate()
        .map(|(i, c)| {
            let c: [u8; 32] = c.try_into().expect("32-byte chunk");
            CompressedRistretto(c)
                .decompress()
                .ok_or_else(|| MpcError::Malformed {
                    from,
                    reason: format!("point {i} is not a valid Ristretto encoding"),
                })
        })
        .collect()
}

/// Serde for 32-byte strings: hex when human readable, raw bytes otherwise.
mod hex32 {
    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = [u8; 32];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("32 bytes, or 64 hex digits")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<[u8; 32], E> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(v, &mut out).map_err(E::custom)?;
                Ok(out)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<[u8; 32], E> {
                v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 32], A::Error> {
                let mut out = [0u8; 32];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(V)
        } else {
            d.deserialize_bytes(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;

    #[test]
    fn h_is_fixed_and_independent_of_g() {
        assert_eq!(generator_h(), generator_h());
        assert_ne!(generator_h(), RISTRETTO_BASEPOINT_POINT);
        let c = Commitment::to_value(Fr::from_i128(42), Fr::from_i128(7));
        assert!(verify(&c, &Opening::from_int(42, Fr::from_i128(7))));
        assert!(!verify(&c, &Opening::from_int(43, Fr::from_i128(7))));
        assert!(!verify(&c, &Opening::from_int(42, Fr::from_i128(8))));
        // Non-canonical scalar bytes are refused even when they reduce to the right value.
        let mut o = Opening::from_int(42, Fr::from_i128(7));
        o.value = [0xff; 32];
        assert!(!verify(&c, &o));
        assert!(!verify(
            &Commitment::from_bytes([0xff; 32]),
            &Opening::from_int(42, Fr::from_i128(7))
        ));
    }

    #[test]
    fn linear_in_the_exponent() {
        let (v1, r1, v2, r2) = (
            Fr::from_i128(5),
            Fr::from_i128(11),
            Fr::from_i128(-3),
            Fr::from_i128(2),
        );
        let sum = Commitment::to_value(v1, r1).point().unwrap()
            + Commitment::to_value(v2, r2).point().unwrap();
        assert_eq!(
            Commitment::from_point(&sum),
            Commitment::to_value(v1 + v2, r1 + r2)
        );
    }
}
