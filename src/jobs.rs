//! The client side of jobs: submitting to the coordinator, waiting with a bound, fetching
//! one's private outputs from the workers and reconstructing them here, and checking them
//! against the commitments of a verified ledger.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use coordinator::api::{JobInfo, JobState, OutputShares, Request, Response};
use coordinator::ledger::{Entry, EntryBody, VerifiedChain};
use coordinator::outcome::output_name;
use coordinator::transport::ApiClient;
use mpc::engine::commit::Opening;
use mpc::identity::{Identity, PublicKey};
use mpc::{Field, Fr, PartyId};
use serde::Serialize;

use crate::cluster::Cluster;

/// A connection to the coordinator, as one client identity (which signs the jobs it asks for).
pub struct Coordinator {
    /// Replaced when a wait reconnects ([`Coordinator::wait`]).
    client: std::sync::Mutex<Arc<ApiClient>>,
    identity: Identity,
    /// The coordinator's address and key, to reconnect.
    address: SocketAddr,
    key: PublicKey,
}

/// The first pause before reconnecting to a coordinator that went away while a client waits.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
/// The longest pause between two reconnection tries.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

fn unexpected(what: &str, r: Response) -> anyhow::Error {
    match r {
        Response::Error { message, .. } => anyhow!("{what}: the coordinator refused: {message}"),
        other => anyhow!("{what}: unexpected answer {other:?}"),
    }
}

impl Coordinator {
    /// Connects as `identity` (retrying briefly while a newly registered identity is picked
    /// up by the coordinator's roster reload).
    pub async fn connect(cluster: &Cluster, identity: &Identity) -> Result<Self> {
        let c = &cluster.roster.coordinator;
        let mut attempt = 0;
        loop {
            let probe = async {
                let client =
                    ApiClient::connect(identity, c.address, c.key, "the coordinator").await?;
                client.call(&Request::Ping).await?;
                Ok::<_, coordinator::transport::TransportError>(client)
            };
            match probe.await {
                Ok(client) => {
                    return Ok(Coordinator {
                        client: std::sync::Mutex::new(Arc::new(client)),
                        identity: identity.clone(),
                        address: c.address,
                        key: c.key,
                    });
                }
                Err(coordinator::transport::TransportError::Call { .. }) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                Err(e) => {
                    return Err(anyhow!(e).context(
                        "is the coordinator running (quorate cluster up), and this identity in its roster?",
                    ));
                }
            }
        }
    }

    /// Asks for a job, signed by this identity; returns its id. A settlement round is signed
    /// with the nonce of its round id, so every firm that runs the same round file signs the
    /// same request: the first submission queues the round, each other firm's adds its
    /// consent (and gets the same job id), and the round runs once all firms have signed.
    pub async fn submit(&self, spec: &str, protocol: mpc::MulProtocol) -> Result<u64> {
        self.submit_at(spec, protocol, mpc::SecurityLevel::SemiHonest)
            .await
    }

    /// [`Coordinator::submit`] at security level `security` (signed with the request, so no
    /// coordinator or worker can change it).
    pub async fn submit_at(
        &self,
        spec: &str,
        protocol: mpc::MulProtocol,
        security: mpc::SecurityLevel,
    ) -> Result<u64> {
        let nonce = match protocols::catalog::JobSpec::from_toml(spec) {
            Ok(protocols::catalog::JobSpec::Settlement(round)) => {
                coordinator::ledger::round_nonce(&round.round)
            }
            _ => coordinator::ledger::Hash256(rand::random()),
        };
        let job = coordinator::ledger::JobRequest {
            spec: spec.to_string(),
            protocol,
            security,
            nonce,
        };
        let request = Request::SubmitJob {
            signature: job.sign(&self.identity),
            request: job,
        };
        match self.api().call(&request).await? {
            Response::Submitted { job } => Ok(job),
            other => Err(unexpected("submitting the job", other)),
        }
    }

    /// One job's state.
    pub async fn job(&self, job: u64) -> Result<JobInfo> {
        match self.api().call(&Request::GetJob { job }).await? {
            Response::Job(info) => Ok(*info),
            other => Err(unexpected(&format!("job {job}"), other)),
        }
    }

