//! Job workloads: any job of the catalog ([`JobSpec`], the TOML of `quorate run`, or a SQL
//! string for statistics) over generated or CSV data ([`data`]), run by every simulated party
//! through [`JobSpec::run`] — the one dispatch the workers use — and checked against the same
//! job on the [`Clear`] backend.
//!
//! The program each party runs has the phases of a job on a cluster:
//! - `input`: each owner's client sits at the site of worker `owner index mod n` and shares its
//!   datasets from there (one sharing round per worker hosting owners; every value of a
//!   column keeps the column's public bound and scale, as a worker loads it from its store);
//! - one phase per protocol step (see [`stepped`]), the job itself;
//! - `output`: every private output and dataset update is opened to its recipient's worker
//!   site (an owner's is its host; any other recipient's is worker 0), one opening per site,
//!   as a recipient collects the output shares from every worker.
//!
//! **The check.** Every party that finishes must hold the same public result; it must equal the
//! clear job's, and each reconstructed private output and update must equal the clear job's
//! values. Integers compare exactly; a statistics result's real numbers within `1e-6 · (1 +
//! |x|)`, because the engine's truncation is probabilistic (the same tolerance as the
//! protocols' own tests). Differential privacy is refused: its noise differs by design.
//!
//! What this module does not do: links, faults or reports (the rest of the crate).

mod check;
pub mod data;
mod invalid;
pub mod presets;
pub mod stepped;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use mpc::share::Meta;
use mpc::{Engine, Field, MpcError, PartyId};
use protocols::backend::{Clear, Secret};
use protocols::catalog::PublicResult;
use protocols::catalog::{JobError, JobSpec};
use protocols::outcome::{Outcome, OwnedTable};
use protocols::policy::Policy;
use protocols::stats::GroupMinimums;
use serde::{Deserialize, Serialize};

use data::{DataSpec, Dataset};
use stepped::{Phased, Stepped};

pub use invalid::{JobDataError, JobFileError, JobWorkloadError};

/// The `[job]` table of a scenario: exactly one of `sql`, `spec` and `spec_file`, and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobScenario {
    /// A statistics query (public result).
    #[serde(default)]
    pub sql: Option<String>,
    /// Any job of the catalog, inline: the TOML of `quorate run`.
    #[serde(default)]
    pub spec: Option<JobSpec>,
    /// The same in a file, relative to the scenario file.
    #[serde(default)]
    pub spec_file: Option<PathBuf>,
    /// The job's inputs.
    pub data: DataSpec,
}

impl JobScenario {
    /// The job's specification (`base`: the scenario file's directory).
    pub fn spec(&self, base: &Path) -> Result<JobSpec, JobFileError> {
        let spec = match (&self.sql, &self.spec, &self.spec_file) {
            (Some(query), None, None) => JobSpec::Statistics {
                query: query.clone(),
                epsilon: None,
                recipients: Vec::new(),
            },
            (None, Some(spec), None) => spec.clone(),
            (None, None, Some(file)) => {
                let path = base.join(file);
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(source) => return Err(JobFileError::Read { path, source }),
                };
                JobSpec::from_toml(&text).map_err(|source| JobFileError::Spec { path, source })?
            }
            _ => return Err(JobFileError::NotOne),
        };
        if matches!(
            spec,
            JobSpec::Statistics {
                epsilon: Some(_),
                ..
            }
        ) {
            return Err(JobFileError::Epsilon);
        }
        Ok(spec)
    }
}

/// Polls a future that never waits (the [`Clear`] backend's) to its end.
fn ready<F: Future>(future: F) -> Result<F::Output, JobWorkloadError> {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return Ok(v);
        }
    }
    Err(JobWorkloadError::ClearWaited)
}

/// One value batch delivered to a recipient: a private output or an updated column.
#[derive(Clone, Debug, PartialEq)]
struct Delivery {
    /// The recipient (an identity name).
    recipient: String,
    /// What it is, for messages (`bidder0001 allocation`, `acme/accounts column 0`).
    what: String,
    /// The statistics result it completes, for a private query result.
    query: bool,
}

