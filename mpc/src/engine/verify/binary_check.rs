//! The malicious check of the binary domain's ANDs (GRR over GF(2^8), `engine/binary.rs`):
//! every product `(x_k, y_k, z_k)` recorded by `and_bytes` under
//! [`SecurityLevel::Malicious`](crate::engine::SecurityLevel) is checked, in one batch, before
//! anything derived from it is opened.
//!
//! GRR over GF(2^8) is secure up to additive attacks like GRR over the prime field (Genkin,
//! Ishai, Prabhakaran, Sahai, Tromer, STOC 2014, §4, for any field; Chida et al., CRYPTO 2018,
//! §2.3): whatever up to `t` parties send, the honest parties end with a sharing of
//! `z_k = x_k y_k + d_k`, `d_k` in GF(2^8) fixed independently of the secrets. A check over
//! GF(2^8) itself would miss a non-zero `Σ α_k d_k` with probability about `1/256`, so the
//! claim is lifted to GF(2^64) (`gf64.rs`): GF(2^8) embeds in it, and a degree-`t` Shamir
//! sharing over GF(2^8) at points `i + 1` is, embedded share by share, a degree-`t` sharing of
//! the embedded secret at the embedded points. Then, as for field products (`verify.rs`,
//! `compress.rs`; Goyal, Song, Zhu, CRYPTO 2020, §6.2, compression factor 2; Chida et al.,
//! Protocol 3.1, for the last claim):
//!
//! 1. **One claim.** A public seed, opened after every product is fixed (a random field
//!    sharing opened with all `n` shares and the consistency check), expands by ChaCha12 into
//!    coefficients `α_k` in GF(2^64); `X_k = α_k φ(x_k)`, `Y_k = φ(y_k)`,
//!    `z = Σ α_k φ(z_k)` (all local), and the claim is `<X, Y> = z`. If some `d_k ≠ 0`, then
//!    `<X, Y> − z = Σ α_k φ(d_k)` is a non-zero linear form in independent uniform `α`, zero
//!    with probability `2^-64` (the coefficients are a PRG's output on a public seed drawn
//!    after the errors, the standard expansion of a coin toss). When the claim will be
//!    halved, the coefficients are a tensor instead, `α_i = ρ_i` and `α_(half+i) = β ρ_i`
//!    (`first_halving`): the form is then a non-zero polynomial of degree 2 in `(ρ, β)`,
//!    zero with probability `2/2^64`, and the first halving is computed from the bytes.
//! 2. **Halving**, while the claim is longer than the check base: with `f(0) = X_1`,
//!    `f(1) = X_2` (so `f(c) = X_1 + c (X_1 + X_2)`: characteristic 2 has no point `2`, so the
//!    three points are `0`, `1` and `x`; `0`, `1` and `φ(2)` for the first halving, where
//!    `g(φ(2))` then stays in the embedded GF(2^8) and every sum is taken in 256 buckets per
//!    embedded byte, with no GF(2^64) product an AND), the parties reduce `[h_0] = <X_1, Y_1>` and
//!    `[h_x] = <f(x), g(x)>` (one GRR round over GF(2^64), secure up to additive errors), set
//!    `[h_1] = [z] + [h_0]`, open a public coin `c` and continue with `f(c)`, `g(c)`, `H'(c)`.
//!    A false claim stays false except with probability `2/2^64` (two distinct degree-2
//!    polynomials agree on at most 2 points).
//! 3. **The last claim** with secret random `[r]`, `[s]` in GF(2^64) (from the PRSS keys,
//!    [`super::super::prss`]): `[w_i] = [r][X_i]`, `[Z] = Σ [w_i][Y_i] − [r][z]`, `[Z·s]`
//!    opened with all `n` shares and the consistency check; zero or an abort
//!    ([`MpcError::IntegrityCheckFailed`] with check `"binary multiplication"`). A false claim
//!    passes with probability `2^-64`; `Z·s` is uniform when `Z ≠ 0`, so nothing leaks.
//!
//! Soundness error: `(2L + 3)/2^64` for `L = ⌈log2(K / base)⌉` halvings of `K` ANDs (below
//! `2^-58` for every batch this engine makes: `K` is at most [`MAX_PENDING_ANDS`] `= 2^22`
//! plus one `and_bytes` batch, so `L` stays below 20), plus the
//! coins' statistical distance from uniform (a field element's low 64 bits: `2^-189`). Cost:
//! about `1.5 K` carry-less products (`clmul.rs`: the CPU's `PCLMULQDQ` where there is one;
//! half a product an AND to fold the first halving, one over all later halvings' sums,
//! reduced once a sum), `K` multiplications by a later halving's coin (the instruction, or a
//! table without it), `2L + 5` rounds, and `8 (n − 1)` bytes a party per reduced element (two a
//! halving, `base + 2` at the end). Each fold computes the next halving's sums in the same pass
//! over the vectors (`binary_claim.rs`; the same values, so the argument above is unchanged).
//!
//! Why the rest of the edaBits comparison needs no other check: see `engine/edabits.rs`.

