//! Preprocessing: random double sharings, random bits and random masking integers, produced in
//! batches ahead of (or just before) the operations that consume them.
//!
//! One *dealing round* produces everything an operation needs at once:
//! - **double sharings** `([r]_t, [r]_2t)` by batch extraction (Damgård–Nielsen 2007, §3,
//!   "double random sharings"): every party deals `D` random values at both degrees, and each
//!   party applies the `(n-t) × n` Vandermonde matrix `M[k][j] = (j+1)^k` to the `n` dealt
//!   sharings. Any `n - t` columns of `M` are invertible, so the `n - t` outputs are uniform
//!   and unknown to any `t` parties: `D · (n - t)` doubles for `D` dealt pairs per party;
//! - **random bits** as the XOR of bits dealt by parties `0..=t`: at least one dealer is honest,
//!   so the XOR is uniform and unknown. XOR costs a multiplication (`a ⊕ b = a + b - 2ab`), done
//!   as a tree of `ceil(log2(t+1))` multiplication rounds after the dealing round;
//! - **masking integers** `r < (t+1)·2^b` as the sum of uniform `b`-bit integers dealt by parties
//!   `0..=t` (no bit decomposition needed; the honest dealer's term hides the masked value up to
//!   statistical distance `2^-40` when `b` exceeds the value's bits by 40).
//!
//! Random bits come from one of two [`BitProtocol`]s, chosen per session:
//! - [`BitProtocol::DealtXor`], above: `t` multiplications per bit and `ceil(log2(t+1))` rounds
//!   after the dealing round;
//! - [`BitProtocol::Squaring`], the squaring trick (Damgård, Fitzi, Kiltz, Nielsen, Toft, TCC
//!   2006, §3, random bits; `l = 5 mod 8` makes the square root one exponentiation): from two
//!   double sharings `(r, ·)` and `(ρ_t, ρ_2t)`, open the degree-`2t` sharing
//!   `[r]_t · [r]_t + [ρ]_2t - [ρ]_t` — `r²` masked by a uniform degree-`2t` sharing of zero,
//!   so the opening reveals `r²` and nothing else — then every party computes the same root
//!   `s = sqrt(r²)` and the bit `(r / s + 1) / 2` locally (`r / s = ±1`, each sign equally
//!   likely). No multiplication protocol and one round after the dealing, whatever `t`; but a
//!   square root and an inversion (~400 field multiplications) per bit, on every party.
//!
//! Which is faster depends on `t`, the links and the cores (`BENCHMARKS.md`,
//! "Comparisons"; `throughput --random-bits`).

use serde::{Deserialize, Serialize};

use super::{Engine, MulProtocol};
use crate::error::MpcError;
use crate::error::Result;
use crate::field::pow2::{random_below_pow2, weighted};
use crate::field::{Field, batch_inverse};
use crate::net::{Network, codec};
use crate::party::PartyId;
use crate::shamir;
use crate::share::Shared;

/// How a session makes its random bits (every party alike; see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BitProtocol {
    /// XOR of bits dealt by parties `0..=t` (the default).
    #[default]
    DealtXor,
    /// The squaring trick: a masked opening of `r²` and a public square root.
    Squaring,
}

impl std::str::FromStr for BitProtocol {
    type Err = crate::error::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let choices = [
            ("xor", BitProtocol::DealtXor),
            ("dealt_xor", BitProtocol::DealtXor),
            ("squaring", BitProtocol::Squaring),
        ];
        Self::Err::pick("random-bit protocol", "xor or squaring", &choices, s)
    }
}

impl std::fmt::Display for BitProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BitProtocol::DealtXor => "xor",
            BitProtocol::Squaring => "squaring",
        })
    }
}

/// Preprocessed randomness waiting to be consumed.
#[derive(Default)]
pub(crate) struct Pool<F> {
    dbl_t: Vec<F>,
    dbl_2t: Vec<F>,
    bits: Vec<F>,
}

