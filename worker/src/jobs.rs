//! What a worker keeps of a job after computing it, and its side of the ledger.
//!
//! After [`crate::executor::execute`], [`settle`] turns the job's [`Outcome`] into what stays:
//! - private outputs: the workers jointly commit (Pedersen, from shares) to every value; this
//!   worker keeps its shares of the values and of the blindings for the recipient to fetch
//!   ([`Request::FetchOutputs`](coordinator::api::Request)), and reports the commitments;
//! - dataset updates: staged here as prepared uploads named `job:<job>:<session>:<i>`, made
//!   current or dropped on the coordinator's two-phase decision (`FinishJob`), so an
//!   interrupted job changes no dataset;
//! - the [`JobReport`] (public JSON, commitments, updated datasets), stored, so that before
//!   signing the job's outcome entry the worker checks it against what it computed itself.
//!
//! The worker's copy of the ledger, and what it signs, is [`crate::replica`].

use coordinator::api::{ErrorKind, JobReport, OutputShares, ReportedOutput, Response};
use mpc::net::Network;
use mpc::share::Meta;
use mpc::{Engine, Fr, MpcError, Shared};
use serde::{Deserialize, Serialize};

use crate::executor::{ExecError, JobOutput, OutputError};
use crate::store::{ShareStore, StoreError};

pub use crate::store::UPDATE_PREFIX;

/// This worker's durable record of a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredJob {
    /// The attempt that produced it.
    pub session: u64,
    /// What every worker reported.
    pub report: JobReport,
    /// This worker's shares of each recipient's outputs.
    pub outputs: Vec<(String, OutputShares)>,
    /// The staged uploads holding the job's dataset updates.
    pub staged: Vec<String>,
}

fn encode_shares(values: &[Fr]) -> Vec<u8> {
    mpc::net::codec::encode(values).to_vec()
}

/// Keeps what job `job` (attempt `session`) computed: commitments to the private outputs
/// (one joint round), the staged updates, the report with the privacy budget the job `spent`.
/// Every worker calls it in step.
pub async fn keep_outputs<N: Network>(
    engine: &mut Engine<N, Fr>,
    store: &ShareStore,
    job: u64,
    session: u64,
    output: JobOutput,
    spent: Vec<coordinator::ledger::budget::Spent>,
) -> Result<JobReport, ExecError> {
    // Under the malicious level every product and random bit is checked before anything is
    // committed to or staged (a no-op when semi-honest).
    engine.verify().await.map_err(ExecError::Integrity)?;
    let public = serde_json::to_string(&output.public).map_err(OutputError::Public)?;
    // One commitment round for every private value of every recipient.
    let all: Vec<Fr> = output
        .private
        .iter()
        .flat_map(|p| p.values.shares().iter().copied())
        .collect();
    let batch = Shared::from_facts(
        all,
        Meta {
            bits: mpc::share::MAX_BITS,
            frac: 0,
            boolean: false,
        },
    )
    .map_err(OutputError::Private)?;
    let (commitments, blindings) = if batch.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let (c, r) = engine.commit(&batch).await.map_err(|e| match e {
            // A worker's deviation in the commitment round (a point off the polynomial under
            // the malicious level, or no point at all, its sender named) is an integrity
            // failure, not a problem with the outputs.
            e @ (MpcError::IntegrityCheckFailed { .. } | MpcError::Malformed { .. }) => {
                ExecError::Integrity(e)
            }
            e => ExecError::Output(OutputError::Commit(e)),
        })?;
        (c, r.into_shares())
    };
    let mut reported = Vec::new();
    let mut kept = Vec::new();
    let mut at = 0;
    for p in &output.private {
        let len = p.values.len();
        reported.push(ReportedOutput {
            recipient: p.recipient.clone(),
            name: p.name.clone(),
            labels: p.labels.clone(),
            commitments: commitments[at..at + len].to_vec(),
        });
        kept.push((
            p.recipient.clone(),
            OutputShares {
                name: p.name.clone(),
                labels: p.labels.clone(),
                frac: p.values.frac(),
                values: encode_shares(p.values.shares()),
                blindings: encode_shares(&blindings[at..at + len]),
            },
        ));
        at += len;
    }
    let mut staged: Vec<String> = Vec::new();
    let mut updated = Vec::new();
    for (i, u) in output.updates.iter().enumerate() {
        let key = format!("{}/{}", u.owner, u.name);
        let upload = format!("{UPDATE_PREFIX}{job}:{session}:{i}");
        let columns: Vec<Vec<Fr>> = u.columns.iter().map(|c| c.shares().to_vec()).collect();
        if let Err(e) = store.stage_version(&key, &upload, &columns) {
            for s in &staged {
                let _ = store.abort(s);
            }
            return Err(e.into());
        }
        staged.push(upload);
        updated.push(key);
    }
    let report = JobReport {
        public,
        outputs: reported,
        updates: updated,
        spent,
    };
    let record = StoredJob {
        session,
        report: report.clone(),
        outputs: kept,
        staged,
    };
    store.put_job(
        job,
        &postcard::to_allocvec(&record).expect("job records encode"),
    )?;
    Ok(report)
}

