//! Fixed-point reciprocal, division and square root, batched in a constant number of rounds.
//!
//! **Division** follows Catrina, Saxena 2010, "Secure computation with fixed-point numbers"
//! (FC 2010), its division protocols `Norm`, `AppRcr` and `Div`:
//! 1. *Norm.* The divisor `b` (bound `k`) is bit-decomposed as `u = b + 2^k`
//!    (`Engine::bit_decompose_shallow`): its top bit is the sign `s = [b < 0]`, and its low `k` bits
//!    are `|b|` when `b >= 0`, their complements `|b| - 1` when `b < 0`. A prefix-OR from the
//!    most significant bit of both candidates ([`Engine::prefix_or_from_top`]) gives one-hot
//!    msb vectors `z`, hence `v = 2^(k-1-msb)`; with the sign, one multiplication round forms
//!    `c = |b| v` in `[2^(k-1), 2^k]` (a fixed-point number in `[1/2, 1]` with `k` fractional
//!    bits) and `sgn(b) v` (times the numerator, for a quotient). Computing both sign cases and
//!    selecting afterwards saves the paper's separate LTZ and absolute-value rounds.
//! 2. *AppRcr.* `w0 = 2.9142 - 2c` approximates `1/c` with relative error below 0.086.
//! 3. *Div*, Goldschmidt's iteration ([`super::goldschmidt`]): `e0 = 1 - c w0` and
//!    `y0 = N sgn(b) v w0`, rescaled to the result; then `y <- y (1 + e)`, `e <- e^2`, each step
//!    one multiplication round (both products together) and one opening for all its
//!    truncations (TruncPr, §3.1). After `theta` steps the relative error is `e0^(2^theta)`, so
//!    `theta = ceil(log2((p + 1) / 3.54))` steps reach `p` bits.
//!
//! **Square root** uses the same normalization and Goldschmidt's square-root iteration with a
//! linear starting point, as in Liedel 2012, "Secure distributed computation of the square root
//! and applications" (ISPEC 2012): `y0 = 1.78966 - 0.8125 c ~ 1/sqrt(c)` (our minimax fit,
//! `|1 - c y0^2| < 0.046`), `g = c y0`, `h = y0 / 2`, then `r = 3/2 - g h`, `g <- g r`,
//! `h <- h r`; `g` converges to `sqrt(c)` (`delta = 1 - 2gh` goes to `3/4 delta^2`). The
//! exponent's parity and half, `2^((msb + 1)/2)`, are public-coefficient sums over the one-hot
//! `z`, so an odd exponent costs nothing: its `sqrt(2)` is folded into that scale `hs`, and the
//! result is tracked as `G = g hs` at the output scale.
//!
//! **Precision.** The working precision `p` is the number of bits the result can have plus 3
//! (quotients) or 4 (roots), capped where the iterates would pass
//! [`MAX_BITS`](crate::share::MAX_BITS) (never below 24 bits). A result is within
//! `2^-(p-3) |x|` (quotients) or `2^-(p-4) |x|` (roots) plus 2 units in its last place of the
//! exact value `x` for the shared inputs; uncapped, that is at most 3 units in the last place.
//! Rounding is probabilistic, as in `fx_mul`.
//!
//! **Rounds** do not depend on the batch length: one dealing round (with the XOR rounds of the
//! random bits), one opening, `ceil(log2 k) + 1` multiplication rounds for the bits,
//! `ceil(log2 k)` for the prefix-OR, one for `c`, one multiplication and one opening to start
//! the iteration, then one of each per step (two of each for roots). With `k = 40` and 16
//! fractional bits, at `n = 3, t = 1`: 27, 29 and 31 rounds under GRR, 47, 50 and 53 under DN07
//! for `fx_reciprocal`, `fx_div` and `fx_sqrt` (`tests/div_sqrt.rs` prints them).
//!
//! What this module does not do: signal a zero divisor or a negative radicand (it cannot without
//! leaking them). A zero divisor is read as one unit in its last place (see
//! [`Engine::fx_reciprocal`]); `fx_sqrt` returns `sqrt(|x|)`.

use super::Engine;
use super::div_sqrt_plan::{Kind, Plan};
use super::goldschmidt::Masks;
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;
use crate::share::Shared;

/// `floor(sqrt(2) * 2^127)`.
const SQRT2_Q127: u128 = 0xb504f333f9de6484597d89b3754abe9f;

