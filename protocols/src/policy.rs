//! A dataset's policy: which computations may use it, who may receive their outputs, and how
//! many owners and rows an output must aggregate. Checking is a pure function; every worker
//! runs it itself before it computes, and a refusal names the dataset and the clause.
//!
//! With no policy given, every job kind and every registered client as recipient are allowed,
//! a job needs one contributing owner, and a reported statistics group needs at least 3
//! contributing owners and 10 rows (`DESIGN.md`, "Dataset").

use serde::{Deserialize, Serialize};

fn default_group_owners() -> usize {
    3
}
fn default_group_rows() -> usize {
    10
}
fn one() -> usize {
    1
}

/// What a dataset's owner allows. TOML, unknown keys refused; every field optional.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Job kinds that may read the dataset (`statistics`, `auction`, ...). Absent: all.
    #[serde(default)]
    pub allow_kinds: Option<Vec<String>>,
    /// Client identities that may receive outputs computed from it. Absent: every registered
    /// client. When present, a job that publishes an output (which every client can read) is
    /// refused too: only a statistics query with named recipients keeps everything private.
    #[serde(default)]
    pub allow_recipients: Option<Vec<String>>,
    /// Distinct owners a job's inputs must come from (default 1).
    #[serde(default = "one")]
    pub min_owners: usize,
    /// Distinct owners behind every reported statistics group (default 3).
    #[serde(default = "default_group_owners")]
    pub min_group_owners: usize,
    /// Rows behind every reported statistics group (default 10).
    #[serde(default = "default_group_rows")]
    pub min_group_rows: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_kinds: None,
            allow_recipients: None,
            min_owners: 1,
            min_group_owners: default_group_owners(),
            min_group_rows: default_group_rows(),
        }
    }
}

/// One intended use of a dataset, as a job describes it.
#[derive(Clone, Debug)]
pub struct Use<'a> {
    /// The job kind.
    pub kind: &'a str,
    /// Who receives outputs privately.
    pub recipients: &'a [String],
    /// Whether some output is opened to everyone.
    pub publishes: bool,
    /// Distinct owners contributing to the job's inputs.
    pub owners: usize,
}

/// A policy's refusal: the dataset, the clause and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dataset '{dataset}' (owner {owner}): policy clause '{clause}' refuses this job: {reason}")]
pub struct Refusal {
    /// The dataset's name.
    pub dataset: String,
    /// Its owner.
    pub owner: String,
    /// The clause.
    pub clause: &'static str,
    /// Why.
    pub reason: String,
}

impl Policy {
    /// Parses a policy from TOML.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks one use of dataset `dataset` owned by `owner`.
    pub fn check(&self, dataset: &str, owner: &str, job: &Use<'_>) -> Result<(), Refusal> {
        let refuse = |clause, reason| {
            Err(Refusal {
                dataset: dataset.into(),
                owner: owner.into(),
                clause,
                reason,
            })
        };
        if let Some(kinds) = &self.allow_kinds {
            if !kinds.iter().any(|k| k == job.kind) {
                return refuse(
                    "allow_kinds",
                    format!("kind '{}' is not among {:?}", job.kind, kinds),
                );
            }
        }
        if let Some(allowed) = &self.allow_recipients {
            if job.publishes {
                return refuse(
                    "allow_recipients",
                    format!(
                        "this job opens results to every client, and only {allowed:?} may receive them (a statistics query can name its recipients instead)"
                    ),
                );
            }
            if let Some(r) = job.recipients.iter().find(|r| !allowed.contains(r)) {
                return refuse(
                    "allow_recipients",
                    format!("recipient '{r}' is not among {allowed:?}"),
                );
            }
        }
        if job.owners < self.min_owners {
            return refuse(
                "min_owners",
                format!(
                    "{} contributing owners, at least {} required",
                    job.owners, self.min_owners
                ),
            );
        }
        Ok(())
    }

    /// The strictest of several policies' group minimums: (owners, rows).
    pub fn strictest_group_minimums<'a>(
        policies: impl IntoIterator<Item = &'a Policy>,
    ) -> (usize, usize) {
        policies.into_iter().fold(
            (default_group_owners(), default_group_rows()),
            |(o, r), p| (o.max(p.min_group_owners), r.max(p.min_group_rows)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_allow_and_clauses_refuse_by_name() {
        let recipients = vec!["analyst".to_string()];
        let job = Use {
            kind: "statistics",
            recipients: &recipients,
            publishes: false,
            owners: 2,
        };
        assert!(Policy::default().check("payroll", "acme", &job).is_ok());
        let p = Policy::from_toml("allow_kinds = [\"auction\"]").unwrap();
        let err = p.check("payroll", "acme", &job).unwrap_err();
        assert_eq!(err.clause, "allow_kinds");
        assert!(
            err.to_string().contains("dataset 'payroll' (owner acme)"),
            "{err}"
        );
        let p = Policy::from_toml("allow_recipients = [\"hr\"]").unwrap();
        assert_eq!(
            p.check("payroll", "acme", &job).unwrap_err().clause,
            "allow_recipients"
        );
        // Naming the allowed recipient passes; publishing to every client does not.
        let p = Policy::from_toml("allow_recipients = [\"hr\", \"analyst\"]").unwrap();
        assert!(p.check("payroll", "acme", &job).is_ok());
        let public = Use {
            recipients: &[],
            publishes: true,
            ..job.clone()
        };
        let err = p.check("payroll", "acme", &public).unwrap_err();
        assert_eq!(err.clause, "allow_recipients");
        assert!(err.reason.contains("every client"), "{err}");
        assert!(Policy::default().check("payroll", "acme", &public).is_ok());
        let p = Policy::from_toml("min_owners = 3").unwrap();
        assert_eq!(
            p.check("payroll", "acme", &job).unwrap_err().clause,
            "min_owners"
        );
        assert!(
            Policy::from_toml("min_owner = 3")
                .unwrap_err()
                .contains("min_owner")
        );
        let strict = Policy::from_toml("min_group_rows = 50").unwrap();
        assert_eq!(
            Policy::strictest_group_minimums([&Policy::default(), &strict]),
            (3, 50)
        );
    }
}