/// What an operation is about to consume.
#[derive(Default, Debug)]
pub(crate) struct Needs {
    /// Secure multiplications (each needs a double sharing under DN07).
    pub(crate) mults: usize,
    /// Random bits.
    pub(crate) bits: usize,
    /// Masking integers, by their size in bits.
    pub(crate) ints: Vec<u32>,
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Fills the pool so that the next `mults` multiplications and `bits` random bits need no
    /// further preprocessing. One dealing round plus `ceil(log2(t+1))` multiplication rounds
    /// when bits are missing; nothing when the pool already suffices.
    pub async fn reserve(&mut self, mults: usize, bits: usize) -> Result<()> {
        self.preprocess(Needs {
            mults,
            bits,
            ints: Vec::new(),
        })
        .await?;
        Ok(())
    }

    /// `len` uniformly random secret values (field elements).
    pub async fn random(&mut self, len: usize) -> Result<Shared<F>> {
        if self.prss_on() {
            let shares = self.prss().await?.random(len);
            return Ok(Shared {
                shares,
                bits: crate::share::MAX_BITS,
                frac: 0,
                boolean: false,
            });
        }
        let short = len.saturating_sub(self.pool.dbl_t.len());
        if short > 0 {
            self.deal_round(short, 0, &[]).await?;
        }
        let (t, _) = self.take_doubles(len);
        Ok(Shared {
            shares: t,
            bits: crate::share::MAX_BITS,
            frac: 0,
            boolean: false,
        })
    }

    /// `len` uniformly random secret bits.
    pub async fn random_bits(&mut self, len: usize) -> Result<Shared<F>> {
        self.preprocess(Needs {
            mults: 0,
            bits: len,
            ints: Vec::new(),
        })
        .await?;
        Ok(Shared::from_bit_shares(self.take_bits(len)))
    }

    /// `len` secret masking integers for statistical masking in protocols: each the sum of
    /// uniform `bits`-bit integers dealt by parties `0..=t`, so in `[0, (t+1) 2^bits)`, and,
    /// with one honest dealer, hiding a value of `bits - 40` bits added to it up to statistical
    /// distance `2^-40`. Not uniform, and no party knows one. One dealing round (`n` messages a
    /// party), instead of `bits` random bits each. Under [`Randomness::Prss`](super::Randomness)
    /// the terms are the `C(n, t)` replicated PRSS integers instead (in `[0, C(n,t) 2^bits)`,
    /// the declared bound says so), and no round at all.
    pub async fn random_masks(&mut self, len: usize, bits: u32) -> Result<Shared<F>> {
        let terms = match self.prss_on() {
            true => super::prss::subsets(self.params.n(), self.params.t()),
            false => self.params.t() + 1,
        };
        let bound =
            crate::share::check_bits("random_masks", bits + crate::share::log2_ceil(terms))?;
        let shares = self
            .preprocess(Needs {
                mults: 0,
                bits: 0,
                ints: vec![bits; len],
            })
            .await?;
        Ok(Shared {
            shares,
            bits: bound,
            frac: 0,
            boolean: false,
        })
    }

    /// Ensures the pool covers `needs` and returns the masking integers asked for.
    pub(crate) async fn preprocess(&mut self, mut needs: Needs) -> Result<Vec<F>> {
        // Under the malicious level with dealt randomness masking integers are made of checked
        // random bits: a dealt integer could not be checked to lie in its range (see
        // `verify.rs`). PRSS integers are in range by construction (see `prss.rs`).
        let int_bits: Vec<u32> = match self.malicious() && !self.prss_on() {
            true => std::mem::take(&mut needs.ints),
            false => Vec::new(),
        };
        let int_bit_count: usize = int_bits.iter().map(|&b| b as usize).sum();
        needs.bits += int_bit_count;
        let mut ints = self.preprocess_dealt(needs).await?;
        if int_bit_count > 0 {
            let bits = self.take_bits(int_bit_count);
            let mut at = 0;
            ints = int_bits
                .iter()
                .map(|&b| {
                    let int = weighted(&bits[at..at + b as usize]);
                    at += b as usize;
                    int
                })
                .collect();
        }
        Ok(ints)
    }