impl<N: Network, F: Field> Engine<N, F> {
    /// `1 / b` element-wise, with `b`'s fractional bits (an integer `b` gives a result with
    /// [`INTEGER_FRAC`](crate::engine::INTEGER_FRAC) fractional bits). `b`'s bound may be up to
    /// 99 bits; a wider one is refused with [`MpcError::BoundExceeded`] before anything is sent.
    ///
    /// Precision: within `2^-(p-3) |1/b| + 2` units in the last place, `p = f_b + f_out + 4`
    /// (see the module doc), so at most 3 units in the last place. A zero divisor cannot be
    /// signalled without leaking it: it is read as one unit in its last place, so `1/0` gives
    /// `2^f_b` (1 for an integer divisor), the reciprocal of the smallest positive `b`.
    pub async fn fx_reciprocal(&mut self, b: &Shared<F>) -> Result<Shared<F>> {
        let plan = Plan::new("fx_reciprocal", Kind::Reciprocal, b.bits, b.frac, None)?;
        self.fx_run(&plan, None, b).await
    }

    /// `a / b` element-wise, with `a`'s fractional bits. An integer dividend (`frac == 0`) is read
    /// as fixed point with [`INTEGER_FRAC`](crate::engine::INTEGER_FRAC) fractional bits
    /// (exactly), so a quotient of integers is a fixed-point number, not a truncated integer; the
    /// divisor may have any scale. The bounds must satisfy `bits(a) + 2 bits(b) <= 198` (for
    /// instance 64 and 64), else the call is refused with [`MpcError::BoundExceeded`] before
    /// anything is sent.
    ///
    /// Precision: within `2^-(p-3) |a/b| + 2` units in the last place, `p` being the bits the
    /// quotient can have plus 3, capped at what fits under the bound limit (the module doc); at
    /// most 3 units in the last place when uncapped, which covers both operands of 64 bits with
    /// 16 fractional bits. A zero divisor is read as one unit in its last place: `a / 0` gives
    /// `a * 2^f_b` (`a` for an integer divisor).
    pub async fn fx_div(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        super::same_len("fx_div", a.len(), b.len())?;
        let plan = Plan::division(a.facts(), b.facts())?;
        self.fx_run(&plan, Some(a), b).await
    }

    /// `sqrt(x)` element-wise, with `x`'s fractional bits
    /// ([`INTEGER_FRAC`](crate::engine::INTEGER_FRAC) for an integer `x`). `x`'s bound may be up
    /// to 97 bits. `x` must be non-negative: a negative `x` cannot be signalled without leaking
    /// it, and gives `sqrt(|x|)`. `sqrt(0)` is exactly 0.
    ///
    /// Precision: within `2^-(p-4) sqrt(x) + 2` units in the last place, `p` being the bits the
    /// root can have plus 4: at most 3 units in the last place.
    pub async fn fx_sqrt(&mut self, x: &Shared<F>) -> Result<Shared<F>> {
        let plan = Plan::new("fx_sqrt", Kind::Root, x.bits, x.frac, None)?;
        self.fx_run(&plan, None, x).await
    }

    async fn fx_run(
        &mut self,
        plan: &Plan,
        a: Option<&Shared<F>>,
        b: &Shared<F>,
    ) -> Result<Shared<F>> {
        let out = |shares| Shared {
            shares,
            bits: plan.out_bits,
            frac: plan.f_out,
            boolean: false,
        };
        if plan.kind == Kind::Quotient && a.is_none() {
            return Err(MpcError::InvalidArgument {
                op: plan.op,
                reason: "a quotient needs a numerator".into(),
            });
        }
        if b.is_empty() {
            return Ok(out(Vec::new()));
        }
        let ints = self.preprocess(plan.needs(b.len())).await?;
        let mut masks = Masks {
            ints,
            at: 0,
            op: plan.op,
        };
        let (c, scale) = self.normalize(plan, a, b, &mut masks).await?;
        let shares = match plan.kind {
            Kind::Root => self.root_steps(plan, c, scale, &mut masks).await?,
            Kind::Reciprocal | Kind::Quotient => {
                self.quotient_steps(plan, c, scale, &mut masks).await?
            }
        };
        Ok(out(shares))
    }

