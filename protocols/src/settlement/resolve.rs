//! Net positions, solvency and gridlock resolution, with the insolvency pattern kept secret.
//!
//! With a secret 0/1 flag `act_p` per firm (1: its obligations settle), firm `j`'s position is
//! `pos_j = balance_j + sum_p act_p C[p][j] - act_j D[j]`. Starting with every flag at 1:
//! 1. compare every position with zero (one batch): `z_j = [pos_j < 0]`;
//! 2. open only `[sum_j z_j = 0]`: whether anyone is short. If not, done;
//! 3. otherwise `act_j -= z_j` (only a settling firm can be short: a dropped firm's position is
//!    its balance plus what it receives, never negative), recompute every position with one
//!    dot product per firm, and go to 1.
//!
//! Every iteration drops at least one firm, so there are at most `firms + 1` checks, each a
//! constant number of rounds. With `hide_iterations`, a round that did not settle at once runs
//! all `firms` drops without opening anything (a drop that finds nobody short changes
//! nothing), so the public count is 1 or `firms + 1`: no more than whether everything settled. The result does not depend on any order: dropping can only lower
//! other firms' positions, so the flags that remain are the **largest set of firms whose
//! obligations can all settle together** (any set that could settle by itself is never
//! dropped, by induction), and a cycle of obligations that nets to zero always settles.
//!
//! The first comparison batch also validates the inputs the workers cannot see, revealing
//! nothing when they are valid:
//! - every balance is non-negative (its flag is opened: all zeros);
//! - no firm can lower another's balance: per firm, either every amount it pays is
//!   non-negative, or — when it pays more rows than it has payees, whichever is fewer
//!   comparisons — its total to each other firm is non-negative (a firm's obligations settle
//!   all together, so the outcome depends on those totals only). Per firm, the number of
//!   negative values is opened: zero. Either way the check costs at most one comparison per
//!   obligation and at most one per pair of firms, and the client already refused every
//!   negative row before sharing ([`RoundSpec::check_upload`](super::RoundSpec::check_upload));
//! - `balance + everything receivable` fits the balance column's bound (only the bit "some firm
//!   could overflow" is opened), so every new balance fits the column it is written back to.

use mpc::{Field, Fr};

use super::netting::Gross;
use super::{SettlementError, in_step};
use crate::backend::{Backend, Secret};

/// What the iterations leave.
pub(crate) struct Resolution {
    /// Every firm's new balance.
    pub balances: Secret,
    /// Every firm's flag: 1 when its obligations settled.
    pub settled: Secret,
    /// Solvency checks run (1: everything settled at once).
    pub iterations: usize,
}

