//! Record matching: how many identifiers two or more firms' datasets have in common, and sums
//! of value columns over the common records, without revealing which identifiers match to
//! anyone but the workers' view of row positions (below).
//!
//! Each firm uploads a dataset with an identifier column (`ColumnType::Identifier`: a 60-bit
//! SHA-256 hash computed on the firm's machine) and optional value columns. The workers:
//! 1. draw a fresh joint secret key `k` for the job and open, for every row of every dataset,
//!    the Dodis–Yampolskiy tag `(1/(k+x))·G` of its identifier hash `x`
//!    ([`Backend::prf_tags`], `mpc::engine::prf`): a masked inversion and an opening in the
//!    exponent, five rounds under DN07 (four under GRR) for all rows at once, work linear in the
//!    rows (all-pairs equality would be quadratic);
//! 2. match tags in the clear: a record is **common** when its identifier appears in **every**
//!    input dataset; the public count is the number of distinct common identifiers, and, on
//!    request (`pairwise = true`), the number of distinct identifiers each pair of datasets
//!    shares;
//! 3. for each value column asked (`sums`), add each dataset's values over its common rows
//!    (shares at public positions: no interaction), and the total over all datasets; these sums
//!    are opened (no `recipients`) or given privately to each recipient.
//!
//! **Leakage, precisely.** To everyone: the row counts, the count(s) above and the sums (or, to
//! the recipients only, the sums). To the workers in addition: the *equality pattern* of the
//! identifiers across all rows of all inputs — for every row, which rows of the other datasets
//! (and of its own, for a repeated identifier) carry the same identifier — hence which row
//! positions are common and the sizes of every intersection of the inputs, published or not.
//! Not the identifiers themselves: the tags are pseudorandom under the q-DDHI assumption
//! (Dodis, Yampolskiy 2005; its proof covers polynomial-size domains, and using it on 60-bit
//! hashes is the customary heuristic) as long as fewer than `t + 1` workers collude, since the
//! key stays secret-shared. The key is fresh for each job, so tags of different jobs cannot be
//! linked. Positions mean nothing beyond the row order a firm chose: a firm that does not want
//! its row order (say, sorted by customer value) to tell the workers anything shuffles its rows
//! before upload. Uploads refuse a repeated identifier ([`check_records`]); were one to reach
//! the workers anyway, every row carrying a common identifier is summed.
//!
//! **No singling out.** A dataset is taken once: a job naming one twice (`["x", "x"]`, or `x`
//! and `acme/x`) is refused before anything runs, or one firm's total and row count would be
//! released with no other owner involved. With `min_intersection` (the strictest of the inputs'
//! policies, [`crate::policy::Policy::min_intersection`]), fewer common identifiers than that
//! releases nothing but the fact (`withheld`): no count, no sum, no private output, so a
//! one-row "probe" dataset learns neither whether its identifier is a customer nor its value;
//! a pair below it is left out of `pairwise`. The workers still see the equality pattern
//! (above): the minimum binds what is released, not what the workers see.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{MatchingError, Row, TableError, in_step};
use crate::backend::{Backend, Secret};
use crate::dataset::{ColumnType, Table};
use crate::outcome::{Outcome, OwnedTable, PrivateOutput};
use crate::stats::Value;

/// Distinct identifiers two datasets share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCount {
    /// One dataset (`owner/name`).
    pub first: String,
    /// The other.
    pub second: String,
    /// Distinct identifiers in both.
    pub common: usize,
}

/// A sum over the common records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommonSum {
    /// The value column.
    pub column: String,
    /// The dataset (`owner/name`), or `None` for the total over every dataset.
    pub dataset: Option<String>,
    /// The sum (an integer, or a real for a fixed-point column).
    pub value: Value,
}

/// Record matching's public result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordMatchResult {
    /// The datasets, `owner/name`, in input order.
    pub datasets: Vec<String>,
    /// Their row counts.
    pub rows: Vec<usize>,
    /// Distinct identifiers present in every dataset.
    pub common: usize,
    /// Per pair of datasets, when asked.
    pub pairwise: Vec<PairCount>,
    /// Sums over the common records, when public (empty when given to recipients).
    pub sums: Vec<CommonSum>,
    /// What was not released and why (the inputs' `min_intersection`); empty when nothing was
    /// held back.
    #[serde(default)]
    pub withheld: Vec<String>,
}

/// What a record-matching job asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordQuery {
    /// The identifier column (the same name in every dataset).
    pub id_column: String,
    /// Value columns to sum over the common records.
    pub sums: Vec<String>,
    /// Also count the identifiers shared by each pair of datasets.
    pub pairwise: bool,
    /// Recipients of the sums; empty: the sums are public.
    pub recipients: Vec<String>,
    /// Below this many common identifiers nothing is released (0: no minimum).
    pub min_intersection: usize,
}

/// Checks one firm's dataset before it is shared: the identifier column exists with type
/// `identifier` and no identifier repeats; every value column to sum is integer or fixed
/// point. The error names the rows.
pub fn check_records(query: &RecordQuery, table: &Table) -> Result<(), TableError> {
    let (i, spec) = table
        .schema
        .column(&query.id_column)
        .ok_or_else(|| TableError::NoIdColumn(query.id_column.clone()))?;
    if spec.ty != ColumnType::Identifier {
        return Err(TableError::IdType(query.id_column.clone()));
    }
    let mut seen: HashMap<i128, usize> = HashMap::new();
    for (r, &id) in table.columns[i].iter().enumerate() {
        if let Some(&first) = seen.get(&id) {
            return Err(TableError::IdRepeats {
                row: Row(r),
                first: Row(first),
            });
        }
        seen.insert(id, r);
    }
    for name in &query.sums {
        let (_, spec) = table
            .schema
            .column(name)
            .ok_or_else(|| TableError::NoSumColumn(name.clone()))?;
        if !matches!(
            spec.ty,
            ColumnType::Integer { .. } | ColumnType::Fixed { .. }
        ) {
            return Err(TableError::SumType(name.clone()));
        }
    }
    Ok(())
}

