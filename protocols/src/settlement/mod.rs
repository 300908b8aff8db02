//! A settlement round: firms' secret obligations netted against their secret balances, the
//! obligations of firms that cannot pay dropped until the rest settles, new balances written
//! back — without anyone seeing a balance, an amount or who owes whom.
//!
//! # Data model
//!
//! The round's firms are a public list in the job ([`RoundSpec::firms`]); each is an account
//! holder and uploads, under its own identity:
//! - `accounts` (name configurable): **one row**, an integer column `balance` (its balance,
//!   non-negative). Other columns are allowed and written back unchanged.
//! - `obligations` (name configurable, optional: no dataset means no obligations): one row per
//!   obligation it pays, with columns `payer` and `payee` (categorical; `payer` is always the
//!   uploading firm itself, `payee`'s domain lists only firms of the round, so a schema
//!   inferred from the CSV fits) and `amount` (integer, non-negative).
//!
//! ```csv
//! payer,payee,amount
//! acme,globex,1200
//! acme,initech,300
//! ```
//!
//! The number of obligations each firm pays is public (its dataset's row count), as is who
//! takes part; a firm that wants to hide its count pads with zero-amount rows.
//!
//! # Rules
//!
//! - **Netting**: firm `j`'s new balance is its balance, plus the amounts of the settled
//!   obligations it receives, minus those of the settled obligations it pays.
//! - **Solvency**: the round settles only if no new balance is negative.
//! - **Gridlock resolution**: while some firms would go negative, *all* the obligations of
//!   those firms are dropped (they pay nothing; they still receive), and positions are
//!   recomputed. The outcome does not depend on any order: the firms whose obligations settle
//!   are the largest set of firms that can all pay together, so a cycle of obligations that
//!   nets to zero always settles, even from zero balances. A firm's obligations settle all
//!   together or not at all. There are at most `firms + 1` solvency checks.
//! - **Inputs**: obligations to oneself, negative amounts or balances and payees outside the
//!   round are refused at upload, naming the row ([`RoundSpec::check_upload`]); the workers
//!   re-check, on shares, what would let one firm move another's money (see below).
//!
//! # What is revealed, and to whom
//!
//! - to everyone ([`SettlementResult`]): the number of solvency checks (`iterations`: 1 when
//!   everything settled at once; otherwise at least `iterations - 1` firms were dropped, at
//!   least one per wave of defaults; with [`RoundSpec::hide_iterations`], always `firms + 1`)
//!   and whether every obligation settled. Not which firms were
//!   dropped, nor how many, nor any amount or balance: each check opens exactly one bit ("is any
//!   settling firm short?"), and the insolvency flags stay secret throughout.
//! - to each firm, privately: its new balance (output `balance`, label `"balance"`) and, per
//!   obligation it pays, whether it settled (output `settled`, labels `"obligation <row>"`, 1
//!   or 0, rows numbered from 1 as in its CSV). From its own data it can deduce the total it
//!   received, nothing about who paid it.
//! - to the workers: nothing else. Two openings check inputs they cannot see and are all
//!   zeros for valid inputs: every row's payer column minus the uploader's position (a firm
//!   cannot make another firm pay), and, per firm, the number of negative balances, amounts or
//!   totals per payee (a firm cannot lower another firm's balance). A third bit says whether
//!   some balance plus everything it could receive would overflow the balance column. Invalid
//!   inputs fail the round naming the firm (and, for the payer, the row); nothing is written.
//!   The masked payees opened to build the one-hot vectors are uniform modulo the domain size
//!   and statistically masked above it (see module `netting`). Statistical security is 40 bits
//!   per masked value, as in the engine's comparisons.
//!
//! The new balances are returned as [`TableUpdate`]s of the accounts datasets (every column in
//! schema order, the others unchanged), and the round's obligations are consumed in the same
//! updates: in the next version of each obligations dataset every settled obligation's amount
//! is 0 (unsettled ones stay, for a later round). The worker makes them all current only once
//! every worker has staged them and the round's outcome is on the ledger, so an interrupted
//! round changes nothing.
//!
//! # Cost
//!
//! The bilateral gross matrix costs `d` random bits and one masking integer per obligation
//! (`d = ceil(log2` of the largest payee domain`)`, at least 2), one opening, `ceil(log2(d/2))` rounds of about 20
//! products per obligation, one round of `2^(d/2)` products per obligation and one dot product
//! per (payer, payee, 64 rows) (module `netting`). The first check compares `3 · firms` values and
//! at most `min(rows, payees)` per firm (the validation); every further iteration is one dot
//! product of width `firms + 1` per firm, `firms` comparisons, one equality test and one
//! opening (module `resolve`). Rounds do not grow with the number of obligations; BENCHMARKS.md
//! ("Settlement") has the figures.
//!
//! Not here: loading shares, policies (the worker checks them), staging the new balances.

