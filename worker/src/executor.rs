//! Running a job as one worker: the worker checks every input dataset's policy itself, loads
//! its own shares, and runs the job's protocol with the other workers over the session's
//! network. Every worker runs the same function on the same specification, so their engine
//! calls line up round for round.
//!
//! Which datasets a job reads: a name `owner/name` (`owner.name` in SQL) is that owner's
//! dataset alone. A bare name pools every owner's dataset of that name *of the schema most of
//! them share*: a dataset of another schema — a squatter's — is left out instead of failing
//! the job for everyone; a tie between schemas is refused, naming the owners, and the job
//! then names the owners it means. A settlement reads only its firms' datasets; an auction or
//! order book with `participants` (a closed market) exactly its participants' datasets, each
//! required; a record match every dataset its names name, schemas free to differ.
//!
//! What this module does not do: open sockets (the caller hands it an engine over the mesh, or
//! over the in-memory network in tests) or decide who may fetch outputs (the node's server).

use coordinator::ledger::budget::{Spent, UNITS_PER_EPSILON};
use mpc::net::Network;
use mpc::share::Meta;
use mpc::{Engine, Fr, Shared};
use protocols::catalog::PublicResult;
use protocols::catalog::{JobError, JobSpec};
use protocols::dataset::Schema;
use protocols::matching::{MatchingError, VersionRule};
use protocols::outcome::{Outcome, OwnedTable};
use protocols::policy::{Policy, Refusal, Use};
use protocols::settlement::SettlementError;
use protocols::stats::cost::Limits;
use protocols::stats::{GroupMinimums, StatsError};

use crate::admission_budget::Reservations;
pub use crate::admission_budget::Spending;
use crate::store::{DatasetRecord, ShareStore, StoreError};

/// A job's outcome as this worker holds it: public values, and its shares of private outputs
/// and dataset updates (see [`protocols::outcome`]).
pub type JobOutput = Outcome<PublicResult>;

