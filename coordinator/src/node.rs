//! The coordinator process: it accepts jobs from registered clients, keeps their lifecycle in
//! a durable queue ([`JobStore`]), hands each to every worker, compares the workers' reports,
//! and writes the ledger, gathering `t + 1` worker signatures for every entry. It never sees a
//! share or an unrevealed value: workers report public results and commitments only.
//!
//! One job runs at a time (the workers' cores are the bottleneck, and a queue keeps the ledger's
//! order simple). Every wait has a bound: a worker that does not answer within the job's time
//! limit fails the job with an error naming it. Decisions on dataset updates (two-phase) are
//! durable and re-sent until every worker has applied them, so a worker that was down learns
//! them when it returns.
//!
//! ```toml
//! # coordinator.toml (paths relative to this file)
//! roster = "../roster.toml"
//! identity = "identity.key"
//! data_dir = "data"          # jobs.redb and ledger/entries.qlg
//! job_timeout_s = 600        # optional: the bound on one job's run
//! ledger_page_bytes = 8388608 # optional: the bound on one page of ledger entries (8 MiB)
//! max_queued_jobs = 1000     # optional: submissions beyond this many waiting jobs are refused
//! ```

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};

use crate::api::{ErrorKind, JobInfo, JobReport, JobState, Request, Response};
use crate::jobs::{Finish, JobStore};
use crate::keys::Identity;
use crate::ledger::{Entry, EntryBody, JobStatus, JobSubmitted, Ledger, Pending, WorkerSignature};
use crate::outcome::{job_outcome, spec_hash};
use crate::roster::ClusterRoster;
use crate::transport::{self, ApiClient};