pub(crate) mod check;
pub use check::{CheckError, UploadError};
mod netting;
mod onehot;
mod resolve;

use mpc::MpcError;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Secret};
use crate::outcome::{Outcome, OwnedTable, PrivateOutput, TableUpdate};

/// The balance column of an accounts dataset.
pub const BALANCE: &str = "balance";
/// The payer column of an obligations dataset (categorical: the uploading firm).
pub const PAYER: &str = "payer";
/// The payee column of an obligations dataset (categorical over the round's firms).
pub const PAYEE: &str = "payee";
/// The amount column of an obligations dataset (integer, non-negative).
pub const AMOUNT: &str = "amount";

fn default_accounts() -> String {
    "accounts".into()
}
fn default_obligations() -> String {
    "obligations".into()
}

/// A settlement round's parameters (the `settlement` job's TOML fields).
///
/// ```toml
/// kind = "settlement"
/// round = "2026-12-06"                   # the round's id: it runs (and applies) at most once
/// firms = ["acme", "globex", "initech"]  # the account holders, public, in this order
/// accounts = "accounts"                  # optional (default "accounts")
/// obligations = "obligations"            # optional (default "obligations")
/// hide_iterations = false                # optional: true runs every drop, revealing nothing
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundSpec {
    /// The round's id, chosen by the firms. Every firm signs the round's spec (this id
    /// included) to consent to it, and the workers apply a round with a given id at most once
    /// (the control plane's rule: see the worker's `admission` module).
    pub round: String,
    /// The participating firms (identity names), each an account holder and a recipient of
    /// its own outputs.
    pub firms: Vec<String>,
    /// The name of the datasets holding each firm's balance (default `accounts`).
    #[serde(default = "default_accounts")]
    pub accounts: String,
    /// The name of the datasets holding each firm's obligations (default `obligations`).
    #[serde(default = "default_obligations")]
    pub obligations: String,
    /// When true (default false), a round that does not settle at once always runs all
    /// `firms` drops, so that the number of iterations reveals nothing beyond whether everything
    /// settled; it costs `firms` iterations instead of one per wave of defaults.
    #[serde(default)]
    pub hide_iterations: bool,
}

impl RoundSpec {
    /// Refuses a round without an id or firms, with a firm listed twice, or reading one
    /// dataset name as both accounts and obligations.
    pub fn validate(&self) -> Result<(), RoundError> {
        if self.round.trim().is_empty() || self.round.len() > 128 {
            return Err(RoundError::NoId);
        }
        if self.firms.is_empty() {
            return Err(RoundError::NoFirms);
        }
        for (i, f) in self.firms.iter().enumerate() {
            if self.firms[..i].contains(f) {
                return Err(RoundError::FirmTwice(f.clone()));
            }
        }
        if self.accounts == self.obligations {
            return Err(RoundError::SameDatasets(self.accounts.clone()));
        }
        Ok(())
    }
}

/// Why a round's specification is refused ([`RoundSpec::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoundError {
    /// The round id is empty or too long.
    #[error("a settlement round needs an id (`round`, 1 to 128 characters)")]
    NoId,
    /// No firm takes part.
    #[error("a settlement round needs at least one firm")]
    NoFirms,
    /// A firm is listed twice.
    #[error("firm '{0}' is listed twice")]
    FirmTwice(String),
    /// One dataset name for accounts and obligations.
    #[error("accounts and obligations are both called '{0}'")]
    SameDatasets(String),
}

/// A round's public result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementResult {
    /// The firms, in the round's order.
    pub firms: Vec<String>,
    /// Obligations submitted (the datasets' row counts, public anyway).
    pub obligations: usize,
    /// Positions computed (solvency checks): 1 when everything settled at once; otherwise one
    /// more per wave of defaults (each dropped at least one firm), or `firms + 1` with
    /// [`RoundSpec::hide_iterations`].
    pub iterations: usize,
    /// True when every obligation settled.
    pub all_settled: bool,
}

