//! A dataset's policy: which computations may use it, who may receive their outputs, and how
//! many owners and rows an output must aggregate. Checking is a pure function; every worker
//! runs it itself before it computes, and a refusal names the dataset and the clause.
//!
//! With no policy given, every job kind and every registered client as recipient are allowed,
//! a job needs one contributing owner, and a reported statistics group needs at least 3
//! contributing owners and 10 rows (`DESIGN.md`, "Dataset").
//!
//! Clauses that bind the analyst, not only the job's shape (each off unless given):
//! `require_dp` (a statistics query must ask for differential privacy; every other kind
//! releases exact values and is refused), `max_epsilon` (per query), `forbid_functions`
//! (aggregates the dataset never feeds, e.g. `["MIN", "MAX", "PERCENTILE"]`: one person's value),
//! and for record matching `match_with` (the only datasets, `owner/name`, or owners it may be
//! matched with) and `min_intersection` (fewer common identifiers than this and the job releases
//! nothing: no count, no sum, [`crate::matching::records`]). A record match never takes one
//! dataset twice, policy or not. `max_owner_share` is the dominance rule for statistics (no
//! owner over that share of a reported sum, computed inside MPC). `epsilon_budget` caps the
//! total epsilon of every query
//! together: the workers count the spending on the ledger (the check is
//! [`Policy::check_budget`], the counting `coordinator::ledger::budget`).
//! `require_security = "malicious"` refuses a job whose engine session is semi-honest
//! ([`mpc::SecurityLevel`], chosen per job and signed with the job's request).

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

/// The aggregate functions a policy may name in `forbid_functions` (the names
/// [`crate::stats::sql::Aggregate::function`] gives; `MEDIAN` is `PERCENTILE`).
pub const FUNCTIONS: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "VARIANCE",
    "STDDEV",
    "PERCENTILE",
    "CORR",
    "COVAR",
    "REGR_SLOPE",
    "REGR_INTERCEPT",
    "HISTOGRAM",
];

/// What a dataset's owner allows. TOML, unknown keys refused; every field optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// A statistics query must use differential privacy (`epsilon`); other job kinds, which
    /// release exact values, are refused (default false).
    #[serde(default)]
    pub require_dp: bool,
    /// The largest epsilon one query may spend on the dataset (default: no cap).
    #[serde(default)]
    pub max_epsilon: Option<f64>,
    /// Aggregate functions never computed over the dataset, from [`FUNCTIONS`] (`MEDIAN` may
    /// stand for `PERCENTILE`; default none).
    #[serde(default)]
    pub forbid_functions: Vec<String>,
    /// Record matching: the datasets (`owner/name`) or owners (`owner`) the dataset may be
    /// matched with. Absent: any.
    #[serde(default)]
    pub match_with: Option<Vec<String>>,
    /// Record matching: below this many common identifiers, nothing is released (default 0).
    #[serde(default)]
    pub min_intersection: usize,
    /// The dominance rule, in percent: a statistics group is reported only if no single owner
    /// contributes more than this share of any column sum it reports (computed inside MPC,
    /// `protocols::stats::dominance`). Absent: no rule.
    #[serde(default)]
    pub max_owner_share: Option<u32>,
    /// The minimum query set: a statistics query with a `WHERE` clause is answered only if
    /// the rows it selects (before grouping) number at least this many and leave at least
    /// this many out (Denning's query-set-size control, both sides, so a query and its
    /// complement are both covered). Compared inside MPC; only the pass/fail is opened
    /// (`protocols::stats::query_set`). 0: no rule.
    #[serde(default)]
    pub min_query_rows: usize,
    /// `n` of the `(n, k)` dominance rule: the `n` largest owners of a group together may
    /// contribute at most `max_owner_share`% of a reported sum (`protocols::stats::dominance`).
    /// Default 1 (the `(1, k)` rule); needs `max_owner_share`.
    #[serde(default = "one")]
    pub dominance_owners: usize,
    /// The p% rule: a group's sum minus its two largest owners' contributions must be at least
    /// this % of the largest, computed inside MPC. Absent: no rule.
    #[serde(default)]
    pub p_percent: Option<u32>,
    /// An owner counts towards `min_group_owners` in a group only with at least this many rows
    /// there (compared inside MPC): owners with negligible rows do not make up the minimum.
    /// Default 0 (any row).
    #[serde(default)]
    pub min_owner_rows: usize,
    /// The total epsilon every query together may spend on the dataset, counted on the ledger
    /// (sequential composition; `coordinator::ledger::budget`). Implies `require_dp`: an exact
    /// answer would spend without bound. Absent: no budget.
    #[serde(default)]
    pub epsilon_budget: Option<f64>,
    /// The least security level a job reading the dataset may run at (`"malicious"`: security
    /// with abort against cheating workers). Absent: any.
    #[serde(default)]
    pub require_security: Option<mpc::SecurityLevel>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_kinds: None,
            allow_recipients: None,
            min_owners: 1,
            min_group_owners: default_group_owners(),
            min_group_rows: default_group_rows(),
            require_dp: false,
            max_epsilon: None,
            forbid_functions: Vec::new(),
            match_with: None,
            min_intersection: 0,
            max_owner_share: None,
            min_query_rows: 0,
            dominance_owners: 1,
            p_percent: None,
            min_owner_rows: 0,
            epsilon_budget: None,
            require_security: None,
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
    /// The differential privacy budget the job spends (statistics only).
    pub epsilon: Option<f64>,
    /// The aggregate functions a statistics query computes ([`FUNCTIONS`] names).
    pub functions: &'a [&'static str],
    /// Every input dataset of the job, `owner/name`.
    pub inputs: &'a [String],
    /// The security level the job's engine session runs at.
    pub security: mpc::SecurityLevel,
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

