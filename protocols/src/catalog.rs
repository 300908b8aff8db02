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
//! ```toml
//! kind = "settlement"
//! firms = ["acme", "globex", "initech"]   # the account holders (public), each a recipient
//! accounts = "accounts"                   # optional: each firm's one-row balance dataset
//! obligations = "obligations"             # optional: each firm's obligations (payer, payee, amount)
//! ```
//!
//! Matching kinds join this enum with their issue.

use serde::{Deserialize, Serialize};

use crate::dataset::Table;

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
    /// A settlement round over the firms' balances and obligations
    /// ([`crate::settlement::RoundSpec`]); every firm receives its own outputs.
    Settlement(crate::settlement::RoundSpec),
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
            JobSpec::Settlement(_) => "settlement",
        }
    }

    /// Who receives outputs.
    pub fn recipients(&self) -> &[String] {
        match self {
            JobSpec::Statistics { recipients, .. } => recipients,
            JobSpec::Settlement(round) => &round.firms,
        }
    }

    /// Refuses a plain table, naming the row, before its owner shares it: values this job
    /// kind cannot take. Datasets the job does not read are accepted.
    pub fn check_upload(&self, dataset: &str, table: &Table) -> Result<(), String> {
        match self {
            JobSpec::Statistics { .. } => Ok(()),
            JobSpec::Settlement(round) => round.check_upload(dataset, table),
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
