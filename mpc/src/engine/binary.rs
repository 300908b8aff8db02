//! The binary domain: Shamir sharing over GF(2^8), one byte a share, for the bit-level part of
//! comparisons (the edaBits route, [`super::edabits`]).
//!
//! A bit `b` is shared as a degree-`t` polynomial over GF(2^8) with constant term `b`, party `i`
//! holding its value at the point `i + 1` (so at most 255 parties; the binary domain is only used
//! with pseudo-random secret sharing, which stops far below that). XOR is the field's addition
//! (a byte XOR of the shares, no communication), NOT adds the constant 1, and AND is the field's
//! multiplication, reduced from degree `2t` to `t` by GRR resharing (Gennaro, Rabin, Rabin 1998,
//! §3, the same protocol as [`super::MulProtocol::Grr`], over GF(2^8)): one round and `n - 1`
//! bytes a product from each of the first `2t + 1` parties, against `32 (n - 1)` bytes for a
//! product of field elements. Why GF(2^8) and not GF(2): Shamir sharing needs `n` distinct
//! non-zero evaluation points, which GF(2) does not have; GF(2^8) has 255, in one byte.
//!
//! What this module does not do: make random bits (the PRSS keys do, [`super::prss`]) or
//! convert to the arithmetic field (daBits do, in [`super::edabits`]).

use bytes::Bytes;
use rand::RngCore;

use super::Engine;
use super::binary_grr::BinaryField;
use super::decode::{Symbol, off_polynomial};
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;
use crate::party::PartyId;

/// The multiplication table of GF(2^8) modulo `x^8 + x^4 + x^3 + x + 1` (AES's polynomial),
/// 64 KiB, built at compile time.
static MUL: [[u8; 256]; 256] = mul_table();

