//! The coordinator process: it accepts signed job requests from registered clients (a
//! settlement round waits for every firm's signature: [`crate::submit`]), keeps their
//! lifecycle in a durable queue ([`JobStore`]), records each on the ledger with its clients'
//! signatures, hands it to every worker, compares the workers' reports, and writes the
//! outcome, gathering `t + 1` worker signatures for every entry. It never sees a share or an
//! unrevealed value: workers report public results and commitments only. It is trusted for
//! liveness only: every worker checks each job against its own ledger replica
//! (`worker::admission`), so the coordinator cannot run an unlogged job or commit updates
//! before the outcome is recorded.
//!
//! One job runs at a time (the workers' cores are the bottleneck, and a queue keeps the ledger's
//! order simple); a submission wakes the dispatcher at once. An entry is final at `t + 1`
//! signatures: a slower worker's is not waited for (its replica receives the entry when it is
//! published, or catches up when it next answers `Behind`). A client waiting for its job
//! (`WaitJob`) is answered when the job ends. Every wait has a bound: a worker that does not
//! answer within the job's time limit fails the job with an error naming it; a job is not
//! sent while a worker cannot be reached, and an attempt that finds a peer gone is tried again
//! at once in a new mesh epoch ([`crate::attempt`]). Decisions on
//! dataset updates (two-phase) are durable and re-sent until every worker has applied them, so
//! a worker that was down learns them when it returns; they are sent after the job's outcome
//! is on the ledger, since a worker commits only then. A job found ended on the ledger (a
//! restart lost its record) is never run again.
//!
//! The decisions are pure state machines the node only drives: a job's attempts and end in
//! [`crate::machine`], a ledger entry's signature round in [`crate::quorum`]. This file holds
//! the process and the client requests; the drivers are `node/job_runs.rs` (the job loop)
//! and `node/ledger_rounds.rs` (signature rounds, catch-up, publishing entries).
//!
//! ```toml
//! # coordinator.toml (paths relative to this file)
//! roster = "../roster.toml"
//! identity = "identity.key"
//! data_dir = "data"          # jobs.redb and ledger/entries.qlg
//! job_timeout_s = 600        # optional: the bound on one job's run
//! consent_timeout_s = 600    # optional: how long a settlement round waits for its firms
//! ledger_page_bytes = 8388608 # optional: the bound on one page of ledger entries (8 MiB)
//! max_queued_jobs = 1000     # optional: submissions beyond this many waiting jobs are refused
//! ```

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};

use crate::api::{ErrorKind, JobInfo, JobReport, JobState, MAX_WAIT_MS, Request, Response};
use crate::attempt::{MeshEpoch, WorkerAnswer};
use crate::jobs::{Finish, JobStore};
use crate::keys::Identity;
use crate::ledger::{
    Entry, EntryBody, JobRequest, JobStatus, JobSubmitted, Ledger, LedgerError, Pending,
    WorkerSignature,
};
use crate::machine::{Action, AfterShort, Attempt, Dispatch, Step, after_short_round};
use crate::outcome::job_outcome;
use crate::quorum::{Decision, Quorum, Reply, SignStep};
use crate::roster::ClusterRoster;
use crate::submit::{Submission, admit, consent_expired};
use crate::transport::{self, ApiClient};

mod job_runs;
mod ledger_rounds;

use job_runs::*;
use ledger_rounds::*;

/// How long a ledger signature round may take: its deadline, after which every worker that has
/// not answered is named as silent ([`crate::quorum::Quorum::tick`]).
const SIGN_TIMEOUT: Duration = Duration::from_secs(15);
/// How often unfinished business (genesis, pending decisions, unrecorded outcomes) is retried.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The coordinator's configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorConfig {
    /// The roster file.
    pub roster: PathBuf,
    /// The coordinator's key file.
    pub identity: PathBuf,
    /// Where the job queue and the ledger live.
    pub data_dir: PathBuf,
    /// The bound on one job's run, in seconds (default 600).
    #[serde(default = "default_job_timeout")]
    pub job_timeout_s: u64,
    /// How long a settlement round waits for every firm's consent, in seconds (default 600).
    #[serde(default = "default_job_timeout")]
    pub consent_timeout_s: u64,
    /// The bound on the encoded size of one page of ledger entries, served to clients and sent
    /// to a replica catching up (default [`crate::ledger::DEFAULT_PAGE_BYTES`], 8 MiB).
    #[serde(default = "default_page_bytes")]
    pub ledger_page_bytes: usize,
    /// The most jobs that may wait in the queue; a submission beyond is refused (default
    /// 1000).
    #[serde(default = "default_max_queued")]
    pub max_queued_jobs: usize,
}