/// Why a round did not settle. Nothing is written back in every case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettlementError {
    /// The inputs do not fit the round (nothing ran).
    #[error("inputs: {0}")]
    Input(String),
    /// The round's specification is invalid (nothing ran).
    #[error("inputs: {0}")]
    Round(#[from] RoundError),
    /// A row's payer column does not name the firm that uploaded it.
    #[error(
        "obligations of {firm}, row {row}: the payer is not {firm} (a firm uploads only the obligations it pays)"
    )]
    PayerNotOwner {
        /// The uploading firm.
        firm: String,
        /// The row, from 1.
        row: usize,
    },
    /// A firm's balance is negative.
    #[error("accounts of {firm}: the balance is negative")]
    NegativeBalance {
        /// The firm.
        firm: String,
    },
    /// A firm's obligations include negative amounts.
    #[error("obligations of {firm}: {count} negative amount(s)")]
    NegativeAmounts {
        /// The firm.
        firm: String,
        /// How many.
        count: usize,
    },
    /// A firm's totals owed to some payees are negative (checked instead of its rows when it
    /// pays more rows than it has payees).
    #[error("obligations of {firm}: the total owed to {count} payee(s) is negative")]
    NegativeNetAmounts {
        /// The firm.
        firm: String,
        /// How many payees.
        count: usize,
    },
    /// Some firm's balance plus everything it could receive exceeds the balance column's bound.
    #[error(
        "a new balance could exceed the {bits}-bit bound of column '{BALANCE}': upload the \
         accounts with a wider balance column (a schema file with `bits = 63`, or `quorate \
         upload --job ROUND.toml`, which infers it at 63 bits)"
    )]
    Overflow {
        /// The bound.
        bits: u32,
    },
    /// The computation failed at a step.
    #[error("{step}: {source}")]
    Mpc {
        /// The step.
        step: &'static str,
        /// The engine's error.
        source: MpcError,
    },
}

