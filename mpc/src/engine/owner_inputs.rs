//! Owners' inputs checked by the workers under [`SecurityLevel::Malicious`](super::SecurityLevel):
//! [`Engine::check_inputs`] proves, before a job's protocol uses them, that every owner dealt
//! consistent shares and that every value lies in its column's declared range. Semi-honest
//! sessions skip it (and pay nothing).
//!
//! # Consistent shares
//!
//! An owner deals each value to the `n` workers; a cheating owner could deal shares that lie on
//! no degree-`t` polynomial, so that different subsets of workers would reconstruct different
//! values. With a public `ρ` drawn (a random sharing opened with all `n` shares and the
//! consistency check) after the inputs are fixed, every input `d` opens
//! `Σ_j ρ^(j+1) [v_j] + [r_d]` with all `n` shares and the consistency check; `[r_d]` is a
//! fresh random sharing, so the opening is uniform and reveals nothing about the values. If
//! some `v_j`'s shares are off every degree-`t` polynomial, the combination is too except with
//! probability `len/|F|` over `ρ` (its deviation from the polynomial through the first `t + 1`
//! shares is a non-zero polynomial in `ρ`). This is the batched consistency check of the
//! honest-majority literature (e.g. Chida et al., CRYPTO 2018, §2.3's opening checks, and
//! Damgård–Nielsen 2007, §4's batched check of dealt sharings). The failure names the input,
//! not the worker: a worker can also report a wrong share of an honest owner's upload, and with
//! one redundant set of shares the two cannot be told apart.
//!
//! # Declared ranges
//!
//! A column declared with `b` bits must hold values in `[-2^b, 2^b)` — exactly what the masking
//! argument of comparisons and truncation (`compare.rs`, `fixed.rs`) assumes. The check reuses
//! LTZ (Catrina–de Hoogh 2010, Protocol 3.1 via Mod2m): for a `b`-bit `a` it computes
//! `a' = (c mod 2^b) − r' + 2^b [c mod 2^b < r']` from checked random bits `r'` and returns
//! `L = (a' − a) / 2^b`. Whatever `a` is, `a'` lies in `[0, 2^b)` (a correct carry of checked
//! bits, verified with every product), so `L ∈ {0, 1}` exactly when `a = a' − 2^b L` lies in
//! `[-2^b, 2^b)`; for an in-range `a`, `L = [a < 0]`. The check is then that every `L` is a bit:
//! with a second public `ρ'` drawn after every `L` is fixed, each input `d` computes
//! `Z_d = Σ_i ρ'^i L_i (L_i − 1)` (one sum of products) and opens `Z_d · s_d` for a fresh secret
//! random `s_d`: zero when every value is in range, and otherwise non-zero except with
//! probability `(len + 1)/|F|`, and then uniform. Then [`Engine::verify`] checks every product
//! of the check, so a worker's additive error cannot pass for (or frame) an owner's cheat.
//! Booleans (declared bits) are checked the same way, directly as `b (b − 1) = 0`.
//!
//! # What is revealed
//!
//! With honest owners: nothing (uniform openings, and LTZ's masked openings, which hide each
//! value up to statistical distance `2^-40`). When an owner cheated: which of the inputs failed
//! and which rule (one bit per input), nothing about any honest owner's values. An out-of-range
//! value's own LTZ opening `c` is masked for `b`-bit values only, so it can tell the workers the
//! high bits of the cheater's own out-of-range value (no one else's).
//!
//! # Cost
//!
//! Two public coins, one opening of one element per input for consistency, one LTZ per distinct
//! column width (the rounds of one comparison; `b` checked bits and about `2b` products a
//! value), one sum of products and one product per input, one opening of one element per input,
//! and one [`Engine::verify`]: constant rounds whatever the number of values. Workers pay it
//! once per version of a dataset: they remember the columns that passed and skip them in later
//! jobs when every worker claims them ([`Engine::agree_all`], `protocols::catalog`, the worker's
//! store).