    /// [`Engine::preprocess`] with masking integers dealt.
    async fn preprocess_dealt(&mut self, needs: Needs) -> Result<Vec<F>> {
        let t = self.params.t();
        let missing_bits = needs.bits.saturating_sub(self.pool.bits.len());
        let squaring = self.config.bits == BitProtocol::Squaring;
        // Squaring takes two doubles a bit (the value and the zero mask) under either
        // multiplication protocol; XOR multiplies t times a bit.
        let (bit_doubles, bit_mults, dealt) = match squaring {
            true => (2 * missing_bits, 0, 0),
            false => (0, missing_bits * t, missing_bits),
        };
        let doubles = bit_doubles
            + match self.config.mul {
                MulProtocol::Dn07 => needs.mults + bit_mults,
                MulProtocol::Grr => 0,
            };
        let missing_doubles = doubles.saturating_sub(self.pool.dbl_t.len());
        if missing_doubles == 0 && missing_bits == 0 && needs.ints.is_empty() {
            return Ok(Vec::new());
        }
        let (dealt_bits, ints) = self.deal_round(missing_doubles, dealt, &needs.ints).await?;
        if missing_bits > 0 {
            let bits = match squaring {
                true => self.squared_bits(missing_bits).await?,
                false => self.xor_tree(dealt_bits).await?,
            };
            self.record_bits(&bits);
            self.pool.bits.extend(bits);
        }
        Ok(ints)
    }

    /// `len` random bits by the squaring trick, from `2 len` pooled doubles: one opening round.
    async fn squared_bits(&mut self, len: usize) -> Result<Vec<F>> {
        let (r, _) = self.take_doubles(len);
        let (rho_t, rho_2t) = self.take_doubles(len);
        let masked: Vec<F> = (0..len)
            .map(|i| r[i] * r[i] + rho_2t[i] - rho_t[i])
            .collect();
        let squares = self.open_raw(&masked, 2 * self.params.t()).await?;
        // r / s for the common root s; then (r / s + 1) / 2. The inverses in one batch.
        let mut roots = Vec::with_capacity(len);
        for sq in &squares {
            match sq.sqrt() {
                Some(s) if !s.is_zero() => roots.push(s),
                // r = 0 (probability 1/l) or a non-square (a corrupted opening).
                _ if self.malicious() => {
                    return Err(MpcError::IntegrityCheckFailed {
                        check: "random bits (the squaring trick opened 0 or a non-square)",
                        parties: Vec::new(),
                    });
                }
                _ => {
                    return Err(MpcError::InvalidArgument {
                        op: "random_bits",
                        reason: "the squaring trick opened 0 or a non-square".into(),
                    });
                }
            }
        }
        let inverses = batch_inverse(&roots).expect("square roots checked non-zero");
        let half = F::from_u128(2).inverse().expect("2 is invertible");
        Ok(r.iter()
            .zip(&inverses)
            .map(|(&r, &inv)| r * inv * half + half)
            .collect())
    }

    /// Takes `len` double sharings from the pool (the caller made sure there are enough).
    pub(crate) fn take_doubles(&mut self, len: usize) -> (Vec<F>, Vec<F>) {
        if len == self.pool.dbl_t.len() {
            return (
                std::mem::take(&mut self.pool.dbl_t),
                std::mem::take(&mut self.pool.dbl_2t),
            );
        }
        let at = self.pool.dbl_t.len() - len;
        (
            self.pool.dbl_t.split_off(at),
            self.pool.dbl_2t.split_off(at),
        )
    }

