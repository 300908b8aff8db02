//! The job catalog: what a job can compute, as a specification a client submits (TOML via
//! `quorate run JOB.toml`, or built by `quorate query`). Unknown keys are refused.
//!
//! ```toml
//! kind = "statistics"
//! query = "SELECT AVG(salary) FROM payroll GROUP BY gender"
//! epsilon = 1.0            # optional: differential privacy
//! recipients = ["analyst"] # optional: who alone receives the values (default: public)
//! ```
//!
//! ```toml
//! kind = "auction"                              # sealed-bid double auction (call market)
//! dataset = "beet-bids"                         # each participant's dataset of this name
//! grid = { min = 100, max = 4099, step = 1 }    # or an explicit list: grid = [100, 105, 120]
//! participants = ["north-farm", "sugar-mill"]   # optional: the bidders (none: an open market)
//! ```
//!
//! ```toml
//! kind = "orders"                               # limit-order matching at one uniform price
//! dataset = "orders"                            # each participant's dataset of this name
//! grid = { min = 95, max = 105, step = 1 }      # the candidate prices (the tick grid)
//! participants = ["alpha", "beta", "gamma"]     # optional: the firms (none: an open market)
//! ```
//!
//! ```toml
//! kind = "record_match"                         # identifiers in common, sums over them
//! datasets = ["customers"]                      # every owner's dataset of these names (>= 2)
//! id_column = "customer_id"                     # an identifier column, in every dataset
//! sums = ["spend"]                              # optional: value columns to sum
//! pairwise = false                              # optional: also count per pair of datasets
//! recipients = []                               # optional: who gets the sums (empty: public)
//! ```
//!
//! ```toml
//! kind = "settlement"
//! round = "2026-12-06"                    # the round's id: every firm signs it; applied once
//! firms = ["acme", "globex", "initech"]   # the account holders (public), each a recipient
//! accounts = "accounts"                   # optional: each firm's one-row balance dataset
//! obligations = "obligations"             # optional: each firm's obligations (payer, payee, amount)
//! ```

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Secret};
use crate::dataset::Table;
use crate::matching::records::RecordQuery;
use crate::matching::{Grid, GridError, MatchingError, TableError};
use crate::outcome::{Outcome, OwnedTable};
pub use crate::policy::Release;
use crate::stats::GroupMinimums;

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
        /// Who alone receives the values, privately (default: nobody, the values are
        /// public). Which groups are reported or suppressed is public either way.
        #[serde(default)]
        recipients: Vec<String>,
    },
    /// A settlement round over the firms' balances and obligations
    /// ([`crate::settlement::RoundSpec`]); every firm receives its own outputs.
    Settlement(crate::settlement::RoundSpec),
    /// A sealed-bid double auction ([`crate::matching::auction`]): each bidder privately
    /// receives its allocation; the price and volume are public.
    Auction {
        /// The bids' dataset name (one dataset per bidder, each a row per grid price).
        dataset: String,
        /// The public price grid.
        grid: Grid,
        /// The bidders: exactly these owners' datasets called `dataset` are read, each must
        /// exist, and nobody else's is (a closed market). Empty (the default): every owner's
        /// dataset of that name bids (an open market), see TRUST.md.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        participants: Vec<String>,
    },
    /// Limit-order matching at one uniform price ([`crate::matching::orders`]): each firm
    /// privately receives its orders' fills; the price and volume are public.
    Orders {
        /// The orders' dataset name (one per firm: side, price, quantity).
        dataset: String,
        /// The public tick grid of candidate prices; every limit must be on it.
        grid: Grid,
        /// The firms: exactly these owners' books are read (a closed market); empty (the
        /// default): every owner's dataset called `dataset` (an open market).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        participants: Vec<String>,
    },
    /// Record matching on hashed identifiers ([`crate::matching::records`]).
    RecordMatch {
        /// Dataset names: every owner's dataset with one of these names takes part (two or
        /// more datasets in all).
        datasets: Vec<String>,
        /// The identifier column, in every dataset.
        id_column: String,
        /// Value columns to sum over the common records (default: none).
        #[serde(default)]
        sums: Vec<String>,
        /// Also publish the number of identifiers each pair of datasets shares (default: no).
        #[serde(default)]
        pairwise: bool,
        /// Who receives the sums privately (default: nobody, the sums are public).
        #[serde(default)]
        recipients: Vec<String>,
    },
}

