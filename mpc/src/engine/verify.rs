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
//! `Σ α_k ([r·z_k] − r·[z_k]) = 0` at the end: one extra multiplication per product (2x).
//! Carrying `[r·x]` would change [`Shared`](crate::Shared), which every protocol builds by hand;
//! instead this engine *records* every product `(x_k, y_k, u_k = x_k y_k + δ_k)` (for a sum of
//! products, the vectors and the sum) and checks them all at once, at a cost *sublinear* in
//! their number, by the compression of Goyal, Song and Zhu (CRYPTO 2020, "Guaranteed output
//! delivery comes free in honest majority MPC", §6, after the distributed zero-knowledge
//! proofs of Boneh, Boyle, Corrigan-Gibbs, Gilboa, Ishai, CRYPTO 2019, §4.2, as used by Boyle,
//! Gilboa, Ishai, Nof, CCS 2019, §3), with Chida's `r`-check only for the last few elements
//! (`verify/compress.rs`):
//!
//! 1. **One inner product.** A public random `ρ` (a random sharing opened with all `n` shares
//!    and the consistency check), drawn *after* every error above is fixed; `α_k = ρ^k`. Every
//!    recorded sum of products `k` becomes a block of `X = (α_k x_k)`, `Y = (y_k)`, and every
//!    random bit `b_j` (checked as `b_j · b_j = b_j`) an element `α_j b_j` of `X` and `b_j` of
//!    `Y`; the claim is `<X, Y> = z` with `z = Σ α_k u_k + Σ α_j b_j` (all local, linear). If
//!    some `δ_k` (or `b_j² − b_j`) is not zero, `<X, Y> − z = −Σ α_k δ_k − ...` is a non-zero
//!    polynomial of degree at most `K + B` in `ρ`, zero with probability `≤ (K + B)/|F|`
//!    (Schwartz–Zippel; `|F| ≈ 2^252`).
//! 2. **Halving** (GSZ §6.2 with compression factor 2), while `X` is longer than
//!    [`CHECK_BASE`]: split `X = (X_1, X_2)`, `Y = (Y_1, Y_2)` (a zero pair appended when odd);
//!    let `f`, `g` be the vectors of degree-1 polynomials with `f(1) = X_1`, `f(2) = X_2`
//!    (so `f(3) = 2 X_2 − X_1`, additions only), and `H(·) = <f(·), g(·)>` of degree 2. The
//!    parties compute `[h_1] = <X_1, Y_1>` and `[h_3] = <f(3), g(3)>` (two sums of products,
//!    one degree reduction, each secure up to an additive error), set `[h_2] = [z] − [h_1]`,
//!    open a fresh public random `c`, and continue with `(f(c), g(c), H'(c))`, `H'` the
//!    degree-2 polynomial through `(1, h_1), (2, h_2), (3, h_3)`: half the length, all local.
//!    If the claim was false (`<X, Y> ≠ z`), then `H'(1) + H'(2) = z ≠ H(1) + H(2)`, so
//!    `H' ≠ H` whatever errors were added to `h_1`, `h_3` (they are fixed before `c` is
//!    opened); two distinct polynomials of degree 2 agree on at most 2 points, so the new
//!    claim is true with probability `≤ 2/|F|`. A true claim can only turn false (which only
//!    aborts).
//! 3. **The last claim** `<X, Y> = z` (at most [`CHECK_BASE`] elements) by Chida's check
//!    with secret random `[r]` and `[s]`: `[w_i] = [r]·[X_i]` (one batch), then one sum of
//!    products `[Z] = Σ_i [w_i]·[Y_i] − [r]·[z]` (a single degree reduction), and `[Z·s]`
//!    opened with all `n` shares and the consistency check; the session passes iff it is zero.
//!    With errors, `Z = A + r·D` with `D = <X, Y> − z` and `A` collecting the errors of this
//!    step (times values that do not depend on `r`). No party knows `r` (it only ever enters
//!    products), so if `D ≠ 0`, `Z = 0` with probability `1/|F|`; if only this step was
//!    attacked (`D = 0`, `A ≠ 0`) the check fails too, which only aborts. `[Z·s]` is uniform
//!    whenever `Z ≠ 0`, so a failed check reveals nothing about the secrets.
//!
//! Nothing but the public coins and `Z·s` is ever opened, so the check reveals nothing.
//! Soundness error in all: `(K + B + 2L + 2)/|F|` for `L` halvings, below `2^-220`. The cost:
//! about seven local multiplications per recorded factor (three to weigh it, four over all
//! halvings; the three that are inner products — `z`, `h_1`, `h_3` — summed with lazy
//! reduction, [`crate::field::dot`]), `L + 2` reductions of one or two elements and one of at
//! most [`CHECK_BASE`] shadow products, and `2L + 5` rounds under GRR (`3L + 8` under DN07) with
//! `L = ⌈log2(M / CHECK_BASE)⌉` for `M` recorded factors and bits (plus a dealing round for
//! the secrets under dealt randomness) — where the previous (Chida-only) check cost one more
//! multiplication per factor and 5 rounds under GRR.
//!
//! A larger compression factor `k` (GSZ §6.2: `f`, `g` of degree `k − 1` through `k` parts,
//! `H` of degree `2k − 2` from `2k − 1` values, soundness `2(k − 1)/|F|` a step) would save
//! rounds but no local work: a step on `m` elements computes `2k − 2` inner products of
//! length `m/k` and folds both vectors with `k − 1` multiplications an output, `4(k − 1)m/k`
//! in all, and the steps sum to `4M` for every `k`. The rounds are what the check costs
//! least, so the factor stays 2.
//!
//! Random bits are checked as `b² = b` through the same combination, so dealt bits (XOR) and
//! bits from the squaring trick alike are verified; masking integers for comparisons and
//! truncation are, under this level with dealt randomness, built from such bits (a dealt
//! integer could not be checked to lie in its range, and one out of range would silently flip
//! results); PRSS integers are in range by construction ([`super::prss`]) and used as they are.
//!
//! # When the check runs
//!
//! Before every output opening ([`Engine::open`], [`Engine::open_to`], commitments) and
//! whenever [`Engine::verify`] is called, and also once the recorded products exceed
//! [`MAX_PENDING`] (memory). Openings of values under a *statistical* mask (comparisons,
//! decompositions, truncation: `Engine::open_masked`) run the check first too.
//! An error `δ` added to one product is known to the adversary, but carried through a later
//! product with a secret factor `y` it becomes `δ·y`, which a mask of `k + 40` bits does not
//! hide (the opened value would show `y`); checked first, what is opened is the honest masked
//! value. Openings under a uniform mask (the checks' own coins and claims) need no prior check.
//!
//! A caller that hands shares out without opening them (a worker's job outputs) calls
//! [`Engine::verify`] first; the worker does so before it commits to outputs or stages
//! updates (`worker/src/jobs.rs`).
//!
//! Under [`Randomness::Prss`](super::Randomness) random values, masks and doubles come from PRSS
//! (sound here, see [`super::prss`]) and comparisons take the edaBits path: its daBits' field
//! products are recorded here like every other, and its GF(2^8) ANDs are recorded by
//! `and_bytes` and checked in GF(2^64) by [`Engine::verify`] too (`verify/binary_check.rs`;
//! the argument for the whole path is in `engine/edabits.rs`). The edaBits comparison runs the
//! check before each of its two openings. Owners' inputs (consistent shares,
//! declared ranges) are checked by [`Engine::check_inputs`] (`owner_inputs.rs`), and jobs'
//! input rules by their callers. An opening's inconsistent shares name the parties that sent
//! them when `n >= 3t + 1` (`open.rs`, `decode.rs`); no other check names anyone.

