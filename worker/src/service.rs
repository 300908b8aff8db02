//! The worker's request handling, apart from IO: one place that routes and authorizes every
//! control-plane request. The node authenticates the connection, turns the key into a
//! [`Caller`] ([`ClusterRoster::caller`]: the coordinator, worker `i` or a registered client —
//! never a name the request claims), reads a frame and calls [`Service::handle`]; everything
//! that decides lives here and is tested without a socket. The one request the node drives
//! itself is a job's run on the mesh ([`Handled::RunJob`]), after this service allowed it.
//!
//! Who may do what (the rules of `TRUST.md`):
//! - anyone on the roster: `Ping`, `ListDatasets`;
//! - a registered client: uploads of its own datasets, keyed `owner/upload-id` so that no
//!   client can begin, extend, prepare, commit, abort or read another's upload; reading back
//!   its own datasets' shares; fetching its own private outputs;
//! - the coordinator only: `RunJob`, `SignEntry`, `AppendEntries`, `FinishJob`, and
//!   `LedgerEntries` (the replica's entries, for the coordinator catching up); a run and a
//!   finish further pass [`crate::admission`] against the ledger replica (`check_run`: the
//!   job's client-signed `JobSubmitted` entry is there; `check_finish`: a commit only after
//!   the job's `Done` outcome is there);
//! - everything else is refused with `Forbidden`, naming the caller and the request.
//!
//! An upload that is neither committed nor aborted expires after the configured time
//! ([`DEFAULT_UPLOAD_EXPIRY`] by default), counted from its `UploadBegin` (or from the worker's
//! start, for uploads found staged then): [`Service::expire_uploads`] drops it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use coordinator::api::{DatasetInfo, ErrorKind, Request, Response, UploadHeader};
use coordinator::ledger::Entry;
use coordinator::roster::{Caller, ClusterRoster};
use protocols::catalog::JobSpec;
use protocols::dataset::Schema;
use protocols::policy::Policy;

use crate::admission::{Admission, check_finish, check_run};
use crate::replica::Replica;
use crate::store::{DatasetRecord, ShareStore, StoreError};

/// The most rows a dataset may have.
pub const MAX_ROWS: u64 = 100_000_000;
/// The most columns a dataset may have.
pub const MAX_COLUMNS: u32 = 1024;
/// How long an upload may stay unfinished before the worker drops it: one hour.
pub const DEFAULT_UPLOAD_EXPIRY: Duration = Duration::from_secs(3600);

/// A job the coordinator asked this worker to run, allowed and parsed: the node runs it on
/// the mesh.
#[derive(Debug)]
pub struct JobCall {
    /// The job's id.
    pub job: u64,
    /// The mesh session of this attempt.
    pub session: u64,
    /// The mesh epoch the coordinator chose for it (`crate::mesh`).
    pub mesh: u64,
    /// The job's specification.
    pub spec: JobSpec,
    /// The multiplication protocol.
    pub protocol: mpc::MulProtocol,
    /// The security level of the engine session.
    pub security: mpc::SecurityLevel,
}

/// What the service made of a request.
#[derive(Debug)]
pub enum Handled {
    /// The answer.
    Done(Response),
    /// An allowed job run, for the node to drive over the mesh.
    RunJob(JobCall),
}

/// The worker's ledger side: its replica, and the roster entries are checked against.
struct LedgerSide {
    replica: Replica,
    roster: Arc<RwLock<ClusterRoster>>,
}