/// How long a ledger signature round may take per worker.
const SIGN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the signature round waits for further workers once it has a quorum.
const QUORUM_GRACE: Duration = Duration::from_millis(300);
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
    /// See [`CoordinatorConfig::ledger_page_bytes`].
    page_bytes: usize,
    /// See [`CoordinatorConfig::max_queued_jobs`].
    max_queued: usize,
    wake: Notify,
    /// Held while a job ends or an outcome is retried, so an outcome is recorded once.
    busy: Mutex<()>,
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
        page_bytes: config.ledger_page_bytes.max(1),
        max_queued: config.max_queued_jobs,
        wake: Notify::new(),
        busy: Mutex::new(()),
    });
    tracing::info!(address = %address, "coordinator started");

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
        Request::SubmitJob { spec, protocol } => {
            let parsed = match protocols::catalog::JobSpec::from_toml(&spec) {
                Ok(p) => p,
                Err(e) => return Response::error(ErrorKind::BadRequest, format!("job spec: {e}")),
            };
            {
                let roster = state.roster.read().expect("roster lock");
                if let Some(r) = parsed
                    .recipients()
                    .iter()
                    .find(|r| roster.client(r).is_none())
                {
                    return Response::error(
                        ErrorKind::BadRequest,
                        format!("job spec: recipient {r:?} is not a registered client"),
                    );
                }
            }
            let recipients = parsed.recipients();
            if let Some(r) = recipients
                .iter()
                .enumerate()
                .find_map(|(i, r)| recipients[..i].contains(r).then_some(r))
            {
                return Response::error(
                    ErrorKind::BadRequest,
                    format!("job spec: recipient {r:?} appears twice"),
                );
            }
            match state.jobs.queued() {
                Ok(waiting) if waiting >= state.max_queued => {
                    return Response::error(
                        ErrorKind::Conflict,
                        format!("the job queue is full ({waiting} jobs wait): submit again later"),
                    );
                }
                Ok(_) => {}
                Err(e) => return internal(&e),
            }
            let job = JobInfo {
                id: 0,
                submitter: client.into(),
                kind: parsed.kind().into(),
                spec,
                protocol,
                state: JobState::Queued,
                submitted_ms: now_ms(),
                finished_ms: None,
                attempts: 0,
                report: None,
                submitted_height: None,
                outcome_height: None,
            };
            match state.jobs.submit(job) {
                Ok(job) => {
                    tracing::info!(job = job.id, kind = %job.kind, submitter = client, "job queued");
                    state.wake.notify_one();
                    Response::Submitted { job: job.id }
                }
                Err(e) => internal(&e),
            }
        }
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
async fn append(state: &Arc<State>, body: EntryBody) -> Result<Entry, String> {
    let mut guard = state.ledger.lock().await;
    if guard.is_none() {
        *guard = Some(genesis(state).await?);
    }
    let ledger = guard.as_mut().expect("just created");
    let pending = Pending::in_dir(&state.data_dir);
    loop {
        // A candidate some workers may have signed is proposed again, unchanged, first.
        let (mut entry, again) = pending.proposal(Some(&ledger.head()), || {
            ledger.candidate(now_ms().max(ledger.head().time), body.clone())
        });
        let mine = !again || entry.body == body;
        propose(&pending, &entry, again)?;
        entry.signatures = settle(&pending, gather(state, &entry, ledger.entries()).await)?;
        ledger.append(entry.clone()).map_err(|e| e.to_string())?;
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
    gathered: Result<Vec<WorkerSignature>, Gathering>,
) -> Result<Vec<WorkerSignature>, String> {
    gathered.map_err(|g| {
        if g.refused {
            let _ = pending.clear();
        }
        g.message
    })
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
    entry.signatures = settle(&pending, gather(state, &entry, &[]).await)?;
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
/// Why a signature round failed: the message, and whether a worker refused the entry on its
/// content (rather than being unreachable or slow).
struct Gathering {
    message: String,
    refused: bool,
}

async fn gather(
    state: &Arc<State>,
    entry: &Entry,
    chain: &[Entry],
) -> Result<Vec<WorkerSignature>, Gathering> {
    let page_bytes = state.page_bytes;
    let (quorum, workers) = {
        let roster = state.roster.read().expect("roster lock");
        (roster.threshold as usize + 1, roster.workers.clone())
    };
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
                client.close().await;
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
    // Every answer, or a quorum and a short grace for the rest: a worker that is down does
    // not hold up the ledger.
    let mut collected = Vec::new();
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        let next = match grace {
            Some(until) => match tokio::time::timeout_at(until, results.recv()).await {
                Ok(r) => r,
                Err(_) => break,
            },
            None => results.recv().await,
        };
        let Some(r) = next else { break };
        collected.push(r);
        let signed = collected.iter().filter(|r| r.is_ok()).count();
        if signed >= quorum && grace.is_none() {
            grace = Some(tokio::time::Instant::now() + QUORUM_GRACE);
        }
    }
    let results = collected;
    let mut signatures = Vec::new();
    let mut refusals = Vec::new();
    let mut refused = false;
    for r in results {
        match r {
            Ok(s) => signatures.push(s),
            Err((on_content, e)) => {
                refused |= on_content;
                refusals.push(e);
            }
        }
    }
    if signatures.len() < quorum {
        return Err(Gathering {
            message: format!(
                "the entry at height {} has {} of the {quorum} signatures it needs: {}",
                entry.height,
                signatures.len(),
                refusals.join("; ")
            ),
            refused,
        });
    }
    if !refusals.is_empty() {
        tracing::warn!(
            height = entry.height,
            "entry signed without some workers: {}",
            refusals.join("; ")
        );
    }
    Ok(signatures)
}

/// One worker's signature over `entry`, sending it the entries of `chain` it lacks first (in
/// pages of at most `page_bytes`). An error says whether the worker refused the entry itself.
async fn ask_signature(
    client: &ApiClient,
    id: u16,
    entry: &Entry,
    chain: &[Entry],
    page_bytes: usize,
) -> Result<WorkerSignature, (bool, String)> {
    let mut caught_up = false;
    loop {
        match client.call(&Request::SignEntry(entry.clone())).await {
            Ok(Response::Signature(s)) if s.worker == id => return Ok(s),
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
                            return Err((false, format!("worker {id}: catching up: {message}")));
                        }
                        Ok(other) => return Err((false, format!("worker {id}: {other:?}"))),
                        Err(e) => return Err((false, e.to_string())),
                    }
                }
                caught_up = true;
            }
            Ok(Response::Error { kind, message }) => {
                return Err((
                    kind == ErrorKind::Forbidden,
                    format!("worker {id}: {message}"),
                ));
            }
            Ok(other) => return Err((false, format!("worker {id}: unexpected {other:?}"))),
            Err(e) => return Err((false, e.to_string())),
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
    if job.submitted_height.is_none() {
        let submitter = state
            .roster
            .read()
            .expect("roster lock")
            .client(&job.submitter)
            .map(|c| c.key);
        let Some(submitter) = submitter else {
            end_job(
                state,
                job,
                JobState::Failed("the submitter is no longer registered".into()),
                None,
            )
            .await;
            return;
        };
        let body = EntryBody::JobSubmitted(JobSubmitted {
            job: job.id,
            spec_hash: spec_hash(&job.spec),
            submitter,
        });
        match append(state, body).await {
            Ok(entry) => job.submitted_height = Some(entry.height),
            Err(e) => {
                // No quorum to record it: the job cannot run either. Retry later.
                tracing::warn!(job = job.id, "job waits: ledger: {e}");
                tokio::time::sleep(RETRY_EVERY).await;
                return;
            }
        }
    }
    job.attempts += 1;
    job.state = JobState::Running;
    if let Err(e) = state.jobs.put(&job) {
        tracing::error!(job = job.id, "{e}");
        return;
    }
    let session = (job.id << 16) | u64::from(job.attempts & 0xffff);
    tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job dispatched");
    let request = Request::RunJob {
        job: job.id,
        session,
        spec: job.spec.clone(),
        protocol: job.protocol,
    };
    let limit = state.job_timeout;
    let clients = connect_workers(state).await;
    let runs = clients.into_iter().map(|(id, client)| {
        let request = request.clone();
        async move {
            let client = client.map_err(|e| (id, ErrorKind::Internal, e))?;
            let r = client.call_within(&request, limit).await;
            client.close().await;
            match r {
                Ok(Response::JobReport(report)) => Ok(report),
                Ok(Response::Error { kind, message }) => Err((id, kind, message)),
                Ok(other) => Err((id, ErrorKind::Internal, format!("unexpected {other:?}"))),
                Err(e) => Err((id, ErrorKind::Internal, e.to_string())),
            }
        }
    });
    let results: Vec<Result<JobReport, WorkerError>> = futures_join_all(runs).await;
    let (state_end, report) = judge(results);
    // Two-phase decision on staged updates: durable before anyone hears it.
    let commit = state_end == JobState::Done;
    let has_updates = report.as_ref().is_some_and(|r| !r.updates.is_empty());
    if has_updates || !commit {
        let finish = Finish {
            session,
            commit,
            acked: Vec::new(),
        };
        if let Err(e) = state.jobs.put_finish(job.id, &finish) {
            tracing::error!(job = job.id, "{e}");
        }
    }
    end_job(state, job, state_end, report).await;
    finish_pending(state).await;
}