    /// Every job, fetched page by page.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>> {
        let mut jobs: Vec<JobInfo> = Vec::new();
        loop {
            let from = jobs.last().map_or(0, |j| j.id + 1);
            match self.api().call(&Request::ListJobs { from }).await? {
                Response::Jobs(page) if page.is_empty() => return Ok(jobs),
                Response::Jobs(page) => jobs.extend(page),
                other => return Err(unexpected("listing jobs", other)),
            }
        }
    }

    /// Waits until job `job` has ended and its outcome is on the ledger (or it ended before
    /// reaching the ledger), or `limit` passes. The coordinator answers when the job ends.
    pub async fn wait(&self, job: u64, limit: Duration) -> Result<JobInfo> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let request = Request::WaitJob {
                job,
                limit_ms: (left.as_millis() as u64).min(coordinator::api::MAX_WAIT_MS),
            };
            let limit = left.min(Duration::from_millis(coordinator::api::MAX_WAIT_MS))
                + Duration::from_secs(10);
            let info = match self.api().call_within(&request, limit).await {
                Ok(Response::Job(info)) => *info,
                Ok(other) => return Err(unexpected(&format!("job {job}"), other)),
                // The coordinator went away (it restarted, or the link broke): the job is in
                // its durable queue, so reconnect and keep waiting.
                Err(lost) => {
                    eprintln!(
                        "lost the coordinator while waiting for job {job} ({lost}); reconnecting"
                    );
                    self.reconnect(deadline, job).await?;
                    continue;
                }
            };
            let ended = info.state.ended();
            if ended && (info.outcome_height.is_some() || info.submitted_height.is_none()) {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= deadline {
                if ended {
                    bail!(
                        "job {job} ended ({}) but its outcome is not on the ledger after {} s: the coordinator cannot get it signed (see its log)",
                        state_word(&info.state),
                        limit.as_secs()
                    );
                }
                bail!(
                    "job {job} is still {} after {} s (see `quorate jobs`)",
                    state_word(&info.state),
                    limit.as_secs()
                );
            }
        }
    }

    /// The ledger's entries, fetched page by page (the coordinator bounds each page) until a
    /// page comes back empty.
    pub async fn ledger(&self) -> Result<Vec<Entry>> {
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            let from = entries.len() as u64;
            match self.api().call(&Request::LedgerEntries { from }).await? {
                Response::Entries(page) if page.is_empty() => return Ok(entries),
                Response::Entries(page) => {
                    if page.first().is_some_and(|e| e.height != from) {
                        bail!("reading the ledger: asked for height {from}, got another page");
                    }
                    entries.extend(page);
                }
                other => return Err(unexpected("reading the ledger", other)),
            }
        }
    }

    /// Records one's committed dataset on the ledger.
    pub async fn record_dataset(&self, d: coordinator::ledger::DatasetCommitted) -> Result<()> {
        match self.api().call(&Request::RecordDataset(d)).await? {
            Response::Ok => Ok(()),
            other => Err(unexpected("recording the dataset on the ledger", other)),
        }
    }

    /// The current connection.
    fn api(&self) -> Arc<ApiClient> {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Connects again, with backoff from [`RECONNECT_FIRST`] doubling to [`RECONNECT_MAX`],
    /// until `deadline`; the error names the job and the last reason.
    async fn reconnect(&self, deadline: tokio::time::Instant, job: u64) -> Result<()> {
        let mut pause = RECONNECT_FIRST;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                bail!(
                    "lost the coordinator while waiting for job {job}, and it was not back before the wait ended (see `quorate jobs`)"
                );
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(RECONNECT_MAX);
            let attempt = async {
                let client =
                    ApiClient::connect(&self.identity, self.address, self.key, "the coordinator")
                        .await?;
                client.call(&Request::Ping).await?;
                Ok::<_, coordinator::transport::TransportError>(client)
            };
            match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(client)) => {
                    let old = std::mem::replace(
                        &mut *self.client.lock().unwrap_or_else(|e| e.into_inner()),
                        Arc::new(client),
                    );
                    if let Ok(old) = Arc::try_unwrap(old) {
                        tokio::spawn(close_soon(old));
                    }
                    return Ok(());
                }
                Ok(Err(e)) => tracing::debug!("reconnecting to the coordinator: {e}"),
                Err(_) => {}
            }
        }
    }

    /// Closes the connection (see [`close_soon`]).
    pub async fn close(self) {
        let client = self.client.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Ok(client) = Arc::try_unwrap(client) {
            close_soon(client).await;
        }
    }
}

