//! Running a job as one worker: the worker checks every input dataset's policy itself, loads
//! its own shares, and runs the job's protocol with the other workers over the session's
//! network. Every worker runs the same function on the same specification, so their engine
//! calls line up round for round.
//!
//! What this module does not do: open sockets (the caller hands it an engine over the mesh, or
//! over the in-memory network in tests) or decide who may fetch outputs (the node's server).

use mpc::net::Network;
use mpc::share::Meta;
use mpc::{Engine, Fr, Shared};
use protocols::catalog::JobSpec;
use protocols::dataset::Schema;
use protocols::policy::{Policy, Refusal, Use};
use protocols::stats::{GroupMinimums, Inputs, QueryOptions, QueryResult, StatsError};

use crate::store::{DatasetRecord, ShareStore, StoreError};

/// A job's outcome as this worker computed it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum JobOutput {
    /// A statistics result (public).
    Statistics(QueryResult),
}

/// Why a job did not run or failed here.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A dataset's policy refuses the job: the worker's reason.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The inputs are missing or inconsistent.
    #[error("inputs: {0}")]
    Input(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The statistics protocol failed (or the SQL is unsupported).
    #[error(transparent)]
    Stats(#[from] StatsError),
}

/// Every committed dataset called `name`, in owner order (the same on every worker).
fn datasets_named(store: &ShareStore, name: &str) -> Result<Vec<DatasetRecord>, ExecError> {
    Ok(store
        .list()?
        .into_iter()
        .filter(|r| r.name == name)
        .collect())
}

fn schema_of(record: &DatasetRecord) -> Result<Schema, ExecError> {
    Schema::from_toml(&record.schema, &record.key()).map_err(|e| ExecError::Input(e.to_string()))
}

fn policy_of(record: &DatasetRecord) -> Result<Policy, ExecError> {
    if record.policy.is_empty() {
        return Ok(Policy::default());
    }
    Policy::from_toml(&record.policy)
        .map_err(|e| ExecError::Input(format!("{}: policy: {e}", record.key())))
}

/// Runs `spec` as this worker over `engine`.
pub async fn execute<N: Network>(
    engine: &mut Engine<N, Fr>,
    store: &ShareStore,
    spec: &JobSpec,
) -> Result<JobOutput, ExecError> {
    match spec {
        JobSpec::Statistics {
            query,
            epsilon,
            recipients,
        } => {
            // The FROM table names the datasets; every owner's must share one schema.
            let parsed = protocols::stats::parse(query, |name| {
                let records = datasets_named(store, name).ok()?;
                schema_of(records.first()?).ok()
            })
            .map_err(StatsError::Sql)?;
            let records = datasets_named(store, &parsed.table)?;
            let schema = schema_of(&records[0])?;
            for r in &records[1..] {
                if schema_of(r)? != schema {
                    return Err(ExecError::Input(format!(
                        "{} and {} have different schemas",
                        records[0].key(),
                        r.key()
                    )));
                }
            }
            let policies = records
                .iter()
                .map(policy_of)
                .collect::<Result<Vec<_>, _>>()?;
            let use_ = Use {
                kind: spec.kind(),
                recipients,
                owners: records.len(),
            };
            for (r, p) in records.iter().zip(&policies) {
                p.check(&r.name, &r.owner, &use_)?;
            }
            let mut columns = Vec::with_capacity(schema.columns.len());
            for (c, spec) in schema.columns.iter().enumerate() {
                let meta = Meta {
                    bits: spec.ty.bits(),
                    frac: spec.ty.frac(),
                    boolean: false,
                };
                let mut shares = Vec::new();
                for r in &records {
                    shares.extend(store.read_column(&r.key(), c as u32)?);
                }
                columns.push(
                    Shared::from_facts(shares, meta)
                        .map_err(|e| ExecError::Input(e.to_string()))?,
                );
            }
            let inputs = Inputs {
                columns,
                owner_rows: records.iter().map(|r| r.rows as usize).collect(),
            };
            let options = QueryOptions {
                minimums: GroupMinimums::from_policies(&policies),
                epsilon: *epsilon,
            };
            Ok(JobOutput::Statistics(
                protocols::stats::run_query(engine, &parsed, &inputs, &options).await?,
            ))
        }
    }
}