/// A worker's request handler.
pub struct Service {
    name: String,
    store: ShareStore,
    ledger: Option<LedgerSide>,
    /// Staging key → when its upload began (or was first seen), for expiry.
    uploads: Mutex<HashMap<String, Instant>>,
    upload_expiry: Duration,
    /// Privacy budget spends of admitted jobs not yet on the ledger.
    reservations: crate::admission_budget::Reservations,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn store_error(e: StoreError) -> Response {
    let kind = match &e {
        StoreError::Exists(_) | StoreError::UploadExists(_) | StoreError::Busy { .. } => {
            ErrorKind::Conflict
        }
        StoreError::NoDataset(_) | StoreError::NoUpload(_) | StoreError::NotRecorded(_) => {
            ErrorKind::NotFound
        }
        StoreError::BadChunk { .. } => ErrorKind::BadRequest,
        StoreError::Db(_)
        | StoreError::Dir { .. }
        | StoreError::Damaged { .. }
        | StoreError::DamagedPanic { .. }
        | StoreError::Corrupt(_) => ErrorKind::Internal,
    };
    Response::error(kind, e.to_string())
}

fn ok_or(r: Result<(), Response>) -> Response {
    r.map_or_else(|e| e, |()| Response::Ok)
}

/// A request's name, for refusals.
fn request_name(r: &Request) -> &'static str {
    match r {
        Request::Ping => "Ping",
        Request::UploadBegin(_) => "UploadBegin",
        Request::UploadChunk { .. } => "UploadChunk",
        Request::UploadPrepare { .. } => "UploadPrepare",
        Request::UploadCommit { .. } => "UploadCommit",
        Request::UploadAbort { .. } => "UploadAbort",
        Request::ListDatasets => "ListDatasets",
        Request::ReadShares { .. } => "ReadShares",
        Request::RunJob { .. } => "RunJob",
        Request::FinishJob { .. } => "FinishJob",
        Request::SignEntry(_) => "SignEntry",
        Request::AppendEntries(_) => "AppendEntries",
        Request::FetchOutputs { .. } => "FetchOutputs",
        Request::SubmitJob { .. } => "SubmitJob",
        Request::GetJob { .. } => "GetJob",
        Request::WaitJob { .. } => "WaitJob",
        Request::ListJobs { .. } => "ListJobs",
        Request::RecordDataset(_) => "RecordDataset",
        Request::LedgerEntries { .. } => "LedgerEntries",
    }
}

impl Service {
    /// A handler named `name` (the worker's id, for messages) over `store`, with no ledger
    /// replica (ledger requests are answered with an error) and the default upload expiry.
    pub fn new(name: impl Into<String>, store: ShareStore) -> Self {
        Service {
            name: name.into(),
            store,
            ledger: None,
            uploads: Mutex::new(HashMap::new()),
            upload_expiry: DEFAULT_UPLOAD_EXPIRY,
            reservations: Default::default(),
        }
    }

    /// This service with the worker's ledger replica, checking entries against `roster`.
    pub fn with_ledger(mut self, replica: Replica, roster: Arc<RwLock<ClusterRoster>>) -> Self {
        // Seals whose entry arrived just before a restart are published now.
        self.publish_recorded(&replica, &roster.read().expect("roster lock"));
        self.ledger = Some(LedgerSide { replica, roster });
        self
    }

    fn publish_recorded(&self, replica: &Replica, roster: &ClusterRoster) {
        if let Err(e) = replica.publish_recorded(roster, &self.store) {
            tracing::error!(worker = %self.name, "making recorded datasets current: {e}");
        }
    }

    /// This service with uploads expiring after `expiry`.
    pub fn with_upload_expiry(mut self, expiry: Duration) -> Self {
        self.upload_expiry = expiry;
        self
    }

    /// The share store.
    pub fn store(&self) -> &ShareStore {
        &self.store
    }

    /// The privacy budget reservations of jobs admitted here ([`crate::admission_budget`]).
    pub fn reservations(&self) -> &crate::admission_budget::Reservations {
        &self.reservations
    }

    /// The ledger replica, if this service has one.
    pub fn replica(&self) -> Option<&Replica> {
        self.ledger.as_ref().map(|l| &l.replica)
    }