/// This worker's record of job `job`. A record written before job reports carried `spent`
/// (postcard has no field names, so it does not decode as the current one) is read as it was
/// written, with nothing spent: such a job predates privacy budgets.
pub fn stored(store: &ShareStore, job: u64) -> Result<Option<StoredJob>, JobRecordError> {
    let Some(bytes) = store.get_job(job)? else {
        return Ok(None);
    };
    let whole = |r: Result<(StoredJob, &[u8]), postcard::Error>| match r {
        Ok((record, [])) => Ok(record),
        Ok((_, rest)) => Err(format!("{} bytes left over", rest.len())),
        Err(e) => Err(e.to_string()),
    };
    let current = whole(postcard::take_from_bytes::<StoredJob>(&bytes));
    let older = || {
        whole(postcard::take_from_bytes::<StoredJobV1>(&bytes).map(|(r, rest)| (r.into(), rest)))
    };
    match current.or_else(|e| older().map_err(|_| e)) {
        Ok(record) => Ok(Some(record)),
        Err(reason) => Err(JobRecordError::Undecodable { job, reason }),
    }
}

/// Why a job's record in this worker's store cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum JobRecordError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record's bytes are not a record this build reads.
    #[error(
        "job {job}'s record in this worker's store does not decode ({reason}): it was written by an incompatible build; the job's outputs here are lost (run the job again)"
    )]
    Undecodable {
        /// The job.
        job: u64,
        /// What the decoder said (or the bytes left over).
        reason: String,
    },
}

/// A job record as written before [`JobReport::spent`] existed.
#[derive(Deserialize)]
struct StoredJobV1 {
    session: u64,
    report: JobReportV1,
    outputs: Vec<(String, OutputShares)>,
    staged: Vec<String>,
}

/// [`JobReport`] before `spent`.
#[derive(Deserialize)]
struct JobReportV1 {
    public: String,
    outputs: Vec<ReportedOutput>,
    updates: Vec<String>,
}

impl From<StoredJobV1> for StoredJob {
    fn from(old: StoredJobV1) -> Self {
        StoredJob {
            session: old.session,
            report: JobReport {
                public: old.report.public,
                outputs: old.report.outputs,
                updates: old.report.updates,
                spent: Vec::new(),
            },
            outputs: old.outputs,
            staged: old.staged,
        }
    }
}

/// A newer attempt of job `job` (session `session`) starts here: this worker's record of an
/// older attempt no longer says what it computed for the job, so it is forgotten (the job's
/// outcome will be the newer attempt's; a failed one may then name this worker rightly).
pub fn supersede(store: &ShareStore, job: u64, session: u64) -> Result<(), JobRecordError> {
    match stored(store, job)? {
        Some(record) if record.session < session => Ok(store.delete_job(job)?),
        _ => Ok(()),
    }
}

