//! Security with abort ([`SecurityLevel::Malicious`]): every product and every random bit of a
//! session is checked, in one batch, before any output is opened.
//!
//! # What is checked, and why it suffices
//!
//! With an honest majority and Shamir sharing, GRR and DN07 multiplication are *secure up to
//! additive attacks* (Genkin, Ishai, Prabhakaran, Sahai, Tromer, STOC 2014, §4; used for exactly
//! this purpose by Chida, Genkin, Hamada, Ikarashi, Kikuchi, Lindell, Nof, CRYPTO 2018, "Fast
//! large-scale honest-majority MPC for malicious adversaries", §2.3 and §3): whatever up to `t`
//! parties send — a wrong resharing (GRR), a wrong share to a king or a wrong king's opening
//! (DN07), a dealt double sharing whose two halves hide different values — the honest parties
//! end with a sharing of `x·y + δ`, where `δ` is fixed by the adversary independently of the
//! secrets. (With `n = 2t + 1` the `t + 1` honest shares always lie on one degree-`t`
//! polynomial, so every sharing has a well-defined value; with `n > 2t + 1` a sharing could be
//! off the polynomial, which the all-`n` consistency check of every opening detects.)
//!
//! Chida et al. (Protocol 3.1, §3.1) carry `[r·x]` beside every wire value and check
//! `Σ α_k ([r·z_k] − r·[z_k]) = 0` at the end. Carrying `[r·x]` would change [`Shared`], which
//! every protocol builds by hand; instead this engine *records* every product `(x_k, y_k,
//! u_k = x_k y_k + δ_k)` (for a sum of products, the vectors and the sum) and computes the
//! shadow products at check time, which costs the same one extra multiplication per product
//! (2x, as Chida) and a constant number of rounds per check, not per product:
//!
//! 1. with secret random `[r]`: `[w_i] = [r]·[x_i]` for every recorded factor, and, for every
//!    random bit `b_j` made since the last check, `[q_j] = [b_j]·[b_j]` (one batch);
//! 2. a public random `ρ` (a random sharing opened with all `n` shares and the consistency
//!    check), drawn *after* every error above is fixed; `α_k = ρ^k`, `β_j = ρ^(K+j)`;
//! 3. one sum of products (a single degree reduction):
//!    `[Z] = Σ_k α_k Σ_i [w_ki]·[y_ki] + [r]·(Σ_j β_j ([q_j] − [b_j]) − Σ_k α_k [u_k])`;
//! 4. `[Z·s]` for a fresh secret random `[s]`, opened with all `n` shares and the consistency
//!    check; the session passes iff it is zero.
//!
//! Honest runs give `Z = 0`. With errors, `Z = A − r·D`, where `D = Σ α_k δ_k − Σ β_j (b_j² −
//! b_j + δ'_j)` and `A` collects the errors of steps 1 and 3 (times values that do not depend on
//! `r`). No party knows `r` (it only ever enters products), so if `D ≠ 0`, `Z = 0` with
//! probability `1/|F|`; and `D = 0` while some `δ_k`, `δ'_j` or `b_j² − b_j` is non-zero has
//! probability at most `(K + B)/|F|` over `ρ` (Schwartz–Zippel; `|F| ≈ 2^252`). If only steps 1
//! or 3 were attacked (`D = 0`, `A ≠ 0`) the check fails too, which only aborts. Step 4 makes
//! the opened value uniform whenever it is not zero, so a failed check reveals nothing about the
//! secrets (`A` alone would reveal a combination of them).
//!
//! Random bits are checked as `b² = b` through the same combination, so dealt bits (XOR) and
//! bits from the squaring trick alike are verified; masking integers for comparisons and
//! truncation are, under this level, built from such bits (a dealt integer could not be checked
//! to lie in its range, and one out of range would silently flip results).
//!
//! # When the check runs
//!
//! Before every output opening ([`Engine::open`], [`Engine::open_to`], commitments) and
//! whenever [`Engine::verify`] is called, and also once the recorded products exceed
//! [`MAX_PENDING`] (memory). Openings of *masked* values inside comparisons and truncation run
//! before the check: they reveal `x + δ + mask`, where `δ` is known to the adversary and the mask
//! hides `x`, so they reveal nothing; their wrong consequences are caught by the check before
//! any result leaves the session.
//!
//! A caller that hands shares out without opening them (a worker's job outputs) calls
//! [`Engine::verify`] first; the worker does so before it commits to outputs or stages
//! updates (`worker/src/jobs.rs`).
//!
//! Under [`Randomness::Prss`](super::Randomness) random values and doubles come from PRSS
//! (sound here, see [`super::prss`]) and comparisons keep the field path with checked bits (the
//! edaBits path runs in GF(2^8), outside this check). Owners' inputs (consistent shares,
//! declared ranges) are checked by [`Engine::check_inputs`] (`owner_inputs.rs`), and jobs'
//! input rules by their callers. Naming the cheating party is not attempted (see
//! [`Engine::as_integrity`]'s comment).

use super::{Engine, SecurityLevel};
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;

/// Recorded factors after which a check runs even without an opening (bounds the memory of a
/// session: three field elements a factor).
pub const MAX_PENDING: usize = 1 << 20;