mod binary_check;
mod binary_claim;
mod clmul;
mod compress;
pub(crate) mod gf64;

pub use binary_check::MAX_PENDING_ANDS;
pub(crate) use binary_claim::PendingAnds;
pub use compress::CHECK_BASE;

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

    /// Checks every product, random bit and binary AND since the last check (see the module
    /// doc and `verify/binary_check.rs`): does nothing in a semi-honest session or when nothing
    /// is pending. Fails with [`MpcError::IntegrityCheckFailed`] when some party deviated.
    pub async fn verify(&mut self) -> Result<()> {
        self.verify_products().await?;
        self.verify_ands().await
    }

    /// Checks every product and random bit since the last check (see the module doc): does
    /// nothing in a semi-honest session or when nothing is pending; otherwise
    /// `2 ⌈log2(M / CHECK_BASE)⌉ + 5` rounds under GRR for `M` recorded factors and bits, and
    /// about seven local multiplications per factor. Fails with
    /// [`MpcError::IntegrityCheckFailed`] when some party deviated.
    async fn verify_products(&mut self) -> Result<()> {
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
        let base = self.check_base;
        let halvings = compress::halvings(x.len() + bits.len(), base);
        // Doubles for DN07: two per halving, the last claim's shadows, Z and Z·s.
        self.reserve(2 * halvings + base + 4, 0).await?;
        let secrets = self.random(halvings + 3).await?.into_shares();
        let (r, s, coins) = (secrets[0], secrets[1], &secrets[2..]);

        // 1. One inner-product claim, once every error above is fixed.
        let rho = self.open_raw(&[coins[0]], self.params.t()).await?[0];
        let (mut xs, mut ys, mut z) = compress::combine(x, y, &u, &widths, bits, rho);
        drop(u);

        // 2. Halve it down to at most `base` elements; each fold makes the next halving's sums
        // in the same pass (the same values as summing afterwards).
        if halvings > 0 {
            compress::pad(&mut xs, &mut ys);
        }
        let mut sums = compress::Sums::of(&xs, &ys);
        for &coin in &coins[1..] {
            (z, sums) = self.halve(&mut xs, &mut ys, z, sums, coin).await?;
            if xs.len() > base.max(1) {
                compress::pad(&mut xs, &mut ys);
            }
        }
        debug_assert!(xs.len() <= base.max(1));

        // 3. Chida's check of the last claim.
        self.check_last_claim(&xs, &ys, z, r, s).await
    }

    /// Under the malicious level, inconsistent shares are an integrity failure; other errors
    /// pass unchanged. No party is named here: the error's party is only the first one found
    /// off the polynomial through the first `t + 1` shares, which may be honest when a cheater
    /// is among those. Openings name the cheaters themselves where the shares allow it (with
    /// `n >= 3t + 1`, by decoding: `open.rs`, `decode.rs`).
    pub(crate) fn as_integrity(&self, e: MpcError) -> MpcError {
        match e {
            MpcError::InconsistentShares { .. } if self.malicious() => {
                MpcError::IntegrityCheckFailed {
                    check: "opening consistency",
                    parties: Vec::new(),
                }
            }
            e => e,
        }
    }
}
