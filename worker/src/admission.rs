//! Which jobs a worker accepts, decided against its own ledger replica — never on the
//! coordinator's word. Pure functions over the replica's entries and the request, so every
//! rule is tested without a socket.
//!
//! - [`check_submission`]: before signing a `JobSubmitted` entry. Every client signature
//!   verifies over the job's request; every signer is a registered client; the spec parses and
//!   names registered recipients (and market participants, each once); the job's number is new; the same request was not recorded
//!   before (unless every earlier job of it failed, which applied nothing). A settlement round
//!   carries the signature of *every* firm it lists and of nobody else (the firms' consent),
//!   and a round id that no earlier job has applied or is applying.
//! - [`check_run`]: before running a job (`RunJob`). The replica holds the job's
//!   `JobSubmitted` entry with valid signatures, for exactly this spec and protocol; the job
//!   has no outcome yet; no other job of the same settlement round has been applied.
//! - [`check_finish`]: before the two-phase decision on a job's dataset updates (`FinishJob`).
//!   A commit needs the job's `Done` outcome on the replica; an abort is refused once it is
//!   there (the updates of a job the ledger records as done are committed, never dropped).
//! - [`check_outcome`]: before signing a `JobOutcome`: the job was submitted and has no
//!   outcome yet, so a job ends once on the ledger.
//!
//! Each refusal is an [`Admission`]: [`Admission::Behind`] when the replica may simply lack
//! entries the coordinator has (it sends them and asks again), [`Admission::Refused`] with a
//! message naming the job, the round or the client otherwise.
//!
//! What this module does not do: authenticate the caller (the node and the service do) or
//! check datasets' policies (the executor does, when the job runs).

use coordinator::api::{ErrorKind, Response};
use coordinator::ledger::{Entry, EntryBody, JobOutcome, JobStatus, JobSubmitted};
use coordinator::roster::ClusterRoster;
use protocols::catalog::JobSpec;

/// Why a worker does not go along with a request about a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The replica lacks an entry the request needs; it holds entries up to this height.
    Behind(Option<u64>),
    /// Refused, with the reason.
    Refused(String),
}

impl std::fmt::Display for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Admission::Behind(Some(h)) => write!(f, "this worker's ledger replica ends at {h}"),
            Admission::Behind(None) => f.write_str("this worker's ledger replica is empty"),
            Admission::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Admission {}

impl Admission {
    /// The answer to the coordinator: [`Response::Behind`] (it catches the replica up and asks
    /// again) or a `Forbidden` error with the reason.
    pub fn response(self) -> Response {
        match self {
            Admission::Behind(height) => Response::Behind { height },
            Admission::Refused(m) => Response::error(ErrorKind::Forbidden, m),
        }
    }
}

fn refuse<T>(message: String) -> Result<T, Admission> {
    Err(Admission::Refused(message))
}

fn behind(chain: &[Entry]) -> Admission {
    Admission::Behind(chain.last().map(|e| e.height))
}

/// Every `JobSubmitted` entry of the chain, with its height.
fn submissions(chain: &[Entry]) -> impl Iterator<Item = (u64, &JobSubmitted)> {
    chain.iter().filter_map(|e| match &e.body {
        EntryBody::JobSubmitted(j) => Some((e.height, j)),
        _ => None,
    })
}

/// The outcome of job `job` on the chain, with its height.
fn outcome_of(chain: &[Entry], job: u64) -> Option<(u64, &JobOutcome)> {
    chain.iter().find_map(|e| match &e.body {
        EntryBody::JobOutcome(o) if o.job == job => Some((e.height, o)),
        _ => None,
    })
}

/// The settlement round id of a recorded job, if it is a settlement.
fn round_of(job: &JobSubmitted) -> Option<String> {
    match JobSpec::from_toml(&job.request.spec) {
        Ok(JobSpec::Settlement(round)) => Some(round.round),
        _ => None,
    }
}