/// Why a job did not run or failed here.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A dataset's policy refuses the job: the worker's reason.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The inputs are missing or inconsistent.
    #[error("inputs: {0}")]
    Input(String),
    /// A dataset's stored schema does not load.
    #[error("inputs: {0}")]
    Schema(#[from] protocols::dataset::DatasetError),
    /// The datasets of one name have schemas a query cannot read together.
    #[error("inputs: the datasets called {name:?} have different schemas: {source}")]
    Schemas {
        /// The datasets' name.
        name: String,
        /// The difference.
        source: protocols::dataset::SchemaMismatch,
    },
    /// A dataset's stored policy does not load.
    #[error("inputs: {dataset}: policy: {source}")]
    Policy {
        /// `owner/name`.
        dataset: String,
        /// Why.
        source: protocols::policy::PolicyError,
    },
    /// A dataset's stored column is not a batch of shares of its type.
    #[error("inputs: {dataset}: {source}")]
    Column {
        /// `owner/name`.
        dataset: String,
        /// Why.
        source: mpc::MpcError,
    },
    /// The outputs could not be kept: the public result does not encode, or committing to
    /// the private outputs failed.
    #[error("{0}")]
    Output(#[from] OutputError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The statistics protocol failed (or the SQL is unsupported).
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// A settlement round failed (nothing is written back).
    #[error("settlement: {0}")]
    Settlement(#[from] SettlementError),
    /// A matching protocol (auction, orders, record matching) failed or refused its inputs.
    #[error(transparent)]
    Matching(#[from] MatchingError),
    /// Under the malicious security level, the end-of-job check failed ("integrity check
    /// failed: ..."): nothing was committed or staged.
    #[error("{0}")]
    Integrity(mpc::MpcError),
    /// The job's measured memory passed its cap ([`crate::memory`]): the job was stopped.
    #[error(transparent)]
    OverMemory(#[from] crate::memory::OverMemory),
}

/// Why a job's outputs could not be kept ([`crate::jobs::keep_outputs`]).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The public result does not encode as JSON.
    #[error("the public result does not encode: {0}")]
    Public(#[source] serde_json::Error),
    /// The private outputs are not a batch of shares.
    #[error("the private outputs: {0}")]
    Private(#[source] mpc::MpcError),
    /// The commitment round failed.
    #[error("committing to the outputs: {0}")]
    Commit(#[source] mpc::MpcError),
}

/// The committed datasets a job names by `name`, in owner order (the same on every worker):
/// `owner/name` is that owner's dataset alone; a bare name is every owner's dataset of that
/// name.
fn datasets_named(store: &ShareStore, name: &str) -> Result<Vec<DatasetRecord>, ExecError> {
    if name.contains('/') {
        return match store.get(name) {
            Ok(r) => Ok(vec![r]),
            Err(StoreError::NoDataset(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        };
    }
    Ok(store
        .list()?
        .into_iter()
        .filter(|r| r.name == name)
        .collect())
}

/// The datasets `name` pools into one table (see the module doc): for a bare name, those of
/// the schema most owners' datasets of that name share — a dataset of another schema (a
/// squatter's) is left out rather than failing the job; a tie between schemas is refused,
/// naming the owners, so the job names the owners it means (`owner/name`).
fn pooled(store: &ShareStore, name: &str) -> Result<Vec<DatasetRecord>, ExecError> {
    let found = datasets_named(store, name)?;
    // Schemas that differ only in their columns' widths (owners' inferred widths may sit on
    // different rungs of the ladder) are one group, read with the widest.
    let mut groups: Vec<(Schema, Vec<DatasetRecord>)> = Vec::new();
    for r in found {
        let schema = schema_of(&r)?;
        let joined = groups.iter_mut().find_map(|(s, members)| {
            let widest = Schema::widest([&*s, &schema]).ok()?;
            Some((s, members, widest))
        });
        match joined {
            Some((s, members, widest)) => {
                *s = widest;
                members.push(r);
            }
            None => groups.push((schema, vec![r])),
        }
    }
    groups.sort_by_key(|(_, members)| std::cmp::Reverse(members.len()));
    match groups.as_slice() {
        [] => Ok(Vec::new()),
        [(_, first), (_, second), ..] if first.len() == second.len() => {
            let owners = |m: &[DatasetRecord]| {
                m.iter()
                    .map(|r| r.owner.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(ExecError::Input(format!(
                "the datasets called {name:?} of {} and of {} have different schemas, as many of each: name the owners meant (owner/{name}, or owner.{name} in SQL)",
                owners(first),
                owners(second)
            )))
        }
        [(_, first), rest @ ..] => {
            for (_, left) in rest {
                for r in left {
                    tracing::info!(dataset = %r.key(), "left out of the job: its schema differs from that of the other datasets of its name");
                }
            }
            Ok(first.clone())
        }
    }
}

fn schema_of(record: &DatasetRecord) -> Result<Schema, ExecError> {
    Ok(Schema::from_toml(&record.schema, &record.key())?)
}

/// The schema a query reads `records` (one name, every owner's) with: see [`Schema::widest`].
fn widest_schema(records: &[DatasetRecord]) -> Result<Schema, ExecError> {
    let schemas = records
        .iter()
        .map(schema_of)
        .collect::<Result<Vec<_>, _>>()?;
    Schema::widest(&schemas).map_err(|source| ExecError::Schemas {
        name: records.first().map_or("", |r| r.name.as_str()).to_string(),
        source,
    })
}

fn policy_of(record: &DatasetRecord) -> Result<Policy, ExecError> {
    if record.policy.is_empty() {
        return Ok(Policy::default());
    }
    Policy::from_toml(&record.policy).map_err(|source| ExecError::Policy {
        dataset: record.key(),
        source,
    })
}

/// The committed datasets a job reads, with their policies, checked against the job.
pub struct Inputs {
    records: Vec<DatasetRecord>,
    /// One policy per dataset, in the same order.
    pub policies: Vec<Policy>,
}

impl Inputs {
    /// The datasets `name` pools (at least one, see [`pooled`]), with one schema up to the
    /// widths of its columns (a statistics query reads them with the widest, [`Schema::widest`]).
    pub fn named(store: &ShareStore, name: &str) -> Result<Self, ExecError> {
        Self::collect(store, &[name], true)
    }

    /// The datasets called by each of `names`: with `same_schema`, those each name pools
    /// ([`pooled`]), which must then share one schema up to column widths; else every dataset
    /// each name names, schemas free to differ.
    pub fn collect(
        store: &ShareStore,
        names: &[&str],
        same_schema: bool,
    ) -> Result<Self, ExecError> {
        let mut records = Vec::new();
        for name in names {
            let found = if same_schema {
                pooled(store, name)?
            } else {
                datasets_named(store, name)?
            };
            if found.is_empty() {
                return Err(ExecError::Input(format!(
                    "no committed dataset is called {name:?}"
                )));
            }
            records.extend(found);
        }
        if same_schema {
            widest_schema(&records)?;
        }
        Self::of_records(records)
    }

    fn of_records(records: Vec<DatasetRecord>) -> Result<Self, ExecError> {
        let policies = records.iter().map(policy_of).collect::<Result<_, _>>()?;
        Ok(Inputs { records, policies })
    }

    /// A closed market's inputs: the datasets called `name` of exactly `participants`, in
    /// owner order. Every participant must have one (a missing one is named); anyone else's
    /// dataset of that name — a squatter's, even of the same schema — is left out.
    pub fn of_participants(
        store: &ShareStore,
        name: &str,
        participants: &[String],
    ) -> Result<Self, ExecError> {
        let records: Vec<DatasetRecord> = datasets_named(store, name)?
            .into_iter()
            .filter(|r| participants.contains(&r.owner))
            .collect();
        let missing: Vec<&str> = participants
            .iter()
            .filter(|p| !records.iter().any(|r| &r.owner == *p))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ExecError::Input(format!(
                "participant {} of this market has no committed dataset called {name:?}",
                missing.join(", ")
            )));
        }
        widest_schema(&records)?;
        Self::of_records(records)
    }

    /// The committed datasets called by each of `names` whose owner is one of `owners` (none
    /// is an error only if no dataset at all matches).
    pub fn of_owners(
        store: &ShareStore,
        names: &[&str],
        owners: &[String],
    ) -> Result<Self, ExecError> {
        if owners.is_empty() {
            return Err(ExecError::Input(
                "the job names no firms: list at least one owner in `firms`".into(),
            ));
        }
        let mut records = Vec::new();
        for name in names {
            records.extend(
                datasets_named(store, name)?
                    .into_iter()
                    .filter(|r| owners.contains(&r.owner)),
            );
        }
        if records.is_empty() {
            return Err(ExecError::Input(format!(
                "no committed dataset called {} belongs to {}",
                names.join(" or "),
                owners.join(", ")
            )));
        }
        Self::of_records(records)
    }

    /// The owners of the datasets taken, in order.
    pub fn owners(&self) -> Vec<&str> {
        self.records.iter().map(|r| r.owner.as_str()).collect()
    }

    /// Refuses the job, naming the dataset and the clause, unless every input's policy allows
    /// this kind, these recipients, this number of contributing owners, the epsilon the job
    /// spends and the aggregate `functions` it computes (statistics), and for record matching
    /// the other inputs, and the job's `security` level.
    pub fn check(
        &self,
        spec: &JobSpec,
        functions: &[&'static str],
        security: mpc::SecurityLevel,
    ) -> Result<(), ExecError> {
        let mut owners: Vec<&str> = self.records.iter().map(|r| r.owner.as_str()).collect();
        owners.sort_unstable();
        owners.dedup();
        let keys: Vec<String> = self.records.iter().map(DatasetRecord::key).collect();
        let use_ = Use {
            kind: spec.kind(),
            recipients: spec.recipients(),
            publishes: spec.publishes(),
            owners: owners.len(),
            epsilon: match spec {
                JobSpec::Statistics { epsilon, .. } => *epsilon,
                _ => None,
            },
            functions,
            inputs: &keys,
            security,
        };
        for (r, p) in self.records.iter().zip(&self.policies) {
            p.check(&r.name, &r.owner, &use_)?;
        }
        Ok(())
    }

    /// What `spec` spends of each input's privacy budget, refused (naming the dataset, what
    /// was spent and the budget) when that would pass an input's `epsilon_budget` given
    /// `spending` so far.
    pub fn charge(&self, spec: &JobSpec, spending: &Spending) -> Result<Vec<Spent>, ExecError> {
        let JobSpec::Statistics {
            epsilon: Some(epsilon),
            ..
        } = spec
        else {
            return Ok(Vec::new());
        };
        let mut spent = Vec::new();
        for (r, p) in self.records.iter().zip(&self.policies) {
            let charge = Spent::new(&r.key(), *epsilon);
            let before = spending.get(&charge.dataset).map_or(0, |(units, _)| *units);
            p.check_budget(&r.name, &r.owner, before, charge.units, UNITS_PER_EPSILON)?;
            spent.push(charge);
        }
        Ok(spent)
    }

    /// Loads this worker's shares of every input.
    pub fn load(&self, store: &ShareStore) -> Result<Vec<OwnedTable>, ExecError> {
        self.records
            .iter()
            .map(|r| {
                let schema = schema_of(r)?;
                let columns = schema
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(c, spec)| {
                        let meta = Meta {
                            bits: spec.ty.bits(),
                            frac: spec.ty.frac(),
                            boolean: false,
                        };
                        Shared::from_facts(store.read_column(&r.key(), c as u32)?, meta).map_err(
                            |source| ExecError::Column {
                                dataset: r.key(),
                                source,
                            },
                        )
                    })
                    .collect::<Result<_, ExecError>>()?;
                // The columns this worker saw pass the input check, within these bits.
                let checked = store
                    .checked_columns(&r.upload, r.columns)?
                    .into_iter()
                    .zip(&schema.columns)
                    .map(|(bits, spec)| bits == Some(spec.ty.bits()))
                    .collect();
                let rules_checked = store
                    .checked_rules(&r.upload)?
                    .into_iter()
                    .filter_map(VersionRule::from_id)
                    .collect();
                Ok(OwnedTable {
                    owner: r.owner.clone(),
                    name: r.name.clone(),
                    schema,
                    columns,
                    rows: r.rows as usize,
                    checked,
                    rules_checked,
                })
            })
            .collect()
    }
}

/// [`execute_within`] the default [`Limits`].
pub async fn execute<N: Network>(
    engine: &mut Engine<N, Fr>,
    store: &ShareStore,
    spec: &JobSpec,
) -> Result<JobOutput, ExecError> {
    execute_within(engine, store, spec, &Limits::default()).await
}

/// [`execute_charged`] with nothing spent yet on any dataset.
pub async fn execute_within<N: Network>(
    engine: &mut Engine<N, Fr>,
    store: &ShareStore,
    spec: &JobSpec,
    limits: &Limits,
) -> Result<JobOutput, ExecError> {
    execute_charged(engine, store, spec, limits, &Spending::new())
        .await
        .map(|(output, _)| output)
}

/// Runs `spec` as this worker over `engine`: selects its inputs here, checks their policies
/// (with each input's `epsilon_budget` against `spending`, from this worker's ledger replica),
/// refuses a query whose estimated cost ([`protocols::stats::cost`]) is over `limits`, loads
/// this worker's shares and runs [`JobSpec::run`]. Returns the output and what the job spent
/// of each input's budget (a statistics query with `epsilon` spends it on every dataset it
/// reads), for its outcome entry.
pub async fn execute_charged<N: Network>(
    engine: &mut Engine<N, Fr>,
    store: &ShareStore,
    spec: &JobSpec,
    limits: &Limits,
    spending: &Spending,
) -> Result<(JobOutput, Vec<Spent>), ExecError> {
    let admission = Admission {
        job: 0,
        spending,
        ended: &std::collections::BTreeSet::new(),
        reservations: &Reservations::default(),
    };
    execute_admitted(engine, store, spec, limits, &admission).await
}

/// What a job is charged against: the ledger's spending, and this worker's reservations for
/// the jobs admitted but not yet on the ledger ([`crate::admission_budget`]).
pub struct Admission<'a> {
    /// The job's id (its reservation's key).
    pub job: u64,
    /// Each dataset's spending on this worker's ledger replica.
    pub spending: &'a Spending,
    /// The jobs with an outcome entry on the replica (their reservations are over).
    pub ended: &'a std::collections::BTreeSet<u64>,
    /// This worker's reservations.
    pub reservations: &'a Reservations,
}

/// [`execute_charged`], reserving the job's spend among `admission`'s reservations when it is
/// admitted (the caller releases it if the job then fails).
pub async fn execute_admitted<N: Network>(
    engine: &mut Engine<N, Fr>,
    store: &ShareStore,
    spec: &JobSpec,
    limits: &Limits,
    admission: &Admission<'_>,
) -> Result<(JobOutput, Vec<Spent>), ExecError> {
    let mut functions = Vec::new();
    // The columns the job reads (schema indices; `None`: all), whose input check it runs.
    let mut read = None;
    let inputs = match (spec, spec.input_names()) {
        (JobSpec::Statistics { query, .. }, _) => {
            // The FROM table names the datasets it pools; a reason it pools none is the error.
            let why = std::cell::RefCell::new(None);
            let parsed = protocols::stats::parse(query, |name| {
                let pool = pooled(store, name);
                match pool.and_then(|r| (!r.is_empty()).then(|| widest_schema(&r)).transpose()) {
                    Ok(schema) => schema,
                    Err(e) => {
                        *why.borrow_mut() = Some(e);
                        None
                    }
                }
            })
            .map_err(|e| why.take().unwrap_or(ExecError::Stats(StatsError::Sql(e))))?;
            let inputs = Inputs::named(store, &parsed.table)?;
            let rows = inputs.records.iter().map(|r| r.rows).sum();
            let paths = protocols::stats::cost::Paths::of(
                engine.params(),
                engine.binary_selection_available(),
            );
            let cost = protocols::stats::cost::estimate(&parsed, rows, engine.params().n(), paths);
            limits.check(&cost).map_err(StatsError::OverLimit)?;
            functions = parsed.functions();
            read = Some(parsed.columns_read());
            inputs
        }
        // Only the round's firms' datasets are read (and their policies checked).
        (JobSpec::Settlement(round), Some(names)) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            Inputs::of_owners(store, &names, &round.firms)?
        }
        // A closed market reads exactly its participants' datasets.
        (JobSpec::Auction { dataset, .. } | JobSpec::Orders { dataset, .. }, _)
            if spec.participants().is_some() =>
        {
            Inputs::of_participants(store, dataset, spec.participants().unwrap_or_default())?
        }
        (JobSpec::RecordMatch { .. }, Some(names)) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            Inputs::collect(store, &names, false)?
        }
        (_, Some(names)) => Inputs::collect(
            store,
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
            true,
        )?,
        (_, None) => return Err(ExecError::Input("the job names no inputs".into())),
    };
    inputs.check(spec, &functions, engine.config().security)?;
    let spent = admission.reservations.admit(
        admission.job,
        admission.spending,
        admission.ended,
        |total| inputs.charge(spec, total),
    )?;
    let tables = inputs.load(store)?;
    let minimums = GroupMinimums::from_policies(&inputs.policies);
    let release = Policy::strictest_release(&inputs.policies);
    let output = spec
        .run_released(engine, &tables, minimums, &release)
        .await
        .map_err(|e| match e {
            JobError::Stats(StatsError::QuerySet { min }) => query_set_refusal(&inputs, min),
            JobError::Stats(e) => ExecError::Stats(e),
            JobError::Matching(e) => ExecError::Matching(e),
            JobError::Settlement(e) => ExecError::Settlement(e),
        })?;
    if engine.config().security == mpc::SecurityLevel::Malicious {
        remember_checks(store, &inputs, &tables, read.as_deref());
        remember_rules(store, &inputs, spec.version_rules());
    }
    Ok((output, spent))
}

/// Records, after a job under the malicious level succeeded, that the columns it read passed
/// the owners' input check (it ran for those not agreed checked before, and the job would have
/// failed otherwise), so later jobs can skip them when every worker agrees
/// ([`ShareStore::mark_checked`]). A store error only costs a later job the check: logged.
fn remember_checks(
    store: &ShareStore,
    inputs: &Inputs,
    tables: &[OwnedTable],
    read: Option<&[usize]>,
) {
    for (r, t) in inputs.records.iter().zip(tables) {
        let columns: Vec<(u32, u32)> = t
            .schema
            .columns
            .iter()
            .enumerate()
            .filter(|(c, _)| read.is_none_or(|read| read.contains(c)))
            .map(|(c, spec)| (c as u32, spec.ty.bits()))
            .collect();
        if let Err(e) = store.mark_checked(&r.upload, &columns) {
            tracing::warn!(dataset = %r.key(), error = %e, "could not record the input check");
        }
    }
}

/// Records, after a job under the malicious level succeeded, that its kind's job-independent
/// market rules passed on every version it read ([`JobSpec::version_rules`]: they ran inside
/// the job for those not agreed checked before, and the job would have failed otherwise). A
/// store error only costs a later job the check: logged.
fn remember_rules(store: &ShareStore, inputs: &Inputs, rules: &[VersionRule]) {
    if rules.is_empty() {
        return;
    }
    let ids: Vec<u32> = rules.iter().map(|r| r.id()).collect();
    for r in &inputs.records {
        if let Err(e) = store.mark_rules_checked(&r.upload, &ids) {
            tracing::warn!(dataset = %r.key(), error = %e, "could not record the market rules");
        }
    }
}

/// The refusal of a query whose `WHERE` fails the minimum query set `min`, naming the (first)
/// dataset whose policy sets it.
fn query_set_refusal(inputs: &Inputs, min: usize) -> ExecError {
    let Some((r, _)) = inputs
        .records
        .iter()
        .zip(&inputs.policies)
        .find(|(_, p)| p.min_query_rows == min)
    else {
        return ExecError::Stats(StatsError::QuerySet { min });
    };
    ExecError::Refused(Refusal {
        dataset: r.name.clone(),
        owner: r.owner.clone(),
        clause: "min_query_rows",
        reason: format!(
            "the rows the WHERE clause selects (before grouping) must number at least {min} and leave at least {min} out; this query's do not (only that pass/fail was computed)"
        ),
    })
}
