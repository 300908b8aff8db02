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
//! [`crate::machine`], a ledger entry's signature round in [`crate::quorum`].
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
    Entry, EntryBody, JobRequest, JobStatus, JobSubmitted, Ledger, Pending, WorkerSignature,
};
use crate::machine::{Action, AfterShort, Attempt, Dispatch, Step, after_short_round};
use crate::outcome::job_outcome;
use crate::quorum::{Answer, Decision, Quorum};
use crate::roster::ClusterRoster;
use crate::submit::{Submission, admit, consent_expired};
use crate::transport::{self, ApiClient};

/// How long a ledger signature round may take per worker.
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
    pub fn load(path: &Path) -> Result<Self, String> {
        crate::roster::load_config(path, |c: &mut Self| {
            vec![&mut c.roster, &mut c.identity, &mut c.data_dir]
        })
    }
}

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
#[error("coordinator: {0}")]
pub struct NodeError(pub String);

fn err(e: impl std::fmt::Display) -> NodeError {
    NodeError(e.to_string())
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
    let config = CoordinatorConfig::load(config_path).map_err(NodeError)?;
    let roster = ClusterRoster::load(&config.roster).map_err(err)?;
    let identity = Identity::read_file(&config.identity)
        .map_err(|e| NodeError(format!("{}: {e}", config.identity.display())))?;
    if identity.public_key() != roster.coordinator.key {
        return Err(NodeError(format!(
            "{} holds key {}, but the roster names the coordinator's key {}",
            config.identity.display(),
            identity.public_key().fingerprint(),
            roster.coordinator.key.fingerprint()
        )));
    }
    // The job queue and the ledger: readable by this user only.
    crate::files::private_dir(&config.data_dir).map_err(err)?;
    let jobs = JobStore::open(&config.data_dir).map_err(err)?;
    crate::files::restrict(&config.data_dir.join("jobs.redb")).map_err(err)?;
    let ledger = if Ledger::path_in(&config.data_dir).exists() {
        Some(Ledger::open(&config.data_dir, &roster.ledger_roster()).map_err(err)?)
    } else {
        None
    };
    let address = roster.coordinator.address;
    let endpoint =
        transport::server_endpoint(&identity, address, &client_keys(&roster)).map_err(err)?;
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

/// A connection to every worker: `Err` names the worker that could not be reached.
async fn connect_workers(state: &State) -> Vec<(u16, Result<ApiClient, String>)> {
    let workers = state.roster.read().expect("roster lock").workers.clone();
    let tries = workers.into_iter().map(|w| {
        let identity = state.identity.clone();
        async move {
            let name = format!("worker {}", w.id);
            let c = ApiClient::connect(&identity, w.address, w.key, &name)
                .await
                .map_err(|e| e.to_string());
            (w.id, c)
        }
    });
    futures_join_all(tries).await
}

/// Awaits every future, in order (a tiny `join_all`, to avoid a dependency for one function).
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a worker call panicked"));
    }
    out
}

/// Appends `body` to the ledger with `t + 1` worker signatures (see the module doc). Creates
/// the genesis entry first when there is none.
async fn append(state: &Arc<State>, body: EntryBody) -> Result<Entry, Unsigned> {
    let mut guard = state.ledger.lock().await;
    if guard.is_none() {
        *guard = Some(genesis(state).await.map_err(Unsigned::from)?);
    }
    let ledger = guard.as_mut().expect("just created");
    let pending = Pending::in_dir(&state.data_dir);
    loop {
        // A candidate some workers may have signed is proposed again, unchanged, first.
        let (mut entry, again) = pending.proposal(Some(&ledger.head()), || {
            ledger.candidate(now_ms().max(ledger.head().time), body.clone())
        });
        let mine = !again || entry.body == body;
        propose(&pending, &entry, again).map_err(Unsigned::from)?;
        entry.signatures = match settle(&pending, gather(state, &entry, ledger.entries()).await) {
            Ok(signatures) => signatures,
            // Short: the workers' replicas may hold entries this ledger lost (a cut tail):
            // catch up from them, then propose on the new head.
            Err(e) => match after_short_round(catch_up_ledger(state, ledger).await) {
                AfterShort::GiveUp => return Err(e),
                AfterShort::ProposeAgain => continue,
            },
        };
        ledger
            .append(entry.clone())
            .map_err(|e| Unsigned::from(e.to_string()))?;
        let _ = pending.clear();
        tokio::spawn(publish(state.clone(), vec![entry.clone()]));
        if mine {
            return Ok(entry);
        }
    }
}