    /// Norm: `c = |b| v` in `[2^(k-1), 2^k]` (`c = 2^k` for `b = 0`), and the scale: `sgn(b) v`
    /// (reciprocal), `a sgn(b) v` (quotient) or the root's power of two `hs`.
    async fn normalize(
        &mut self,
        plan: &Plan,
        a: Option<&Shared<F>>,
        b: &Shared<F>,
        masks: &mut Masks<F>,
    ) -> Result<(Vec<F>, Vec<F>)> {
        let (k, m, len) = (plan.k, plan.k as usize, b.len());
        let width = m + 1;
        let mask = masks.take(len)?;
        let u = self.bit_decompose_shallow(&b.shares, k, &mask).await?;
        let s: Vec<F> = (0..len).map(|e| F::one() - u[e * width + m]).collect();

        // Two candidate magnitudes: the low k bits of u (|b| when b >= 0) and their complements
        // (|b| - 1 when b < 0), positive rows first. b*s (and a*s) ride along.
        let mut rows = Vec::with_capacity(2 * len * m);
        for e in 0..len {
            rows.extend_from_slice(&u[e * width..e * width + m]);
        }
        for e in 0..len {
            rows.extend(
                u[e * width..e * width + m]
                    .iter()
                    .map(|&bit| F::one() - bit),
            );
        }
        let (mut ex, mut ey) = (b.shares.clone(), s.clone());
        if let Some(a) = a {
            ex.extend_from_slice(&a.shares);
            ey.extend_from_slice(&s);
        }
        let (y, extra) = self.prefix_or_from_top(rows, m, &ex, &ey).await?;
        let (bs, a_s) = extra.split_at(len);

        // One-hot msb z_i = Y_i - Y_(i+1) and "no bit set" = 1 - Y_0, with public weights.
        let weigh = |row: &[F], coef: &dyn Fn(usize) -> F, none: F| -> F {
            let mut acc = (F::one() - row[0]) * none;
            for i in 0..m {
                let above = if i + 1 < m { row[i + 1] } else { F::zero() };
                acc += (row[i] - above) * coef(i);
            }
            acc
        };
        let rows_of = |r: usize| &y[r * m..(r + 1) * m];
        let pow_k = F::pow2(k);
        let v_coef = |i: usize| F::pow2(k - 1 - i as u32);
        let v_pos: Vec<F> = (0..len)
            .map(|e| weigh(rows_of(e), &v_coef, pow_k))
            .collect();
        let v_neg: Vec<F> = (0..len)
            .map(|e| weigh(rows_of(len + e), &v_coef, pow_k))
            .collect();
        let none_pos: Vec<F> = (0..len).map(|e| F::one() - rows_of(e)[0]).collect();
        let w: Vec<F> = v_pos.iter().zip(&v_neg).map(|(&p, &n)| p + n).collect();

        // c = |b| v = b v+ - b s (v+ + v-), plus 2^k when b = 0 (no bit set and b >= 0).
        let mut xs = [&b.shares[..], bs, &s].concat();
        let mut ys = [&v_pos[..], &w, &none_pos].concat();
        let mut root_scale = Vec::new();
        match (plan.kind, a) {
            (Kind::Reciprocal, _) => {
                xs.extend_from_slice(&s);
                ys.extend_from_slice(&w);
            }
            (Kind::Quotient, Some(a)) => {
                xs.extend_from_slice(&a.shares);
                xs.extend_from_slice(a_s);
                ys.extend_from_slice(&v_pos);
                ys.extend_from_slice(&w);
            }
            (Kind::Root, _) => {
                // hs = 2^((j + 1 + 2 f_out - f_in)/2 + GUARD) for msb j; 0 for x = 0 (so that
                // sqrt(0) = 0), the j = -1 power for x = -1.
                let coef = |i: usize| pow2_half::<F>(i as u32 + 1 + plan.root_offset);
                let hs_pos: Vec<F> = (0..len)
                    .map(|e| weigh(rows_of(e), &coef, F::zero()))
                    .collect();
                let none = pow2_half::<F>(plan.root_offset);
                let hs_neg: Vec<F> = (0..len)
                    .map(|e| weigh(rows_of(len + e), &coef, none))
                    .collect();
                xs.extend_from_slice(&s);
                ys.extend(hs_neg.iter().zip(&hs_pos).map(|(&n, &p)| n - p));
                root_scale = hs_pos;
            }
            (Kind::Quotient, None) => {
                return Err(MpcError::InvalidArgument {
                    op: plan.op,
                    reason: "a quotient needs a numerator".into(),
                });
            }
        }
        let prods = self.mul_raw(&xs, &ys).await?;
        let part = |i: usize| &prods[i * len..(i + 1) * len];
        let c = (0..len)
            .map(|e| part(0)[e] - part(1)[e] + pow_k * (none_pos[e] - part(2)[e]))
            .collect();
        let scale = match plan.kind {
            Kind::Reciprocal => (0..len).map(|e| v_pos[e] - part(3)[e]).collect(),
            Kind::Quotient => (0..len).map(|e| part(3)[e] - part(4)[e]).collect(),
            Kind::Root => (0..len).map(|e| root_scale[e] + part(3)[e]).collect(),
        };
        Ok((c, scale))
    }
}