fn default_max_queued() -> usize {
    1000
}

fn default_page_bytes() -> usize {
    crate::ledger::DEFAULT_PAGE_BYTES
}

fn default_job_timeout() -> u64 {
    600
}

impl CoordinatorConfig {
    /// Reads a configuration and resolves its paths against the file's folder.
    pub fn load(path: &Path) -> Result<Self, crate::roster::ConfigError> {
        crate::roster::load_config(path, |c: &mut Self| {
            vec![&mut c.roster, &mut c.identity, &mut c.data_dir]
        })
    }
}

/// Why the coordinator could not start; each names the file, folder or address at fault.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration file could not be loaded.
    #[error("coordinator: {0}")]
    Config(#[from] crate::roster::ConfigError),
    /// The roster file could not be loaded.
    #[error("coordinator: {0}")]
    Roster(#[from] crate::roster::RosterError),
    /// The key file could not be read.
    #[error("coordinator: {}: {source}", path.display())]
    Identity {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: mpc::identity::IdentityError,
    },
    /// The key file holds another key than the roster's coordinator key.
    #[error("coordinator: {} holds key {}, but the roster names the coordinator's key {}", path.display(), held.fingerprint(), listed.fingerprint())]
    WrongKey {
        /// The key file.
        path: PathBuf,
        /// The key it holds.
        held: mpc::identity::PublicKey,
        /// The key the roster lists.
        listed: mpc::identity::PublicKey,
    },
    /// The data folder could not be made private.
    #[error("coordinator: {}: {source}", path.display())]
    DataDir {
        /// The folder or file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The job queue could not be opened.
    #[error("coordinator: {0}")]
    Jobs(#[from] crate::jobs::JobStoreError),
    /// The ledger file could not be opened.
    #[error("coordinator: {0}")]
    Ledger(#[from] LedgerError),
    /// The control-plane endpoint could not be set up.
    #[error("coordinator: {0}")]
    Endpoint(#[from] transport::TransportError),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The coordinator's shared state.
struct State {
    identity: Identity,
    roster: RwLock<ClusterRoster>,
    jobs: JobStore,
    /// `None` until the genesis entry has gathered its signatures.
    ledger: Mutex<Option<Ledger>>,
    data_dir: PathBuf,
    job_timeout: Duration,
    consent_timeout: Duration,
    /// See [`CoordinatorConfig::ledger_page_bytes`].
    page_bytes: usize,
    /// See [`CoordinatorConfig::max_queued_jobs`].
    max_queued: usize,
    wake: Notify,
    /// Notified whenever a job's record changes (clients waiting for a job's end).
    changed: Notify,
    /// Held while a submission reads and writes the queue (consents to one round add up).
    submitting: Mutex<()>,
    /// Held while a job ends or an outcome is retried, so an outcome is recorded once.
    busy: Mutex<()>,
    /// The mesh epoch job attempts run in ([`crate::attempt`]).
    epoch: MeshEpoch,
}

/// Runs the coordinator configured in `config_path` until `shutdown` resolves.
pub async fn run(config_path: &Path, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let config = CoordinatorConfig::load(config_path)?;
    let roster = ClusterRoster::load(&config.roster)?;
    let identity = Identity::read_file(&config.identity).map_err(|source| NodeError::Identity {
        path: config.identity.clone(),
        source,
    })?;
    if identity.public_key() != roster.coordinator.key {
        return Err(NodeError::WrongKey {
            path: config.identity.clone(),
            held: identity.public_key(),
            listed: roster.coordinator.key,
        });
    }
    // The job queue and the ledger: readable by this user only.
    let private = |path: PathBuf| move |source| NodeError::DataDir { path, source };
    crate::files::private_dir(&config.data_dir).map_err(private(config.data_dir.clone()))?;
    let jobs = JobStore::open(&config.data_dir)?;
    let queue = config.data_dir.join("jobs.redb");
    crate::files::restrict(&queue).map_err(private(queue.clone()))?;
    let ledger = if Ledger::path_in(&config.data_dir).exists() {
        Some(Ledger::open(&config.data_dir, &roster.ledger_roster())?)
    } else {
        None
    };
    let address = roster.coordinator.address;
    let endpoint = transport::server_endpoint(&identity, address, &client_keys(&roster))?;
    let state = Arc::new(State {
        identity,
        roster: RwLock::new(roster),
        jobs,
        ledger: Mutex::new(ledger),
        data_dir: config.data_dir.clone(),
        job_timeout: Duration::from_secs(config.job_timeout_s),
        consent_timeout: Duration::from_secs(config.consent_timeout_s),
        page_bytes: config.ledger_page_bytes.max(1),
        max_queued: config.max_queued_jobs,
        wake: Notify::new(),
        changed: Notify::new(),
        submitting: Mutex::new(()),
        busy: Mutex::new(()),
        epoch: MeshEpoch::new(rand::random()),
    });
    tracing::info!(address = %address, "coordinator started");

    // At start: a ledger that lost its tail catches up from the replicas (in the background:
    // a worker that is down must not hold up the start; a refusal later catches up too).
    let starting = state.clone();
    tokio::spawn(async move {
        if let Some(ledger) = starting.ledger.lock().await.as_mut() {
            catch_up_ledger(&starting, ledger).await;
        }
    });
    let dispatcher = tokio::spawn(dispatch(state.clone()));
    let upkeep = tokio::spawn(upkeep(state.clone()));
    let reload = {
        let state = state.clone();
        tokio::spawn(transport::watch_roster(
            config.roster.clone(),
            state.identity.clone(),
            endpoint.clone(),
            client_keys,
            move |fresh| *state.roster.write().expect("roster lock") = fresh,
        ))
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let state = state.clone();
                tokio::spawn(async move {
                    let conn = match incoming.await {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!("client connection refused or failed: {e}");
                            return;
                        }
                    };
                    let Some(key) = transport::peer_key(&conn) else { return };
                    let name = state.roster.read().expect("roster lock").client_by_key(&key).map(str::to_string);
                    let Some(name) = name else { return };
                    tracing::debug!(client = %name, "client connection");
                    transport::serve_connection(conn, move |request| {
                        let (state, name) = (state.clone(), name.clone());
                        async move { handle(&state, &name, request).await }
                    })
                    .await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("coordinator shutting down");
    dispatcher.abort();
    upkeep.abort();
    reload.abort();
    endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
    Ok(())
}

fn client_keys(roster: &ClusterRoster) -> std::collections::HashSet<crate::keys::PublicKey> {
    roster.clients.iter().map(|c| c.key).collect()
}

async fn handle(state: &Arc<State>, client: &str, request: Request) -> Response {
    let internal = |e: &dyn std::fmt::Display| Response::error(ErrorKind::Internal, e.to_string());
    match request {
        Request::Ping => Response::Pong {
            name: "coordinator".into(),
        },
        Request::SubmitJob { request, signature } => {
            submit(state, client, request, signature).await
        }
        Request::WaitJob { job, limit_ms } => wait_job(state, job, limit_ms).await,
        Request::GetJob { job } => match state.jobs.get(job) {
            Ok(Some(j)) => Response::Job(Box::new(j)),
            Ok(None) => Response::error(ErrorKind::NotFound, format!("no job {job}")),
            Err(e) => internal(&e),
        },
        Request::ListJobs { from } => match state.jobs.page(from, crate::api::JOBS_PAGE) {
            Ok(jobs) => Response::Jobs(jobs),
            Err(e) => internal(&e),
        },
        Request::RecordDataset(d) => {
            let owner = state
                .roster
                .read()
                .expect("roster lock")
                .client_by_key(&d.owner)
                .map(str::to_string);
            if owner.as_deref() != Some(client) {
                return Response::error(
                    ErrorKind::Forbidden,
                    "a dataset is recorded by its owner only",
                );
            }
            if !d.owner_signature_valid() {
                return Response::error(
                    ErrorKind::BadRequest,
                    "the owner's signature is not valid",
                );
            }
            let name = d.name.clone();
            match append(state, EntryBody::DatasetCommitted(d)).await {
                Ok(entry) => {
                    tracing::info!(owner = client, dataset = %name, height = entry.height, "dataset recorded");
                    // A worker makes the dataset current once the entry is on its replica: the
                    // owner hears `Ok` after it was sent to every worker reachable.
                    publish(state.clone(), vec![entry]).await;
                    Response::Ok
                }
                Err(e) => Response::error(ErrorKind::Internal, format!("ledger: {e}")),
            }
        }
        Request::LedgerEntries { from } => {
            let ledger = state.ledger.lock().await;
            match ledger.as_ref() {
                // One page: the client asks again from where it ends, until a page is empty.
                Some(l) => Response::Entries(
                    crate::ledger::page(l.entries(), from, state.page_bytes).to_vec(),
                ),
                None => Response::Entries(Vec::new()),
            }
        }
        other => Response::error(
            ErrorKind::BadRequest,
            format!("the coordinator does not serve {}", request_name(&other)),
        ),
    }
}

/// A client's signed job request: refused, queued, or added to a round as consent.
async fn submit(
    state: &Arc<State>,
    client: &str,
    request: JobRequest,
    signature: crate::ledger::ClientSignature,
) -> Response {
    let _one_at_a_time = state.submitting.lock().await;
    let jobs = match state.jobs.list() {
        Ok(jobs) => jobs,
        Err(e) => return Response::error(ErrorKind::Internal, e.to_string()),
    };
    let queued = jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Queued))
        .count();
    let roster = state.roster.read().expect("roster lock").clone();
    let stored = match admit(&roster, client, request, signature, &jobs, now_ms()) {
        Err((kind, message)) => return Response::error(kind, message),
        Ok(Submission::Known(job)) => return Response::Submitted { job },
        Ok(Submission::New(_)) if queued >= state.max_queued => {
            return Response::error(
                ErrorKind::Conflict,
                format!("the job queue is full ({queued} jobs wait): submit again later"),
            );
        }
        Ok(Submission::New(job)) => state.jobs.submit(job),
        Ok(Submission::Consent(job)) => put_job(state, &job).map(|()| job),
    };
    match stored {
        Ok(job) => {
            match job.state {
                JobState::AwaitingConsent => tracing::info!(
                    job = job.id,
                    client,
                    "settlement round signed; waiting for {}",
                    job.awaiting.join(", ")
                ),
                _ => tracing::info!(job = job.id, kind = %job.kind, client, "job queued"),
            }
            state.wake.notify_one();
            state.changed.notify_waiters();
            Response::Submitted { job: job.id }
        }
        Err(e) => Response::error(ErrorKind::Internal, e.to_string()),
    }
}

/// Whether a client waiting for `job` can be answered: it ended and its outcome is on the
/// ledger (or it ended before reaching the ledger).
fn settled(job: &JobInfo) -> bool {
    job.state.ended() && (job.outcome_height.is_some() || job.submitted_height.is_none())
}

/// Answers with job `job` once it has ended, or after `limit_ms` (bounded by `MAX_WAIT_MS`).
async fn wait_job(state: &Arc<State>, job: u64, limit_ms: u64) -> Response {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(limit_ms.min(MAX_WAIT_MS));
    loop {
        let changed = state.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let info = match state.jobs.get(job) {
            Ok(Some(j)) => j,
            Ok(None) => return Response::error(ErrorKind::NotFound, format!("no job {job}")),
            Err(e) => return Response::error(ErrorKind::Internal, e.to_string()),
        };
        if settled(&info) || tokio::time::Instant::now() >= deadline {
            return Response::Job(Box::new(info));
        }
        let _ = tokio::time::timeout_at(deadline, changed).await;
    }
}

fn request_name(r: &Request) -> &'static str {
    match r {
        Request::UploadBegin(_)
        | Request::UploadChunk { .. }
        | Request::UploadPrepare { .. }
        | Request::UploadCommit { .. }
        | Request::UploadAbort { .. } => "uploads (send them to the workers)",
        Request::ListDatasets | Request::ReadShares { .. } => "dataset requests (ask the workers)",
        Request::FetchOutputs { .. } => "outputs (fetch them from the workers)",
        _ => "this request",
    }
}

/// Retries what could not be done at once: the genesis entry, decisions some worker has not
/// applied, outcomes not yet on the ledger.
async fn upkeep(state: Arc<State>) {
    loop {
        {
            let mut guard = state.ledger.lock().await;
            if guard.is_none() {
                match genesis(&state).await {
                    Ok(l) => *guard = Some(l),
                    Err(e) => tracing::info!("ledger genesis waits for workers: {e}"),
                }
            }
        }
        let busy = state.busy.lock().await;
        if let Ok(jobs) = state.jobs.list() {
            let timeout = state.consent_timeout.as_millis() as u64;
            for mut job in jobs {
                if let Some(end) = consent_expired(&job, now_ms(), timeout) {
                    let _one_at_a_time = state.submitting.lock().await;
                    // Read again: the last consent may have come in meanwhile.
                    if let Ok(Some(fresh)) = state.jobs.get(job.id) {
                        if fresh.state == JobState::AwaitingConsent {
                            job = fresh;
                            end_job(&state, job, end, None).await;
                        }
                    }
                    continue;
                }
                if job.state.ended() && job.outcome_height.is_none() {
                    record_outcome(&state, job).await;
                }
            }
        }
        // After the outcomes: a worker commits a job's updates only once its outcome is on
        // the ledger.
        finish_pending(&state).await;
        drop(busy);
        tokio::time::sleep(RETRY_EVERY).await;
    }
}