/// Products and random bits not yet checked.
#[derive(Default)]
pub(crate) struct Pending<F> {
    /// The left factors, flattened.
    x: Vec<F>,
    /// The right factors, flattened.
    y: Vec<F>,
    /// The reduced results: one per product (per sum of `width` products).
    u: Vec<F>,
    /// Runs of results of one width: `(results, width)`.
    widths: Vec<(usize, usize)>,
    /// Random bits made since the last check.
    bits: Vec<F>,
}

impl<F: Field> Pending<F> {
    fn is_empty(&self) -> bool {
        self.u.is_empty() && self.bits.is_empty()
    }
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Whether this session runs with abort against malicious parties.
    pub(crate) fn malicious(&self) -> bool {
        self.config.security == SecurityLevel::Malicious
    }

    /// Records sums of products `u_k = Σ_{i<width} x_ki y_ki` for the next check (malicious
    /// sessions only).
    pub(crate) fn record_products(&mut self, x: &[F], y: &[F], width: usize, u: &[F]) {
        if !self.malicious() || u.is_empty() {
            return;
        }
        let p = &mut self.pending;
        p.x.extend_from_slice(x);
        p.y.extend_from_slice(y);
        p.u.extend_from_slice(u);
        match p.widths.last_mut() {
            Some((count, w)) if *w == width => *count += u.len(),
            _ => p.widths.push((u.len(), width)),
        }
    }

    /// Records random bits for the next check (malicious sessions only).
    pub(crate) fn record_bits(&mut self, bits: &[F]) {
        if self.malicious() {
            self.pending.bits.extend_from_slice(bits);
        }
    }

    /// Runs the check when the recorded products outgrow [`MAX_PENDING`]. Called by the public
    /// operations (`mul`, `dot`, comparisons, truncation), never from inside what the check
    /// itself runs.
    pub(crate) async fn verify_if_full(&mut self) -> Result<()> {
        if self.pending.x.len() >= MAX_PENDING {
            self.verify().await?;
        }
        Ok(())
    }

    /// Checks every product and random bit since the last check (see the module doc): does
    /// nothing in a semi-honest session or when nothing is pending; otherwise about four
    /// multiplication rounds and two openings, whatever the number of products. Fails with
    /// [`MpcError::IntegrityCheckFailed`] when some party deviated.
    pub async fn verify(&mut self) -> Result<()> {
        if !self.malicious() || self.pending.is_empty() {
            return Ok(());
        }
        let Pending {
            x,
            y,
            u,
            widths,
            bits,
        } = std::mem::take(&mut self.pending);
        let (factors, nbits) = (x.len(), bits.len());
        self.reserve(factors + nbits + 5, 0).await?;
        let secrets = self.random(3).await?.into_shares();
        let (r, s, coin) = (secrets[0], secrets[1], secrets[2]);

        // 1. Shadow products r·x and the bits' squares, in one batch.
        let left: Vec<F> = std::iter::repeat_n(r, factors)
            .chain(bits.iter().copied())
            .collect();
        let right: Vec<F> = x.into_iter().chain(bits.iter().copied()).collect();
        let shadow = self
            .reduce(left.len(), || {
                left.iter().zip(&right).map(|(&a, &b)| a * b).collect()
            })
            .await?;
        drop((left, right));
        let (w, squares) = shadow.split_at(factors);

        // 2. The public coin, once every error above is fixed.
        let rho = self.open_raw(&[coin], self.params.t()).await?[0];

        // 3. Z = Σ α_k Σ_i w_ki y_ki + r (Σ β_j (q_j − b_j) − Σ α_k u_k), one reduction.
        let mut alpha = rho;
        let mut combined = F::zero(); // Σ β_j (q_j − b_j) − Σ α_k u_k, local and linear
        let mut z_local = F::zero();
        let (mut at, mut k) = (0usize, 0usize);
        for &(count, width) in &widths {
            for _ in 0..count {
                let sum: F = (at..at + width).map(|i| w[i] * y[i]).sum();
                z_local += alpha * sum;
                combined -= alpha * u[k];
                alpha *= rho;
                at += width;
                k += 1;
            }
        }
        for (q, b) in squares.iter().zip(&bits) {
            combined += alpha * (*q - *b);
            alpha *= rho;
        }
        z_local += r * combined;
        let z = self.reduce(1, || vec![z_local]).await?[0];

        // 4. Z·s, opened with all n shares.
        let zs = self.reduce(1, || vec![z * s]).await?;
        let opened = self.open_raw(&zs, self.params.t()).await?;
        if opened[0].is_zero() {
            Ok(())
        } else {
            Err(MpcError::IntegrityCheckFailed {
                check: "multiplication",
                party: None,
            })
        }
    }

    /// Under the malicious level, an opening's inconsistent shares are an integrity failure;
    /// other errors pass unchanged. No party is named: the reconstruction interpolates from
    /// the first `t + 1` shares, so the share it finds off the polynomial may be an honest
    /// one when a cheater is among those first; with `n = 2t + 1` no decoder can tell which
    /// of the `n` shares is wrong (naming needs `n >= 2t + 2` and a consistent subset of
    /// `2t + 1`, not built yet).
    pub(crate) fn as_integrity(&self, e: MpcError) -> MpcError {
        match e {
            MpcError::InconsistentShares { .. } if self.malicious() => {
                MpcError::IntegrityCheckFailed {
                    check: "opening consistency",
                    party: None,
                }
            }
            e => e,
        }
    }
}