use bytes::Bytes;
use rand::RngCore;

use super::binary_claim::{A, FirstFold, Fold, combine, first_halving, through_three};
use super::clmul;
use super::compress::halvings;
use super::gf64::{self, X, embed, mul, reduce};
use crate::engine::binary_grr::BinaryField;
use crate::engine::{Engine, binary, prss};
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;
use crate::party::PartyId;

/// Recorded ANDs after which a check runs inside `and_bytes` (bounds a session's memory: three
/// bytes an AND pending, sixteen while checked).
pub const MAX_PENDING_ANDS: usize = 1 << 22;

/// A field element's low 64 bits (a public coin in GF(2^64)).
fn low_word<F: Field>(v: &F) -> u64 {
    v.to_canonical_limbs()[0]
}

fn encode(values: &[u64]) -> Bytes {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode(bytes: &[u8], len: usize, from: PartyId) -> Result<Vec<u64>> {
    if bytes.len() != 8 * len {
        return Err(MpcError::Malformed {
            from,
            reason: format!(
                "expected {len} GF(2^64) elements ({} bytes), got {} bytes",
                8 * len,
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunks")))
        .collect())
}

/// Party `p`'s evaluation point in GF(2^64).
fn wide_point(p: PartyId) -> u64 {
    embed(binary::point(p))
}

/// GF(2^64) for GRR (`engine/binary_grr.rs`): the check's degree reductions.
impl BinaryField for u64 {
    fn times(self, other: u64) -> u64 {
        mul(self, other)
    }
    fn point(p: PartyId) -> u64 {
        wide_point(p)
    }
    fn lagrange_at_zero(parties: &[PartyId]) -> Vec<u64> {
        let points: Vec<u64> = parties.iter().map(|&d| wide_point(d)).collect();
        gf64::lagrange(&points, 0)
    }
    fn random(rng: &mut impl RngCore, len: usize) -> Vec<u64> {
        (0..len).map(|_| rng.next_u64()).collect()
    }
    fn encode(values: Vec<u64>) -> Bytes {
        encode(&values)
    }
    fn axpy_received(out: &mut [u64], c: u64, bytes: &[u8], from: PartyId) -> Result<()> {
        let values = decode(bytes, out.len(), from)?;
        Self::axpy(out, c, &values);
        Ok(())
    }
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Records ANDs `z = x · y` for the next check (malicious sessions only).
    pub(crate) fn record_ands(&mut self, x: &[u8], y: &[u8], z: &[u8]) {
        if self.malicious() {
            self.pending_ands.extend(x, y, z);
        }
    }

    /// Checks every AND recorded since the last check (see the module doc); nothing to do in a
    /// semi-honest session or with none pending. Fails with
    /// [`MpcError::IntegrityCheckFailed`] when some party deviated.
    pub(crate) async fn verify_ands(&mut self) -> Result<()> {
        if !self.malicious() || self.pending_ands.len() == 0 {
            return Ok(());
        }
        if !prss::supported(self.params) {
            return Err(MpcError::InvalidArgument {
                op: "binary check",
                reason: "the check of binary ANDs needs PRSS keys (C(n, t) <= 35)".into(),
            });
        }
        let pending = std::mem::take(&mut self.pending_ands);
        let halvings = halvings(pending.len(), self.check_base);
        let secrets = self.prss().await?.random_wide(2);
        let (r, s) = (secrets[0], secrets[1]);
        let coins = self.random(halvings + 1).await?.into_shares();
        let t = self.params.t();

        // 1. One claim, once every AND is fixed.
        let seed = self.open_raw(&[coins[0]], t).await?[0];
        let mut bytes = [0u8; 32];
        for (chunk, limb) in bytes.chunks_exact_mut(8).zip(seed.to_canonical_limbs()) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        // 2. Halve it down to the base: the first halving from the bytes, the rest generic.
        // Each fold also computes the next halving's sums (the same values, one pass fewer).
        let (mut xs, mut ys, mut z, mut sums) = match halvings {
            0 => {
                let (xs, ys, z) = combine(&pending, bytes);
                (xs, ys, z, (0, 0))
            }
            _ => {
                let first = first_halving(&pending, bytes);
                let h = self.reduce_binary(&[first.h0, first.ha]).await?;
                let c = low_word(&self.open_raw(&[coins[1]], t).await?[0]);
                let (xs, ys, sums) = clmul::run(FirstFold {
                    first: &first,
                    pending: &pending,
                    c,
                });
                let z = through_three(h[0], first.z ^ h[0], h[1], embed(A), c);
                (xs, ys, z, sums)
            }
        };
        drop(pending);
        for coin in coins.iter().skip(2) {
            if xs.len() % 2 == 1 {
                xs.push(0);
                ys.push(0);
            }
            let h = self
                .reduce_binary(&[reduce(sums.0), reduce(sums.1)])
                .await?;
            let c = low_word(&self.open_raw(&[*coin], t).await?[0]);
            sums = clmul::run(Fold {
                xs: &mut xs,
                ys: &mut ys,
                c,
            });
            z = through_three(h[0], z ^ h[0], h[1], X, c);
        }

        // 3. The last claim, with secret r and s.
        let rx: Vec<u64> = xs.iter().map(|&v| mul(r, v)).collect();
        let w = self.reduce_binary(&rx).await?;
        let local = w
            .iter()
            .zip(&ys)
            .fold(mul(r, z), |acc, (&a, &b)| acc ^ mul(a, b));
        let big_z = self.reduce_binary(&[local]).await?[0];
        let zs = self.reduce_binary(&[mul(big_z, s)]).await?;
        if self.open_wide(&zs).await?[0] == 0 {
            Ok(())
        } else {
            Err(MpcError::IntegrityCheckFailed {
                check: "binary multiplication",
                parties: Vec::new(),
            })
        }
    }

    /// Opens degree-`t` sharings over GF(2^64) to every party, checking that all `n` shares lie
    /// on one polynomial. One round.
    async fn open_wide(&mut self, shares: &[u64]) -> Result<Vec<u64>> {
        let t = self.params.t();
        let len = shares.len();
        let round = self.next_round();
        let payload = encode(shares);
        for p in self.others() {
            self.net.send(p, round, payload.clone())?;
        }
        let parties: Vec<PartyId> = self.params.parties().collect();
        let mut received = Vec::with_capacity(parties.len());
        for &p in &parties {
            received.push(match p == self.me {
                true => shares.to_vec(),
                false => decode(&self.net.recv(p, round).await?, len, p)?,
            });
        }
        let base: Vec<u64> = parties[..=t].iter().map(|&p| wide_point(p)).collect();
        let at = |x: u64| -> Vec<u64> {
            let lambda = gf64::lagrange(&base, x);
            (0..len)
                .map(|e| (0..=t).fold(0, |acc, i| acc ^ mul(lambda[i], received[i][e])))
                .collect()
        };
        for &extra in &parties[t + 1..] {
            let expect = at(wide_point(extra));
            if let Some(index) = (0..len).find(|&e| expect[e] != received[extra.index()][e]) {
                return Err(self.as_integrity(MpcError::InconsistentShares {
                    party: extra,
                    degree: t,
                    index,
                }));
            }
        }
        Ok(at(0))
    }
}
