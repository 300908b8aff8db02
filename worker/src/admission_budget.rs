//! Privacy budget reservations: concurrent differential privacy jobs cannot together pass a
//! dataset's `epsilon_budget` (issue 19).
//!
//! The ledger counts what completed jobs spent ([`coordinator::ledger::budget`]), but a job's
//! outcome lands there only after it ran: two DP jobs admitted at once were each checked
//! against the spending before either, and could pass the budget by one query's `ε`. Here a
//! worker *reserves* a job's spend when it admits it, under one lock with the check: a job is
//! charged against the ledger's spending plus every reservation still pending. A reservation
//! is pending until the job's outcome entry (of any status) is on this worker's replica — from
//! then on the ledger counts it, or it spent nothing — or until the job fails here. A
//! coordinator's retry of the same job replaces its reservation rather than adding one.
//!
//! Limits: reservations live in the worker's memory; a worker restarted while a job runs
//! forgets them (the job itself fails with the restart, and the ledger is the record). Each
//! worker reserves on its own, so a job refused by one worker (its reservations are its own) is
//! refused as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use coordinator::ledger::budget::Spent;

/// Each dataset's spending on the ledger (`owner/name` to units and jobs,
/// [`coordinator::ledger::budget::spending`]).
pub type Spending = BTreeMap<String, (u64, Vec<u64>)>;

/// The spends of admitted jobs not yet on the ledger: job id to what it spends.
#[derive(Debug, Default)]
pub struct Reservations {
    pending: Mutex<BTreeMap<u64, Vec<Spent>>>,
}

impl Reservations {
    /// Admits job `job` under one lock: drops the reservations of jobs in `ended` (their
    /// outcome is on the ledger), adds every other job's pending spend to `spending`, runs
    /// `charge` on that total and, when it accepts, reserves what it returns for `job`.
    pub fn admit<E>(
        &self,
        job: u64,
        spending: &Spending,
        ended: &BTreeSet<u64>,
        charge: impl FnOnce(&Spending) -> Result<Vec<Spent>, E>,
    ) -> Result<Vec<Spent>, E> {
        let mut pending = self.pending.lock().expect("reservations lock");
        pending.retain(|j, _| !ended.contains(j));
        let mut total = spending.clone();
        for (other, spends) in pending.iter() {
            if *other == job {
                continue;
            }
            for s in spends {
                let entry = total.entry(s.dataset.clone()).or_default();
                entry.0 = entry.0.saturating_add(s.units);
                entry.1.push(*other);
            }
        }
        let spent = charge(&total)?;
        if spent.is_empty() {
            pending.remove(&job);
        } else {
            pending.insert(job, spent.clone());
        }
        Ok(spent)
    }

    /// Drops job `job`'s reservation (it failed here: it spends nothing).
    pub fn release(&self, job: u64) {
        self.pending.lock().expect("reservations lock").remove(&job);
    }

    /// Units reserved on `dataset` (`owner/name`) by jobs not yet on the ledger.
    pub fn pending_on(&self, dataset: &str) -> u64 {
        let pending = self.pending.lock().expect("reservations lock");
        pending
            .values()
            .flatten()
            .filter(|s| s.dataset == dataset)
            .map(|s| s.units)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A budget of 10 units on `d`: refuses a spending that passes it, else spends `asked`.
    fn charge(asked: u64) -> impl FnOnce(&Spending) -> Result<Vec<Spent>, String> {
        move |total| {
            let before = total.get("d").map_or(0, |(units, _)| *units);
            match before + asked <= 10 {
                true => Ok(vec![Spent {
                    dataset: "d".into(),
                    units: asked,
                }]),
                false => Err(format!("{before} spent or reserved")),
            }
        }
    }

    #[test]
    fn pending_spends_count_until_the_outcome_or_a_failure() {
        let r = Reservations::default();
        let none = BTreeSet::new();
        let ledger = Spending::new();
        r.admit(1, &ledger, &none, charge(6)).unwrap();
        assert_eq!(
            r.admit(2, &ledger, &none, charge(6)).unwrap_err(),
            "6 spent or reserved"
        );
        // A retry of job 1 replaces its own reservation.
        r.admit(1, &ledger, &none, charge(6)).unwrap();
        assert_eq!(r.pending_on("d"), 6);
        r.release(1);
        r.admit(2, &ledger, &none, charge(6)).unwrap();
        // Job 2's outcome is on the ledger: the ledger counts it, the reservation is over.
        let ledger = Spending::from([("d".to_string(), (6, vec![2]))]);
        r.admit(3, &ledger, &BTreeSet::from([2]), charge(4))
            .unwrap();
        assert_eq!(r.pending_on("d"), 4);
        assert!(
            r.admit(4, &ledger, &BTreeSet::from([2]), charge(1))
                .is_err()
        );
    }
}
