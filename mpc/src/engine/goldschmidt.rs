//! The iterations behind [`Engine::fx_reciprocal`], [`Engine::fx_div`] and
//! [`Engine::fx_sqrt`] (see [`super::div_sqrt`] for the whole algorithm and its papers): Goldschmidt
//! division and square root on a normalized `c` in `[1/2, 1]`, and the batched rescaling they run
//! between multiplication rounds.
//!
//! Each step is one multiplication round holding every product of the step, then one opening
//! holding every truncation of the step (Catrina, Saxena 2010, §3.1, TruncPr, with the mask sized
//! from the value's public bound as that protocol prescribes). The bounds, shifts and counts come
//! from the [`Plan`], which the preprocessing was sized from.
//!
//! What this module does not do: normalization or preprocessing (see [`super::div_sqrt`]).

use super::Engine;
use super::div_sqrt_plan::{Plan, RCP_ALPHA, RSQRT_ALPHA, RSQRT_SHIFT, RSQRT_SLOPE, Rescale};
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::field::pow2::{low_value, weighted};
use crate::net::Network;

impl<N: Network, F: Field> Engine<N, F> {
    /// AppRcr and Goldschmidt's division: `y -> N sgn(b) / |b|` at the result's scale.
    pub(super) async fn quotient_steps(
        &mut self,
        plan: &Plan,
        c: Vec<F>,
        ns: Vec<F>,
        masks: &mut Masks<F>,
    ) -> Result<Vec<F>> {
        let (k, p, len) = (plan.k, plan.p, c.len());
        let alpha: F = fixed_const(RCP_ALPHA, k);
        let two = F::from_u128(2);
        let w0: Vec<F> = c.iter().map(|&ci| alpha - two * ci).collect();
        let prods = self
            .mul_raw(&[&c[..], &ns].concat(), &[&w0[..], &w0].concat())
            .await?;
        let one = F::pow2(2 * k);
        let e0 = prods[..len].iter().map(|&cw| one - cw).collect();
        let mut out = self
            .rescale(plan, 0, vec![e0, prods[len..].to_vec()], masks)
            .await?;
        let mut y = out.swap_remove(1);
        let mut e = out.swap_remove(0);
        for step in 0..plan.steps as usize {
            let last = step + 1 == plan.steps as usize;
            let one_plus_e: Vec<F> = e.iter().map(|&ei| F::pow2(p) + ei).collect();
            let (mut xs, mut ys) = (y.clone(), one_plus_e);
            if !last {
                xs.extend_from_slice(&e);
                ys.extend_from_slice(&e);
            }
            let mut prods = self.mul_raw(&xs, &ys).await?;
            let mut values = vec![prods.drain(..len).collect::<Vec<F>>()];
            if !last {
                values.push(prods);
            }
            let mut out = self
                .rescale(plan, 1 + step, values, masks)
                .await?
                .into_iter();
            y = out.next().unwrap_or_default();
            if !last {
                e = out.next().unwrap_or_default();
            }
        }
        Ok(y)
    }

    /// Goldschmidt's square root on `c`, scaled by `hs`: `G -> sqrt(c) hs` at the result's scale.
    pub(super) async fn root_steps(
        &mut self,
        plan: &Plan,
        c: Vec<F>,
        hs: Vec<F>,
        masks: &mut Masks<F>,
    ) -> Result<Vec<F>> {
        let (k, p, len) = (plan.k, plan.p, c.len());
        let alpha: F = fixed_const(RSQRT_ALPHA, k + RSQRT_SHIFT);
        let slope = F::from_u128(RSQRT_SLOPE);
        let y0: Vec<F> = c.iter().map(|&ci| alpha - slope * ci).collect();
        let cy = self.mul_raw(&c, &y0).await?;
        let mut out = self.rescale(plan, 0, vec![cy, y0], masks).await?;
        let mut h = out.swap_remove(1);
        let mut g = out.swap_remove(0);
        let mut big = Vec::new();
        let three_halves = F::from_u128(3) * F::pow2(p - 1);
        for step in 0..plan.steps as usize {
            let last = step + 1 == plan.steps as usize;
            let (mut xs, mut ys) = (g.clone(), h.clone());
            if step == 0 {
                xs.extend_from_slice(&g);
                ys.extend_from_slice(&hs);
            }
            let mut prods = self.mul_raw(&xs, &ys).await?;
            let mut values = vec![prods.drain(..len).collect::<Vec<F>>()];
            if step == 0 {
                values.push(prods);
            }
            let mut out = self
                .rescale(plan, 1 + 2 * step, values, masks)
                .await?
                .into_iter();
            let gh = out.next().unwrap_or_default();
            if step == 0 {
                big = out.next().unwrap_or_default();
            }
            let r: Vec<F> = gh.iter().map(|&x| three_halves - x).collect();
            let (mut xs, mut ys) = (big.clone(), r.clone());
            if !last {
                xs.extend_from_slice(&g);
                xs.extend_from_slice(&h);
                ys.extend_from_slice(&r);
                ys.extend_from_slice(&r);
            }
            let prods = self.mul_raw(&xs, &ys).await?;
            let values = prods.chunks(len).map(<[F]>::to_vec).collect();
            let mut out = self
                .rescale(plan, 2 + 2 * step, values, masks)
                .await?
                .into_iter();
            big = out.next().unwrap_or_default();
            if !last {
                g = out.next().unwrap_or_default();
                h = out.next().unwrap_or_default();
            }
        }
        Ok(big)
    }

