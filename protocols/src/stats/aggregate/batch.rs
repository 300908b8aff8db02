//! Batching for [`super`]: the independent quotients, products and roots of one step gathered
//! into as few backend calls as their bounds allow (every call of a step costs the same
//! rounds, so a step costs one call's rounds however many aggregates it serves).

use super::super::{StatsError, concat, in_step, numeric};
use super::Fixed;
use crate::backend::{Backend, Secret};

/// Appends `t` unless it is listed already; returns its index either way.
pub(super) fn push<T: PartialEq>(v: &mut Vec<T>, t: T) -> usize {
    match v.iter().position(|x| *x == t) {
        Some(i) => i,
        None => {
            v.push(t);
            v.len() - 1
        }
    }
}

/// Cuts a batch of `parts` concatenated batches of `len` elements each back into them.
pub(super) fn split(x: &Secret, len: usize, parts: usize) -> Vec<Secret> {
    (0..parts)
        .map(|i| x.slice(i * len..(i + 1) * len))
        .collect()
}

/// Quotients `y / x` with their bounds `r`, in as few [`numeric::quotient`] calls as there
/// are distinct `(r, bits(x))` pairs (independent calls: each costs the same rounds).
pub(super) async fn quotients<B: Backend>(
    b: &mut B,
    items: &[(Secret, Secret, i32)],
    step: &'static str,
) -> Result<Vec<Fixed>, StatsError> {
    let mut out: Vec<Option<Fixed>> = vec![None; items.len()];
    let mut classes: Vec<(i32, u32)> = Vec::new();
    for (_, x, r) in items {
        push(&mut classes, (*r, x.bits()));
    }
    for (r, xb) in classes {
        let members: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].2 == r && items[i].1.bits() == xb)
            .collect();
        let ys: Vec<Secret> = members
            .iter()
            .map(|&i| items[i].0.clone().with_frac(0))
            .collect();
        let xs: Vec<Secret> = members
            .iter()
            .map(|&i| items[i].1.clone().with_frac(0))
            .collect();
        let (yr, xr): (Vec<&Secret>, Vec<&Secret>) = (ys.iter().collect(), xs.iter().collect());
        let (t, f) =
            numeric::quotient(b, &concat(&yr, step)?, &concat(&xr, step)?, r, step).await?;
        let len = items[members[0]].0.len();
        for (k, &i) in members.iter().enumerate() {
            out[i] = Some((t.slice(k * len..(k + 1) * len), f));
        }
    }
    Ok(out.into_iter().map(|q| q.expect("every item")).collect())
}

/// The square roots ([`numeric::root`]) of `radicands`, each a batch over the `groups`
/// reported groups, in one call per radicand width (the root normalizes each element; calls
/// in increasing width).
pub(super) async fn roots<B: Backend>(
    b: &mut B,
    radicands: &[Secret],
    groups: usize,
) -> Result<Vec<Secret>, StatsError> {
    if radicands.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = vec![None; radicands.len()];
    let mut widths: Vec<u32> = radicands.iter().map(Secret::bits).collect();
    widths.sort();
    widths.dedup();
    for w in widths {
        let members: Vec<usize> = (0..radicands.len())
            .filter(|&i| radicands[i].bits() == w)
            .collect();
        let refs: Vec<&Secret> = members.iter().map(|&i| &radicands[i]).collect();
        let all = numeric::root(b, &concat(&refs, "roots")?).await?;
        for (k, &i) in members.iter().enumerate() {
            out[i] = Some(all.slice(k * groups..(k + 1) * groups));
        }
    }
    Ok(out.into_iter().map(|x| x.expect("every root")).collect())
}

/// Element-wise products of the pairs `(xs[i], ys[i])`, each a batch of one length: one `mul`
/// call, or, when the batch's bound (the widest left times the widest right) would pass the
/// limit although each product fits, one call per operand width (`n Σx²` and `(Σx)²` have
/// the same width, `n` and `Σx²` do not). No call at all for no pairs.
pub(super) async fn products<B: Backend>(
    b: &mut B,
    xs: &[Secret],
    ys: &[Secret],
    step: &'static str,
) -> Result<Vec<Secret>, StatsError> {
    if xs.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<Option<Secret>> = vec![None; xs.len()];
    for class in width_classes(xs, ys) {
        let xr: Vec<&Secret> = class.iter().map(|&i| &xs[i]).collect();
        let yr: Vec<&Secret> = class.iter().map(|&i| &ys[i]).collect();
        let p = b
            .mul(&concat(&xr, step)?, &concat(&yr, step)?)
            .await
            .map_err(in_step(step))?;
        let len = xs[class[0]].len();
        for (k, &i) in class.iter().enumerate() {
            // Each product's own bound (the batch's is the widest pair's).
            let own =
                mpc::share::rules::mul(xs[i].facts(), ys[i].facts()).map_err(in_step(step))?;
            let slice = p.slice(k * len..(k + 1) * len).assume_bits(own.bits);
            out[i] = Some(if own.boolean {
                super::super::plan::boolean(slice)
            } else {
                slice
            });
        }
    }
    Ok(out.into_iter().map(|p| p.expect("every pair")).collect())
}

/// The pairs of [`products`] that one `mul` call can take: all of them while the widest left
/// times the widest right fits, else one class per `(bits(x), bits(y))`, in increasing order.
fn width_classes(xs: &[Secret], ys: &[Secret]) -> Vec<Vec<usize>> {
    let widest = |v: &[Secret]| v.iter().map(|s| s.bits()).max().unwrap_or(0);
    let all: Vec<usize> = (0..xs.len()).collect();
    if widest(xs) + widest(ys) < mpc::share::MAX_BITS {
        return vec![all];
    }
    let mut bits: Vec<(u32, u32)> = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (x.bits(), y.bits()))
        .collect();
    bits.sort();
    bits.dedup();
    bits.into_iter()
        .map(|w| {
            all.iter()
                .copied()
                .filter(|&i| (xs[i].bits(), ys[i].bits()) == w)
                .collect()
        })
        .collect()
}
