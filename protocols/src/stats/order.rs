//! Order statistics over secret rows with secret membership: `MIN`/`MAX` by a tournament,
//! `MEDIAN` and `PERCENTILE_CONT` by radix selection on the bits of the values.
//!
//! - **MIN/MAX**: every reported group gets a copy of the column where rows outside it (by
//!   `WHERE` or `GROUP BY`) hold a sentinel above every value (`2^(b+1)`; a maximum is the
//!   minimum of `-x`), in one `select` call. A tournament halves all copies at once: one `lt`
//!   and one `select` call per level, `ceil(log2 N)` levels.
//! - **Percentiles** by radix selection (the bitwise k-th element search of binary radix
//!   trees, done obliviously): `PERCENTILE_CONT(p)`, `p = num/den`, of a group of `n_g` rows
//!   interpolates between the order statistics `x_k` and `x_(k+1)` (0-based) at
//!   `h = p (n_g - 1)`: with `T = num (n_g - 1)`, `k = floor(T / den)` and `r = T - den k`, the
//!   opened value is the exact integer `den x_k + r (x_(k+1) - x_k)`, divided by `den` in the
//!   clear (`MEDIAN` is `1/2`: the mean of the middle two of an even count, as in SQL).
//!   1. Every ranked column is bit-decomposed once, in one call ([`Backend::bit_decompose`]):
//!      the `w + 1` bits of `u = x + 2^w`, `w` the widest bound (so signed values order as
//!      unsigned ones).
//!   2. Each of `x_k` and `x_(k+1)` is a *selection*: a secret candidate flag `e_i` per row
//!      (initially the row's weight in its reported group: `WHERE` and `GROUP BY`) and a
//!      secret count `below_g` of the group's rows under the prefix found so far. At bit `j`,
//!      from the top: `a_i = e_i (1 - b_ij)` (one `mul`), `c_g = below_g + Σ_i r_gi a_i`
//!      (a local sum with one reported group, one `dot` with several), and the bit of the
//!      result is `m_g = [c_g <= k] = [den c_g <= T]` (`<= T + den` for rank `k + 1`: no
//!      division). Then `e_i <- a_i + m (e_i - 2 a_i)` (the candidates whose bit `j` equals
//!      `m`) and `below_g <- below_g + m_g (c_g - below_g)`, in one `mul` (with several groups,
//!      one `dot` first brings `m_g` to the group's rows: `M_i = Σ_g r_gi m_g`).
//!   3. `k` itself is found alongside, by the same search on its bits: `q_j = [den (Q + 2^j)
//!      <= T]`, `Q <- Q + 2^j q_j`, in the same `le` call as the selection bits.
//!
//!   Every bit of `x_k` and `x_(k+1)` stays secret: opening them, although it reveals no more
//!   than the output for an odd median, would reveal both middle values of an even count and
//!   both neighbours of an interpolated percentile. Rows outside the reported groups are never
//!   candidates, so suppressed groups are not searched.
//!
//! Three variants ([`Selection`], in [`super::QueryOptions`]): the steps above one bit at a
//! time ([`Selection::Binary`], used whenever several groups are reported under the field
//! variants), two bits at a time with the row work streamed in chunks
//! ([`Selection::Quaternary`], for one reported group; [`super::radix`]), which spends
//! `1 + 2s` products per row and two bits for `s` selections instead of `4s`, and about half
//! the rounds; and the steps above in the binary domain ([`Selection::BitSliced`], the
//! default: `mpc`'s `engine/bitslice.rs`), where the decomposition, the counts and the
//! candidate updates are GF(2^8) ANDs of one byte a share instead of 32-byte field products,
//! every group and column its own call. All give the same field elements wherever an output
//! is released.
//!
//! Cost of the binary variant over `N` rows, `w`-bit values and `G` reported groups: the
//! decomposition (`w` products and `w + 1` random bits per row, `w` rounds), then per bit and
//! per selection `2N` products (`3N` with `G > 1`) and one comparison per group; rounds
//! `O(max(w, log2 N))`, about 11 per bit: independent of `N` beyond `log2 N`, of the groups
//! and of the number of percentiles, which all share each step's calls. Not here: anything
//! about which groups are reported.

use super::plan::{Plan, boolean};
use super::sql::Query;
use super::{Inputs, StatsError, concat, in_step, radix};
use crate::backend::{Backend, Secret};