fn deliveries<P>(outcome: &Outcome<P>) -> Vec<(Delivery, &Secret)> {
    let mut out: Vec<(Delivery, &Secret)> = outcome
        .private
        .iter()
        .map(|p| {
            (
                Delivery {
                    recipient: p.recipient.clone(),
                    what: format!("{}'s {}", p.recipient, p.name),
                    query: p.name == protocols::stats::PRIVATE_OUTPUT,
                },
                &p.values,
            )
        })
        .collect();
    for u in &outcome.updates {
        for (c, col) in u.columns.iter().enumerate() {
            out.push((
                Delivery {
                    recipient: u.owner.clone(),
                    what: format!("{}/{} column {c} (update)", u.owner, u.name),
                    query: false,
                },
                col,
            ));
        }
    }
    out
}

/// What one party ends a job with.
#[derive(Clone, Debug, PartialEq)]
pub struct PartyOutcome {
    /// The public result.
    pub public: PublicResult,
    /// Per delivery, the values this party reconstructed as its recipient's site (`None`
    /// where the recipient sits elsewhere).
    pub received: Vec<Option<Vec<i128>>>,
    /// Protocol steps the job took.
    pub steps: usize,
}

/// A job ready to simulate: its specification, its data and the clear job's outputs.
#[derive(Debug)]
pub struct JobWorkload {
    /// The specification.
    pub spec: JobSpec,
    /// The inputs, in the order the job reads them.
    pub datasets: Vec<Dataset>,
    /// Group minimums (the default policy's).
    pub minimums: GroupMinimums,
    /// Describes the data, for reports.
    pub label: String,
    owners: Vec<String>,
    reference_public: PublicResult,
    reference: Vec<(Delivery, Vec<i128>)>,
}

impl JobWorkload {
    /// Builds the data from `seed` and runs the job in the clear.
    pub fn prepare(
        scenario: &JobScenario,
        seed: u64,
        base: &Path,
    ) -> Result<Self, JobWorkloadError> {
        let spec = scenario.spec(base)?;
        let datasets = scenario.data.datasets(&spec, seed, base)?;
        if datasets.is_empty() {
            return Err(JobWorkloadError::NoDataset);
        }
        let mut owners: Vec<String> = Vec::new();
        for d in &datasets {
            if !owners.contains(&d.owner) {
                owners.push(d.owner.clone());
            }
        }
        let minimums = GroupMinimums::from_policies(&[Policy::default()]);
        let tables = datasets
            .iter()
            .map(|d| OwnedTable::clear(&d.owner, &d.name, &d.table))
            .collect::<Result<Vec<_>, _>>()
            .map_err(JobWorkloadError::Encode)?;
        let outcome = ready(spec.run(&mut Clear::seeded(seed), &tables, minimums))?
            .map_err(JobWorkloadError::Clear)?;
        let reference = deliveries(&outcome)
            .into_iter()
            .map(|(d, v)| {
                let plain = v
                    .shares()
                    .iter()
                    .map(|x| x.to_i128())
                    .collect::<Option<Vec<i128>>>()
                    .ok_or_else(|| JobWorkloadError::NotInteger {
                        what: d.what.clone(),
                    })?;
                Ok((d, plain))
            })
            .collect::<Result<_, JobWorkloadError>>()?;
        Ok(JobWorkload {
            label: format!("{} {}", spec.kind(), scenario.data.label()),
            spec,
            datasets,
            minimums,
            owners,
            reference_public: outcome.public,
            reference,
        })
    }

    /// Input values in all (rows × columns over every dataset).
    pub fn input_values(&self) -> usize {
        self.datasets
            .iter()
            .map(|d| d.table.rows() * d.table.columns.len())
            .sum()
    }

    /// The worker site of an identity: an owner's is `index mod n`, anyone else's worker 0.
    fn host(&self, name: &str, n: usize) -> usize {
        self.owners
            .iter()
            .position(|o| o == name)
            .map_or(0, |i| i % n)
    }