/// Stores a fresh candidate as pending before any worker sees it.
fn propose(pending: &Pending, entry: &Entry, again: bool) -> Result<(), String> {
    if again {
        tracing::info!(
            height = entry.height,
            "proposing the pending ledger entry again"
        );
        return Ok(());
    }
    pending.save(entry).map_err(|e| {
        format!(
            "storing the candidate entry at height {}: {e}",
            entry.height
        )
    })
}

/// A gathering's signatures; a candidate refused on its content stops being pending.
fn settle(
    pending: &Pending,
    gathered: Result<Vec<WorkerSignature>, Unsigned>,
) -> Result<Vec<WorkerSignature>, Unsigned> {
    gathered.inspect_err(|g| {
        if g.refused {
            let _ = pending.clear();
        }
    })
}

/// Why an entry did not reach the ledger.
#[derive(Debug)]
struct Unsigned {
    message: String,
    /// Workers refused it (rather than being unreachable): asking again will not help.
    refused: bool,
}

impl From<String> for Unsigned {
    fn from(message: String) -> Self {
        Unsigned {
            message,
            refused: false,
        }
    }
}

impl std::fmt::Display for Unsigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Appends to `ledger` the quorum-signed entries above its head that the workers' replicas
/// hold ([`crate::ledger::catchup`]); returns how many.
async fn catch_up_ledger(state: &Arc<State>, ledger: &mut Ledger) -> usize {
    let workers = state.roster.read().expect("roster lock").workers.clone();
    let ids: Vec<u16> = workers.iter().map(|w| w.id).collect();
    let fetch = |id: u16, from: u64| {
        let w = workers.iter().find(|w| w.id == id).cloned();
        let identity = state.identity.clone();
        async move {
            let w = w.ok_or("not in the roster")?;
            let client = ApiClient::connect(&identity, w.address, w.key, &format!("worker {id}"))
                .await
                .map_err(|e| e.to_string())?;
            let answer = client.call(&Request::LedgerEntries { from }).await;
            client.close().await;
            match answer.map_err(|e| e.to_string())? {
                Response::Entries(entries) => Ok(entries),
                other => Err(format!("{other:?}")),
            }
        }
    };
    let done = crate::ledger::catchup::catch_up(ledger, &ids, fetch).await;
    if done.appended > 0 {
        tracing::warn!(
            appended = done.appended,
            height = ledger.head().height,
            "the ledger was behind the workers' replicas: caught up"
        );
    }
    if !done.skipped.is_empty() {
        tracing::info!("catching up the ledger skipped {}", done.skipped.join("; "));
    }
    done.appended
}

/// The genesis entry, signed by a quorum, written to disk.
async fn genesis(state: &Arc<State>) -> Result<Ledger, String> {
    let roster = state.roster.read().expect("roster lock").ledger_roster();
    let pending = Pending::in_dir(&state.data_dir);
    let (mut entry, again) = pending.proposal(None, || Entry::genesis(now_ms(), roster.clone()));
    if again && entry.body != EntryBody::Genesis(roster.clone()) {
        // A genesis of an older roster was never appended: start from this one.
        let _ = pending.clear();
        return Err("a pending genesis of another roster was dropped".into());
    }
    propose(&pending, &entry, again)?;
    entry.signatures = settle(&pending, gather(state, &entry, &[]).await).map_err(|e| e.message)?;
    let ledger = Ledger::create(&state.data_dir, entry.clone()).map_err(|e| e.to_string())?;
    let _ = pending.clear();
    tracing::info!(
        "ledger created (genesis signed by {} workers)",
        entry.signatures.len()
    );
    tokio::spawn(publish(state.clone(), vec![entry]));
    Ok(ledger)
}