use super::Engine;
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;
use crate::share::Shared;

/// Values range-checked in one comparison batch for `bits`-bit columns within `memory` bytes:
/// the checked-bits comparison holds about `10 (bits + 44)` field elements a value at its peak
/// (measured: 10^5 values of 31 bits passed a worker's 2 GiB cap in one batch).
fn range_check_chunk(bits: u32, memory: usize) -> usize {
    let per_value = 10 * (bits as usize + 44) * 32;
    (memory / per_value).max(1024)
}

/// One owner's input to a job, as the workers hold it.
#[derive(Clone, Copy, Debug)]
pub struct OwnerInput<'a, F> {
    /// How failures name it (a dataset: `owner/name`).
    pub name: &'a str,
    /// Its columns, each with its declared bound.
    pub columns: &'a [Shared<F>],
}

/// The rule a failed consistency check names.
pub const RULE_CONSISTENT: &str = "shares do not lie on one degree-t polynomial (the owner dealt them so, or a worker altered its share)";
/// The rule a failed range check names.
pub const RULE_RANGE: &str = "a value lies outside its column's declared bits";

impl<N: Network, F: Field> Engine<N, F> {
    /// Checks owners' inputs under the malicious level (see the module doc): every input's
    /// shares consistent, every value within its column's declared bits. Does nothing in a
    /// semi-honest session. Fails with [`MpcError::InputCheckFailed`] naming the first input
    /// that breaks a rule, or [`MpcError::IntegrityCheckFailed`] when a worker deviated during
    /// the check; nothing about an honest input is revealed either way.
    pub async fn check_inputs(&mut self, inputs: &[OwnerInput<'_, F>]) -> Result<()> {
        if !self.malicious()
            || inputs
                .iter()
                .all(|i| i.columns.iter().all(|c| c.is_empty()))
        {
            return Ok(());
        }
        let count = inputs.len();
        let t = self.params.t();

        // Consistency: Σ ρ^(j+1) v_j + r_d per input, opened with all n shares.
        let random = self.random(count + 1).await?.into_shares();
        let rho = self.open_raw(&random[count..], t).await?[0];
        let combos: Vec<F> = inputs
            .iter()
            .zip(&random)
            .map(|(input, &r)| {
                let mut power = F::one();
                let mut acc = r;
                for v in input.columns.iter().flat_map(|c| c.shares.iter()) {
                    power *= rho;
                    acc += power * *v;
                }
                acc
            })
            .collect();
        if let Err(e) = self.open_unmapped(&combos, t).await {
            return Err(match e {
                MpcError::InconsistentShares { index, .. } => MpcError::InputCheckFailed {
                    input: inputs[index].name.to_string(),
                    rule: RULE_CONSISTENT.to_string(),
                },
                e => e,
            });
        }

        // Range: L = LTZ's [a < 0], one batch per distinct width; each L must be a bit.
        let mut widths: Vec<u32> = inputs
            .iter()
            .flat_map(|i| i.columns.iter())
            .filter(|c| !c.boolean && !c.is_empty())
            .map(|c| c.bits)
            .collect();
        widths.sort_unstable();
        widths.dedup();
        let mut signs = Vec::with_capacity(widths.len());
        for &bits in &widths {
            let shares: Vec<F> = inputs
                .iter()
                .flat_map(|i| i.columns.iter())
                .filter(|c| !c.boolean && c.bits == bits)
                .flat_map(|c| c.shares.iter().copied())
                .collect();
            // In chunks, so that the comparison's working memory stays within the engine's
            // budget whatever the number of values (each chunk with a comparison's rounds).
            let chunk = range_check_chunk(bits, self.comparison_memory);
            let mut sign = Vec::with_capacity(shares.len());
            for part in shares.chunks(chunk) {
                let batch = Shared::from_shares(part.to_vec(), bits)?;
                // The field path: its result is a bit only for in-range values.
                sign.extend(self.ltz_field(&batch).await?.into_shares());
            }
            signs.push(sign);
        }
        // Each input's would-be bits, in the order of its columns.
        let mut taken = vec![0usize; widths.len()];
        let per_input: Vec<Vec<F>> = inputs
            .iter()
            .map(|input| {
                let mut bits = Vec::new();
                for c in input.columns {
                    if c.boolean {
                        bits.extend_from_slice(&c.shares);
                        continue;
                    }
                    let w = widths.binary_search(&c.bits).unwrap_or(0);
                    let len = c.len();
                    if len > 0 {
                        bits.extend_from_slice(&signs[w][taken[w]..taken[w] + len]);
                        taken[w] += len;
                    }
                }
                bits
            })
            .collect();
        drop(signs);

        let rho = self.public_coin().await?;
        // x_i = ρ^i L_i, y_i = L_i − 1; Z_d = Σ x_i y_i, one sum per input.
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut widths_of = Vec::with_capacity(count);
        for bits in &per_input {
            let mut power = F::one();
            for &l in bits {
                power *= rho;
                x.push(power * l);
                y.push(l - F::one());
            }
            widths_of.push(bits.len());
        }
        let z = self
            .reduce(count, || {
                let mut at = 0;
                widths_of
                    .iter()
                    .map(|&w| {
                        let sum: F = (at..at + w).map(|i| x[i] * y[i]).sum();
                        at += w;
                        sum
                    })
                    .collect()
            })
            .await?;
        let mut at = 0;
        for (k, &w) in widths_of.iter().enumerate() {
            if w > 0 {
                self.record_products(&x[at..at + w], &y[at..at + w], w, &z[k..k + 1]);
            }
            at += w;
        }
        let zero = self.zero_test(&z).await?;
        match zero.iter().position(|z| !z) {
            None => Ok(()),
            Some(index) => Err(MpcError::InputCheckFailed {
                input: inputs[index].name.to_string(),
                rule: RULE_RANGE.to_string(),
            }),
        }
    }

    /// For each consecutive group of `x` (`groups` gives their lengths, summing to `x.len()`),
    /// whether every element is zero; reveals that and nothing else (see the module doc: a
    /// public-coin combination per group, times a secret random, opened). Under the malicious
    /// level every product so far is checked first ([`Engine::verify`]), so a `false` is never
    /// a worker's additive error. Constant rounds.
    pub async fn all_zero(&mut self, x: &Shared<F>, groups: &[usize]) -> Result<Vec<bool>> {
        let total: usize = groups.iter().sum();
        super::same_len("all_zero", x.len(), total)?;
        let rho = self.public_coin().await?;
        let mut at = 0;
        let z: Vec<F> = groups
            .iter()
            .map(|&len| {
                let mut power = F::one();
                let mut acc = F::zero();
                for v in &x.shares[at..at + len] {
                    power *= rho;
                    acc += power * *v;
                }
                at += len;
                acc
            })
            .collect();
        self.zero_test(&z).await
    }

    /// A public random field element: a fresh random sharing opened with all `n` shares.
    async fn public_coin(&mut self) -> Result<F> {
        let coin = self.random(1).await?.into_shares();
        Ok(self.open_raw(&coin, self.params.t()).await?[0])
    }

    /// Whether each `z_k` is zero: `z_k · s_k` for fresh secret random `s_k`, opened (zero or
    /// uniform), after [`Engine::verify`] of every product so far.
    async fn zero_test(&mut self, z: &[F]) -> Result<Vec<bool>> {
        let s = self.random(z.len()).await?.into_shares();
        let zs = self.mul_raw(z, &s).await?;
        self.verify().await?;
        let opened = self.open_raw(&zs, self.params.t()).await?;
        Ok(opened.iter().map(|v| v.is_zero()).collect())
    }
}