    /// Takes `len` random bits from the pool (the caller made sure there are enough).
    pub(crate) fn take_bits(&mut self, len: usize) -> Vec<F> {
        self.random_bits += len as u64;
        if len == self.pool.bits.len() {
            return std::mem::take(&mut self.pool.bits);
        }
        let at = self.pool.bits.len() - len;
        self.pool.bits.split_off(at)
    }

    /// Double sharings in the pool.
    pub(crate) fn pooled_doubles(&self) -> usize {
        self.pool.dbl_t.len()
    }

    /// One dealing round: at least `doubles` double sharings into the pool; from parties
    /// `0..=t`, `bits` dealt bits each (returned per dealer, to be XORed) and one masking
    /// integer per entry of `ints` (returned summed over the dealers).
    ///
    /// Under PRSS the doubles and integers are made locally ([`super::prss`]), and the round
    /// runs only for dealt bits.
    pub(crate) async fn deal_round(
        &mut self,
        doubles: usize,
        bits: usize,
        ints: &[u32],
    ) -> Result<(Vec<Vec<F>>, Vec<F>)> {
        if self.prss_on() {
            let prss = self.prss().await?;
            let (dt, d2t) = prss.doubles(doubles);
            let ints = prss.ints(ints);
            self.pool.dbl_t.extend(dt);
            self.pool.dbl_2t.extend(d2t);
            if bits == 0 {
                return Ok((Vec::new(), ints));
            }
            let (dealt, _) = self.deal_round_dealt(0, bits, &[]).await?;
            return Ok((dealt, ints));
        }
        self.deal_round_dealt(doubles, bits, ints).await
    }