const fn mul_slow(mut a: u8, mut b: u8) -> u8 {
    let mut acc = 0u8;
    while b != 0 {
        if b & 1 == 1 {
            acc ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    acc
}

const fn mul_table() -> [[u8; 256]; 256] {
    let mut t = [[0u8; 256]; 256];
    let mut a = 0;
    while a < 256 {
        let mut b = 0;
        while b < 256 {
            t[a][b] = mul_slow(a as u8, b as u8);
            b += 1;
        }
        a += 1;
    }
    t
}

/// `a · b` in GF(2^8).
#[inline]
pub(crate) fn mul(a: u8, b: u8) -> u8 {
    MUL[a as usize][b as usize]
}

/// `a^-1` in GF(2^8), for `a != 0` (`a^254`).
pub(crate) fn inv(a: u8) -> u8 {
    debug_assert_ne!(a, 0, "0 has no inverse");
    let mut acc = 1u8;
    for _ in 0..254 {
        acc = mul(acc, a);
    }
    acc
}

/// Party `p`'s evaluation point in GF(2^8).
pub(crate) fn point(p: PartyId) -> u8 {
    (p.index() + 1) as u8
}

/// The Lagrange coefficients at `x` of the points of `parties`.
pub(crate) fn lagrange(parties: &[PartyId], x: u8) -> Vec<u8> {
    parties
        .iter()
        .map(|&i| {
            let xi = point(i);
            let (mut num, mut den) = (1u8, 1u8);
            for &j in parties {
                if j != i {
                    let xj = point(j);
                    num = mul(num, x ^ xj);
                    den = mul(den, xi ^ xj);
                }
            }
            mul(num, inv(den))
        })
        .collect()
}

/// `out[e] ^= c · x[e]`.
fn axpy(out: &mut [u8], c: u8, x: &[u8]) {
    let row = &MUL[c as usize];
    for (o, &v) in out.iter_mut().zip(x) {
        *o ^= row[v as usize];
    }
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Element-wise AND of two batches of binary shares (GRR over GF(2^8), `binary_grr.rs`).
    /// One round.
    pub(crate) async fn and_bytes(&mut self, x: &[u8], y: &[u8]) -> Result<Vec<u8>> {
        super::same_len("and", x.len(), y.len())?;
        let local: Vec<u8> = x.iter().zip(y).map(|(&a, &b)| mul(a, b)).collect();
        let out = self.reduce_binary(&local).await?;
        self.record_ands(x, y, &out);
        if self.pending_ands.len() >= super::MAX_PENDING_ANDS {
            self.verify_ands().await?;
        }
        Ok(out)
    }

    /// Opens a batch of binary shares of bits to every party. One round. With
    /// [`EngineConfig::check_openings`](super::EngineConfig), every share past the first `t + 1`
    /// is checked against their polynomial (under the malicious level, always, and a share off
    /// it fails the session with the integrity check "binary opening consistency", naming the
    /// parties off the polynomial when `n >= 3t + 1`, as field openings do: `open.rs`); a
    /// value other than 0 or 1 is refused too.
    ///
    /// Under the malicious level every pending product and AND is checked first
    /// ([`Engine::verify`]): an AND's error outside GF(2) would otherwise show in an opening's
    /// high bits (see `edabits.rs`), so no binary value is opened unchecked, whoever calls this.
    pub(crate) async fn open_bytes(&mut self, shares: &[u8]) -> Result<Vec<bool>> {
        self.verify().await?;
        let t = self.params.t();
        let len = shares.len();
        let round = self.next_round();
        let payload = Bytes::copy_from_slice(shares);
        for p in self.others() {
            self.net.send(p, round, payload.clone())?;
        }
        let parties: Vec<PartyId> = self.params.parties().collect();
        let mut received: Vec<Bytes> = Vec::with_capacity(parties.len());
        for &p in &parties {
            if p == self.me {
                received.push(payload.clone());
            } else {
                let bytes = self.net.recv(p, round).await?;
                check_len(&bytes, len, p)?;
                received.push(bytes);
            }
        }
        let base = &parties[..=t];
        let mut out = vec![0u8; len];
        for (&l, s) in lagrange(base, 0).iter().zip(&received) {
            axpy(&mut out, l, s);
        }
        if self.config.check_openings {
            for &extra in &parties[t + 1..] {
                let mut expect = vec![0u8; len];
                for (&l, s) in lagrange(base, point(extra)).iter().zip(&received) {
                    axpy(&mut expect, l, s);
                }
                if let Some(index) = (0..len).find(|&e| expect[e] != received[extra.index()][e]) {
                    return Err(match self.malicious() {
                        true => MpcError::IntegrityCheckFailed {
                            check: "binary opening consistency",
                            parties: off_binary_polynomial(&parties, &received, index, t),
                        },
                        false => MpcError::InconsistentShares {
                            party: extra,
                            degree: t,
                            index,
                        },
                    });
                }
            }
        }
        out.iter()
            .enumerate()
            .map(|(index, &v)| match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(MpcError::InvalidArgument {
                    op: "open_bits",
                    reason: format!("element {index}: a binary opening is not a bit"),
                }),
            })
            .collect()
    }
}

/// GF(2^8) for GRR (`binary_grr.rs`): a party's table row of products by its point reshares
/// and recombines.
impl BinaryField for u8 {
    fn times(self, other: u8) -> u8 {
        mul(self, other)
    }
    fn point(p: PartyId) -> u8 {
        point(p)
    }
    fn lagrange_at_zero(parties: &[PartyId]) -> Vec<u8> {
        lagrange(parties, 0)
    }
    fn random(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        rng.fill_bytes(&mut out);
        out
    }
    fn encode(values: Vec<u8>) -> Bytes {
        Bytes::from(values)
    }
    fn axpy_received(out: &mut [u8], c: u8, bytes: &[u8], from: PartyId) -> Result<()> {
        check_len(bytes, out.len(), from)?;
        axpy(out, c, bytes);
        Ok(())
    }
    fn axpy(out: &mut [u8], c: u8, x: &[u8]) {
        axpy(out, c, x);
    }
    fn reshare(local: &[u8], coeffs: &[u8], t: usize, x: u8) -> Vec<u8> {
        let row = &MUL[x as usize];
        local
            .iter()
            .enumerate()
            .map(|(e, &z)| {
                let acc = coeffs[e * t..(e + 1) * t]
                    .iter()
                    .rev()
                    .fold(0u8, |acc, &ck| row[(acc ^ ck) as usize]);
                z ^ acc
            })
            .collect()
    }
}

/// An element of GF(2^8), the binary shares' field for decoding (`decode.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Gf256(pub(crate) u8);

impl Symbol for Gf256 {
    fn zero() -> Self {
        Gf256(0)
    }
    fn one() -> Self {
        Gf256(1)
    }
    fn plus(self, other: Self) -> Self {
        Gf256(self.0 ^ other.0)
    }
    fn minus(self, other: Self) -> Self {
        Gf256(self.0 ^ other.0)
    }
    fn times(self, other: Self) -> Self {
        Gf256(mul(self.0, other.0))
    }
    fn inverse(self) -> Option<Self> {
        (self.0 != 0).then(|| Gf256(inv(self.0)))
    }
    fn point(p: PartyId) -> Self {
        Gf256(point(p))
    }
}

/// The parties whose binary shares of element `index` are off the degree-`t` polynomial, where
/// that can be told (`n >= 3t + 1`; `decode.rs`): as for field openings (`open.rs`).
fn off_binary_polynomial(
    parties: &[PartyId],
    received: &[Bytes],
    index: usize,
    t: usize,
) -> Vec<PartyId> {
    let column: Vec<Gf256> = received.iter().map(|s| Gf256(s[index])).collect();
    off_polynomial(parties, &column, t, t)
}

fn check_len(bytes: &[u8], len: usize, from: PartyId) -> Result<()> {
    if bytes.len() == len {
        Ok(())
    } else {
        Err(MpcError::Malformed {
            from,
            reason: format!(
                "expected {len} binary shares ({len} bytes), got {} bytes",
                bytes.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gf256_is_a_field() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "{a}");
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
        }
        // 0x53 · 0xCA = 1 in AES's field (FIPS 197, §4.2).
        assert_eq!(mul(0x53, 0xca), 1);
        for (a, b, c) in [(3u8, 7u8, 200u8), (0x57, 0x83, 0x13), (255, 254, 2)] {
            assert_eq!(mul(a, b), mul(b, a));
            assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
            assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
        }
    }

    #[test]
    fn lagrange_interpolates() {
        // f(x) = 1 + 5x + 9x^2 at points 1, 2, 3 (parties 0, 1, 2), evaluated at 0 and 4.
        let f = |x: u8| 1 ^ mul(5, x) ^ mul(9, mul(x, x));
        let parties = [PartyId(0), PartyId(1), PartyId(2)];
        for x in [0u8, 4, 77] {
            let got = lagrange(&parties, x)
                .iter()
                .zip(&parties)
                .fold(0, |acc, (&l, &p)| acc ^ mul(l, f(point(p))));
            assert_eq!(got, f(x));
        }
    }
}