/// Refuses when an earlier job of settlement round `round` (other than `except`) was applied
/// (its outcome is `Done`) or may still be (it has no outcome yet).
fn round_is_free(chain: &[Entry], round: &str, except: u64) -> Result<(), Admission> {
    for (height, earlier) in submissions(chain) {
        if earlier.job == except || round_of(earlier).as_deref() != Some(round) {
            continue;
        }
        match outcome_of(chain, earlier.job) {
            Some((at, o)) if o.status == JobStatus::Done => {
                return refuse(format!(
                    "settlement round {round:?} was already applied by job {} (ledger height {at}): a round applies at most once",
                    earlier.job
                ));
            }
            None => {
                return refuse(format!(
                    "settlement round {round:?} is already job {} (ledger height {height}), which has not ended",
                    earlier.job
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// May this worker sign `job` as the next `JobSubmitted` entry after `chain`? (See the module
/// doc.)
pub fn check_submission(
    roster: &ClusterRoster,
    chain: &[Entry],
    job: &JobSubmitted,
) -> Result<(), Admission> {
    job.check().map_err(|e| Admission::Refused(e.to_string()))?;
    let spec = JobSpec::from_toml(&job.request.spec)
        .map_err(|e| Admission::Refused(format!("job {}: spec: {e}", job.job)))?;
    let mut names = Vec::new();
    for key in job.signers() {
        match roster.client_by_key(&key) {
            Some(name) => names.push(name.to_string()),
            None => {
                return refuse(format!(
                    "job {}: signer {} is not a registered client",
                    job.job,
                    key.fingerprint()
                ));
            }
        }
    }
    if let Some((role, r)) = spec
        .named_clients()
        .into_iter()
        .find(|(_, r)| roster.client(r).is_none())
    {
        return refuse(format!(
            "job {}: {role} {r:?} is not a registered client",
            job.job
        ));
    }
    spec.check_participants()
        .map_err(|e| Admission::Refused(format!("job {}: spec: {e}", job.job)))?;
    match &spec {
        JobSpec::Settlement(round) => {
            round
                .validate()
                .map_err(|e| Admission::Refused(e.to_string()))?;
            if !round.firms.contains(&names[0]) {
                return refuse(format!(
                    "job {}: {} is not a firm of settlement round {:?}: only its firms may submit it",
                    job.job, names[0], round.round
                ));
            }
            if let Some(stranger) = names.iter().find(|n| !round.firms.contains(n)) {
                return refuse(format!(
                    "job {}: {stranger} signed settlement round {:?} but is not one of its firms",
                    job.job, round.round
                ));
            }
            let missing: Vec<&str> = round
                .firms
                .iter()
                .filter(|f| !names.contains(f))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return refuse(format!(
                    "job {}: settlement round {:?} lacks the consent (signature) of {}",
                    job.job,
                    round.round,
                    missing.join(", ")
                ));
            }
            round_is_free(chain, &round.round, job.job)?;
        }
        _ if names.len() > 1 => {
            return refuse(format!(
                "job {}: a {} job is signed by its submitter only, not {} clients",
                job.job,
                spec.kind(),
                names.len()
            ));
        }
        _ => {}
    }
    for (height, earlier) in submissions(chain) {
        if earlier.job == job.job {
            return refuse(format!(
                "job {} is already recorded at ledger height {height}",
                job.job
            ));
        }
        let failed =
            matches!(outcome_of(chain, earlier.job), Some((_, o)) if o.status != JobStatus::Done);
        if earlier.request == job.request && !failed {
            return refuse(format!(
                "job {}: this signed request is already job {} (ledger height {height}): a request is not replayed",
                job.job, earlier.job
            ));
        }
    }
    Ok(())
}

/// May this worker run job `job` with `spec`, `protocol` and `security`? Returns the job's
/// recorded submission. (See the module doc.)
pub fn check_run<'a>(
    chain: &'a [Entry],
    job: u64,
    spec: &str,
    protocol: mpc::MulProtocol,
    security: mpc::SecurityLevel,
) -> Result<&'a JobSubmitted, Admission> {
    let Some((_, recorded)) = submissions(chain).find(|(_, j)| j.job == job) else {
        return Err(behind(chain));
    };
    recorded
        .check()
        .map_err(|e| Admission::Refused(e.to_string()))?;
    if recorded.request.spec != spec || recorded.request.protocol != protocol {
        return refuse(format!(
            "job {job}: the spec or protocol asked for differs from the one its clients signed on the ledger"
        ));
    }
    if recorded.request.security != security {
        return refuse(format!(
            "job {job}: the security level asked for ({security}) differs from the one its clients signed on the ledger ({})",
            recorded.request.security
        ));
    }
    if let Some((height, _)) = outcome_of(chain, job) {
        return refuse(format!(
            "job {job} already ended (ledger height {height}): a job runs once"
        ));
    }
    if let Some(round) = round_of(recorded) {
        round_is_free(chain, &round, job)?;
    }
    Ok(recorded)
}

/// May this worker commit (`commit`) or drop job `job`'s staged updates? (See the module doc.)
pub fn check_finish(chain: &[Entry], job: u64, commit: bool) -> Result<(), Admission> {
    let done = matches!(outcome_of(chain, job), Some((_, o)) if o.status == JobStatus::Done);
    match (commit, done) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => match outcome_of(chain, job) {
            Some((height, _)) => refuse(format!(
                "job {job} did not complete (ledger height {height}): its updates are not committed"
            )),
            None => Err(behind(chain)),
        },
        (false, true) => refuse(format!(
            "job {job} is done on the ledger: its updates are committed, not dropped"
        )),
    }
}

/// May this worker sign an outcome of `outcome.job` after `chain`? (See the module doc.)
pub fn check_outcome(chain: &[Entry], outcome: &JobOutcome) -> Result<(), Admission> {
    if !submissions(chain).any(|(_, j)| j.job == outcome.job) {
        return refuse(format!(
            "job {} has no JobSubmitted entry on this worker's ledger replica",
            outcome.job
        ));
    }
    if let Some((height, _)) = outcome_of(chain, outcome.job) {
        return refuse(format!(
            "job {} already has its outcome at ledger height {height}",
            outcome.job
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