    /// [`Engine::deal_round`] with every value dealt.
    async fn deal_round_dealt(
        &mut self,
        doubles: usize,
        bits: usize,
        ints: &[u32],
    ) -> Result<(Vec<Vec<F>>, Vec<F>)> {
        let (n, t) = (self.params.n(), self.params.t());
        let per_party = doubles.div_ceil(n - t);
        let is_dealer = |p: PartyId| p.index() <= t;
        let round = self.next_round();

        // What this party deals: D values at degrees t and 2t; as a dealer, bits and integers.
        let secrets: Vec<F> = (0..per_party).map(|_| F::random(&mut self.rng)).collect();
        let mut deg_t = shamir::deal(&secrets, t, n, &mut self.rng);
        let mut deg_2t = shamir::deal(&secrets, 2 * t, n, &mut self.rng);
        let (mut my_bits, mut my_ints) = (Vec::new(), Vec::new());
        if is_dealer(self.me) {
            let plain_bits = random_plain_bits::<F, _>(&mut self.rng, bits);
            my_bits = shamir::deal(&plain_bits, t, n, &mut self.rng);
            let plain_ints: Vec<F> = ints
                .iter()
                .map(|&b| random_below_pow2(&mut self.rng, b))
                .collect();
            my_ints = shamir::deal(&plain_ints, t, n, &mut self.rng);
        }
        let mine = |v: &mut Vec<Vec<F>>, p: PartyId| {
            if v.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut v[p.index()])
            }
        };
        for p in self.others() {
            let parts = [
                mine(&mut deg_t, p),
                mine(&mut deg_2t, p),
                mine(&mut my_bits, p),
                mine(&mut my_ints, p),
            ];
            let refs: Vec<&[F]> = parts.iter().map(|v| v.as_slice()).collect();
            self.net.send(p, round, codec::encode_many(&refs))?;
        }

        // Gather every dealer's shares for this party.
        let me = self.me;
        let mut from_t = Vec::with_capacity(n);
        let mut from_2t = Vec::with_capacity(n);
        let mut dealt_bits = Vec::new();
        let mut int_sum = vec![F::zero(); ints.len()];
        for p in self.params.parties() {
            let (st, s2t, b, i) = if p == me {
                (
                    mine(&mut deg_t, me),
                    mine(&mut deg_2t, me),
                    mine(&mut my_bits, me),
                    mine(&mut my_ints, me),
                )
            } else {
                let (b_len, i_len) = if is_dealer(p) {
                    (bits, ints.len())
                } else {
                    (0, 0)
                };
                let bytes = self.net.recv(p, round).await?;
                let sizes = [per_party, per_party, b_len, i_len];
                let total: usize = sizes.iter().sum();
                if bytes.len() != total * F::BYTES {
                    // Let the codec phrase the error.
                    codec::decode::<F>(&bytes, total, p)?;
                }
                let mut at = 0;
                let mut parts = sizes.iter().map(|&len| {
                    let part =
                        codec::decode::<F>(&bytes[at * F::BYTES..(at + len) * F::BYTES], len, p);
                    at += len;
                    part
                });
                let mut next = || parts.next().expect("four parts");
                (next()?, next()?, next()?, next()?)
            };
            from_t.push(st);
            from_2t.push(s2t);
            if is_dealer(p) {
                dealt_bits.push(b);
                for (acc, v) in int_sum.iter_mut().zip(i) {
                    *acc += v;
                }
            }
        }

        // Extract n - t doubles from each column of n dealt pairs.
        let matrix: Vec<Vec<F>> = (0..n - t)
            .map(|k| (1..=n as u128).map(|x| pow(F::from_u128(x), k)).collect())
            .collect();
        // Row-major over outputs k, then reordered element-major into the pool.
        let mut out_t = vec![vec![F::zero(); per_party]; n - t];
        let mut out_2t = vec![vec![F::zero(); per_party]; n - t];
        for (k, row) in matrix.iter().enumerate() {
            for (j, &m) in row.iter().enumerate() {
                shamir::axpy(&mut out_t[k], m, &from_t[j]);
                shamir::axpy(&mut out_2t[k], m, &from_2t[j]);
            }
        }
        self.pool.dbl_t.reserve(per_party * (n - t));
        self.pool.dbl_2t.reserve(per_party * (n - t));
        for k in 0..n - t {
            self.pool.dbl_t.extend_from_slice(&out_t[k]);
            self.pool.dbl_2t.extend_from_slice(&out_2t[k]);
        }
        Ok((dealt_bits, int_sum))
    }

    /// XORs the dealers' bit vectors pairwise, level by level.
    pub(crate) async fn xor_tree(&mut self, mut level: Vec<Vec<F>>) -> Result<Vec<F>> {
        while level.len() > 1 {
            let pairs = level.len() / 2;
            let len = level[0].len();
            let mut xs = Vec::with_capacity(pairs * len);
            let mut ys = Vec::with_capacity(pairs * len);
            for k in 0..pairs {
                xs.extend_from_slice(&level[2 * k]);
                ys.extend_from_slice(&level[2 * k + 1]);
            }
            let prods = self.mul_raw(&xs, &ys).await?;
            let two = F::from_u128(2);
            let mut next: Vec<Vec<F>> = (0..pairs)
                .map(|k| {
                    (0..len)
                        .map(|e| xs[k * len + e] + ys[k * len + e] - two * prods[k * len + e])
                        .collect()
                })
                .collect();
            if level.len() % 2 == 1 {
                next.push(level.pop().expect("odd level has a last vector"));
            }
            level = next;
        }
        Ok(level.pop().unwrap_or_default())
    }
}

/// `len` uniform bits as field elements, 64 per RNG draw.
fn random_plain_bits<F: Field, R: rand::RngCore + ?Sized>(rng: &mut R, len: usize) -> Vec<F> {
    let mut out = Vec::with_capacity(len);
    let mut word = 0u64;
    for i in 0..len {
        if i % 64 == 0 {
            word = rng.next_u64();
        }
        out.push(if (word >> (i % 64)) & 1 == 1 {
            F::one()
        } else {
            F::zero()
        });
    }
    out
}

fn pow<F: Field>(x: F, k: usize) -> F {
    (0..k).fold(F::one(), |acc, _| acc * x)
}