/// Asks every worker to sign `entry`; a worker whose replica is behind gets the entries it
/// lacks from `chain` first. Succeeds with at least `t + 1` signatures.
async fn gather(
    state: &Arc<State>,
    entry: &Entry,
    chain: &[Entry],
) -> Result<Vec<WorkerSignature>, Unsigned> {
    let page_bytes = state.page_bytes;
    let (quorum, workers) = {
        let roster = state.roster.read().expect("roster lock");
        (roster.threshold as usize + 1, roster.workers.clone())
    };
    let n = workers.len();
    let (answers, mut results) = tokio::sync::mpsc::channel(workers.len());
    for w in workers {
        let (entry, chain, identity, answers) = (
            entry.clone(),
            chain.to_vec(),
            state.identity.clone(),
            answers.clone(),
        );
        let id = w.id;
        tokio::spawn(async move {
            let ask = async {
                let client =
                    ApiClient::connect(&identity, w.address, w.key, &format!("worker {id}"))
                        .await
                        .map_err(|e| (false, e.to_string()))?;
                let r = ask_signature(&client, id, &entry, &chain, page_bytes).await;
                // The close drains in the background: the answer does not wait for it.
                tokio::spawn(client.close());
                r
            };
            let result = tokio::time::timeout(SIGN_TIMEOUT, ask)
                .await
                .unwrap_or_else(|_| {
                    Err((
                        false,
                        format!(
                            "worker {id}: no signature within {} s",
                            SIGN_TIMEOUT.as_secs()
                        ),
                    ))
                });
            let _ = answers.send(result).await;
        });
    }
    drop(answers);
    // The round's rules are the pure state machine's (`crate::quorum`): final at t + 1, short
    // as soon as the rest cannot make it; this loop only feeds it the answers.
    let mut round = Quorum::new(entry, quorum, n);
    while let Some(r) = results.recv().await {
        let answer = match r {
            Ok(s) => Answer::Signed(s),
            Err((true, why)) => Answer::Refused(why),
            Err((false, why)) => Answer::Failed(why),
        };
        match round.answer(answer) {
            Decision::Pending => {}
            Decision::Final(signatures) => {
                if !round.refusals().is_empty() {
                    tracing::warn!(
                        height = entry.height,
                        "entry signed without some workers: {}",
                        round.refusals().join("; ")
                    );
                }
                return Ok(signatures);
            }
            Decision::Short { message, refused } => return Err(Unsigned { message, refused }),
        }
    }
    Err(Unsigned::from(format!(
        "the signature round at height {} ended without a decision",
        entry.height
    )))
}

/// One worker's signature over `entry`, sending it the entries of `chain` it lacks first (in
/// pages of at most `page_bytes`). An error says whether the worker refused (`true`) and why.
async fn ask_signature(
    client: &ApiClient,
    id: u16,
    entry: &Entry,
    chain: &[Entry],
    page_bytes: usize,
) -> Result<WorkerSignature, (bool, String)> {
    let request = Request::SignEntry(entry.clone());
    match call_caught_up(
        client,
        id,
        &request,
        chain,
        page_bytes,
        transport::CALL_TIMEOUT,
    )
    .await
    {
        Ok(Response::Signature(s)) if s.worker == id => Ok(s),
        Ok(Response::Error {
            kind: ErrorKind::Forbidden,
            message,
        }) => Err((true, format!("worker {id}: {message}"))),
        Ok(Response::Error { message, .. }) => Err((false, format!("worker {id}: {message}"))),
        Ok(other) => Err((false, format!("worker {id}: unexpected {other:?}"))),
        Err(e) => Err((false, e)),
    }
}