/// Minimums (or maximums) per reported group: one batch over the reported groups per item
/// `(column, is_max)`. `weights` are the reported groups' row weights.
pub(crate) async fn extremes<B: Backend>(
    b: &mut B,
    query: &Query,
    inputs: &Inputs,
    weights: &[Secret],
    items: &[(usize, bool)],
) -> Result<Vec<Secret>, StatsError> {
    const STEP: &str = "MIN/MAX";
    let groups = weights.len();
    if items.is_empty() || groups == 0 {
        return Ok(vec![Secret::from_bit_shares(Vec::new()); items.len()]);
    }
    let n = inputs.owner_rows.iter().sum::<usize>();
    let widest = items
        .iter()
        .map(|&(c, _)| query.schema.columns[c].ty.bits())
        .max()
        .unwrap_or(0);
    let sentinel = 1i128 << (widest + 1);
    let (mut cs, mut vs) = (Vec::new(), Vec::new());
    for &(c, max) in items {
        let x = &inputs.columns[c];
        let v = if max {
            x.neg().map_err(in_step(STEP))?
        } else {
            x.clone()
        };
        for w in weights {
            cs.push(w.clone());
            vs.push(v.clone());
        }
    }
    let arrays = cs.len();
    let cr: Vec<&Secret> = cs.iter().collect();
    let vr: Vec<&Secret> = vs.iter().collect();
    let fill = b
        .constant(&vec![sentinel; arrays * n])
        .map_err(in_step(STEP))?;
    let mut cur = b
        .select(&concat(&cr, STEP)?, &concat(&vr, STEP)?, &fill)
        .await
        .map_err(in_step(STEP))?;
    let mut m = n;
    while m > 1 {
        let half = m / 2;
        let (mut left, mut right, mut carry) = (Vec::new(), Vec::new(), Vec::new());
        for a in 0..arrays {
            for i in 0..half {
                left.push(a * m + 2 * i);
                right.push(a * m + 2 * i + 1);
            }
            if m % 2 == 1 {
                carry.push(a * m + m - 1);
            }
        }
        let (l, r) = (cur.gather(&left), cur.gather(&right));
        let c = b.lt(&r, &l).await.map_err(in_step(STEP))?;
        let winners = b.select(&c, &r, &l).await.map_err(in_step(STEP))?;
        let next = m.div_ceil(2);
        let joined = concat(&[&winners, &cur.gather(&carry)], STEP)?;
        let order: Vec<usize> = (0..arrays)
            .flat_map(|a| {
                (0..next).map(move |i| {
                    if i < half {
                        a * half + i
                    } else {
                        arrays * half + a
                    }
                })
            })
            .collect();
        cur = joined.gather(&order);
        m = next;
    }
    (0..items.len())
        .map(|i| {
            let v = cur.slice(i * groups..(i + 1) * groups);
            if items[i].1 {
                v.neg().map_err(in_step(STEP))
            } else {
                Ok(v)
            }
        })
        .collect()
}

/// How the percentiles' radix selection walks the bits (researchers compare them in
/// `stats_bench`; both are exact and tested against the clear computation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Selection {
    /// One bit a step (the module doc): two products per row, bit and selection, every row in
    /// one batch. Used whatever the variant asked when several groups are reported.
    Binary,
    /// Two bits a step, the row work streamed in chunks ([`super::radix`]): one product per
    /// row and digit plus two per selection. One reported group only (else [`Selection::Binary`]).
    Quaternary,
    /// One bit a step in the binary domain ([`Backend::select_ranks`]: GF(2^8) shares, the
    /// decomposition by an edaBit and the row counts by adder trees, about three binary ANDs
    /// per row, bit and selection instead of field products), one call per reported group and
    /// ranked column; the ranks `k`, `k + 1` come from a search in the field on the quotient's
    /// bits. The default; where the backend cannot run it (no PRSS randomness:
    /// [`Backend::binary_selection`]; it runs under the malicious level too, checked)
    /// [`Selection::Quaternary`] runs.
    #[default]
    BitSliced,
}

/// One percentile to select: `(column, num, den)`.
pub(crate) type PercentileItem = (usize, i128, i128);

