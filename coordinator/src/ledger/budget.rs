//! The privacy budget on the ledger: what each job spent of each dataset's differential
//! privacy budget, recorded in the job's outcome entry, and the totals anyone recomputes from
//! the chain alone (each worker from its replica before it runs a job, `quorate ledger verify`
//! offline).
//!
//! A job that spends `ε` on a dataset records it as one public output of its outcome, named
//! `privacy/epsilon/<owner>/<name>`, whose opening is `ε` in billionths rounded up (an
//! integer, so totals add exactly and a recorded spend is never less than the true one). The
//! entry format is unchanged: a ledger written before this decodes and hashes as it did, and
//! shows no spending.
//!
//! Composition is sequential: a dataset's spending is the sum over every job that read it,
//! whatever its groups (the conservative bound; within one query, disjoint `GROUP BY` groups
//! compose in parallel, which the query's own `ε` already accounts for, see
//! `protocols::stats::privacy`). Only jobs that completed spend: a refused or failed job
//! opened nothing.
//!
//! What this module does not do: decide what a job spends (the worker does, from the inputs it
//! read) or hold budgets (they are in each dataset's policy, kept by the workers).

use std::collections::BTreeMap;

use mpc::engine::commit::{Commitment, Opening};
use mpc::{Field as _, Fr};
use serde::{Deserialize, Serialize};

use super::entry::{Entry, EntryBody, JobOutcome, JobOutput, JobStatus};

/// The name prefix of a spending output.
pub const SPENT_PREFIX: &str = "privacy/epsilon/";

/// Units of `ε` per recorded unit: spending is kept in billionths.
pub const UNITS_PER_EPSILON: f64 = 1e9;

/// What one job spent on one dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spent {
    /// The dataset, `owner/name`.
    pub dataset: String,
    /// `ε` in billionths, rounded up.
    pub units: u64,
}

impl Spent {
    /// `epsilon` spent on `dataset`, rounded up to the next billionth.
    pub fn new(dataset: &str, epsilon: f64) -> Self {
        Spent {
            dataset: dataset.to_owned(),
            units: units(epsilon),
        }
    }

    /// The public output that records it in an outcome.
    pub fn output(&self) -> JobOutput {
        let value = Fr::from_u128(self.units as u128);
        JobOutput {
            name: format!("{SPENT_PREFIX}{}", self.dataset),
            commitment: Commitment::to_value(value, Fr::from_u128(0)),
            recipients: Vec::new(),
            public: Some(Opening::new(value, Fr::from_u128(0))),
        }
    }
}

/// `epsilon` in recorded units, rounded up (a budget is compared in the same units).
pub fn units(epsilon: f64) -> u64 {
    (epsilon * UNITS_PER_EPSILON).ceil() as u64
}

/// Recorded units as `ε`.
pub fn epsilon(units: u64) -> f64 {
    units as f64 / UNITS_PER_EPSILON
}

/// What `outcome` records as spent, per dataset.
pub fn spent_in(outcome: &JobOutcome) -> Vec<Spent> {
    if outcome.status != JobStatus::Done {
        return Vec::new();
    }
    outcome
        .outputs
        .iter()
        .filter_map(|o| {
            let dataset = o.name.strip_prefix(SPENT_PREFIX)?;
            let value = o.public.as_ref()?.value_int()?;
            Some(Spent {
                dataset: dataset.to_owned(),
                units: u64::try_from(value).ok()?,
            })
        })
        .collect()
}

/// Every dataset's total spending over `chain`, in units, with the jobs that spent it.
pub fn spending(chain: &[Entry]) -> BTreeMap<String, (u64, Vec<u64>)> {
    let mut out: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
    for e in chain {
        if let EntryBody::JobOutcome(o) = &e.body {
            for s in spent_in(o) {
                let total = out.entry(s.dataset).or_default();
                total.0 = total.0.saturating_add(s.units);
                total.1.push(o.job);
            }
        }
    }
    out
}

