//! What a settlement round accepts, checked on public facts: the schemas at job time, and every
//! row of a plain table before its owner shares it ([`RoundSpec::check_upload`]), with errors
//! that name the row.
//!
//! Rows are numbered from 1, as the data rows of the owner's CSV (row `r` is CSV line `r + 1`,
//! after the header), the same numbers as the `"obligation <row>"` labels of the outputs.

use super::{AMOUNT, BALANCE, PAYEE, PAYER, RoundError, RoundSpec};
use crate::dataset::{ColumnType, Schema, Table};

/// What a settlement round refuses in a schema or a row of a plain table. Rows are numbered
/// from 1 (`row`), the CSV line is one more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// A column the round reads is missing.
    #[error("no column '{0}'")]
    NoColumn(&'static str),
    /// `payer` or `payee` is not categorical.
    #[error("column '{0}' must be categorical over the round's firms")]
    NotCategorical(&'static str),
    /// `balance` or `amount` is not an integer column.
    #[error("column '{0}' must be an integer column")]
    NotInteger(&'static str),
    /// The `payee` domain is not exactly the round's firms (only the public firm list is
    /// named, never a value of the domain).
    #[error(
        "column '{PAYEE}': its domain must be exactly the round's firms ({}), so that every \
         firm's schema is the same; this one is not (upload with --job naming the round, which \
         sets it, or write the schema with --schema)",
        .firms.join(", ")
    )]
    PayeeDomain {
        /// The round's firms.
        firms: Vec<String>,
    },
    /// An encoded categorical value past its column's domain.
    #[error("row {row} (CSV line {}): {column} {value} is outside the column's domain", .row + 1)]
    OutsideDomain {
        /// The row.
        row: usize,
        /// `payer` or `payee`.
        column: &'static str,
        /// The encoded value.
        value: i128,
    },
    /// An accounts table of other than one row.
    #[error("an accounts dataset holds exactly one row (the firm's balance), this one has {0}")]
    AccountRows(usize),
    /// A negative balance.
    #[error("row 1 (CSV line 2): negative balance {0}")]
    NegativeBalance(i128),
    /// An obligation to a firm outside the round.
    #[error(
        "row {row} (CSV line {}): obligation to unknown account '{payee}' (the round's firms: {})",
        .row + 1,
        .firms.join(", ")
    )]
    UnknownPayee {
        /// The row.
        row: usize,
        /// The payee.
        payee: String,
        /// The round's firms.
        firms: Vec<String>,
    },
    /// A payer outside the round.
    #[error(
        "row {row} (CSV line {}): payer '{payer}' is not among the round's firms ({})",
        .row + 1,
        .firms.join(", ")
    )]
    UnknownPayer {
        /// The row.
        row: usize,
        /// The payer.
        payer: String,
        /// The round's firms.
        firms: Vec<String>,
    },
    /// A firm owing itself.
    #[error("row {row} (CSV line {}): obligation of '{payer}' to itself", .row + 1)]
    SelfObligation {
        /// The row.
        row: usize,
        /// The firm.
        payer: String,
    },
    /// A negative amount.
    #[error("row {row} (CSV line {}): negative amount {amount}", .row + 1)]
    NegativeAmount {
        /// The row.
        row: usize,
        /// The amount.
        amount: i128,
    },
    /// Rows of one table with different payers.
    #[error(
        "row {row} (CSV line {}): payer '{payer}' differs from row 1's payer '{first}' (a firm \
         uploads the obligations it pays)",
        .row + 1
    )]
    PayerDiffers {
        /// The row.
        row: usize,
        /// Its payer.
        payer: String,
        /// Row 1's payer.
        first: String,
    },
}

/// Why [`RoundSpec::check_upload`] refuses a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The round itself is invalid.
    #[error(transparent)]
    Round(#[from] RoundError),
    /// The table, named by its dataset, does not fit the round.
    #[error("{dataset}: {source}")]
    Table {
        /// The dataset it is uploaded as.
        dataset: String,
        /// What is wrong.
        source: CheckError,
    },
}

/// Where the columns of an obligations dataset are.
pub(crate) struct ObligationColumns<'a> {
    /// The `payer` column and its domain.
    pub payer: (usize, &'a [String]),
    /// The `payee` column and its domain.
    pub payee: (usize, &'a [String]),
    /// The `amount` column.
    pub amount: usize,
}

fn categorical<'a>(
    schema: &'a Schema,
    name: &'static str,
) -> Result<(usize, &'a [String]), CheckError> {
    match schema.column(name) {
        Some((i, c)) => match &c.ty {
            ColumnType::Categorical { domain } => Ok((i, domain)),
            _ => Err(CheckError::NotCategorical(name)),
        },
        None => Err(CheckError::NoColumn(name)),
    }
}

fn integer(schema: &Schema, name: &'static str) -> Result<(usize, u32), CheckError> {
    match schema.column(name) {
        Some((i, c)) => match c.ty {
            ColumnType::Integer { bits } => Ok((i, bits)),
            _ => Err(CheckError::NotInteger(name)),
        },
        None => Err(CheckError::NoColumn(name)),
    }
}

/// The `balance` column of an accounts schema: its index and bound.
pub(crate) fn balance_column(schema: &Schema) -> Result<(usize, u32), CheckError> {
    integer(schema, BALANCE)
}

/// The columns of an obligations schema, without the domain check.
fn obligation_columns_unchecked(schema: &Schema) -> Result<ObligationColumns<'_>, CheckError> {
    Ok(ObligationColumns {
        payer: categorical(schema, PAYER)?,
        payee: categorical(schema, PAYEE)?,
        amount: integer(schema, AMOUNT)?.0,
    })
}