/// Percentile numerators `den x_k + r (x_(k+1) - x_k)` per reported group, one batch per item,
/// by radix selection (see the module doc). `weights` and `counts` are the reported groups'
/// row weights and exact row counts.
pub(crate) async fn percentiles<B: Backend>(
    b: &mut B,
    plan: &Plan,
    inputs: &Inputs,
    weights: &[Secret],
    counts: &Secret,
    items: &[PercentileItem],
    selection: Selection,
) -> Result<Vec<Secret>, StatsError> {
    const STEP: &str = "percentile";
    let e = in_step(STEP);
    let (n, groups) = (plan.rows, weights.len());
    if items.is_empty() || groups == 0 || n == 0 {
        return Ok(vec![Secret::from_bit_shares(Vec::new()); items.len()]);
    }
    let l = plan.count_bits;
    if selection == Selection::BitSliced && b.binary_selection() {
        return bitsliced(b, inputs, weights, counts, items, l).await;
    }

    // 1. The bits of u = x + 2^w of every ranked column, in one call (w: the widest bound).
    let cols: Vec<&Secret> = plan.ranked.iter().map(|&c| &inputs.columns[c]).collect();
    let all = concat(&cols, STEP)?;
    let w = all.bits();
    let bits = b.bit_decompose(&all).await.map_err(e)?;
    drop(all);
    let column = |c: usize| plan.ranked.iter().position(|&r| r == c).expect("ranked");

    // Targets per (item, group): T = num (n_g - 1), and per selection (item, rank k or k + 1)
    // the comparison's right side T or T + den.
    let mut targets = Vec::new();
    for &(_, num, _) in items {
        targets.push(counts.add_const(-1).and_then(|m| m.scale(num)).map_err(e)?);
    }
    let sels = 2 * items.len();
    let sel_den = |s: usize| items[s / 2].2;
    let mut right = Vec::new();
    for s in 0..sels {
        right.push(
            targets[s / 2]
                .add_const(if s % 2 == 1 { sel_den(s) } else { 0 })
                .map_err(e)?,
        );
    }
    let right_sel = concat(&right.iter().collect::<Vec<_>>(), STEP)?;
    let target = concat(&targets.iter().collect::<Vec<_>>(), STEP)?;

    // Candidates (every selection starts from the reported groups' rows), rows below the prefix.
    let members = weights
        .iter()
        .skip(1)
        .try_fold(weights[0].clone(), |acc, w| acc.add(w))
        .map(boolean)
        .map_err(e)?;
    let sel_columns: Vec<usize> = (0..sels).map(|s| column(items[s / 2].0)).collect();
    let (value, quotient) = if selection != Selection::Binary && groups == 1 {
        let searches = radix::Searches {
            column: sel_columns,
            den: (0..sels).map(sel_den).collect(),
            right: right_sel,
            target,
            item_den: items.iter().map(|i| i.2).collect(),
            count_bits: l,
        };
        let found = radix::select(b, bits, n, &members, &searches).await?;
        let x = found.value.add_const(-(1i128 << w)).map_err(e)?;
        (x.assume_bits(w), found.quotient)
    } else {
        let targets = (&right_sel, &target);
        binary(
            b,
            n,
            weights,
            items,
            &sel_columns,
            &bits,
            &members,
            targets,
            l,
        )
        .await?
    };
    interpolate(b, items, groups, &targets, &value, &quotient).await
}