fn log2_ceil(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

fn secret(shares: Vec<Fr>, bits: u32, step: &'static str) -> Result<Secret, SettlementError> {
    Secret::from_facts(
        shares,
        mpc::share::Meta {
            bits,
            frac: 0,
            boolean: false,
        },
    )
    .map_err(in_step(step))
}

/// `[sum = 0]` for each batch of boolean flags, opened.
async fn none_of<B: Backend>(
    b: &mut B,
    flags: &[&[Fr]],
    extra: Option<&Secret>,
) -> Result<Vec<i128>, SettlementError> {
    let bits = flags
        .iter()
        .map(|f| log2_ceil(f.len() + 1))
        .max()
        .unwrap_or(1);
    let sums = secret(
        flags.iter().map(|f| f.iter().copied().sum()).collect(),
        bits,
        "solvency",
    )?;
    let zero = b
        .constant(&vec![0; flags.len()])
        .map_err(in_step("solvency"))?;
    let none = b.eq(&sums, &zero).await.map_err(in_step("solvency"))?;
    let opened = match extra {
        Some(e) => Secret::concat(&[&none, e]).map_err(in_step("solvency"))?,
        None => none,
    };
    b.open(&opened).await.map_err(in_step("solvency"))
}

/// Runs the round's iterations. `balances` and `debits` hold one value per firm; `payers[k]`
/// is the firm of the `k`-th book.
pub(crate) async fn resolve<B: Backend>(
    b: &mut B,
    names: &[String],
    balances: &Secret,
    balance_bits: u32,
    gross: &Gross,
    payers: &[usize],
    hide_iterations: bool,
) -> Result<Resolution, SettlementError> {
    let firms = names.len();
    let owed = &gross.owed;
    // Everyone settles. `receivable` is the balance plus everything owed by the others: no
    // final balance exceeds it (what a firm owes itself cancels out when it settles and
    // vanishes when it is dropped, so it is left out of both sides here).
    let credits = secret(
        (0..firms)
            .map(|j| {
                (0..firms)
                    .filter(|&p| p != j)
                    .map(|p| owed[p * firms + j])
                    .sum()
            })
            .collect(),
        gross.owed_bits + log2_ceil(firms),
        "positions",
    )?;
    let paid_to_others = secret(
        (0..firms)
            .map(|j| gross.debits.shares()[j] - owed[j * firms + j])
            .collect(),
        gross.debits.bits().max(gross.owed_bits) + 1,
        "positions",
    )?;
    let receivable = balances.add(&credits).map_err(in_step("positions"))?;
    let mut positions = receivable
        .sub(&paid_to_others)
        .map_err(in_step("positions"))?;
    let limit = (1i128 << balance_bits) - 1;
    let headroom = b
        .constant(&vec![limit; firms])
        .and_then(|c| c.sub(&receivable))
        .map_err(in_step("positions"))?;
    let checked = Secret::concat(&[&positions, &headroom, balances, &gross.signs])
        .map_err(in_step("solvency"))?;
    let zero = b
        .constant(&vec![0; checked.len()])
        .map_err(in_step("solvency"))?;
    let flags = b.lt(&checked, &zero).await.map_err(in_step("solvency"))?;
    let flags = flags.into_shares();
    let mut short = flags[..firms].to_vec();
    let overflow = &flags[firms..2 * firms];
    let negative_balance = &flags[2 * firms..3 * firms];
    let mut negative_amounts = Vec::with_capacity(payers.len());
    let mut first = 3 * firms;
    for &(n, _) in &gross.sign_counts {
        negative_amounts.push(flags[first..first + n].iter().copied().sum::<Fr>());
        first += n;
    }
    let max_rows = gross.sign_counts.iter().map(|r| r.0).max().unwrap_or(0);
    let mut validity = negative_balance.to_vec();
    validity.extend(negative_amounts);
    let validity = secret(validity, log2_ceil(max_rows + 1).max(1), "validation")?;
    let opened = none_of(b, &[&short, overflow], Some(&validity)).await?;
    if let Some(j) = (0..firms).find(|&j| opened[2 + j] != 0) {
        return Err(SettlementError::NegativeBalance {
            firm: names[j].clone(),
        });
    }
    if let Some((k, &count)) = opened[2 + firms..]
        .iter()
        .enumerate()
        .find(|(_, c)| **c != 0)
    {
        let (firm, count) = (names[payers[k]].clone(), count as usize);
        return Err(if gross.sign_counts[k].1 {
            SettlementError::NegativeAmounts { firm, count }
        } else {
            SettlementError::NegativeNetAmounts { firm, count }
        });
    }
    if opened[1] != 1 {
        return Err(SettlementError::Overflow { bits: balance_bits });
    }
    let mut everyone_solvent = opened[0] == 1;

    // Per firm j, the dot product [act_0 .. act_(F-1), act_j] · [C[0][j] .. C[F-1][j], -D_j].
    let debits = gross.debits.shares();
    let coefficients: Vec<Fr> = (0..firms)
        .flat_map(|j| {
            (0..firms)
                .map(move |p| owed[p * firms + j])
                .chain(std::iter::once(-debits[j]))
        })
        .collect();
    let coefficients = secret(
        coefficients,
        gross.owed_bits.max(gross.debits.bits()) + 1,
        "positions",
    )?;
    let mut active = vec![Fr::one(); firms];
    let mut iterations = 1;
    // With hidden iterations, a round that did not settle at once always runs `firms` drops
    // (each drops every short firm, possibly none), and opens nothing more.
    let fixed = hide_iterations && !everyone_solvent;
    while !everyone_solvent {
        if iterations > firms {
            return Err(SettlementError::Input(
                "gridlock resolution did not converge (an input broke its bounds)".into(),
            ));
        }
        for (a, z) in active.iter_mut().zip(&short) {
            *a -= *z;
        }
        let flags: Vec<Fr> = (0..firms)
            .flat_map(|j| active.iter().copied().chain(std::iter::once(active[j])))
            .collect();
        let settling = b
            .dot(&Secret::from_bit_shares(flags), &coefficients, firms + 1)
            .await
            .map_err(in_step("positions"))?;
        positions = balances.add(&settling).map_err(in_step("positions"))?;
        iterations += 1;
        if fixed && iterations > firms {
            // After `firms` drops nobody can be short: every drop before removed someone or
            // found everyone solvent, which no drop changes.
            break;
        }
        let zero = b.constant(&vec![0; firms]).map_err(in_step("solvency"))?;
        short = b
            .lt(&positions, &zero)
            .await
            .map_err(in_step("solvency"))?
            .into_shares();
        if !fixed {
            everyone_solvent = none_of(b, &[&short], None).await?[0] == 1;
        }
    }
    Ok(Resolution {
        // Every final position lies in [0, balance + receivable], checked to fit the column.
        balances: positions.assume_bits(balance_bits),
        settled: Secret::from_bit_shares(active),
        iterations,
    })
}