    /// Brings each batch of `values` to its scale as truncation round `round` of the plan says:
    /// every truncation of the round shares one masked opening (TruncPr, Catrina, Saxena 2010,
    /// §3.1); exact rescalings up need none.
    async fn rescale(
        &mut self,
        plan: &Plan,
        round: usize,
        values: Vec<Vec<F>>,
        masks: &mut Masks<F>,
    ) -> Result<Vec<Vec<F>>> {
        let items: &[Rescale] = plan.rescales.get(round).map_or(&[], Vec::as_slice);
        if items.len() != values.len() {
            return Err(MpcError::InvalidArgument {
                op: plan.op,
                reason: format!(
                    "truncation round {round} plans {} batches, got {}",
                    items.len(),
                    values.len()
                ),
            });
        }
        let mut masked = Vec::new();
        let mut lows = Vec::with_capacity(items.len());
        for (item, vals) in items.iter().zip(&values) {
            if item.shift <= 0 {
                lows.push(Vec::new());
                continue;
            }
            let m = item.shift as u32;
            let r = self.take_bits(vals.len() * m as usize);
            let r_low: Vec<F> = r.chunks_exact(m as usize).map(weighted).collect();
            let ints = masks.take(vals.len())?;
            let (pow_m, offset) = (F::pow2(m), F::pow2(item.width() - 1));
            masked.extend(
                vals.iter()
                    .zip(&r_low)
                    .zip(&ints)
                    .map(|((&v, &rl), &ri)| v + offset + pow_m * ri + rl),
            );
            lows.push(r_low);
        }
        let opened = if masked.is_empty() {
            Vec::new()
        } else {
            self.open_masked(&masked).await?
        };
        let mut at = 0;
        let mut out = Vec::with_capacity(values.len());
        for ((item, vals), r_low) in items.iter().zip(values).zip(lows) {
            if item.shift <= 0 {
                let up = F::pow2(item.shift.unsigned_abs() as u32);
                out.push(vals.into_iter().map(|v| v * up).collect());
                continue;
            }
            let m = item.shift as u32;
            let inv = F::pow2(m)
                .inverse()
                .expect("2^m is invertible in a field of odd characteristic");
            let scaled = vals
                .iter()
                .enumerate()
                .map(|(e, &v)| (v - (low_value(&opened[at + e], m) - r_low[e])) * inv);
            out.push(scaled.collect());
            at += vals.len();
        }
        Ok(out)
    }
}

/// The masking integers of one operation, consumed in the order the plan listed them.
pub(super) struct Masks<F> {
    pub(super) ints: Vec<F>,
    pub(super) at: usize,
    pub(super) op: &'static str,
}

impl<F: Copy> Masks<F> {
    pub(super) fn take(&mut self, n: usize) -> Result<Vec<F>> {
        let end = self.at + n;
        let Some(taken) = self.ints.get(self.at..end) else {
            return Err(MpcError::InvalidArgument {
                op: self.op,
                reason: format!(
                    "the plan reserved {} masking integers, {end} needed",
                    self.ints.len()
                ),
            });
        };
        self.at = end;
        Ok(taken.to_vec())
    }
}

/// `round(x * 2^frac)` for a public constant `0 <= x < 4`, as a field element (exact to 60 bits,
/// which is all an initial approximation needs: the iterations use it consistently).
fn fixed_const<F: Field>(x: f64, frac: u32) -> F {
    let exact = frac.min(60);
    F::from_u128((x * (exact as f64).exp2()).round() as u128) * F::pow2(frac - exact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;

    #[test]
    fn constants_scale() {
        assert_eq!(fixed_const::<Fr>(2.9142, 10).to_i128(), Some(2984));
        assert_eq!(fixed_const::<Fr>(1.5, 90).to_i128(), Some(3 << 89));
    }

    #[test]
    fn masks_run_out_with_an_error() {
        let mut masks = Masks {
            ints: vec![Fr::one(); 3],
            at: 0,
            op: "t",
        };
        assert_eq!(masks.take(2).unwrap().len(), 2);
        assert!(matches!(
            masks.take(2),
            Err(MpcError::InvalidArgument { op: "t", .. })
        ));
    }
}