/// The jobs with an outcome entry on `chain`, whatever its status: from then on the chain
/// counts what they spent (a worker's reservation for one is over).
pub fn ended(chain: &[Entry]) -> std::collections::BTreeSet<u64> {
    chain
        .iter()
        .filter_map(|e| match &e.body {
            EntryBody::JobOutcome(o) => Some(o.job),
            _ => None,
        })
        .collect()
}

/// One dataset's total spending over `chain`, in units.
pub fn spent_on(chain: &[Entry], dataset: &str) -> u64 {
    spending(chain).get(dataset).map_or(0, |(units, _)| *units)
}

/// Recomputes every dataset's spending from `chain` alone, offline (`quorate ledger verify`):
/// each completed job's recorded spending must be exactly what its clients' signed spec asks
/// (a statistics query with `epsilon` spends it, rounded up, on each dataset it read, at least
/// one; any other job spends nothing). The error names the job and what differs.
pub fn recompute(chain: &[Entry]) -> Result<BTreeMap<String, (u64, Vec<u64>)>, String> {
    use protocols::catalog::JobSpec;
    let specs: BTreeMap<u64, &str> = chain
        .iter()
        .filter_map(|e| match &e.body {
            EntryBody::JobSubmitted(j) => Some((j.job, j.request.spec.as_str())),
            _ => None,
        })
        .collect();
    for e in chain {
        let EntryBody::JobOutcome(o) = &e.body else {
            continue;
        };
        if o.status != JobStatus::Done {
            continue;
        }
        let spent = spent_in(o);
        let spec = specs
            .get(&o.job)
            .ok_or_else(|| format!("job {} has an outcome but no JobSubmitted entry", o.job))?;
        let asked = match JobSpec::from_toml(spec) {
            Ok(JobSpec::Statistics {
                epsilon: Some(e), ..
            }) => Some(units(e)),
            _ => None,
        };
        match asked {
            None if !spent.is_empty() => {
                return Err(format!(
                    "job {} (height {}) records privacy spending but its spec asks no epsilon",
                    o.job, e.height
                ));
            }
            Some(_) if spent.is_empty() => {
                return Err(format!(
                    "job {} (height {}) asked for an epsilon but records no spending",
                    o.job, e.height
                ));
            }
            Some(a) => {
                if let Some(s) = spent.iter().find(|s| s.units != a) {
                    return Err(format!(
                        "job {} (height {}) records epsilon {} spent on {} but its spec asks {}",
                        o.job,
                        e.height,
                        epsilon(s.units),
                        s.dataset,
                        epsilon(a)
                    ));
                }
            }
            None => {}
        }
    }
    Ok(spending(chain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_is_recorded_as_public_outputs_and_added_up() {
        let spent = Spent::new("acme/payroll", 0.1);
        assert_eq!(spent.units, 100_000_000);
        assert_eq!(units(1e-10), 1, "rounded up, never down to nothing");
        let outcome = |job, status| JobOutcome {
            job,
            status,
            outputs: vec![spent.output()],
        };
        let done = outcome(1, JobStatus::Done);
        assert!(done.check().is_ok());
        assert_eq!(spent_in(&done), vec![spent.clone()]);
        let chain: Vec<Entry> = [done, outcome(2, JobStatus::Done)]
            .into_iter()
            .enumerate()
            .map(|(h, o)| Entry {
                height: h as u64 + 1,
                prev: super::super::Hash256::ZERO,
                time: 0,
                body: EntryBody::JobOutcome(o),
                signatures: Vec::new(),
            })
            .collect();
        assert_eq!(spent_on(&chain, "acme/payroll"), 200_000_000);
        assert_eq!(spending(&chain)["acme/payroll"].1, vec![1, 2]);
        assert_eq!(spent_on(&chain, "acme/other"), 0);
    }
}