impl JobSpec {
    /// Parses a specification.
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        Ok(toml::from_str(text)?)
    }

    /// The kind's name, as policies list it.
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::Statistics { .. } => "statistics",
            JobSpec::Settlement(_) => "settlement",
            JobSpec::Auction { .. } => "auction",
            JobSpec::Orders { .. } => "orders",
            JobSpec::RecordMatch { .. } => "record_match",
        }
    }

    /// Who receives outputs beyond the input owners. An auction's bidders and an order book's
    /// firms receive their own allocations and fills only, so those kinds name nobody else.
    pub fn recipients(&self) -> &[String] {
        match self {
            JobSpec::Statistics { recipients, .. } | JobSpec::RecordMatch { recipients, .. } => {
                recipients
            }
            JobSpec::Settlement(round) => &round.firms,
            JobSpec::Auction { .. } | JobSpec::Orders { .. } => &[],
        }
    }

    /// The owners a market (auction, order book) is closed to: `Some` of a non-empty
    /// `participants` list, `None` for an open market or another kind.
    pub fn participants(&self) -> Option<&[String]> {
        match self {
            JobSpec::Auction { participants, .. } | JobSpec::Orders { participants, .. }
                if !participants.is_empty() =>
            {
                Some(participants)
            }
            _ => None,
        }
    }

    /// Every client the spec names, with its role (`"recipient"`, `"firm"` or
    /// `"participant"`), in the spec's order: each must be a registered client.
    pub fn named_clients(&self) -> Vec<(&'static str, &str)> {
        let role = match self {
            JobSpec::Settlement(_) => "firm",
            _ => "recipient",
        };
        let mut named: Vec<(&'static str, &str)> = self
            .recipients()
            .iter()
            .map(|r| (role, r.as_str()))
            .collect();
        named.extend(
            self.participants()
                .unwrap_or_default()
                .iter()
                .map(|p| ("participant", p.as_str())),
        );
        named
    }

    /// Refuses a closed market's participant list that names an owner twice or comes with a
    /// qualified dataset name (`owner/name` already names its one owner), naming the problem.
    pub fn check_participants(&self) -> Result<(), SpecError> {
        let (JobSpec::Auction {
            dataset,
            participants,
            ..
        }
        | JobSpec::Orders {
            dataset,
            participants,
            ..
        }) = self
        else {
            return Ok(());
        };
        if let Some(p) = participants
            .iter()
            .enumerate()
            .find_map(|(i, p)| participants[..i].contains(p).then_some(p))
        {
            return Err(SpecError::ParticipantTwice(p.clone()));
        }
        if !participants.is_empty() && dataset.contains('/') {
            return Err(SpecError::QualifiedMarket(dataset.clone()));
        }
        Ok(())
    }

    /// Whether the job opens any output to everyone (which every client then reads, so a
    /// policy that names its recipients refuses it). Only a statistics query with recipients
    /// keeps everything private: the other kinds always publish something (a clearing price,
    /// a count of common records, whether a round settled).
    pub fn publishes(&self) -> bool {
        !matches!(self, JobSpec::Statistics { recipients, .. } if !recipients.is_empty())
    }

    /// The record-matching query of a `record_match` job.
    pub fn record_query(&self) -> Option<RecordQuery> {
        match self {
            JobSpec::RecordMatch {
                id_column,
                sums,
                pairwise,
                recipients,
                ..
            } => Some(RecordQuery {
                id_column: id_column.clone(),
                sums: sums.clone(),
                pairwise: *pairwise,
                recipients: recipients.clone(),
                min_intersection: 0,
            }),
            _ => None,
        }
    }

    /// Widens an inferred schema where this job needs room: a settlement round rewrites its
    /// accounts' balance column with the new balances, so an inferred balance column takes
    /// the top rung of the width ladder ([`crate::dataset::WIDTH_LADDER`]) rather than the
    /// narrowest that holds today's balances. Values are unchanged (integers encode the same
    /// at any width). Its obligations take the round's whole firm list as the `payer` and
    /// `payee` domains and the top rung for `amount`, so every firm's schema is the same
    /// (a partial payee domain would be the firm's counterparties). A schema the owner wrote
    /// is left as it is by the callers.
    pub fn widen_inferred(&self, dataset: &str, table: &mut Table) {
        let JobSpec::Settlement(round) = self else {
            return;
        };
        if round.obligations == dataset {
            crate::settlement::check::widen_obligations(round, table);
            return;
        }
        if round.accounts != dataset {
            return;
        }
        let top = crate::dataset::WIDTH_LADDER[crate::dataset::WIDTH_LADDER.len() - 1];
        for column in &mut table.schema.columns {
            if column.name == crate::settlement::BALANCE {
                if let crate::dataset::ColumnType::Integer { bits } = &mut column.ty {
                    *bits = (*bits).max(top);
                }
            }
        }
    }

    /// Checks a table a client is about to upload as `dataset` for this job, before anything
    /// is shared: a bid curve that is not monotone, a negative quantity, a price off the grid,
    /// a repeated identifier... The error names the row. `Ok(())` for a dataset the job does
    /// not read (and for statistics, which reads any table).
    pub fn check_upload(&self, dataset: &str, table: &Table) -> Result<(), UploadError> {
        use crate::matching::{auction, orders, records};
        let market = |problem: MarketProblem| UploadError::Market {
            dataset: dataset.into(),
            kind: self.kind(),
            problem,
        };
        let on_grid = |grid: &Grid, check: fn(&[i128], &Table) -> Result<(), TableError>| {
            let prices = grid.prices().map_err(MarketProblem::Grid)?;
            check(&prices, table).map_err(MarketProblem::Table)
        };
        let checked = match self {
            JobSpec::Statistics { .. } => Ok(()),
            JobSpec::Auction {
                dataset: d, grid, ..
            } if d == dataset => on_grid(grid, auction::check_bids),
            JobSpec::Orders {
                dataset: d, grid, ..
            } if d == dataset => on_grid(grid, orders::check_orders),
            JobSpec::RecordMatch { datasets, .. } if datasets.iter().any(|d| d == dataset) => {
                let query = self.record_query().expect("a record_match job");
                records::check_records(&query, table).map_err(MarketProblem::Table)
            }
            // The settlement's own messages name the dataset already.
            JobSpec::Settlement(round) => return Ok(round.check_upload(dataset, table)?),
            _ => Ok(()),
        };
        checked.map_err(market)
    }
}