/// How long a client waits for a closed connection to drain: the close frame leaves at once,
/// and a command about to exit gains nothing from waiting out QUIC's draining period (three
/// probe timeouts, about 100 ms on loopback, paid once per connection closed in sequence).
const CLOSE_GRACE: Duration = Duration::from_millis(5);

/// Closes `client`'s connection, waiting at most [`CLOSE_GRACE`] for it to drain.
pub async fn close_soon(client: ApiClient) {
    let _ = tokio::time::timeout(CLOSE_GRACE, client.close()).await;
}

/// A job state in one word, for people.
pub fn state_word(state: &JobState) -> &'static str {
    match state {
        JobState::AwaitingConsent => "awaiting consent",
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Refused(_) => "refused",
        JobState::Failed(_) => "failed",
    }
}

/// One of a recipient's private outputs, reconstructed and checked against the ledger.
#[derive(Clone, Debug, Serialize)]
pub struct ReceivedOutput {
    /// What the values are.
    pub name: String,
    /// One label per value.
    pub labels: Vec<String>,
    /// The values (fixed point decoded).
    pub values: Vec<f64>,
    /// The same as integers, when the output is integral.
    pub integers: Option<Vec<i128>>,
    /// The openings of the ledger's commitments (keep them to prove what you received).
    pub openings: Vec<Opening>,
}