    /// At startup: aborts the uploads left unprepared by a restart (their client saw the
    /// failure); prepared ones are kept, as two-phase commit requires, until they expire.
    /// Returns how many were aborted.
    pub fn recover(&self) -> Result<usize, StoreError> {
        let mut aborted = 0;
        for staged in self.store.staged_uploads()? {
            if !staged.prepared {
                self.store.abort(&staged.upload)?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// Drops every client upload begun more than the expiry before `now` and not finished;
    /// returns how many. (An upload found staged that this service has not seen begin counts
    /// from the first call that sees it.)
    pub fn expire_uploads(&self, now: Instant) -> Result<usize, StoreError> {
        let staged = self.store.staged_uploads()?;
        let mut expired = Vec::new();
        {
            let mut uploads = self.uploads.lock().expect("uploads lock");
            uploads.retain(|key, _| staged.iter().any(|r| &r.upload == key));
            for r in staged.iter().filter(|r| r.upload.contains('/')) {
                let began = *uploads.entry(r.upload.clone()).or_insert(now);
                if now.saturating_duration_since(began) > self.upload_expiry {
                    expired.push(r.upload.clone());
                }
            }
            for key in &expired {
                uploads.remove(key);
            }
        }
        for key in &expired {
            self.store.abort(key)?;
        }
        Ok(expired.len())
    }

    /// Routes and authorizes one request from `caller` (see the module doc).
    pub fn handle(&self, caller: &Caller, request: Request) -> Handled {
        let forbidden = |who: &str| {
            Handled::Done(Response::error(
                ErrorKind::Forbidden,
                format!("{caller} may not send {}: {who}", request_name(&request)),
            ))
        };
        match (caller, &request) {
            (_, Request::Ping) => {
                return Handled::Done(Response::Pong {
                    name: self.name.clone(),
                });
            }
            (_, Request::ListDatasets) => return Handled::Done(self.list(caller)),
            (
                _,
                Request::SubmitJob { .. }
                | Request::GetJob { .. }
                | Request::WaitJob { .. }
                | Request::ListJobs { .. }
                | Request::RecordDataset(_)
                | Request::LedgerEntries { .. },
            ) if !(matches!(caller, Caller::Coordinator)
                && matches!(request, Request::LedgerEntries { .. })) =>
            {
                return Handled::Done(Response::error(
                    ErrorKind::BadRequest,
                    "jobs and the ledger are the coordinator's: send this to the coordinator",
                ));
            }
            (
                Caller::Coordinator,
                Request::RunJob { .. }
                | Request::LedgerEntries { .. }
                | Request::SignEntry(_)
                | Request::AppendEntries(_)
                | Request::FinishJob { .. },
            ) => {}
            (
                _,
                Request::RunJob { .. }
                | Request::SignEntry(_)
                | Request::AppendEntries(_)
                | Request::FinishJob { .. },
            ) => {
                return forbidden(
                    "only the coordinator runs jobs, writes the ledger and finishes jobs",
                );
            }
            (Caller::Client { .. }, _) => {}
            (_, _) => {
                return forbidden(
                    "only a registered client uploads, reads back and fetches its own data",
                );
            }
        }
        match (caller, request) {
            (
                _,
                Request::RunJob {
                    job,
                    session,
                    mesh,
                    spec,
                    protocol,
                    security,
                },
            ) => match self.admit(|c| check_run(c, job, &spec, protocol, security).map(|_| ())) {
                Err(refusal) => Handled::Done(refusal),
                Ok(()) => match JobSpec::from_toml(&spec)
                    .map_err(|e| (ErrorKind::BadRequest, e.to_string()))
                    .and_then(|spec| {
                        // The record of an older attempt here no longer stands (crate::jobs::supersede).
                        crate::jobs::supersede(&self.store, job, session)
                            .map_err(|e| (ErrorKind::Internal, e.to_string()))?;
                        Ok(spec)
                    }) {
                    Ok(spec) => Handled::RunJob(JobCall {
                        job,
                        session,
                        mesh,
                        spec,
                        protocol,
                        security,
                    }),
                    Err((kind, e)) => {
                        Handled::Done(Response::error(kind, format!("job {job}: {e}")))
                    }
                },
            },
            (
                _,
                Request::FinishJob {
                    job,
                    session,
                    commit,
                },
            ) => Handled::Done(match self.admit(|c| check_finish(c, job, commit)) {
                Err(refusal) => refusal,
                Ok(()) => crate::jobs::finish(&self.store, job, session, commit),
            }),
            (_, Request::SignEntry(entry)) => {
                Handled::Done(self.with_replica(|r, roster| r.sign(roster, &self.store, &entry)))
            }
            (_, Request::LedgerEntries { from }) => {
                Handled::Done(self.with_replica(|r, _| r.entries_from(from)))
            }
            (_, Request::AppendEntries(entries)) => {
                Handled::Done(self.with_replica(|r, roster| {
                    let appended = r.append(roster, entries);
                    self.publish_recorded(r, roster);
                    appended
                }))
            }
            (Caller::Client { name }, request) => Handled::Done(self.client_request(name, request)),
            (_, _) => unreachable!("refused above"),
        }
    }

    /// Runs a job-admission check ([`crate::admission`]) against the replica's entries;
    /// a refusal is the answer to send. Without a replica nothing is admitted.
    fn admit(&self, check: impl FnOnce(&[Entry]) -> Result<(), Admission>) -> Result<(), Response> {
        match &self.ledger {
            Some(l) => l.replica.admit(check).map_err(Admission::response),
            None => Err(Response::error(
                ErrorKind::Forbidden,
                format!("{} keeps no ledger replica: it admits no job", self.name),
            )),
        }
    }

    fn with_replica(&self, f: impl FnOnce(&Replica, &ClusterRoster) -> Response) -> Response {
        match &self.ledger {
            Some(l) => {
                let roster = l.roster.read().expect("roster lock").clone();
                f(&l.replica, &roster)
            }
            None => Response::error(
                ErrorKind::Internal,
                format!("{} keeps no ledger replica", self.name),
            ),
        }
    }

    /// Every committed dataset; another owner's schema with its categorical domains and salt
    /// withheld ([`protocols::schema_commitment::withheld`]).
    fn list(&self, caller: &Caller) -> Response {
        use coordinator::ledger::budget;
        let spending = self
            .replica()
            .map(|r| r.admit(budget::spending))
            .unwrap_or_default();
        match self.store.list() {
            Ok(list) => Response::Datasets(
                list.into_iter()
                    .map(|r| {
                        let key = r.key();
                        let policy = Policy::from_toml(&r.policy).unwrap_or_default();
                        let budget = policy.epsilon_budget.map(|b| {
                            let spent = spending.get(&key).map_or(0, |(units, _)| *units);
                            ((b * budget::UNITS_PER_EPSILON).floor() as u64, spent)
                        });
                        let schema = match caller {
                            Caller::Client { name } if *name == r.owner => r.schema,
                            _ => protocols::schema_commitment::withheld(&r.schema),
                        };
                        DatasetInfo {
                            owner: r.owner,
                            name: r.name,
                            rows: r.rows,
                            columns: r.columns,
                            schema,
                            budget,
                        }
                    })
                    .collect(),
            ),
            Err(e) => store_error(e),
        }
    }

    /// A registered client's own uploads, read-backs and outputs.
    fn client_request(&self, owner: &str, request: Request) -> Response {
        match request {
            Request::UploadBegin(header) => self.begin(owner, header),
            Request::UploadChunk {
                upload,
                column,
                chunk,
                shares,
            } => ok_or(self.owned_upload(owner, &upload).and_then(|r| {
                self.store
                    .put_chunk(&r.upload, column, chunk, &shares)
                    .map_err(store_error)
            })),
            Request::UploadPrepare { upload } => {
                ok_or(self.owned_upload(owner, &upload).and_then(|r| {
                    self.store
                        .prepare(&r.upload)
                        .map(|_| ())
                        .map_err(store_error)
                }))
            }
            Request::UploadCommit { upload } => match self.owned_upload(owner, &upload) {
                // With a ledger replica the upload is sealed: current once its ledger entry is
                // here (crate::store::Sealed). Without one (a bare service) at once.
                Ok(r) => match &self.ledger {
                    Some(l) => {
                        let from = l.replica.height().map_or(0, |h| h + 1);
                        match self.store.seal(&r.upload, from) {
                            Ok(record) => {
                                tracing::info!(worker = %self.name, dataset = %record.key(), rows = record.rows, "dataset committed: current once its ledger entry arrives");
                                Response::Ok
                            }
                            Err(e) => store_error(e),
                        }
                    }
                    None => match self.store.commit(&r.upload) {
                        Ok(record) => {
                            self.forget(&r.upload);
                            tracing::info!(worker = %self.name, dataset = %record.key(), rows = record.rows, "dataset committed");
                            Response::Ok
                        }
                        Err(e) => store_error(e),
                    },
                },
                Err(e) => e,
            },
            Request::UploadAbort { upload } => match self.owned_upload(owner, &upload) {
                Ok(r) => {
                    self.forget(&r.upload);
                    self.store
                        .abort(&r.upload)
                        .map_or_else(store_error, |_| Response::Ok)
                }
                // Aborting what does not exist (any more) is fine: abort is idempotent.
                Err(Response::Error {
                    kind: ErrorKind::NotFound,
                    ..
                }) => Response::Ok,
                Err(e) => e,
            },
            Request::ReadShares { dataset, column } => {
                match self
                    .store
                    .read_column(&format!("{owner}/{dataset}"), column)
                {
                    Ok(shares) => Response::Shares(mpc::net::codec::encode(&shares).to_vec()),
                    Err(e) => store_error(e),
                }
            }
            Request::FetchOutputs { job } => crate::jobs::fetch(&self.store, owner, job),
            other => Response::error(
                ErrorKind::BadRequest,
                format!("a worker does not serve {}", request_name(&other)),
            ),
        }
    }

    fn forget(&self, key: &str) {
        self.uploads.lock().expect("uploads lock").remove(key);
    }

    fn begin(&self, owner: &str, h: UploadHeader) -> Response {
        let bad = |m: String| Response::error(ErrorKind::BadRequest, m);
        if !valid_name(&h.dataset) {
            return bad(format!(
                "dataset name '{}' must be 1-128 letters, digits, '-', '_' or '.'",
                h.dataset
            ));
        }
        if !valid_name(&h.upload) {
            return bad(format!("upload id '{}' is not valid", h.upload));
        }
        if h.columns == 0 || h.columns > MAX_COLUMNS {
            return bad(format!(
                "{} columns: a dataset has 1 to {MAX_COLUMNS} columns",
                h.columns
            ));
        }
        let schema = match Schema::from_toml(&h.schema, "upload schema") {
            Ok(s) => s,
            Err(e) => return bad(e.to_string()),
        };
        if schema.columns.len() != h.columns as usize {
            return bad(format!(
                "the schema has {} columns, the upload declares {}",
                schema.columns.len(),
                h.columns
            ));
        }
        if !h.policy.is_empty() {
            if let Err(e) = Policy::from_toml(&h.policy) {
                return bad(format!("policy: {e}"));
            }
        }
        if h.rows == 0 || h.rows > MAX_ROWS {
            return bad(format!(
                "{} rows: a dataset has 1 to {MAX_ROWS} rows",
                h.rows
            ));
        }
        let record = DatasetRecord {
            owner: owner.to_string(),
            name: h.dataset,
            schema: h.schema,
            policy: h.policy,
            rows: h.rows,
            columns: h.columns,
            // The owner is part of the key: no client can name another's upload.
            upload: format!("{owner}/{}", h.upload),
            replace: h.replace,
            prepared: false,
        };
        match self.store.begin(&record) {
            Ok(superseded) => {
                let mut uploads = self.uploads.lock().expect("uploads lock");
                for key in &superseded {
                    uploads.remove(key);
                }
                uploads.insert(record.upload.clone(), Instant::now());
                tracing::info!(worker = %self.name, dataset = %record.key(), rows = record.rows, superseded = superseded.len(), "upload begun");
                Response::Ok
            }
            Err(e) => store_error(e),
        }
    }

    /// The caller's staged upload `upload`.
    fn owned_upload(&self, owner: &str, upload: &str) -> Result<DatasetRecord, Response> {
        let key = format!("{owner}/{upload}");
        match self.store.staged_upload(&key).map_err(store_error)? {
            Some(r) if r.owner == owner => Ok(r),
            Some(_) => Err(Response::error(
                ErrorKind::Forbidden,
                format!("upload '{upload}' belongs to another client"),
            )),
            None => Err(Response::error(
                ErrorKind::NotFound,
                format!(
                    "no upload '{upload}' of {owner} in progress (never begun, or finished, aborted, superseded or expired)"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpc::{Field, Fr, Params};
    use rand::SeedableRng;

    const SCHEMA: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n";

    /// A worker's service over a store in a temporary folder (keep the folder).
    fn one_worker() -> (tempfile::TempDir, Service) {
        let dir = tempfile::tempdir().unwrap();
        let s = Service::new("w0", ShareStore::open(dir.path()).unwrap());
        (dir, s)
    }

    fn client(name: &str) -> Caller {
        Caller::Client { name: name.into() }
    }

    /// `who`'s request answered by `s` (a client, or `coordinator` for the coordinator).
    fn answer(s: &Service, who: &str, r: Request) -> Response {
        let caller = if who == "coordinator" {
            Caller::Coordinator
        } else {
            client(who)
        };
        match s.handle(&caller, r) {
            Handled::Done(r) => r,
            Handled::RunJob(call) => panic!("a job to run: {call:?}"),
        }
    }

    fn header(upload: &str, rows: u64) -> UploadHeader {
        UploadHeader {
            upload: upload.into(),
            dataset: "payroll".into(),
            schema: SCHEMA.into(),
            policy: String::new(),
            rows,
            columns: 1,
            replace: false,
        }
    }

    #[test]
    fn three_workers_store_shares_that_reconstruct() {
        let params = Params::new(3, 1).unwrap();
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let services: Vec<Service> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| Service::new(format!("w{i}"), ShareStore::open(d.path()).unwrap()))
            .collect();
        let values: Vec<i128> = (0..100).map(|i| i * 37 - 1000).collect();
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
        let shares = mpc::engine::share_ints::<Fr, _>(&values, 31, params, &mut rng).unwrap();
        for (w, s) in services.iter().enumerate() {
            assert_eq!(
                answer(s, "acme", Request::UploadBegin(header("u1", 100))),
                Response::Ok
            );
            let chunk = Request::UploadChunk {
                upload: "u1".into(),
                column: 0,
                chunk: 0,
                shares: mpc::net::codec::encode(&shares[w]).to_vec(),
            };
            // Another client cannot write into acme's upload: to it, there is none.
            assert!(matches!(
                answer(s, "mallory", chunk.clone()),
                Response::Error {
                    kind: ErrorKind::NotFound,
                    ..
                }
            ));
            assert_eq!(answer(s, "acme", chunk), Response::Ok);
            assert_eq!(
                answer(
                    s,
                    "acme",
                    Request::UploadPrepare {
                        upload: "u1".into()
                    }
                ),
                Response::Ok
            );
        }
        for s in &services {
            assert_eq!(
                answer(
                    s,
                    "acme",
                    Request::UploadCommit {
                        upload: "u1".into()
                    }
                ),
                Response::Ok
            );
        }
        let read: Vec<Vec<Fr>> = services
            .iter()
            .map(|s| {
                match answer(
                    s,
                    "acme",
                    Request::ReadShares {
                        dataset: "payroll".into(),
                        column: 0,
                    },
                ) {
                    Response::Shares(b) => {
                        mpc::net::codec::decode(&b, 100, mpc::PartyId(0)).unwrap()
                    }
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        for (i, &v) in values.iter().enumerate() {
            let pts: Vec<_> = (0..3)
                .map(|w| (mpc::PartyId(w as u16), read[w][i]))
                .collect();
            assert_eq!(
                mpc::shamir::reconstruct(&pts, 1).unwrap().to_i128(),
                Some(v)
            );
        }
        // Only the owner reads its shares back.
        assert!(matches!(
            answer(
                &services[0],
                "mallory",
                Request::ReadShares {
                    dataset: "payroll".into(),
                    column: 0
                }
            ),
            Response::Error {
                kind: ErrorKind::NotFound,
                ..
            }
        ));
    }

    #[test]
    fn bad_headers_are_refused_with_reasons() {
        let (_dir, ref s) = one_worker();
        let mut h = header("u1", 10);
        h.dataset = "../etc".into();
        assert!(matches!(
            answer(s, "acme", Request::UploadBegin(h)),
            Response::Error {
                kind: ErrorKind::BadRequest,
                ..
            }
        ));
        let mut h = header("u1", 10);
        h.columns = 2;
        match answer(s, "acme", Request::UploadBegin(h)) {
            Response::Error { message, .. } => assert!(message.contains("declares 2"), "{message}"),
            other => panic!("{other:?}"),
        }
        let mut h = header("u1", 10);
        h.policy = "min_ownerz = 2".into();
        assert!(matches!(
            answer(s, "acme", Request::UploadBegin(h)),
            Response::Error { .. }
        ));
        assert!(s.store().list().unwrap().is_empty());
        assert_eq!(
            answer(
                s,
                "acme",
                Request::UploadAbort {
                    upload: "nope".into()
                }
            ),
            Response::Ok
        );
    }

    fn error_kind(r: Response) -> (ErrorKind, String) {
        match r {
            Response::Error { kind, message } => (kind, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn chunk(upload: &str, rows: usize) -> Request {
        let values: Vec<Fr> = (0..rows).map(|i| Fr::from_i128(i as i128)).collect();
        Request::UploadChunk {
            upload: upload.into(),
            column: 0,
            chunk: 0,
            shares: mpc::net::codec::encode(&values).to_vec(),
        }
    }

    fn upload_id(id: &str) -> Request {
        Request::UploadPrepare { upload: id.into() }
    }

    /// The hijack of issue 13: mallory, who learned acme's upload id, begins an upload under
    /// it (committed or still staged) and tries to prepare, commit and read it back as her own
    /// dataset, or to abort or overwrite acme's. Every step fails or touches only mallory's
    /// own (empty) upload; acme's dataset and upload are intact.
    #[test]
    fn an_upload_id_cannot_be_hijacked() {
        let (_dir, ref s) = one_worker();
        // acme's committed dataset, uploaded as u1.
        assert_eq!(
            answer(s, "acme", Request::UploadBegin(header("u1", 10))),
            Response::Ok
        );
        assert_eq!(answer(s, "acme", chunk("u1", 10)), Response::Ok);
        assert_eq!(answer(s, "acme", upload_id("u1")), Response::Ok);
        assert_eq!(
            answer(
                s,
                "acme",
                Request::UploadCommit {
                    upload: "u1".into()
                }
            ),
            Response::Ok
        );
        let mut stolen = header("u1", 10);
        stolen.dataset = "stolen".into();
        // Mallory's u1 is hers alone: it holds none of acme's chunks.
        assert_eq!(
            answer(s, "mallory", Request::UploadBegin(stolen)),
            Response::Ok
        );
        let (kind, msg) = error_kind(answer(s, "mallory", upload_id("u1")));
        assert_eq!(kind, ErrorKind::BadRequest, "{msg}");
        assert!(msg.contains("missing"), "{msg}");
        let (kind, _) = error_kind(answer(
            s,
            "mallory",
            Request::UploadCommit {
                upload: "u1".into(),
            },
        ));
        assert_eq!(kind, ErrorKind::BadRequest);
        for dataset in ["stolen", "payroll"] {
            let (kind, _) = error_kind(answer(
                s,
                "mallory",
                Request::ReadShares {
                    dataset: dataset.into(),
                    column: 0,
                },
            ));
            assert_eq!(kind, ErrorKind::NotFound);
        }
        // A staged upload of acme's: mallory can neither take it over nor abort it.
        assert_eq!(
            answer(
                s,
                "acme",
                Request::UploadBegin({
                    let mut h = header("u2", 10);
                    h.replace = true;
                    h
                })
            ),
            Response::Ok
        );
        assert_eq!(
            answer(
                s,
                "mallory",
                Request::UploadAbort {
                    upload: "u2".into()
                }
            ),
            Response::Ok
        );
        let (kind, _) = error_kind(answer(s, "mallory", chunk("u2", 10)));
        assert_eq!(kind, ErrorKind::NotFound);
        assert_eq!(answer(s, "acme", chunk("u2", 10)), Response::Ok);
        assert_eq!(answer(s, "acme", upload_id("u2")), Response::Ok);
        assert_eq!(
            answer(
                s,
                "acme",
                Request::UploadCommit {
                    upload: "u2".into()
                }
            ),
            Response::Ok
        );
        assert!(matches!(
            answer(
                s,
                "acme",
                Request::ReadShares {
                    dataset: "payroll".into(),
                    column: 0
                }
            ),
            Response::Shares(_)
        ));
        // An id in use is refused to its own owner too.
        let mut again = header("u2", 10);
        again.replace = true;
        let (kind, msg) = error_kind(answer(s, "acme", Request::UploadBegin(again)));
        assert_eq!(kind, ErrorKind::Conflict, "{msg}");
        assert!(msg.contains("choose a fresh upload id"), "{msg}");
    }

    /// Five uploads of one dataset name begun at once: one proceeds, the others are refused
    /// naming the conflict (without --replace).
    #[test]
    fn concurrent_uploads_of_one_name_are_refused() {
        let (_dir, ref s) = one_worker();
        let ids = ["a", "b", "c", "d", "e"];
        let begun: Vec<Response> = ids
            .iter()
            .map(|id| answer(s, "acme", Request::UploadBegin(header(id, 10))))
            .collect();
        assert_eq!(begun[0], Response::Ok);
        for r in &begun[1..] {
            let (kind, msg) = error_kind(r.clone());
            assert_eq!(kind, ErrorKind::Conflict);
            assert!(
                msg.contains("acme/payroll") && msg.contains("in progress"),
                "{msg}"
            );
        }
        // Another owner's dataset of the same name is another dataset.
        assert_eq!(
            answer(s, "beta", Request::UploadBegin(header("a", 10))),
            Response::Ok
        );
    }

    /// An unfinished upload, prepared or not, is dropped once it is older than the expiry.
    #[test]
    fn unfinished_uploads_expire() {
        let (_dir, s) = one_worker();
        let s = &s.with_upload_expiry(std::time::Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(
            answer(s, "acme", Request::UploadBegin(header("u1", 10))),
            Response::Ok
        );
        assert_eq!(answer(s, "acme", chunk("u1", 10)), Response::Ok);
        assert_eq!(answer(s, "acme", upload_id("u1")), Response::Ok);
        let mut other = header("u2", 10);
        other.dataset = "other".into();
        assert_eq!(answer(s, "acme", Request::UploadBegin(other)), Response::Ok);
        assert_eq!(
            s.expire_uploads(start + Duration::from_secs(30)).unwrap(),
            0
        );
        assert_eq!(
            s.expire_uploads(start + Duration::from_secs(61)).unwrap(),
            2
        );
        assert!(s.store().staged_uploads().unwrap().is_empty());
        let (kind, msg) = error_kind(answer(
            s,
            "acme",
            Request::UploadCommit {
                upload: "u1".into(),
            },
        ));
        assert_eq!(kind, ErrorKind::NotFound, "{msg}");
        assert!(msg.contains("expired"), "{msg}");
    }

    #[test]
    fn column_counts_are_bounded() {
        let (_dir, ref s) = one_worker();
        let mut h = header("u1", 10);
        h.columns = MAX_COLUMNS + 1;
        let (kind, msg) = error_kind(answer(s, "acme", Request::UploadBegin(h)));
        assert_eq!(kind, ErrorKind::BadRequest);
        assert!(msg.contains("1 to 1024 columns"), "{msg}");
    }
}