    /// The program every party runs: input, the job, output.
    pub async fn program<N: Phased>(
        self: Arc<Self>,
        mut e: Engine<N>,
    ) -> mpc::Result<PartyOutcome> {
        let (n, me) = (e.params().n(), e.me().index());
        e.network().phase("input");
        let mut columns: Vec<Vec<Secret>> = vec![Vec::new(); self.datasets.len()];
        for p in 0..n {
            let hosted: Vec<usize> = (0..self.datasets.len())
                .filter(|&d| self.host(&self.datasets[d].owner, n) == p)
                .collect();
            if hosted.is_empty() {
                continue;
            }
            let specs = |d: usize| self.datasets[d].table.schema.columns.iter();
            let bits = hosted
                .iter()
                .flat_map(|&d| specs(d).map(|c| c.ty.bits()))
                .max()
                .unwrap_or(1)
                .max(1);
            let len: usize = hosted
                .iter()
                .map(|&d| self.datasets[d].table.rows() * self.datasets[d].table.columns.len())
                .sum();
            let values: Option<Vec<i128>> = (me == p).then(|| {
                hosted
                    .iter()
                    .flat_map(|&d| self.datasets[d].table.columns.iter().flatten().copied())
                    .collect()
            });
            let shared = e
                .input_ints(PartyId(p as u16), values.as_deref(), len, bits)
                .await?;
            let mut at = 0;
            for &d in &hosted {
                let rows = self.datasets[d].table.rows();
                for spec in specs(d) {
                    let meta = Meta {
                        bits: spec.ty.bits(),
                        frac: spec.ty.frac(),
                        boolean: false,
                    };
                    let shares = shared.slice(at..at + rows).into_shares();
                    columns[d].push(Secret::from_facts(shares, meta)?);
                    at += rows;
                }
            }
        }
        let tables: Vec<OwnedTable> = self
            .datasets
            .iter()
            .zip(columns)
            .map(|(d, columns)| OwnedTable {
                owner: d.owner.clone(),
                name: d.name.clone(),
                schema: d.table.schema.clone(),
                columns,
                rows: d.table.rows(),
                checked: Vec::new(),
                rules_checked: Vec::new(),
            })
            .collect();
        let mut b = Stepped::new(e);
        let outcome = self
            .spec
            .run(&mut b, &tables, self.minimums)
            .await
            .map_err(engine_error)?;
        let steps = b.steps();
        let mut e = b.engine;
        drop(tables);
        e.network().phase("output");
        let all = deliveries(&outcome);
        let mut received: Vec<Option<Vec<i128>>> = vec![None; all.len()];
        for site in 0..n {
            let mine: Vec<usize> = (0..all.len())
                .filter(|&i| self.host(&all[i].0.recipient, n) == site)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let parts: Vec<Secret> = mine
                .iter()
                .map(|&i| all[i].1.clone().with_frac(0))
                .collect();
            let refs: Vec<&Secret> = parts.iter().collect();
            let batch = Secret::concat(&refs)?;
            if let Some(values) =
                protocols::Backend::open_to(&mut e, &batch, PartyId(site as u16)).await?
            {
                let mut at = 0;
                for (&i, part) in mine.iter().zip(&parts) {
                    received[i] = Some(values[at..at + part.len()].to_vec());
                    at += part.len();
                }
            }
        }
        Ok(PartyOutcome {
            public: outcome.public,
            received,
            steps,
        })
    }
}

/// The network error inside a job's error, when there is one (so that the run blames the
/// peer it names); otherwise the job's message.
fn engine_error(e: JobError) -> MpcError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(m) = s.downcast_ref::<MpcError>() {
            if crate::faults::blamed(m).is_some() {
                return m.clone();
            }
        }
        source = s.source();
    }
    MpcError::InvalidArgument {
        op: "job",
        reason: e.to_string(),
    }
}