/// A job kind's public result, serialized with the kind's name (`{"statistics": {...}}`).
/// Every kind's module defines its own public type; this enum gathers them for the worker,
/// the coordinator and the clients. It lives here, beside [`JobSpec`], and not in
/// [`crate::outcome`], which every kind's module names: the contract stays below the kinds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicResult {
    /// A statistics query's answer.
    Statistics(crate::stats::QueryResult),
    /// A settlement round's status.
    Settlement(crate::settlement::SettlementResult),
    /// A sealed-bid double auction's clearing.
    Auction(crate::matching::AuctionResult),
    /// A limit-order book's clearing.
    Orders(crate::matching::OrdersResult),
    /// Record matching's counts (and public sums).
    RecordMatch(crate::matching::RecordMatchResult),
}

/// Why a job specification is refused before anything runs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The TOML does not describe a job (unknown kind or key, wrong type), with its position.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A closed market's participant list names an owner twice.
    #[error("participant {0:?} appears twice")]
    ParticipantTwice(String),
    /// A closed market's dataset is qualified (`owner/name`) though a participant list is given.
    #[error("dataset {0:?} names one owner already: a participant list needs the bare name")]
    QualifiedMarket(String),
}

/// Why a table is refused for the job it is uploaded for ([`JobSpec::check_upload`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// A market job's grid or table refuses it.
    #[error("dataset '{dataset}' for this {kind} job: {problem}")]
    Market {
        /// The dataset the table is uploaded as.
        dataset: String,
        /// The job's kind.
        kind: &'static str,
        /// What is wrong.
        problem: MarketProblem,
    },
    /// A settlement round refuses it (its message names the dataset).
    #[error(transparent)]
    Settlement(#[from] crate::settlement::UploadError),
}