/// Applies the coordinator's decision on job `job`'s staged updates (idempotent).
pub fn finish(store: &ShareStore, job: u64, session: u64, commit: bool) -> Response {
    let record = match stored(store, job) {
        Ok(r) => r,
        Err(e) => return Response::error(ErrorKind::Internal, e.to_string()),
    };
    // The staged uploads of this attempt, whether or not the job record was written; those of
    // the job's other attempts (replaced by a later one: coordinator::attempt) are dropped.
    let prefix = format!("{UPDATE_PREFIX}{job}:{session}:");
    let of_job = format!("{UPDATE_PREFIX}{job}:");
    let staged = match store.staged_uploads() {
        Ok(s) => s,
        Err(e) => return Response::error(ErrorKind::Internal, e.to_string()),
    };
    let (mine, replaced): (Vec<String>, Vec<String>) = staged
        .into_iter()
        .map(|r| r.upload)
        .filter(|u| u.starts_with(&of_job))
        .partition(|u| u.starts_with(&prefix));
    for upload in replaced {
        if let Err(e) = store.abort(&upload) {
            return Response::error(ErrorKind::Internal, format!("job {job}: {e}"));
        }
        tracing::info!(
            job,
            "staged dataset version dropped (an attempt a later one replaced)"
        );
    }
    if commit && record.is_none_or(|r| r.session != session) && !mine.is_empty() {
        return Response::error(
            ErrorKind::Conflict,
            format!("job {job}: no result of attempt {session} here to commit"),
        );
    }
    for upload in mine {
        let done = if commit {
            store.commit(&upload).map(|r| {
                tracing::info!(job, dataset = %r.key(), "new dataset version committed");
            })
        } else {
            store.abort(&upload).map(|()| {
                tracing::info!(
                    job,
                    "staged dataset version dropped (the job did not complete)"
                );
            })
        };
        if let Err(e) = done {
            return Response::error(ErrorKind::Internal, format!("job {job}: {e}"));
        }
    }
    Response::Ok
}

/// The recipient `client`'s outputs of job `job` held here.
pub fn fetch(store: &ShareStore, client: &str, job: u64) -> Response {
    match stored(store, job) {
        Ok(Some(record)) => Response::Outputs(
            record
                .outputs
                .into_iter()
                .filter(|(r, _)| r == client)
                .map(|(_, o)| o)
                .collect(),
        ),
        Ok(None) => Response::error(ErrorKind::NotFound, format!("job {job} has no result here")),
        Err(e) => Response::error(ErrorKind::Internal, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record written before `JobReport.spent` decodes, with nothing spent; bytes of
    /// neither format are an error naming the job and what to do.
    #[test]
    fn an_older_job_record_still_decodes() {
        #[derive(Serialize)]
        struct OldReport<'a>(&'a str, Vec<ReportedOutput>, Vec<&'a str>);
        let old = postcard::to_allocvec(&(
            7u64,
            OldReport("{}", Vec::new(), vec!["acme/accounts"]),
            Vec::<(String, OutputShares)>::new(),
            vec!["job:3:7:0"],
        ))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(dir.path()).unwrap();
        store.put_job(3, &old).unwrap();
        let record = stored(&store, 3).unwrap().unwrap();
        assert_eq!(record.session, 7);
        assert_eq!(record.report.updates, ["acme/accounts"]);
        assert!(record.report.spent.is_empty());
        assert_eq!(record.staged, ["job:3:7:0"]);
        store.put_job(4, &[0xff, 0xff, 0xff]).unwrap();
        let err = stored(&store, 4).unwrap_err();
        assert!(
            matches!(err, JobRecordError::Undecodable { job: 4, .. }),
            "{err}"
        );
        let err = err.to_string();
        assert!(
            err.contains("job 4") && err.contains("run the job again"),
            "{err}"
        );
    }
}