/// Why a policy's TOML is refused ([`Policy::from_toml`]); each names the clause.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// Not TOML for a policy (an unknown clause, a wrong type), with its position.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// `forbid_functions` names a function outside [`FUNCTIONS`].
    #[error("forbid_functions: unknown function {0:?} (known: {known})", known = FUNCTIONS.join(", "))]
    UnknownFunction(String),
    /// A percentage clause outside 1..=100.
    #[error("{clause} is a percentage from 1 to 100, not {value}")]
    NotPercent {
        /// The clause.
        clause: &'static str,
        /// Its value.
        value: u32,
    },
    /// `dominance_owners` is zero.
    #[error("dominance_owners counts owners: at least 1")]
    NoDominanceOwners,
    /// `dominance_owners` above 1 without `max_owner_share`.
    #[error("dominance_owners is the n of the (n, k) rule: set max_owner_share (k) too")]
    DominanceWithoutShare,
    /// An epsilon clause that is not a positive number.
    #[error("{clause} must be a positive number, not {value}")]
    NotPositive {
        /// The clause.
        clause: &'static str,
        /// Its value.
        value: f64,
    },
}

impl Policy {
    /// Parses a policy from TOML, refusing a function name outside [`FUNCTIONS`] and a
    /// `max_epsilon` that is not a positive number.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text)?;
        if let Some(f) = policy
            .forbid_functions
            .iter()
            .find(|f| function_name(f).is_none())
        {
            return Err(PolicyError::UnknownFunction(f.clone()));
        }
        for (clause, value) in [
            ("max_owner_share", policy.max_owner_share),
            ("p_percent", policy.p_percent),
        ] {
            if let Some(p) = value {
                if !(1..=100).contains(&p) {
                    return Err(PolicyError::NotPercent { clause, value: p });
                }
            }
        }
        if policy.dominance_owners == 0 {
            return Err(PolicyError::NoDominanceOwners);
        }
        if policy.dominance_owners > 1 && policy.max_owner_share.is_none() {
            return Err(PolicyError::DominanceWithoutShare);
        }
        for (clause, value) in [
            ("max_epsilon", policy.max_epsilon),
            ("epsilon_budget", policy.epsilon_budget),
        ] {
            if let Some(e) = value {
                if !(e.is_finite() && e > 0.0) {
                    return Err(PolicyError::NotPositive { clause, value: e });
                }
            }
        }
        Ok(policy)
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
        self.check_release(job)
            .or_else(|(clause, reason)| refuse(clause, reason))?;
        if job.kind == "record_match" {
            let me = format!("{owner}/{dataset}");
            self.check_partners(&me, job.inputs)
                .or_else(|(clause, reason)| refuse(clause, reason))?;
        }
        if self.require_security == Some(mpc::SecurityLevel::Malicious)
            && job.security != mpc::SecurityLevel::Malicious
        {
            return refuse(
                "require_security",
                format!(
                    "the job runs {}; this dataset is read only by malicious-secure jobs (--security malicious)",
                    job.security
                ),
            );
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

    /// The clauses on what a job releases: `require_dp`, `max_epsilon`, `forbid_functions`.
    fn check_release(&self, job: &Use<'_>) -> Result<(), (&'static str, String)> {
        if self.require_dp || self.epsilon_budget.is_some() {
            let clause = if self.require_dp {
                "require_dp"
            } else {
                "epsilon_budget"
            };
            if job.kind != "statistics" {
                return Err((
                    clause,
                    format!(
                        "a {} job releases exact values; only a statistics query with differential privacy (epsilon) may read this dataset",
                        job.kind
                    ),
                ));
            }
            if job.epsilon.is_none() {
                return Err((
                    clause,
                    "the query asks for exact answers: give it an epsilon (differential privacy)"
                        .into(),
                ));
            }
        }
        if let (Some(cap), Some(e)) = (self.max_epsilon, job.epsilon) {
            if e > cap {
                return Err((
                    "max_epsilon",
                    format!("epsilon {e} is over the cap of {cap} per query"),
                ));
            }
        }
        if let Some(f) = job.functions.iter().find(|f| {
            self.forbid_functions
                .iter()
                .any(|g| function_name(g) == Some(**f))
        }) {
            return Err((
                "forbid_functions",
                format!("{f} is never computed over this dataset"),
            ));
        }
        Ok(())
    }

    /// `match_with`: every other input of a record match (`me` is this dataset, `owner/name`)
    /// is listed, by its `owner/name` or its owner.
    fn check_partners(&self, me: &str, inputs: &[String]) -> Result<(), (&'static str, String)> {
        let Some(allowed) = &self.match_with else {
            return Ok(());
        };
        let listed = |key: &str| {
            let owner = key.split('/').next().unwrap_or(key);
            allowed.iter().any(|a| a == key || a == owner)
        };
        match inputs.iter().find(|k| k.as_str() != me && !listed(k)) {
            Some(k) => Err((
                "match_with",
                format!("it may be matched only with {allowed:?}, not with {k}"),
            )),
            None => Ok(()),
        }
    }

    /// `epsilon_budget`: refuses a query spending `asked` on dataset `dataset` of `owner` when
    /// `spent` already (both in the ledger's units, `units_per_epsilon` per epsilon) would
    /// bring the total past the budget. The refusal names the dataset, what was spent and the
    /// budget.
    pub fn check_budget(
        &self,
        dataset: &str,
        owner: &str,
        spent: u64,
        asked: u64,
        units_per_epsilon: f64,
    ) -> Result<(), Refusal> {
        let Some(budget) = self.epsilon_budget else {
            return Ok(());
        };
        let cap = (budget * units_per_epsilon).floor() as u64;
        if spent.saturating_add(asked) <= cap {
            return Ok(());
        }
        let eps = |u: u64| u as f64 / units_per_epsilon;
        Err(Refusal {
            dataset: dataset.into(),
            owner: owner.into(),
            clause: "epsilon_budget",
            reason: format!(
                "epsilon {} spent of a budget of {budget} (on the ledger, or reserved by jobs admitted and not yet on it); this query asks {}, {} is left",
                eps(spent),
                eps(asked),
                eps(cap.saturating_sub(spent))
            ),
        })
    }

    /// The strictest of several policies' release rules: `min_intersection`, `min_query_rows`,
    /// the dominance rules and `min_owner_rows`.
    pub fn strictest_release<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Release {
        policies.into_iter().fold(Release::default(), |r, p| {
            Release {
                min_intersection: r.min_intersection.max(p.min_intersection),
                min_query_rows: r.min_query_rows.max(p.min_query_rows),
                max_owner_share: match (r.max_owner_share, p.max_owner_share) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                // The largest n with the smallest k: at least as strict as every
                // policy's own (n, k) rule (the top n' <= n owners hold no more).
                dominance_owners: match p.max_owner_share {
                    Some(_) => r.dominance_owners.max(p.dominance_owners),
                    None => r.dominance_owners,
                },
                p_percent: r.p_percent.max(p.p_percent),
                min_owner_rows: r.min_owner_rows.max(p.min_owner_rows),
            }
        })
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

/// The [`FUNCTIONS`] name a policy's `forbid_functions` entry stands for (case-insensitive;
/// `MEDIAN` and `PERCENTILE_CONT` are `PERCENTILE`).
fn function_name(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    let upper = match upper.as_str() {
        "MEDIAN" | "PERCENTILE_CONT" => "PERCENTILE",
        other => other,
    };
    FUNCTIONS.iter().copied().find(|f| *f == upper)
}

/// Release rules beyond the group minimums, the strictest of the inputs' policies
/// ([`Policy::strictest_release`]). It lives here, not in [`crate::catalog`], because the
/// catalog names the statistics, which name the policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Release {
    /// Record matching releases nothing below this many common identifiers.
    pub min_intersection: usize,
    /// Statistics: the dominance rule's largest share of one owner in a reported sum, in %.
    pub max_owner_share: Option<u32>,
    /// Statistics: the minimum query set ([`crate::stats::query_set`]); 0 for none.
    pub min_query_rows: usize,
    /// Statistics: `n` of the `(n, k)` dominance rule (0 and 1: one owner).
    pub dominance_owners: usize,
    /// Statistics: the p% dominance rule.
    pub p_percent: Option<u32>,
    /// Statistics: the rows an owner needs in a group to count towards its owner minimum.
    pub min_owner_rows: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_errors_are_typed_by_clause() {
        let refused = |text: &str| Policy::from_toml(text).unwrap_err();
        assert_eq!(
            refused("forbid_functions = [\"MAXX\"]"),
            PolicyError::UnknownFunction("MAXX".into())
        );
        assert_eq!(
            refused("p_percent = 0"),
            PolicyError::NotPercent {
                clause: "p_percent",
                value: 0
            }
        );
        assert_eq!(
            refused("max_epsilon = -1.0"),
            PolicyError::NotPositive {
                clause: "max_epsilon",
                value: -1.0
            }
        );
        assert_eq!(
            refused("dominance_owners = 0"),
            PolicyError::NoDominanceOwners
        );
        assert!(matches!(refused("min_owner = 3"), PolicyError::Toml(_)));
    }

    #[test]
    fn defaults_allow_and_clauses_refuse_by_name() {
        let recipients = vec!["analyst".to_string()];
        let job = Use {
            kind: "statistics",
            recipients: &recipients,
            publishes: false,
            owners: 2,
            epsilon: None,
            functions: &["SUM"],
            inputs: &[],
            security: mpc::SecurityLevel::SemiHonest,
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
                .to_string()
                .contains("min_owner")
        );
        let strict = Policy::from_toml("min_group_rows = 50").unwrap();
        assert_eq!(
            Policy::strictest_group_minimums([&Policy::default(), &strict]),
            (3, 50)
        );
    }

    /// A semi-honest statistics query for an exact `SUM`, published, from three owners.
    fn public_exact_sum() -> Use<'static> {
        Use {
            kind: "statistics",
            recipients: &[],
            publishes: true,
            owners: 3,
            epsilon: None,
            functions: &["SUM"],
            inputs: &[],
            security: mpc::SecurityLevel::SemiHonest,
        }
    }

    #[test]
    fn disclosure_clauses_bind_the_analyst_and_name_themselves() {
        let p = Policy::from_toml(
            "require_dp = true\nmax_epsilon = 0.5\nforbid_functions = [\"max\", \"MEDIAN\"]",
        )
        .unwrap();
        let exact = public_exact_sum();
        let clause = |u: &Use<'_>| p.check("payroll", "acme", u).map_err(|e| e.clause);
        assert_eq!(clause(&exact), Err("require_dp"));
        let noisy = Use {
            epsilon: Some(0.5),
            ..exact.clone()
        };
        assert_eq!(clause(&noisy), Ok(()));
        let greedy = Use {
            epsilon: Some(0.6),
            ..exact.clone()
        };
        let err = p.check("payroll", "acme", &greedy).unwrap_err();
        assert_eq!(err.clause, "max_epsilon");
        assert!(
            err.to_string().contains("dataset 'payroll' (owner acme)"),
            "{err}"
        );
        for f in ["MAX", "PERCENTILE"] {
            let u = Use {
                functions: &["COUNT", f],
                ..noisy.clone()
            };
            assert_eq!(clause(&u), Err("forbid_functions"), "{f}");
        }
        let matching = Use {
            kind: "record_match",
            ..exact.clone()
        };
        assert_eq!(clause(&matching), Err("require_dp"));
        // A typo in a function name or a meaningless cap is refused, not ignored.
        assert!(
            Policy::from_toml("forbid_functions = [\"MAXX\"]")
                .unwrap_err()
                .to_string()
                .contains("MAXX")
        );
        assert!(Policy::from_toml("max_epsilon = -1.0").is_err());
    }

    #[test]
    fn require_security_refuses_a_semi_honest_job_by_name() {
        let p = Policy::from_toml("require_security = \"malicious\"").unwrap();
        let job = public_exact_sum();
        let err = p.check("payroll", "acme", &job).unwrap_err();
        assert_eq!(err.clause, "require_security");
        let text = err.to_string();
        assert!(
            text.contains("dataset 'payroll' (owner acme)") && text.contains("semi-honest"),
            "{text}"
        );
        let malicious = Use {
            security: mpc::SecurityLevel::Malicious,
            ..job.clone()
        };
        assert!(p.check("payroll", "acme", &malicious).is_ok());
        assert!(Policy::default().check("payroll", "acme", &job).is_ok());
        assert!(Policy::from_toml("require_security = \"paranoid\"").is_err());
    }

    #[test]
    fn match_with_lists_the_partners_a_record_match_may_have() {
        let p = Policy::from_toml("match_with = [\"globex\", \"initech/leads\"]").unwrap();
        let inputs = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let job = |inputs: &[String]| {
            p.check(
                "customers",
                "acme",
                &Use {
                    kind: "record_match",
                    recipients: &[],
                    publishes: true,
                    owners: 2,
                    epsilon: None,
                    functions: &[],
                    inputs,
                    security: mpc::SecurityLevel::SemiHonest,
                },
            )
        };
        assert!(
            job(&inputs(&[
                "acme/customers",
                "globex/customers",
                "initech/leads"
            ]))
            .is_ok()
        );
        let err = job(&inputs(&["acme/customers", "mallory/probe"])).unwrap_err();
        assert_eq!(err.clause, "match_with");
        assert!(err.reason.contains("mallory/probe"), "{err}");
        assert!(job(&inputs(&["acme/customers", "initech/customers"])).is_err());
        let strictest = Policy::strictest_release([
            &Policy::default(),
            &Policy::from_toml("min_intersection = 10\nmax_owner_share = 80").unwrap(),
            &Policy::from_toml("max_owner_share = 60").unwrap(),
        ]);
        assert_eq!(strictest.min_intersection, 10);
        assert_eq!(strictest.max_owner_share, Some(60));
    }

    #[test]
    fn dominance_clauses_are_checked_and_combine_to_the_strictest() {
        for (text, named) in [
            ("dominance_owners = 2", "set max_owner_share"),
            ("max_owner_share = 80\ndominance_owners = 0", "at least 1"),
            ("p_percent = 0", "p_percent is a percentage"),
            ("max_owner_share = 101", "max_owner_share is a percentage"),
        ] {
            let err = Policy::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(named), "{text}: {err}");
        }
        let strictest = Policy::strictest_release([
            &Policy::from_toml("max_owner_share = 90\ndominance_owners = 3").unwrap(),
            &Policy::from_toml("max_owner_share = 60\nmin_owner_rows = 4").unwrap(),
            &Policy::from_toml("p_percent = 15\nmin_query_rows = 8").unwrap(),
            &Policy::from_toml("p_percent = 5").unwrap(),
        ]);
        assert_eq!(strictest.max_owner_share, Some(60));
        assert_eq!(strictest.dominance_owners, 3);
        assert_eq!(strictest.p_percent, Some(15));
        assert_eq!(strictest.min_owner_rows, 4);
        assert_eq!(strictest.min_query_rows, 8);
    }

    #[test]
    fn the_example_policy_parses() {
        let text = include_str!("../../examples/policy-dp.toml");
        let p = Policy::from_toml(text).unwrap();
        assert!(p.require_dp && p.epsilon_budget == Some(2.0) && p.min_intersection == 10);
        assert_eq!(p.min_query_rows, 20);
        assert_eq!(
            (p.dominance_owners, p.p_percent, p.min_owner_rows),
            (2, Some(10), 5)
        );
    }
}