/// The obligations a round consumes: every settled obligation's amount becomes 0 in the next
/// version of its payer's obligations dataset (one batched selection), written in the same
/// two-phase update as the new balances, so a later round cannot pay it again. Unsettled
/// obligations stay as they were, for a later round.
async fn consume<B: Backend>(
    b: &mut B,
    books: &[(&OwnedTable, usize, netting::Book<'_>)],
    flags: &[Secret],
) -> Result<Vec<TableUpdate>, SettlementError> {
    if books.is_empty() {
        return Ok(Vec::new());
    }
    let amounts: Vec<&Secret> = books.iter().map(|(t, c, _)| &t.columns[*c]).collect();
    let amounts = Secret::concat(&amounts).map_err(in_step("consumed obligations"))?;
    let flags: Vec<&Secret> = flags.iter().collect();
    let flags = Secret::concat(&flags).map_err(in_step("consumed obligations"))?;
    let zeros = b
        .constant(&vec![0; amounts.len()])
        .map_err(in_step("consumed obligations"))?;
    let left = b
        .select(&flags, &zeros, &amounts)
        .await
        .map_err(in_step("consumed obligations"))?;
    let mut at_row = 0;
    Ok(books
        .iter()
        .map(|(t, c, _)| {
            let mut columns = t.columns.clone();
            columns[*c] = left.slice(at_row..at_row + t.rows);
            at_row += t.rows;
            TableUpdate {
                owner: t.owner.clone(),
                name: t.name.clone(),
                columns,
            }
        })
        .collect())
}

/// Wraps an engine error with the step it happened in.
pub(crate) fn in_step(step: &'static str) -> impl Fn(MpcError) -> SettlementError + Copy {
    move |source| SettlementError::Mpc { step, source }
}

/// Runs a settlement round over the firms' `accounts` and `obligations` datasets (`tables`, in
/// any order). See the module documentation for the rules and what is revealed.
pub async fn settle<B: Backend>(
    b: &mut B,
    round: &RoundSpec,
    tables: &[OwnedTable],
) -> Result<Outcome<SettlementResult>, SettlementError> {
    round.validate()?;
    let firms = round.firms.len();
    let input =
        |t: &OwnedTable, e: String| SettlementError::Input(format!("{}/{}: {e}", t.owner, t.name));
    let mut accounts: Vec<Option<(&OwnedTable, usize, u32)>> = vec![None; firms];
    let mut books: Vec<Option<&OwnedTable>> = vec![None; firms];
    for t in tables {
        let j = round
            .firms
            .iter()
            .position(|f| *f == t.owner)
            .ok_or_else(|| input(t, format!("{} is not among the round's firms", t.owner)))?;
        if t.name == round.accounts {
            let (c, bits) =
                check::balance_column(&t.schema).map_err(|e| input(t, e.to_string()))?;
            if t.rows != 1 {
                return Err(input(
                    t,
                    format!("holds {} rows, exactly one (the balance) expected", t.rows),
                ));
            }
            if accounts[j].replace((t, c, bits)).is_some() {
                return Err(input(t, "given twice".into()));
            }
        } else if t.name == round.obligations {
            if books[j].replace(t).is_some() {
                return Err(input(t, "given twice".into()));
            }
        } else {
            return Err(input(t, "the round does not read this dataset".into()));
        }
    }
    let accounts: Vec<(&OwnedTable, usize, u32)> = accounts
        .into_iter()
        .zip(&round.firms)
        .map(|(a, f)| {
            a.ok_or_else(|| {
                SettlementError::Input(format!("{f} has no '{}' dataset", round.accounts))
            })
        })
        .collect::<Result<_, _>>()?;
    // New balances must fit every accounts schema: the narrowest bound.
    let balance_bits = accounts.iter().map(|a| a.2).min().unwrap_or(0);
    let parts: Vec<&Secret> = accounts.iter().map(|(t, c, _)| &t.columns[*c]).collect();
    let balances = Secret::concat(&parts).map_err(in_step("balances"))?;

    let mut ledger = Vec::new();
    for (j, t) in books.iter().enumerate() {
        // No rows, nothing to pay (and an empty CSV's inferred types mean nothing).
        let Some(t) = t.filter(|t| t.rows > 0) else {
            continue;
        };
        let cols =
            check::obligation_columns(round, &t.schema).map_err(|e| input(t, e.to_string()))?;
        let payer_position = cols
            .payer
            .1
            .iter()
            .position(|p| *p == t.owner)
            .ok_or_else(|| {
                input(
                    t,
                    format!("the domain of column '{PAYER}' does not list {}", t.owner),
                )
            })?;
        let targets = cols
            .payee
            .1
            .iter()
            .enumerate()
            .map(|(position, name)| {
                let firm = round.firms.iter().position(|f| f == name);
                (
                    firm.expect("checked: the payee domain lists firms only"),
                    position,
                )
            })
            .collect();
        ledger.push((
            t,
            cols.amount,
            netting::Book {
                payer: j,
                name: &t.owner,
                payer_position,
                targets,
                domain: cols.payee.1.len(),
                payer_column: &t.columns[cols.payer.0],
                payee: &t.columns[cols.payee.0],
                amount: &t.columns[cols.amount],
            },
        ));
    }
    let book_list: Vec<netting::Book> = ledger.iter().map(|(_, _, k)| k.clone()).collect();
    let gross = netting::gross(b, firms, &book_list).await?;
    let payers: Vec<usize> = ledger.iter().map(|(_, _, k)| k.payer).collect();
    let outcome = resolve::resolve(
        b,
        &round.firms,
        &balances,
        balance_bits,
        &gross,
        &payers,
        round.hide_iterations,
    )
    .await?;

    let mut private = Vec::new();
    let mut updates = Vec::new();
    for (j, (t, c, _)) in accounts.iter().enumerate() {
        let balance = outcome.balances.slice(j..j + 1);
        private.push(PrivateOutput {
            recipient: t.owner.clone(),
            name: "balance".into(),
            labels: vec!["balance".into()],
            values: balance.clone(),
        });
        let mut columns = t.columns.clone();
        columns[*c] = balance;
        updates.push(TableUpdate {
            owner: t.owner.clone(),
            name: t.name.clone(),
            columns,
        });
    }
    let mut flags = Vec::new();
    for (t, _, k) in &ledger {
        let flag = outcome.settled.gather(&vec![k.payer; t.rows]);
        private.push(PrivateOutput {
            recipient: t.owner.clone(),
            name: "settled".into(),
            labels: (1..=t.rows).map(|r| format!("obligation {r}")).collect(),
            values: flag.clone(),
        });
        flags.push(flag);
    }
    updates.extend(consume(b, &ledger, &flags).await?);
    Ok(Outcome {
        public: SettlementResult {
            firms: round.firms.clone(),
            obligations: ledger.iter().map(|(t, _, _)| t.rows).sum(),
            iterations: outcome.iterations,
            all_settled: outcome.iterations == 1,
        },
        private,
        updates,
    })
}
