//! What a settlement round accepts, checked on public facts: the schemas at job time, and every
//! row of a plain table before its owner shares it ([`RoundSpec::check_upload`]), with errors
//! that name the row.
//!
//! Rows are numbered from 1, as the data rows of the owner's CSV (row `r` is CSV line `r + 1`,
//! after the header), the same numbers as the `"obligation <row>"` labels of the outputs.

use super::{AMOUNT, BALANCE, PAYEE, PAYER, RoundSpec};
use crate::dataset::{ColumnType, Schema, Table};

/// Where the columns of an obligations dataset are.
pub(crate) struct ObligationColumns<'a> {
    /// The `payer` column and its domain.
    pub payer: (usize, &'a [String]),
    /// The `payee` column and its domain.
    pub payee: (usize, &'a [String]),
    /// The `amount` column.
    pub amount: usize,
}

fn categorical<'a>(schema: &'a Schema, name: &str) -> Result<(usize, &'a [String]), String> {
    match schema.column(name) {
        Some((i, c)) => match &c.ty {
            ColumnType::Categorical { domain } => Ok((i, domain)),
            _ => Err(format!(
                "column '{name}' must be categorical over the round's firms"
            )),
        },
        None => Err(format!("no column '{name}'")),
    }
}

fn integer(schema: &Schema, name: &str) -> Result<(usize, u32), String> {
    match schema.column(name) {
        Some((i, c)) => match c.ty {
            ColumnType::Integer { bits } => Ok((i, bits)),
            _ => Err(format!("column '{name}' must be an integer column")),
        },
        None => Err(format!("no column '{name}'")),
    }
}

/// The `balance` column of an accounts schema: its index and bound.
pub(crate) fn balance_column(schema: &Schema) -> Result<(usize, u32), String> {
    integer(schema, BALANCE)
}

/// The columns of an obligations schema, without the domain check.
fn obligation_columns_unchecked(schema: &Schema) -> Result<ObligationColumns<'_>, String> {
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
fn check_payee_domain(round: &RoundSpec, domain: &[String]) -> Result<(), String> {
    let exact = domain.len() == round.firms.len()
        && round.firms.iter().all(|f| domain.contains(f))
        && domain.iter().all(|d| round.firms.contains(d));
    match exact {
        false => Err(format!(
            "column '{PAYEE}': its domain must be exactly the round's firms ({}), so that every firm's schema is the same; this one is not (upload with --job naming the round, which sets it, or write the schema with --schema)",
            round.firms.join(", ")
        )),
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
) -> Result<ObligationColumns<'a>, String> {
    let cols = obligation_columns_unchecked(schema)?;
    check_payee_domain(round, cols.payee.1)?;
    Ok(cols)
}

fn name_at<'a>(domain: &'a [String], v: i128, column: &str, row: usize) -> Result<&'a str, String> {
    usize::try_from(v)
        .ok()
        .and_then(|i| domain.get(i))
        .map(String::as_str)
        .ok_or_else(|| {
            format!(
                "row {row} (CSV line {}): {column} {v} is outside the column's domain",
                row + 1
            )
        })
}

impl RoundSpec {
    /// Refuses a plain table the round would read, naming the row, before anything is shared
    /// or computed: an accounts table that is not one row, a negative balance; an obligation
    /// with a negative amount, to an account outside the round, to its own payer, or rows with
    /// different payers. Datasets the round does not read are accepted.
    pub fn check_upload(&self, dataset: &str, table: &Table) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())?;
        let at = |e: String| format!("{dataset}: {e}");
        if dataset == self.accounts {
            let (c, _) = balance_column(&table.schema).map_err(at)?;
            if table.rows() != 1 {
                return Err(at(format!(
                    "an accounts dataset holds exactly one row (the firm's balance), this one has {}",
                    table.rows()
                )));
            }
            let v = table.columns[c][0];
            if v < 0 {
                return Err(at(format!("row 1 (CSV line 2): negative balance {v}")));
            }
        } else if dataset == self.obligations {
            if table.rows() == 0 {
                // Nothing to pay: the columns need only be there (an empty CSV has no types).
                for c in [PAYER, PAYEE, AMOUNT] {
                    if table.schema.column(c).is_none() {
                        return Err(at(format!("no column '{c}'")));
                    }
                }
                return Ok(());
            }
            let cols = obligation_columns_unchecked(&table.schema).map_err(at)?;
            let mut first_payer: Option<&str> = None;
            for r in 0..table.rows() {
                let row = r + 1;
                let line = row + 1;
                let payer = name_at(cols.payer.1, table.columns[cols.payer.0][r], PAYER, row)
                    .map_err(at)?;
                let payee = name_at(cols.payee.1, table.columns[cols.payee.0][r], PAYEE, row)
                    .map_err(at)?;
                let amount = table.columns[cols.amount][r];
                let fail = |what: String| Err(at(format!("row {row} (CSV line {line}): {what}")));
                if !self.firms.iter().any(|f| f == payee) {
                    return fail(format!(
                        "obligation to unknown account '{payee}' (the round's firms: {})",
                        self.firms.join(", ")
                    ));
                }
                if !self.firms.iter().any(|f| f == payer) {
                    return fail(format!(
                        "payer '{payer}' is not among the round's firms ({})",
                        self.firms.join(", ")
                    ));
                }
                if payer == payee {
                    return fail(format!("obligation of '{payer}' to itself"));
                }
                if amount < 0 {
                    return fail(format!("negative amount {amount}"));
                }
                match first_payer {
                    None => first_payer = Some(payer),
                    Some(p) if p != payer => {
                        return fail(format!(
                            "payer '{payer}' differs from row 1's payer '{p}' (a firm uploads the obligations it pays)"
                        ));
                    }
                    Some(_) => {}
                }
            }
            check_payee_domain(self, cols.payee.1).map_err(at)?;
        }
        Ok(())
    }
}
