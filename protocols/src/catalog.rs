//! The job catalog: what a job can compute, as a specification a client submits (TOML via
//! `quorate run JOB.toml`, or built by `quorate query`). Unknown keys are refused.
//!
//! ```toml
//! kind = "statistics"
//! query = "SELECT AVG(salary) FROM payroll GROUP BY gender"
//! epsilon = 1.0            # optional: differential privacy
//! recipients = ["analyst"] # optional: who may fetch private outputs (statistics are public)
//! ```
//!
//! Matching and settlement kinds join this enum with their issue.

use serde::{Deserialize, Serialize};

/// A job's specification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobSpec {
    /// A statistics query over the union of the datasets its `FROM` names.
    Statistics {
        /// The SQL.
        query: String,
        /// Differential privacy budget.
        #[serde(default)]
        epsilon: Option<f64>,
        /// Recipients of private outputs.
        #[serde(default)]
        recipients: Vec<String>,
    },
}

impl JobSpec {
    /// Parses a specification.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The kind's name, as policies list it.
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::Statistics { .. } => "statistics",
        }
    }

    /// Checks a dataset an owner is about to upload for this job, before a single share
    /// leaves the owner's machine: `Err` names the row and the problem. Datasets the job does
    /// not read pass.
    pub fn check_upload(&self, dataset: &str, table: &crate::dataset::Table) -> Result<(), String> {
        let _ = (dataset, table);
        match self {
            // Any typed table is a valid statistics input; the query is checked on its own.
            JobSpec::Statistics { .. } => Ok(()),
        }
    }

    /// Who receives outputs.
    pub fn recipients(&self) -> &[String] {
        match self {
            JobSpec::Statistics { recipients, .. } => recipients,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_refuse_typos() {
        let spec = JobSpec::from_toml("kind = \"statistics\"\nquery = \"SELECT SUM(x) FROM t\"\n")
            .unwrap();
        assert_eq!(spec.kind(), "statistics");
        assert!(
            JobSpec::from_toml("kind = \"statistics\"\nquery = \"q\"\nepsilom = 1.0\n")
                .unwrap_err()
                .contains("epsilom")
        );
        assert!(
            JobSpec::from_toml("kind = \"lottery\"\n")
                .unwrap_err()
                .contains("lottery")
        );
    }
}