/// The binary radix selection (the module doc's steps 2 and 3): the selected values `x` (one
/// per selection and group) and the quotients (one per item and group).
#[allow(clippy::too_many_arguments)]
async fn binary<B: Backend>(
    b: &mut B,
    n: usize,
    weights: &[Secret],
    items: &[PercentileItem],
    sel_columns: &[usize],
    bits: &[Secret],
    members: &Secret,
    (right_sel, target): (&Secret, &Secret),
    l: u32,
) -> Result<(Secret, Secret), StatsError> {
    const STEP: &str = "percentile";
    let e = in_step(STEP);
    let (w, groups) = (bits.len() as u32 - 1, weights.len());
    let (sels, sg) = (2 * items.len(), 2 * items.len() * groups);
    let sel_den = |s: usize| items[s / 2].2;
    let mut cand = concat(&vec![members; sels], STEP)?;
    let mut below = b.constant(&vec![0; sg]).map_err(e)?;
    let mut quotient = b.constant(&vec![0; items.len() * groups]).map_err(e)?;
    // With several groups: the weights row by row (r_0i .. r_(G-1)i), for the broadcast of
    // each group's bit to its rows.
    let by_row = (groups > 1).then(|| {
        let w = Secret::concat(&weights.iter().collect::<Vec<_>>())?;
        let order: Vec<usize> = (0..n)
            .flat_map(|i| (0..groups).map(move |g| g * n + i))
            .collect();
        let once = w.gather(&order);
        Secret::concat(&vec![&once; sels])
    });
    let by_row = by_row.transpose().map_err(e)?;
    let by_group = match groups {
        1 => None,
        _ => Some(concat(&weights.iter().collect::<Vec<_>>(), STEP)?),
    };
    // The bits found, top first: per bit, one per (selection, group).
    let mut found: Vec<Secret> = Vec::new();

    // 2. One step per bit, from the top; the quotient search runs alongside.
    let top = w.max(l.saturating_sub(1));
    for j in (0..=top).rev() {
        let select = j <= w;
        let mut left_parts = Vec::new();
        let mut right_parts = Vec::new();
        let mut below_count = None;
        let mut halves = None;
        if select {
            // a = e (1 - b_j): candidates whose bit j is 0.
            let zeros: Vec<Secret> = (0..sels)
                .map(|s| {
                    let a = sel_columns[s];
                    bits[j as usize].slice(a * n..(a + 1) * n).not()
                })
                .collect::<Result<_, _>>()
                .map_err(e)?;
            let zeros = concat(&zeros.iter().collect::<Vec<_>>(), STEP)?;
            let a = boolean(b.mul(&cand, &zeros).await.map_err(e)?);
            // Per (selection, group): S = Σ_i r_gi a_i.
            let sums = match &by_group {
                None => a.sum_chunks(n).map_err(e)?,
                Some(r) => {
                    let reps: Vec<usize> = (0..sels)
                        .flat_map(|s| (0..groups).flat_map(move |_| s * n..(s + 1) * n))
                        .collect();
                    let rs = concat(&vec![r; sels], STEP)?;
                    b.dot(&a.gather(&reps), &rs, n).await.map_err(e)?
                }
            }
            .assume_bits(l);
            let c0 = below.add(&sums).map_err(e)?;
            for s in 0..sels {
                let part = c0.slice(s * groups..(s + 1) * groups);
                left_parts.push(part.scale(sel_den(s)).map_err(e)?);
            }
            right_parts.push(right_sel.clone());
            below_count = Some(sums);
            halves = Some(a);
        }
        let searching = j < l;
        if searching {
            // q_j = [den (Q + 2^j) <= T].
            for (k, &(_, _, den)) in items.iter().enumerate() {
                let q = quotient.slice(k * groups..(k + 1) * groups);
                left_parts.push(q.add_const(1 << j).and_then(|v| v.scale(den)).map_err(e)?);
            }
            right_parts.push(target.clone());
        }
        let left = concat(&left_parts.iter().collect::<Vec<_>>(), STEP)?;
        let right = concat(&right_parts.iter().collect::<Vec<_>>(), STEP)?;
        let outcome = b.le(&left, &right).await.map_err(e)?;
        if searching {
            let q = outcome.slice(if select { sg } else { 0 }..outcome.len());
            let grown = quotient.add(&q.scale_pow2(j).map_err(e)?).map_err(e)?;
            quotient = grown.assume_bits(l);
        }
        let (Some(sums), Some(a)) = (below_count, halves) else {
            continue;
        };
        let m = outcome.slice(0..sg);
        // The bit m of each (selection, group), on each row of the group: M_i = Σ_g r_gi m_g.
        let on_rows = match &by_row {
            None => m.gather(&(0..sels).flat_map(|s| vec![s; n]).collect::<Vec<_>>()),
            Some(r) => {
                let reps: Vec<usize> = (0..sels)
                    .flat_map(|s| (0..n).flat_map(move |_| s * groups..(s + 1) * groups))
                    .collect();
                boolean(b.dot(r, &m.gather(&reps), groups).await.map_err(e)?)
            }
        };
        // e' = a + M (e - 2a) (e b_j when the bit is 1, e (1 - b_j) when 0); below' = below + m S.
        let flip = cand.sub(&a.scale(2).map_err(e)?).map_err(e)?;
        let p = b
            .mul(
                &concat(&[&on_rows, &m], STEP)?,
                &concat(&[&flip, &sums], STEP)?,
            )
            .await
            .map_err(e)?;
        cand = boolean(a.add(&p.slice(0..sels * n)).map_err(e)?);
        below = below
            .add(&p.slice(sels * n..sels * n + sg))
            .map_err(e)?
            .assume_bits(l);
        found.push(m);
    }

    // 3. x = Σ_(j<w) 2^j m_j - 2^w (1 - m_w); A = den x_k + r (x_(k+1) - x_k), r = T - den Q.
    let mut value = found[0]
        .not()
        .and_then(|t| t.scale_pow2(w)?.neg())
        .map_err(e)?;
    for (step, m) in found.iter().enumerate().skip(1) {
        let j = w - step as u32;
        value = value.add(&m.scale_pow2(j).map_err(e)?).map_err(e)?;
    }
    Ok((value.assume_bits(w), quotient))
}