/// What is wrong with a table for a market job: the job's grid, or the table itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketProblem {
    /// The job's price grid is invalid.
    #[error(transparent)]
    Grid(GridError),
    /// The table does not fit the job.
    #[error(transparent)]
    Table(TableError),
}

/// Why a job did not compute.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The statistics protocol failed (or the SQL is unsupported).
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
    /// A matching protocol failed or refused its inputs.
    #[error(transparent)]
    Matching(#[from] crate::matching::MatchingError),
    /// A settlement round failed (nothing is written back).
    #[error("settlement: {0}")]
    Settlement(#[from] crate::settlement::SettlementError),
}

impl JobSpec {
    /// The dataset names a job reads, in the order its inputs are given to [`JobSpec::run`]
    /// (each name's datasets in owner order). A statistics job reads its query's `FROM` table,
    /// known once the SQL is parsed: `None`.
    pub fn input_names(&self) -> Option<Vec<String>> {
        match self {
            JobSpec::Statistics { .. } => None,
            JobSpec::Auction { dataset, .. } | JobSpec::Orders { dataset, .. } => {
                Some(vec![dataset.clone()])
            }
            JobSpec::RecordMatch { datasets, .. } => Some(datasets.clone()),
            JobSpec::Settlement(round) => {
                Some(vec![round.accounts.clone(), round.obligations.clone()])
            }
        }
    }

    /// Runs the job over `tables` (the datasets it reads, in [`JobSpec::input_names`] order)
    /// on any backend: the workers run it on the engine, a test or the demo in the clear.
    /// `minimums` are the strictest group minimums of the inputs' policies (statistics).
    pub async fn run<B: Backend>(
        &self,
        b: &mut B,
        tables: &[OwnedTable],
        minimums: GroupMinimums,
    ) -> Result<Outcome<PublicResult>, JobError> {
        self.run_released(b, tables, minimums, &Release::default())
            .await
    }

    /// [`JobSpec::run`] under the strictest release rules of the inputs' policies
    /// ([`Release`]).
    pub async fn run_released<B: Backend>(
        &self,
        b: &mut B,
        tables: &[OwnedTable],
        minimums: GroupMinimums,
        release: &Release,
    ) -> Result<Outcome<PublicResult>, JobError> {
        use crate::stats::StatsError;
        if !matches!(self, JobSpec::Statistics { .. }) {
            self.check_owners(b, tables, None).await?;
        }
        Ok(match self {
            JobSpec::Statistics {
                query,
                epsilon,
                recipients,
            } => {
                let first = tables
                    .first()
                    .ok_or_else(|| StatsError::Input("no input dataset".into()))?;
                // Owners' datasets of one name may sit on different rungs of the width
                // ladder: the query reads them all with the widest. `FROM name` or
                // `FROM owner.name` (then the table is `owner/name`).
                let schema = crate::dataset::Schema::widest(tables.iter().map(|t| &t.schema))
                    .map_err(|e| StatsError::Input(format!("{}: {e}", first.name)))?;
                let parsed = crate::stats::parse(query, |name| {
                    let bare = name.rsplit('/').next().unwrap_or(name);
                    (bare == first.name).then(|| schema.clone())
                })
                .map_err(StatsError::Sql)?;
                // The query is public and parsed before any share is touched: only the
                // columns it reads need their owners' inputs checked.
                self.check_owners(b, tables, Some(&parsed.columns_read()))
                    .await?;
                let columns = (0..first.columns.len())
                    .map(|c| {
                        let parts: Vec<&Secret> = tables.iter().map(|t| &t.columns[c]).collect();
                        Secret::concat(&parts).map_err(|source| StatsError::Mpc {
                            step: "inputs",
                            source,
                        })
                    })
                    .collect::<Result<_, _>>()?;
                let inputs = crate::stats::Inputs {
                    columns,
                    owner_rows: tables.iter().map(|t| t.rows).collect(),
                };
                let options = crate::stats::QueryOptions {
                    minimums,
                    epsilon: *epsilon,
                    max_owner_share: release.max_owner_share,
                    min_query_rows: release.min_query_rows,
                    dominance_owners: release.dominance_owners,
                    p_percent: release.p_percent,
                    min_owner_rows: release.min_owner_rows,
                    selection: Default::default(),
                    grouping: Default::default(),
                };
                crate::stats::run_query_for(b, &parsed, &inputs, &options, recipients)
                    .await?
                    .map(PublicResult::Statistics)
            }
            JobSpec::Auction { grid, .. } => {
                let grid = grid.prices().map_err(MatchingError::from)?;
                crate::matching::run_auction(b, &grid, tables)
                    .await?
                    .map(PublicResult::Auction)
            }
            JobSpec::Orders { grid, .. } => {
                let grid = grid.prices().map_err(MatchingError::from)?;
                crate::matching::run_orders(b, &grid, tables)
                    .await?
                    .map(PublicResult::Orders)
            }
            JobSpec::RecordMatch { .. } => {
                let query = RecordQuery {
                    min_intersection: release.min_intersection,
                    ..self.record_query().expect("a record_match job")
                };
                crate::matching::run_record_match(b, &query, tables)
                    .await?
                    .map(PublicResult::RecordMatch)
            }
            JobSpec::Settlement(round) => crate::settlement::settle(b, round, tables)
                .await?
                .map(PublicResult::Settlement),
        })
    }

    /// The job-independent market rules this kind of job checks on every dataset it reads
    /// under the malicious level ([`crate::matching::VersionRule`]): a worker remembers them
    /// per version after the job succeeds, as it does the owners' range check.
    pub fn version_rules(&self) -> &'static [crate::matching::VersionRule] {
        use crate::matching::VersionRule;
        match self {
            JobSpec::Auction { .. } => &[VersionRule::BidCurves],
            JobSpec::Orders { .. } => &[VersionRule::OrderTerms],
            _ => &[],
        }
    }

    /// When the backend checks owners' inputs (the engine under the malicious level), checks
    /// the input tables before the job reads them ([`Backend::check_inputs`]: consistent shares,
    /// values within their declared bits): the columns `read` (schema indices), or every
    /// column when `None`. A column no step of the job reads can neither change an output nor
    /// be revealed by one, so it is not checked. Nor is a column every party has seen pass the
    /// check in an earlier job over the same version ([`OwnedTable::checked`], agreed with
    /// [`Backend::agree_all`]: one party's claim alone skips nothing). The job kind's own input
    /// rules (bid curves, grid prices, non-negative amounts) run inside its protocol. A failure
    /// names the dataset (`owner/name`) and the rule.
    async fn check_owners<B: Backend>(
        &self,
        b: &mut B,
        tables: &[OwnedTable],
        read: Option<&[usize]>,
    ) -> Result<(), JobError> {
        if !b.checks_inputs() {
            return Ok(());
        }
        let step = "owners' inputs";
        let failed = |source| -> JobError {
            match self {
                JobSpec::Statistics { .. } => crate::stats::StatsError::Mpc { step, source }.into(),
                JobSpec::Settlement(_) => {
                    crate::settlement::SettlementError::Mpc { step, source }.into()
                }
                _ => MatchingError::Mpc { step, source }.into(),
            }
        };
        let wanted: Vec<Vec<usize>> = tables
            .iter()
            .map(|t| match read {
                None => (0..t.columns.len()).collect(),
                Some(read) => read
                    .iter()
                    .copied()
                    .filter(|&c| c < t.columns.len())
                    .collect(),
            })
            .collect();
        let claims: Vec<bool> = tables
            .iter()
            .zip(&wanted)
            .flat_map(|(t, cs)| cs.iter().map(|&c| t.checked.get(c) == Some(&true)))
            .collect();
        if claims.is_empty() {
            return Ok(());
        }
        // Every party agrees, even one that claims nothing (a worker with a fresh store): the
        // number of claims is public, so every party runs the same rounds.
        let agreed = b.agree_all(&claims).await.map_err(failed)?;
        let mut agreed = agreed.into_iter();
        let mut names = Vec::new();
        let mut columns: Vec<Vec<Secret>> = Vec::new();
        for (t, cs) in tables.iter().zip(&wanted) {
            let unchecked: Vec<Secret> = cs
                .iter()
                .filter(|_| !agreed.next().unwrap_or(false))
                .map(|&c| t.columns[c].clone())
                .collect();
            if !unchecked.is_empty() {
                names.push(format!("{}/{}", t.owner, t.name));
                columns.push(unchecked);
            }
        }
        if columns.is_empty() {
            return Ok(());
        }
        let inputs: Vec<mpc::OwnerInput<'_, mpc::Fr>> = names
            .iter()
            .zip(&columns)
            .map(|(name, columns)| mpc::OwnerInput { name, columns })
            .collect();
        b.check_inputs(&inputs).await.map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_are_typed() {
        assert!(matches!(
            JobSpec::from_toml("kind = \"lottery\"\n"),
            Err(SpecError::Toml(_))
        ));
        let twice = JobSpec::from_toml(
            "kind = \"auction\"\ndataset = \"bids\"\ngrid = [1, 2]\nparticipants = [\"a\", \"a\"]\n",
        )
        .unwrap();
        assert_eq!(
            twice.check_participants(),
            Err(SpecError::ParticipantTwice("a".into()))
        );
        let qualified = JobSpec::from_toml(
            "kind = \"orders\"\ndataset = \"a/o\"\ngrid = [1, 2]\nparticipants = [\"a\"]\n",
        )
        .unwrap();
        assert_eq!(
            qualified.check_participants(),
            Err(SpecError::QualifiedMarket("a/o".into()))
        );
        let JobSpec::Settlement(round) =
            JobSpec::from_toml("kind = \"settlement\"\nround = \"r1\"\nfirms = [\"a\", \"a\"]\n")
                .unwrap()
        else {
            panic!("a settlement");
        };
        assert_eq!(
            round.validate(),
            Err(crate::settlement::RoundError::FirmTwice("a".into()))
        );
    }

    #[test]
    fn specs_parse_and_refuse_typos() {
        let spec = JobSpec::from_toml("kind = \"statistics\"\nquery = \"SELECT SUM(x) FROM t\"\n")
            .unwrap();
        assert_eq!(spec.kind(), "statistics");
        assert!(
            JobSpec::from_toml("kind = \"statistics\"\nquery = \"q\"\nepsilom = 1.0\n")
                .unwrap_err()
                .to_string()
                .contains("epsilom")
        );
        assert!(
            JobSpec::from_toml("kind = \"lottery\"\n")
                .unwrap_err()
                .to_string()
                .contains("lottery")
        );
    }
}