/// The `payee` domain must be exactly the round's firms, each once, in any order: every row's
/// credit lands on an account (the workers cannot see the rows), and every firm's obligations
/// schema is the same, so neither the schema nor its commitment on the ledger says whom a firm
/// pays. The refusal names only the round's (public) firm list, never a value of the domain:
/// at job time it is published, and a partial domain would be the firm's counterparties.
fn check_payee_domain(round: &RoundSpec, domain: &[String]) -> Result<(), CheckError> {
    let exact = domain.len() == round.firms.len()
        && round.firms.iter().all(|f| domain.contains(f))
        && domain.iter().all(|d| round.firms.contains(d));
    match exact {
        false => Err(CheckError::PayeeDomain {
            firms: round.firms.clone(),
        }),
        true => Ok(()),
    }
}

/// An inferred obligations schema, made the round's: `payer` and `payee` over the round's
/// whole firm list (values re-encoded), `amount` at the widest public width, so that every
/// firm's schema is the same whatever it pays. Left unchanged when a value names no firm of
/// the round ([`RoundSpec::check_upload`] then refuses it, naming the row).
pub(crate) fn widen_obligations(round: &RoundSpec, table: &mut Table) {
    let Ok(cols) = obligation_columns_unchecked(&table.schema) else {
        return;
    };
    let (payer, payee, amount) = (cols.payer, cols.payee, cols.amount);
    let mut recoded = table.columns.clone();
    for (c, domain) in [payer, payee] {
        for v in &mut recoded[c] {
            let firm = usize::try_from(*v)
                .ok()
                .and_then(|i| domain.get(i))
                .and_then(|name| round.firms.iter().position(|f| f == name));
            match firm {
                Some(k) => *v = k as i128,
                None => return,
            }
        }
    }
    let (payer, payee) = (payer.0, payee.0);
    table.columns = recoded;
    let top = crate::dataset::WIDTH_LADDER[crate::dataset::WIDTH_LADDER.len() - 1];
    for c in [payer, payee] {
        table.schema.columns[c].ty = ColumnType::Categorical {
            domain: round.firms.clone(),
        };
    }
    if let ColumnType::Integer { bits } = &mut table.schema.columns[amount].ty {
        *bits = (*bits).max(top);
    }
}

/// The columns of an obligations schema, checked against the round.
pub(crate) fn obligation_columns<'a>(
    round: &RoundSpec,
    schema: &'a Schema,
) -> Result<ObligationColumns<'a>, CheckError> {
    let cols = obligation_columns_unchecked(schema)?;
    check_payee_domain(round, cols.payee.1)?;
    Ok(cols)
}

fn name_at<'a>(
    domain: &'a [String],
    value: i128,
    column: &'static str,
    row: usize,
) -> Result<&'a str, CheckError> {
    usize::try_from(value)
        .ok()
        .and_then(|i| domain.get(i))
        .map(String::as_str)
        .ok_or(CheckError::OutsideDomain { row, column, value })
}

impl RoundSpec {
    /// Refuses a plain table the round would read, naming the row, before anything is shared
    /// or computed: an accounts table that is not one row, a negative balance; an obligation
    /// with a negative amount, to an account outside the round, to its own payer, or rows with
    /// different payers. Datasets the round does not read are accepted.
    pub fn check_upload(&self, dataset: &str, table: &Table) -> Result<(), UploadError> {
        self.validate()?;
        let in_table = |source: CheckError| UploadError::Table {
            dataset: dataset.into(),
            source,
        };
        if dataset == self.accounts {
            let (c, _) = balance_column(&table.schema).map_err(in_table)?;
            if table.rows() != 1 {
                return Err(in_table(CheckError::AccountRows(table.rows())));
            }
            let v = table.columns[c][0];
            if v < 0 {
                return Err(in_table(CheckError::NegativeBalance(v)));
            }
        } else if dataset == self.obligations {
            if table.rows() == 0 {
                // Nothing to pay: the columns need only be there (an empty CSV has no types).
                for c in [PAYER, PAYEE, AMOUNT] {
                    if table.schema.column(c).is_none() {
                        return Err(in_table(CheckError::NoColumn(c)));
                    }
                }
                return Ok(());
            }
            let cols = obligation_columns_unchecked(&table.schema).map_err(in_table)?;
            let mut first_payer: Option<&str> = None;
            for r in 0..table.rows() {
                let row = r + 1;
                let payer = name_at(cols.payer.1, table.columns[cols.payer.0][r], PAYER, row)
                    .map_err(in_table)?;
                let payee = name_at(cols.payee.1, table.columns[cols.payee.0][r], PAYEE, row)
                    .map_err(in_table)?;
                let amount = table.columns[cols.amount][r];
                if !self.firms.iter().any(|f| f == payee) {
                    return Err(in_table(CheckError::UnknownPayee {
                        row,
                        payee: payee.into(),
                        firms: self.firms.clone(),
                    }));
                }
                if !self.firms.iter().any(|f| f == payer) {
                    return Err(in_table(CheckError::UnknownPayer {
                        row,
                        payer: payer.into(),
                        firms: self.firms.clone(),
                    }));
                }
                if payer == payee {
                    return Err(in_table(CheckError::SelfObligation {
                        row,
                        payer: payer.into(),
                    }));
                }
                if amount < 0 {
                    return Err(in_table(CheckError::NegativeAmount { row, amount }));
                }
                match first_payer {
                    None => first_payer = Some(payer),
                    Some(p) if p != payer => {
                        return Err(in_table(CheckError::PayerDiffers {
                            row,
                            payer: payer.into(),
                            first: p.into(),
                        }));
                    }
                    Some(_) => {}
                }
            }
            check_payee_domain(self, cols.payee.1).map_err(in_table)?;
        }
        Ok(())
    }
}