/// A worker's failure: its id, the class, the message.
type WorkerError = (u16, ErrorKind, String);

/// The job's end from every worker's answer: done when all agree; otherwise refused (a
/// worker's policy check) or failed, naming the workers (those with the same reason together).
fn judge(results: Vec<Result<JobReport, WorkerError>>) -> (JobState, Option<JobReport>) {
    let mut refusals = Vec::new();
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for r in results {
        match r {
            Ok(report) => reports.push(report),
            Err(e @ (_, ErrorKind::Refused, _)) => refusals.push(e),
            Err(e) => failures.push(e),
        }
    }
    if !refusals.is_empty() {
        return (JobState::Refused(name_workers(refusals)), None);
    }
    if !failures.is_empty() {
        return (JobState::Failed(name_workers(failures)), None);
    }
    match reports.split_first() {
        Some((first, rest)) if rest.iter().all(|r| r == first) => {
            (JobState::Done, Some(first.clone()))
        }
        Some(_) => (
            JobState::Failed("the workers' reports disagree".into()),
            None,
        ),
        None => (JobState::Failed("no worker answered".into()), None),
    }
}

/// `worker 2: reason` or `workers 0, 1: reason`, one clause per distinct reason. A worker's
/// own `job N: ` prefix is dropped (the job is known).
fn name_workers(errors: Vec<WorkerError>) -> String {
    let mut groups: Vec<(Vec<u16>, String)> = Vec::new();
    for (id, _, message) in errors {
        let message = match message.split_once(": ") {
            Some((head, rest)) if head.starts_with("job ") => rest.to_string(),
            _ => message,
        };
        match groups.iter_mut().find(|(_, m)| *m == message) {
            Some((ids, _)) => ids.push(id),
            None => groups.push((vec![id], message)),
        }
    }
    groups
        .into_iter()
        .map(|(ids, message)| {
            let list: Vec<String> = ids.iter().map(u16::to_string).collect();
            let who = if ids.len() == 1 { "worker" } else { "workers" };
            format!("{who} {}: {message}", list.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
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
    if let Err(e) = state.jobs.put(&job) {
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
        JobState::Queued | JobState::Running => return,
    };
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
            if let Err(e) = state.jobs.put(&job) {
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
            match client.call(&request).await {
                Ok(Response::Ok) => finish.acked.push(*id),
                Ok(other) => tracing::warn!(job, worker = id, "finish: {other:?}"),
                Err(e) => tracing::debug!(job, worker = id, "finish: {e}"),
            }
        }
        let done = finish.acked.len() >= n;
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
            c.close().await;
        }
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
        let _busy = state.busy.lock().await;
        finish_pending(&state).await;
        if let Ok(jobs) = state.jobs.list() {
            for job in jobs {
                let ended = matches!(
                    job.state,
                    JobState::Done | JobState::Refused(_) | JobState::Failed(_)
                );
                if ended && job.outcome_height.is_none() {
                    record_outcome(&state, job).await;
                }
            }
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_with_one_reason_are_named_together() {
        let text = name_workers(vec![
            (
                0,
                ErrorKind::Refused,
                "job 4: refused: acme's policy".into(),
            ),
            (2, ErrorKind::Internal, "cannot connect".into()),
            (
                1,
                ErrorKind::Refused,
                "job 4: refused: acme's policy".into(),
            ),
        ]);
        assert_eq!(
            text,
            "workers 0, 1: refused: acme's policy; worker 2: cannot connect"
        );
    }

    #[test]
    fn a_refusal_outranks_a_failure_and_disagreeing_reports_fail() {
        let report = |p: &str| JobReport {
            public: p.into(),
            outputs: Vec::new(),
            updates: Vec::new(),
        };
        let (state, _) = judge(vec![
            Err((0, ErrorKind::Internal, "down".into())),
            Err((1, ErrorKind::Refused, "policy".into())),
        ]);
        assert_eq!(state, JobState::Refused("worker 1: policy".into()));
        let (state, _) = judge(vec![Ok(report("a")), Ok(report("b"))]);
        assert!(matches!(state, JobState::Failed(m) if m.contains("disagree")));
        let (state, r) = judge(vec![Ok(report("a")), Ok(report("a"))]);
        assert_eq!((state, r), (JobState::Done, Some(report("a"))));
    }
}