/// Sends `request` to worker `id` (answered within `limit`); if its replica is behind, sends
/// it the entries of `chain` it lacks (in pages of at most `page_bytes`) and asks once more.
async fn call_caught_up(
    client: &ApiClient,
    id: u16,
    request: &Request,
    chain: &[Entry],
    page_bytes: usize,
    limit: Duration,
) -> Result<Response, String> {
    let mut caught_up = false;
    loop {
        match client.call_within(request, limit).await {
            Ok(Response::Behind { height }) if !caught_up => {
                let mut from = height.map_or(0, |h| h + 1);
                loop {
                    let missing = crate::ledger::page(chain, from, page_bytes);
                    if missing.is_empty() {
                        break;
                    }
                    from += missing.len() as u64;
                    match client.call(&Request::AppendEntries(missing.to_vec())).await {
                        Ok(Response::Ok) => {}
                        Ok(Response::Error { message, .. }) => {
                            return Err(format!("worker {id}: catching up: {message}"));
                        }
                        Ok(other) => return Err(format!("worker {id}: {other:?}")),
                        Err(e) => return Err(e.to_string()),
                    }
                }
                caught_up = true;
            }
            Ok(r) => return Ok(r),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Sends appended entries to every worker's replica (best effort: a worker that misses them
/// catches up at the next signature round).
async fn publish(state: Arc<State>, entries: Vec<Entry>) {
    let clients = connect_workers(&state).await;
    let sends = clients.into_iter().map(|(id, client)| {
        let entries = entries.clone();
        async move {
            let Ok(client) = client else { return };
            match client.call(&Request::AppendEntries(entries)).await {
                Ok(Response::Ok) => {}
                Ok(other) => tracing::debug!(worker = id, "replica append: {other:?}"),
                Err(e) => tracing::debug!(worker = id, "replica append: {e}"),
            }
            client.close().await;
        }
    });
    futures_join_all(sends).await;
}

/// The job loop: one job at a time, oldest first.
async fn dispatch(state: Arc<State>) {
    loop {
        let next = match state.jobs.next_queued() {
            Ok(next) => next,
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        };
        match next {
            Some(job) => {
                let _busy = state.busy.lock().await;
                run_job(&state, job).await
            }
            None => {
                let _ = tokio::time::timeout(RETRY_EVERY, state.wake.notified()).await;
            }
        }
    }
}

/// Runs one job to its end: ledger entry for its submission, fan-out to every worker,
/// comparison of the reports, the decision on its updates, ledger entry for its outcome.
async fn run_job(state: &Arc<State>, mut job: JobInfo) {
    if let Some((height, status)) = recorded_outcome(state, job.id).await {
        // Ended on the ledger already (a restart lost the record): never run again.
        tracing::warn!(
            job = job.id,
            height,
            "job already ended on the ledger: not run again"
        );
        job.outcome_height = Some(height);
        job.state = match status {
            JobStatus::Done => JobState::Done,
            JobStatus::Failed { reason } => JobState::Failed(reason),
            JobStatus::Refused { reason } => JobState::Refused(reason),
        };
        job.finished_ms.get_or_insert_with(now_ms);
        if let Err(e) = put_job(state, &job) {
            tracing::error!(job = job.id, "{e}");
        }
        return;
    }
    if job.submitted_height.is_none() {
        let body = EntryBody::JobSubmitted(JobSubmitted {
            job: job.id,
            request: JobRequest {
                spec: job.spec.clone(),
                protocol: job.protocol,
                security: job.security,
                nonce: job.nonce,
            },
            signatures: job.signatures.clone(),
        });
        match append(state, body).await {
            Ok(entry) => job.submitted_height = Some(entry.height),
            Err(e) if e.refused => {
                // The workers will not record it (a signature, a replayed round): it ends
                // here, off the ledger, with their reasons.
                let reason = e
                    .message
                    .split_once(": ")
                    .map_or(e.message.clone(), |(_, r)| r.to_string());
                end_job(state, job, JobState::Refused(reason), None).await;
                return;
            }
            Err(e) => {
                // No quorum to record it: the job cannot run either. Retry later.
                tracing::warn!(job = job.id, "job waits: ledger: {e}");
                tokio::time::sleep(RETRY_EVERY).await;
                return;
            }
        }
    }
    let Some(Action::End {
        state: end,
        report,
        session,
        commit,
        decide,
    }) = run_dispatch(state, &mut job).await
    else {
        return;
    };
    // Two-phase decision on staged updates: durable before anyone hears it.
    if decide {
        let finish = Finish {
            session,
            commit,
            acked: Vec::new(),
        };
        if let Err(e) = state.jobs.put_finish(job.id, &finish) {
            tracing::error!(job = job.id, "{e}");
        }
    }
    end_job(state, job, end, report).await;
    finish_pending(state).await;
}

/// Drives `job`'s dispatch ([`crate::machine::Dispatch`]): runs the attempts it asks for, in
/// the mesh epochs it names, until it ends the job ([`Action::End`]); `None` if the job's
/// record could not be stored.
async fn run_dispatch(state: &Arc<State>, job: &mut JobInfo) -> Option<Action> {
    let mut dispatch = Dispatch::new(job.id, job.attempts, state.epoch.current());
    let mut action = dispatch.start();
    loop {
        let (session, mesh) = match action {
            Action::RunAttempt {
                session,
                mesh,
                new_epoch,
            } => {
                if new_epoch {
                    state.epoch.advance();
                    tracing::info!(
                        job = job.id,
                        mesh,
                        "a worker left the mesh: trying again in a new one"
                    );
                }
                (session, mesh)
            }
            end @ Action::End { .. } => return Some(end),
        };
        job.attempts = dispatch.attempts();
        job.state = JobState::Running;
        if let Err(e) = put_job(state, job) {
            tracing::error!(job = job.id, "{e}");
            return None;
        }
        tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, mesh, "job dispatched");
        let request = Request::RunJob {
            job: job.id,
            session,
            mesh,
            spec: job.spec.clone(),
            protocol: job.protocol,
            security: job.security,
        };
        let answers = run_attempt(state, &request).await;
        action = dispatch.attempt_ended(answers);
    }
}

/// Feeds the answers of an attempt's calls, as they come, and the clock to the attempt's
/// state machine ([`crate::machine::Attempt`]) until it is over; cancels the calls still
/// running then (the next attempt or job cancels them on the workers too).
async fn gather_answers(
    mut runs: tokio::task::JoinSet<(u16, WorkerAnswer)>,
    callers: std::collections::HashMap<tokio::task::Id, u16>,
    mut attempt: Attempt,
) -> Vec<WorkerAnswer> {
    let mut wake = attempt.tick(now_ms());
    loop {
        let step = match wake {
            Step::Over(answers) => {
                runs.abort_all();
                return answers;
            }
            Step::Wait { wake_ms } => {
                let sleep = Duration::from_millis(wake_ms.saturating_sub(now_ms()));
                tokio::select! {
                    joined = runs.join_next_with_id() => {
                        let (id, answer) = match joined {
                            Some(Ok((_, answer))) => answer,
                            Some(Err(e)) => {
                                let id = callers.get(&e.id()).copied().unwrap_or(u16::MAX);
                                (id, Err((id, ErrorKind::Internal, e.to_string())))
                            }
                            // Every call ended: the attempt's clock says the rest.
                            None => {
                                wake = attempt.tick(u64::MAX);
                                continue;
                            }
                        };
                        attempt.answer(id, answer, now_ms())
                    }
                    _ = tokio::time::sleep(sleep) => attempt.tick(now_ms()),
                }
            }
        };
        wake = step;
    }
}

/// One attempt: `request` to every worker, their answers. An unreachable worker fails the
/// attempt before anyone starts; an answer that a peer is gone ends it at once.
async fn run_attempt(state: &Arc<State>, request: &Request) -> Vec<WorkerAnswer> {
    let (limit, page_bytes) = (state.job_timeout, state.page_bytes);
    let chain = chain(state).await;
    let clients = connect_workers(state).await;
    let unreachable: Vec<WorkerAnswer> = clients
        .iter()
        .filter_map(|(id, c)| {
            c.as_ref()
                .err()
                .map(|e| Err((*id, ErrorKind::Internal, e.clone())))
        })
        .collect();
    if !unreachable.is_empty() {
        for (_, client) in clients {
            if let Ok(client) = client {
                tokio::spawn(client.close());
            }
        }
        return unreachable;
    }
    let mut runs = tokio::task::JoinSet::new();
    let mut callers = std::collections::HashMap::new();
    let ids: Vec<u16> = clients.iter().map(|(id, _)| *id).collect();
    // The call's own bound is a little past the job's: the attempt's deadline names the
    // silent workers first.
    let call_limit = limit + Duration::from_secs(5);
    for (id, client) in clients {
        let (request, chain) = (request.clone(), chain.clone());
        let client = client.expect("checked above");
        let task = runs.spawn(async move {
            let r = call_caught_up(&client, id, &request, &chain, page_bytes, call_limit).await;
            tokio::spawn(client.close());
            let answer = match r {
                Ok(Response::JobReport(report)) => Ok(report),
                Ok(Response::Error { kind, message }) => Err((id, kind, message)),
                Ok(other) => Err((id, ErrorKind::Internal, format!("unexpected {other:?}"))),
                // The call was lost on the way: the worker may have died mid-job.
                Err(e) => Err((id, ErrorKind::Unavailable, e)),
            };
            (id, answer)
        });
        callers.insert(task.id(), id);
    }
    let attempt = Attempt::new(&ids, now_ms(), limit.as_millis() as u64);
    gather_answers(runs, callers, attempt).await
}

/// Stores a job's new record and tells the clients waiting for it.
fn put_job(state: &State, job: &JobInfo) -> Result<(), crate::jobs::JobStoreError> {
    state.jobs.put(job)?;
    state.changed.notify_waiters();
    Ok(())
}

/// The coordinator's ledger entries (none before genesis).
async fn chain(state: &State) -> Arc<Vec<Entry>> {
    let ledger = state.ledger.lock().await;
    Arc::new(
        ledger
            .as_ref()
            .map_or_else(Vec::new, |l| l.entries().to_vec()),
    )
}

/// The height and status of job `job`'s outcome entry on the coordinator's ledger.
async fn recorded_outcome(state: &State, job: u64) -> Option<(u64, JobStatus)> {
    let ledger = state.ledger.lock().await;
    ledger
        .as_ref()?
        .entries()
        .iter()
        .find_map(|e| match &e.body {
            EntryBody::JobOutcome(o) if o.job == job => Some((e.height, o.status.clone())),
            _ => None,
        })
}

/// Records a job's end in the queue and on the ledger.
async fn end_job(state: &Arc<State>, mut job: JobInfo, end: JobState, report: Option<JobReport>) {
    match &end {
        JobState::Done => tracing::info!(job = job.id, "job done"),
        JobState::Refused(why) => tracing::warn!(job = job.id, "job refused: {why}"),
        JobState::Failed(why) => tracing::warn!(job = job.id, "job failed: {why}"),
        _ => {}
    }
    job.state = end;
    job.report = report;
    job.finished_ms = Some(now_ms());
    if let Err(e) = put_job(state, &job) {
        tracing::error!(job = job.id, "{e}");
        return;
    }
    record_outcome(state, job).await;
}

/// Appends the outcome entry of an ended job (retried by the upkeep loop until it succeeds).
async fn record_outcome(state: &Arc<State>, mut job: JobInfo) {
    let status = match &job.state {
        JobState::Done => JobStatus::Done,
        JobState::Refused(reason) => JobStatus::Refused {
            reason: reason.clone(),
        },
        JobState::Failed(reason) => JobStatus::Failed {
            reason: reason.clone(),
        },
        JobState::AwaitingConsent | JobState::Queued | JobState::Running => return,
    };
    if job.submitted_height.is_none() {
        // Never on the ledger (refused before it was recorded): no outcome entry either.
        return;
    }
    if let Some((height, _)) = recorded_outcome(state, job.id).await {
        // Recorded before a restart lost the height: once is enough.
        job.outcome_height = Some(height);
        if let Err(e) = put_job(state, &job) {
            tracing::error!(job = job.id, "{e}");
        }
        return;
    }
    let outcome = {
        let roster = state.roster.read().expect("roster lock");
        job_outcome(job.id, status, job.report.as_ref(), &roster)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(job = job.id, "outcome not recordable: {e}");
            return;
        }
    };
    // Already on the ledger (the coordinator stopped before noting it): note it, never append
    // a second outcome, which the workers refuse.
    let recorded = state.ledger.lock().await.as_ref().and_then(|l| {
        l.entries()
            .iter()
            .find(|e| matches!(&e.body, EntryBody::JobOutcome(o) if o.job == job.id))
            .map(|e| e.height)
    });
    if let Some(height) = recorded {
        job.outcome_height = Some(height);
        if let Err(e) = state.jobs.put(&job) {
            tracing::error!(job = job.id, "{e}");
        }
        return;
    }
    match append(state, EntryBody::JobOutcome(outcome)).await {
        Ok(entry) => {
            job.outcome_height = Some(entry.height);
            if let Err(e) = put_job(state, &job) {
                tracing::error!(job = job.id, "{e}");
            }
        }
        Err(e) => tracing::warn!(job = job.id, "outcome not yet on the ledger: {e}"),
    }
}

/// Sends every pending two-phase decision to the workers that have not acknowledged it.
async fn finish_pending(state: &Arc<State>) {
    let pending = match state.jobs.pending_finishes() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    if pending.is_empty() {
        return;
    }
    let n = state.roster.read().expect("roster lock").workers.len();
    let chain = chain(state).await;
    let clients = connect_workers(state).await;
    for (job, mut finish) in pending {
        for (id, client) in &clients {
            if finish.acked.contains(id) {
                continue;
            }
            let Ok(client) = client else { continue };
            let request = Request::FinishJob {
                job,
                session: finish.session,
                commit: finish.commit,
            };
            // A worker commits only once the job's outcome is on its replica.
            let limit = transport::CALL_TIMEOUT;
            match call_caught_up(client, *id, &request, &chain, state.page_bytes, limit).await {
                Ok(Response::Ok) => finish.acked.push(*id),
                Ok(other) => tracing::warn!(job, worker = id, "finish: {other:?}"),
                Err(e) => tracing::debug!(job, worker = id, "finish: {e}"),
            }
        }
        let done = finish.acked.len() >= n;
        if done && finish.commit {
            crash_after_commit(state, job);
        }
        let stored = if done {
            state.jobs.drop_finish(job)
        } else {
            state.jobs.put_finish(job, &finish)
        };
        if let Err(e) = stored {
            tracing::error!(job, "{e}");
        }
    }
    for (_, client) in clients {
        if let Ok(c) = client {
            tokio::spawn(c.close());
        }
    }
}

/// The test hook `QUORATE_TEST_CRASH_AFTER_COMMIT`: once every worker has committed a job's
/// updates, the coordinator forgets that the job ended (as a crash before recording it would
/// have left it under the old order of steps) and dies, so that an end-to-end test can check
/// that the restarted cluster applies the job once.
fn crash_after_commit(state: &State, job: u64) {
    if std::env::var_os("QUORATE_TEST_CRASH_AFTER_COMMIT").is_none() {
        return;
    }
    if let Ok(Some(mut info)) = state.jobs.get(job) {
        info.state = JobState::Running;
        info.outcome_height = None;
        let _ = state.jobs.put(&info);
    }
    tracing::warn!(
        job,
        "QUORATE_TEST_CRASH_AFTER_COMMIT: dying after the commit, the job's end forgotten"
    );
    std::process::exit(86);
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