/// Runs record matching over `tables` (at least two; see the module doc).
pub async fn run_record_match<B: Backend>(
    b: &mut B,
    query: &RecordQuery,
    tables: &[OwnedTable],
) -> Result<Outcome<RecordMatchResult>, MatchingError> {
    let step = "record matching";
    if tables.len() < 2 {
        return Err(MatchingError::Input(format!(
            "record matching needs at least two datasets, got {}",
            tables.len()
        )));
    }
    let names: Vec<String> = tables
        .iter()
        .map(|t| format!("{}/{}", t.owner, t.name))
        .collect();
    if let Some((i, twice)) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
    {
        return Err(MatchingError::Input(format!(
            "{twice} is named twice (inputs {} and {}): a record match takes each dataset once",
            names.iter().position(|n| n == twice).unwrap_or(0) + 1,
            i + 1
        )));
    }
    let mut ids = Vec::with_capacity(tables.len());
    for t in tables {
        let (_, spec) = t.schema.column(&query.id_column).ok_or_else(|| {
            MatchingError::Input(format!(
                "{}/{} has no identifier column '{}'",
                t.owner, t.name, query.id_column
            ))
        })?;
        if spec.ty != ColumnType::Identifier {
            return Err(MatchingError::Input(format!(
                "{}/{}: column '{}' is not an identifier column",
                t.owner, t.name, query.id_column
            )));
        }
        ids.push(t.column(&query.id_column)?);
    }
    let all = super::concat(&ids, step)?;
    let tags = b.prf_tags(&all).await.map_err(in_step(step))?;
    // Per dataset, its rows' tags.
    let mut start = 0;
    let per_table: Vec<&[[u8; 32]]> = tables
        .iter()
        .map(|t| {
            let s = &tags[start..start + t.rows];
            start += t.rows;
            s
        })
        .collect();
    let sets: Vec<HashSet<&[u8; 32]>> = per_table.iter().map(|s| s.iter().collect()).collect();
    let common: HashSet<&[u8; 32]> = sets[0]
        .iter()
        .filter(|tag| sets[1..].iter().all(|s| s.contains(*tag)))
        .copied()
        .collect();
    let minimum = query.min_intersection;
    if common.len() < minimum {
        return Ok(Outcome::public(RecordMatchResult {
            datasets: names,
            rows: tables.iter().map(|t| t.rows).collect(),
            common: 0,
            pairwise: Vec::new(),
            sums: Vec::new(),
            withheld: vec![format!(
                "everything: fewer than {minimum} identifiers are common to every dataset (policy min_intersection)"
            )],
        }));
    }
    let mut pairwise = Vec::new();
    let mut withheld = Vec::new();
    if query.pairwise {
        for i in 0..sets.len() {
            for j in i + 1..sets.len() {
                let shared = sets[i].intersection(&sets[j]).count();
                if shared < minimum {
                    withheld.push(format!(
                        "the count of {} and {}: under {minimum} (policy min_intersection)",
                        names[i], names[j]
                    ));
                    continue;
                }
                pairwise.push(PairCount {
                    first: names[i].clone(),
                    second: names[j].clone(),
                    common: shared,
                });
            }
        }
    }
    // Sums over common rows: shares at public positions.
    let mut column_sums: Vec<(String, Secret)> = Vec::new();
    for column in &query.sums {
        let mut parts = Vec::with_capacity(tables.len() + 1);
        for (t, rows) in tables.iter().zip(&per_table) {
            let values = t.column(column)?;
            let matched: Vec<usize> = (0..t.rows).filter(|&r| common.contains(&rows[r])).collect();
            parts.push(values.gather(&matched).sum().map_err(in_step(step))?);
        }
        let total = super::sum_batches(&parts.iter().collect::<Vec<_>>(), step)?;
        parts.push(total);
        column_sums.push((
            column.clone(),
            super::concat(&parts.iter().collect::<Vec<_>>(), step)?,
        ));
    }
    let mut labels: Vec<String> = names.clone();
    labels.push("all".into());
    let mut result = RecordMatchResult {
        datasets: names.clone(),
        rows: tables.iter().map(|t| t.rows).collect(),
        common: common.len(),
        pairwise,
        sums: Vec::new(),
        withheld,
    };
    let mut private = Vec::new();
    if query.recipients.is_empty() {
        for (column, sums) in &column_sums {
            let opened = b.open(sums).await.map_err(in_step(step))?;
            for (k, v) in opened.into_iter().enumerate() {
                result.sums.push(CommonSum {
                    column: column.clone(),
                    dataset: names.get(k).cloned(),
                    value: if sums.frac() == 0 {
                        Value::Int(v)
                    } else {
                        Value::Float(v as f64 / (sums.frac() as f64).exp2())
                    },
                });
            }
        }
    } else {
        for recipient in &query.recipients {
            for (column, sums) in &column_sums {
                private.push(PrivateOutput {
                    recipient: recipient.clone(),
                    name: format!("sum of {column} over common records"),
                    labels: labels.clone(),
                    values: sums.clone(),
                });
            }
        }
    }
    Ok(Outcome {
        public: result,
        private,
        updates: Vec::new(),
    })
}