/// The [`Selection::BitSliced`] variant: the quotients `k` by the field search of step 3, then
/// per reported group and ranked column one [`Backend::select_ranks`] call for the ranks `k`
/// and `k + 1` of every item on that column, then the interpolation.
async fn bitsliced<B: Backend>(
    b: &mut B,
    inputs: &Inputs,
    weights: &[Secret],
    counts: &Secret,
    items: &[PercentileItem],
    l: u32,
) -> Result<Vec<Secret>, StatsError> {
    const STEP: &str = "percentile (binary domain)";
    let e = in_step(STEP);
    let groups = weights.len();
    let mut targets = Vec::new();
    for &(_, num, _) in items {
        targets.push(counts.add_const(-1).and_then(|m| m.scale(num)).map_err(e)?);
    }
    let target = concat(&targets.iter().collect::<Vec<_>>(), STEP)?;
    // k = floor(T / den) per (item, group): q_j = [den (Q + 2^j) <= T], from the top.
    let mut quotient = b.constant(&vec![0; items.len() * groups]).map_err(e)?;
    for j in (0..l).rev() {
        let mut left = Vec::new();
        for (k, &(_, _, den)) in items.iter().enumerate() {
            let q = quotient.slice(k * groups..(k + 1) * groups);
            left.push(q.add_const(1 << j).and_then(|v| v.scale(den)).map_err(e)?);
        }
        let left = concat(&left.iter().collect::<Vec<_>>(), STEP)?;
        let q = b.le(&left, &target).await.map_err(e)?;
        let grown = quotient.add(&q.scale_pow2(j).map_err(e)?).map_err(e)?;
        quotient = grown.assume_bits(l);
    }
    // Selection s = 2 item + (0 for rank k, 1 for k + 1), per group g: value[s groups + g].
    let sels = 2 * items.len();
    let mut value: Vec<Option<Secret>> = vec![None; sels * groups];
    let mut columns: Vec<usize> = items.iter().map(|i| i.0).collect();
    columns.sort_unstable();
    columns.dedup();
    for (g, weight) in weights.iter().enumerate() {
        let members = boolean(weight.clone());
        for &c in &columns {
            let on: Vec<usize> = (0..sels).filter(|&s| items[s / 2].0 == c).collect();
            let mut ranks = Vec::new();
            for &s in &on {
                let k = quotient.slice((s / 2) * groups + g..(s / 2) * groups + g + 1);
                ranks.push(k.add_const((s % 2) as i128).map_err(e)?);
            }
            let ranks = concat(&ranks.iter().collect::<Vec<_>>(), STEP)?.assume_bits(l + 1);
            let found = b
                .select_ranks(&inputs.columns[c], &members, &ranks)
                .await
                .map_err(e)?;
            for (i, &s) in on.iter().enumerate() {
                value[s * groups + g] = Some(found.slice(i..i + 1));
            }
        }
    }
    let value: Vec<Secret> = value
        .into_iter()
        .map(|v| v.expect("every selection is on a ranked column"))
        .collect();
    let value = concat(&value.iter().collect::<Vec<_>>(), STEP)?;
    interpolate(b, items, groups, &targets, &value, &quotient).await
}

/// Step 3: `A = den x_k + r (x_(k+1) - x_k)` per item and group, `r = T - den Q`.
async fn interpolate<B: Backend>(
    b: &mut B,
    items: &[PercentileItem],
    groups: usize,
    targets: &[Secret],
    value: &Secret,
    quotient: &Secret,
) -> Result<Vec<Secret>, StatsError> {
    const STEP: &str = "percentile";
    let e = in_step(STEP);
    let (mut rs, mut ds, mut bases) = (Vec::new(), Vec::new(), Vec::new());
    for (k, &(_, _, den)) in items.iter().enumerate() {
        let lo = value.slice(2 * k * groups..(2 * k + 1) * groups);
        let hi = value.slice((2 * k + 1) * groups..(2 * k + 2) * groups);
        let q = quotient.slice(k * groups..(k + 1) * groups);
        // 0 <= r < den.
        let r = targets[k].sub(&q.scale(den).map_err(e)?).map_err(e)?;
        rs.push(r.assume_bits(mpc::field::encode::bits_for(den)));
        ds.push(hi.sub(&lo).map_err(e)?);
        bases.push(lo.scale(den).map_err(e)?);
    }
    let interp = b
        .mul(
            &concat(&rs.iter().collect::<Vec<_>>(), STEP)?,
            &concat(&ds.iter().collect::<Vec<_>>(), STEP)?,
        )
        .await
        .map_err(e)?;
    (0..items.len())
        .map(|k| {
            bases[k]
                .add(&interp.slice(k * groups..(k + 1) * groups))
                .map_err(e)
        })
        .collect()
}