/// Fetches `identity`'s outputs of `job` from every reachable worker (at least `t + 1`),
/// reconstructs them here, and checks each against its commitment in the outcome entry of the
/// verified `chain` (`entries` is the chain's content).
pub async fn fetch_outputs(
    cluster: &Cluster,
    identity: &Identity,
    name: &str,
    job: &JobInfo,
    entries: &[Entry],
    chain: &VerifiedChain,
) -> Result<Vec<ReceivedOutput>> {
    let height = job
        .outcome_height
        .ok_or_else(|| anyhow!("job {} has no outcome on the ledger yet", job.id))?;
    let entry = entries
        .get(height as usize)
        .filter(|e| chain.hash(height) == Some(e.hash()))
        .ok_or_else(|| anyhow!("the ledger has no verified entry at height {height}"))?;
    let EntryBody::JobOutcome(outcome) = &entry.body else {
        bail!(
            "the ledger entry at height {height} is not job {}'s outcome",
            job.id
        );
    };
    let params = cluster.roster.params();
    let mut answers: Vec<(PartyId, Vec<OutputShares>)> = Vec::new();
    let mut problems = Vec::new();
    for w in &cluster.roster.workers {
        let peer = format!("worker {}", w.id);
        let got = async {
            let c = ApiClient::connect(identity, w.address, w.key, &peer).await?;
            let r = c.call(&Request::FetchOutputs { job: job.id }).await;
            close_soon(c).await;
            r
        }
        .await;
        match got {
            Ok(Response::Outputs(outputs)) => answers.push((PartyId(w.id), outputs)),
            Ok(Response::Error { message, .. }) => problems.push(format!("{peer}: {message}")),
            Ok(other) => problems.push(format!("{peer}: unexpected {other:?}")),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if answers.len() < params.t() + 1 {
        bail!(
            "only {} workers gave their shares of job {}'s outputs; {} are needed: {}",
            answers.len(),
            job.id,
            params.t() + 1,
            problems.join("; ")
        );
    }
    let first = &answers[0].1;
    for (p, a) in &answers[1..] {
        if a.len() != first.len()
            || a.iter()
                .zip(first)
                .any(|(x, y)| x.name != y.name || x.labels != y.labels)
        {
            bail!(
                "worker {} lists other outputs of job {} than worker {}",
                p.0,
                job.id,
                answers[0].0.0
            );
        }
    }
    let parties: Vec<PartyId> = answers.iter().map(|(p, _)| *p).collect();
    let mut received = Vec::new();
    for (k, out) in first.iter().enumerate() {
        let len = out.values.len() / Fr::BYTES;
        let decode = |pick: fn(&OutputShares) -> &Vec<u8>| -> Result<Vec<Fr>> {
            let columns: Vec<Vec<Fr>> = answers
                .iter()
                .map(|(p, a)| {
                    mpc::net::codec::decode(pick(&a[k]), len, *p).map_err(|e| anyhow!("{e}"))
                })
                .collect::<Result<_>>()?;
            let refs: Vec<&[Fr]> = columns.iter().map(|c| c.as_slice()).collect();
            interpolator_reconstruct(&parties, &refs, params.t())
        };
        let values = decode(|o| &o.values)?;
        let blindings = decode(|o| &o.blindings)?;
        let mut openings = Vec::with_capacity(len);
        for (i, (v, r)) in values.iter().zip(&blindings).enumerate() {
            let label = output_name(name, &out.name, &out.labels, i);
            let committed = outcome
                .outputs
                .iter()
                .find(|o| o.name == label)
                .ok_or_else(|| {
                    anyhow!("the ledger records no output {label:?} for job {}", job.id)
                })?;
            let opening = Opening::new(*v, *r);
            if !committed.commitment.verify(&opening) {
                bail!(
                    "output {label:?} of job {} does not open the ledger's commitment: a worker sent a wrong share",
                    job.id
                );
            }
            openings.push(opening);
        }
        let integers: Option<Vec<i128>> = values.iter().map(|v| v.to_i128()).collect();
        let scale = (out.frac > 0).then(|| (out.frac as i32).min(120));
        let floats = match (&integers, scale) {
            (Some(ints), Some(f)) => ints.iter().map(|&x| x as f64 / 2f64.powi(f)).collect(),
            (Some(ints), None) => ints.iter().map(|&x| x as f64).collect(),
            (None, _) => bail!(
                "output {} of job {} is not a number in range",
                out.name,
                job.id
            ),
        };
        received.push(ReceivedOutput {
            name: out.name.clone(),
            labels: out.labels.clone(),
            values: floats,
            integers: if out.frac == 0 { integers } else { None },
            openings,
        });
    }
    Ok(received)
}

/// Reconstructs degree-`t` sharings from every worker's shares, checking that the extra
/// shares lie on the same polynomial. The check's random point comes from a fresh secret seed,
/// so a worker cannot craft shares that pass it.
pub(crate) fn interpolator_reconstruct(
    parties: &[PartyId],
    shares: &[&[Fr]],
    t: usize,
) -> Result<Vec<Fr>> {
    mpc::shamir::Interpolator::seeded(rand::random())
        .reconstruct(parties, shares, t, true)
        .context("reconstructing (a worker's share is off the polynomial)")
}

/// The ledger record of `identity`'s committed dataset `name`, signed by the owner: its
/// schema enters as the salted commitment the workers recompute from the text uploaded
/// ([`schema_text`], [`protocols::schema_commitment`]).
pub fn dataset_record(
    identity: &Identity,
    name: &str,
    table: &protocols::dataset::Table,
) -> coordinator::ledger::DatasetCommitted {
    let text = schema_text(identity, name, &table.schema);
    let commitment = protocols::schema_commitment::commitment(&text, name)
        .expect("a schema this client wrote parses");
    coordinator::ledger::DatasetCommitted::signed(
        identity,
        name,
        table.rows() as u64,
        coordinator::ledger::Hash256(commitment),
    )
}

/// The schema text `identity` uploads for its dataset `name`: the schema under the owner's
/// salt for that name (derived from its secret key, so the same on every run).
pub fn schema_text(identity: &Identity, name: &str, schema: &protocols::dataset::Schema) -> String {
    use protocols::schema_commitment::{SALT_MESSAGE, salt, salted_text};
    let signature = identity.sign(SALT_MESSAGE);
    salted_text(schema, &salt(signature.as_bytes(), name))
}