/// `round(2^(e/2))` as a field element, exact for `e <= 255` (`sqrt(2)` to 128 bits).
fn pow2_half<F: Field>(e: u32) -> F {
    if e % 2 == 0 {
        return F::pow2(e / 2);
    }
    let k = (e - 1) / 2;
    if k >= 127 {
        F::from_u128(SQRT2_Q127) * F::pow2(k - 127)
    } else {
        F::from_u128(((SQRT2_Q127 >> (126 - k)) + 1) >> 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;
    use crate::params::Params;
    use crate::share::MAX_BITS;
    use crate::testing::run_parties;
    use crate::{EngineConfig, EngineStats};

    #[test]
    fn oversized_bounds_are_refused_before_anything_is_sent() {
        let params = Params::new(3, 1).unwrap();
        let results = run_parties(params, EngineConfig::default(), 1, |mut e| async move {
            let wide = Shared::from_fixed_shares(vec![Fr::one(); 4], 120, 16)?;
            let narrow = Shared::from_fixed_shares(vec![Fr::one(); 4], 40, 16)?;
            let errors = vec![
                e.fx_reciprocal(&wide).await.unwrap_err(),
                e.fx_div(&wide, &narrow).await.unwrap_err(),
                e.fx_div(&narrow, &wide).await.unwrap_err(),
                e.fx_sqrt(&wide).await.unwrap_err(),
            ];
            Ok((errors, e.stats()))
        });
        for result in results {
            let (errors, stats) = result.unwrap();
            let ops: Vec<&str> = errors
                .iter()
                .map(|e| match e {
                    MpcError::BoundExceeded { op, bits, limit } => {
                        assert!(*bits > MAX_BITS && *limit == MAX_BITS, "{e}");
                        *op
                    }
                    other => panic!("expected BoundExceeded, got {other}"),
                })
                .collect();
            assert_eq!(ops, ["fx_reciprocal", "fx_div", "fx_div", "fx_sqrt"]);
            assert_eq!(
                stats,
                EngineStats::default(),
                "nothing was sent, dealt or consumed"
            );
        }
    }

    #[test]
    fn the_plan_reserves_exactly_what_is_consumed() {
        // Every product and random bit the operation uses is dealt in its single preprocessing
        // call: the counters after the call match the plan (the XOR of t + 1 dealt bits costs
        // t products per bit), and no dealing round happens later.
        for mul in [crate::MulProtocol::Grr, crate::MulProtocol::Dn07] {
            let params = Params::new(5, 2).unwrap();
            let config = EngineConfig {
                mul,
                check_openings: true,
                ..Default::default()
            };
            for result in run_parties(params, config, 9, |mut e| async move {
                let len = 3;
                let b = Shared::from_fixed_shares(vec![Fr::from_u128(3 << 16); len], 33, 16)?;
                let a = Shared::from_fixed_shares(vec![Fr::from_u128(5 << 16); len], 20, 16)?;
                let mut seen = Vec::new();
                for kind in [Kind::Reciprocal, Kind::Quotient, Kind::Root] {
                    let plan = Plan::new("t", kind, 33, 16, Some((20, 16)))?;
                    let before = e.stats();
                    match kind {
                        Kind::Reciprocal => e.fx_reciprocal(&b).await?,
                        Kind::Quotient => e.fx_div(&a, &b).await?,
                        Kind::Root => e.fx_sqrt(&b).await?,
                    };
                    let after = e.stats();
                    let needs = plan.needs(len);
                    seen.push((
                        after.multiplications - before.multiplications,
                        (needs.mults + 2 * needs.bits) as u64,
                        after.random_bits - before.random_bits,
                        needs.bits as u64,
                    ));
                }
                Ok((seen, e.pooled_doubles()))
            }) {
                let (seen, left) = result.unwrap();
                for (used, planned, bits, planned_bits) in seen {
                    assert_eq!((used, bits), (planned, planned_bits), "{mul}");
                }
                // Under DN07 only the rounding of the batch extraction is left over.
                assert!(left < 3, "{mul}: {left} double sharings left");
            }
        }
    }

    #[test]
    fn length_mismatch_is_refused() {
        let params = Params::new(3, 1).unwrap();
        for result in run_parties(params, EngineConfig::default(), 1, |mut e| async move {
            let a = Shared::from_fixed_shares(vec![Fr::one(); 3], 30, 16)?;
            let b = Shared::from_fixed_shares(vec![Fr::one(); 2], 30, 16)?;
            Ok(e.fx_div(&a, &b).await.unwrap_err())
        }) {
            assert!(matches!(
                result.unwrap(),
                MpcError::LengthMismatch {
                    op: "fx_div",
                    left: 3,
                    right: 2
                }
            ));
        }
    }

    #[test]
    fn half_powers_round_correctly() {
        for e in 0..120u32 {
            let want = (e as f64 / 2.0).exp2().round();
            let got = pow2_half::<Fr>(e).to_i128().expect("fits") as f64;
            assert!(
                (got - want).abs() <= want * 1e-15 + 0.5,
                "e={e}: {got} vs {want}"
            );
        }
        assert_eq!(pow2_half::<Fr>(1).to_i128(), Some(1));
        assert_eq!(pow2_half::<Fr>(3).to_i128(), Some(3));
        assert_eq!(pow2_half::<Fr>(5).to_i128(), Some(6));
    }
}
