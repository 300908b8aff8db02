//! The worker's copy of the ledger (`<data dir>/ledger/entries.qlg`) and what it signs.
//!
//! A worker never signs two different entries at one height: before a signature leaves, the
//! (height, hash) it covers is written to `<data dir>/ledger/signed` and `fsync`ed, and a
//! request to sign another entry at that height (or below it) is refused, naming the height —
//! across restarts too. An entry is signed only if it extends the replica's head
//! ([`ledger::sign_if_extends`]) and its body is one this worker can vouch for:
//! - a submitted job: its clients signed it and may ask for it ([`admission::check_submission`]);
//! - a job outcome: of a submitted job, at most one per job ([`admission::check_outcome`]); a
//!   `Done` outcome must equal the one this worker's own report makes ([`job_outcome`]); a
//!   failed or refused outcome may not name this worker when its last attempt of the job
//!   completed here (`crate::jobs::supersede` forgets the record of an older attempt);
//! - a dataset record: this worker holds that dataset (sealed by its owner, or current) with
//!   those rows and that schema; once the entry is on the replica, the sealed upload becomes
//!   current ([`Replica::publish_recorded`]), never before;
//! - a genesis: exactly the roster this worker is configured with.
//!
//! A fresh replica takes its genesis only if it records exactly the configured roster and is
//! signed by a quorum of it, so a forged genesis (another set of workers) is refused.
//!
//! What this module does not do: decide whether a job may run or finish (the service asks
//! [`crate::admission`] through [`Replica::admit`]), or talk to anyone.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use coordinator::api::{ErrorKind, Response};
use coordinator::attempt::named_workers;
use coordinator::keys::Identity;
use coordinator::ledger::file::LEDGER_DIR;
use coordinator::ledger::verify::check_genesis;
use coordinator::ledger::{self, DatasetCommitted, Entry, EntryBody, Hash256, JobStatus, Ledger};
use coordinator::outcome::job_outcome;
use coordinator::roster::ClusterRoster;
use serde::{Deserialize, Serialize};

use crate::admission;
use crate::jobs::stored;
use crate::store::{DatasetRecord, ShareStore};

/// The file, in the ledger folder, holding the last (height, hash) this worker signed.
pub const SIGNED_FILE: &str = "signed";

/// The last entry this worker signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash256,
}

struct Held {
    ledger: Option<Ledger>,
    signed: Option<Signed>,
}

/// The worker's ledger replica and signer.
pub struct Replica {
    data_dir: PathBuf,
    me: u16,
    identity: Identity,
    held: Mutex<Held>,
}

fn signed_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LEDGER_DIR).join(SIGNED_FILE)
}

/// Why a worker's ledger replica could not be opened ([`Replica::open`]).
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The replica's ledger file is unreadable or does not verify against the roster.
    #[error(transparent)]
    Ledger(#[from] coordinator::ledger::LedgerError),
    /// The record of the last signature does not decode.
    #[error("{}: corrupt record of the last signature: {source}", path.display())]
    CorruptSigned {
        /// The record's file.
        path: PathBuf,
        /// The decoder's error.
        source: postcard::Error,
    },
    /// The record of the last signature could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The record's file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Replica {
    /// Opens the replica of worker `me` under `data_dir` (none yet before genesis) with the
    /// record of what it last signed. A replica that does not verify against the roster, or a
    /// corrupt record, is refused, naming it.
    pub fn open(
        data_dir: PathBuf,
        me: u16,
        identity: Identity,
        roster: &ClusterRoster,
    ) -> Result<Self, ReplicaError> {
        let ledger = if Ledger::path_in(&data_dir).exists() {
            Some(Ledger::open(&data_dir, &roster.ledger_roster())?)
        } else {
            None
        };
        let path = signed_path(&data_dir);
        let signed = match std::fs::read(&path) {
            Ok(bytes) => Some(
                postcard::from_bytes(&bytes)
                    .map_err(|source| ReplicaError::CorruptSigned { path, source })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ReplicaError::Io { path, source }),
        };
        Ok(Replica {
            data_dir,
            me,
            identity,
            held: Mutex::new(Held { ledger, signed }),
        })
    }

    /// The replica's head height (`None` before genesis).
    pub fn height(&self) -> Option<u64> {
        let held = self.held.lock().expect("replica lock");
        held.ledger.as_ref().map(|l| l.head().height)
    }

    /// Calls `f` with the replica's entries (none before genesis), under its lock: the job
    /// admission checks of [`crate::admission`] run on them.
    pub fn admit<T>(&self, f: impl FnOnce(&[Entry]) -> T) -> T {
        let held = self.held.lock().expect("replica lock");
        f(held.ledger.as_ref().map_or(&[][..], |l| l.entries()))
    }

    /// The replica's entries from height `from` on, at most one page
    /// ([`ledger::DEFAULT_PAGE_BYTES`], never empty while entries remain), for a coordinator
    /// catching up its ledger.
    pub fn entries_from(&self, from: u64) -> Response {
        let held = self.held.lock().expect("replica lock");
        let entries = held.ledger.as_ref().map_or(&[][..], |l| l.entries());
        Response::Entries(ledger::page(entries, from, ledger::DEFAULT_PAGE_BYTES).to_vec())
    }

    /// The last entry this worker signed.
    pub fn last_signed(&self) -> Option<Signed> {
        self.held.lock().expect("replica lock").signed
    }

    /// Signs `entry` if this worker may (see the module doc): [`Response::Signature`],
    /// [`Response::Behind`] when the replica lacks entries the candidate builds on, or a
    /// `Forbidden` error naming the height and the reason.
    pub fn sign(&self, roster: &ClusterRoster, store: &ShareStore, entry: &Entry) -> Response {
        let mut held = self.held.lock().expect("replica lock");
        let me = self.me;
        let refuse = |m: String| {
            Response::error(
                ErrorKind::Forbidden,
                format!(
                    "worker {me} refuses the entry at height {}: {m}",
                    entry.height
                ),
            )
        };
        let hash = entry.hash();
        if let Some(s) = held.signed {
            if entry.height < s.height || (entry.height == s.height && hash != s.hash) {
                return refuse(format!(
                    "it already signed another entry at height {} ({}): a worker signs one entry per height",
                    s.height,
                    &s.hash.to_string()[..16]
                ));
            }
        }
        let signature = match held.ledger.as_ref() {
            None if entry.height == 0 => {
                ledger::sign_genesis(&self.identity, me, &roster.ledger_roster(), entry)
            }
            None => return Response::Behind { height: None },
            Some(l) => {
                let head = l.head();
                if entry.height > head.height + 1 {
                    return Response::Behind {
                        height: Some(head.height),
                    };
                }
                if let Err(reason) = check_body(me, roster, store, l.entries(), &entry.body) {
                    return refuse(reason.to_string());
                }
                ledger::sign_if_extends(&self.identity, me, &head, entry)
            }
        };
        let signature = match signature {
            Ok(s) => s,
            Err(e) => return Response::error(ErrorKind::Forbidden, e.to_string()),
        };
        let now = Signed {
            height: entry.height,
            hash,
        };
        if held.signed != Some(now) {
            if let Err(e) = write_signed(&self.data_dir, &now) {
                return Response::error(
                    ErrorKind::Internal,
                    format!("worker {me} cannot record its signature durably: {e}"),
                );
            }
            held.signed = Some(now);
        }
        Response::Signature(signature)
    }

    /// Appends fully signed entries, skipping those already held. A genesis is taken only if
    /// it records exactly the configured `roster` (and is signed by a quorum of it).
    pub fn append(&self, roster: &ClusterRoster, entries: Vec<Entry>) -> Response {
        let mut held = self.held.lock().expect("replica lock");
        for entry in entries {
            match held.ledger.as_mut() {
                None if entry.height == 0 => {
                    if let Err(e) = check_genesis(&entry, &roster.ledger_roster()) {
                        return Response::error(
                            ErrorKind::Forbidden,
                            format!(
                                "worker {}: this genesis is not the configured roster's: {e}",
                                self.me
                            ),
                        );
                    }
                    match Ledger::create(&self.data_dir, entry) {
                        Ok(l) => held.ledger = Some(l),
                        Err(e) => return Response::error(ErrorKind::BadRequest, e.to_string()),
                    }
                }
                None => {
                    return Response::error(
                        ErrorKind::BadRequest,
                        format!("entry {} before any genesis", entry.height),
                    );
                }
                Some(l) if entry.height <= l.head().height => {
                    let held = &l.entries()[entry.height as usize];
                    if held.hash() != entry.hash() {
                        return Response::error(
                            ErrorKind::Conflict,
                            format!(
                                "entry {} differs from the one this replica holds",
                                entry.height
                            ),
                        );
                    }
                }
                Some(l) => {
                    if let Err(e) = l.append(entry) {
                        return Response::error(ErrorKind::BadRequest, e.to_string());
                    }
                }
            }
        }
        Response::Ok
    }
}

/// Writes the last signed (height, hash) durably: a temporary file, `fsync`, rename, `fsync`
/// of the folder.
fn write_signed(data_dir: &Path, signed: &Signed) -> std::io::Result<()> {
    let path = signed_path(data_dir);
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut file = coordinator::files::create_private(&tmp)?;
        file.write_all(&postcard::to_allocvec(signed).expect("records encode"))?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A body this worker can vouch for (see the module doc), given the chain it holds.
fn check_body(
    me: u16,
    roster: &ClusterRoster,
    store: &ShareStore,
    chain: &[Entry],
    body: &EntryBody,
) -> Result<(), Unvouched> {
    match body {
        EntryBody::JobOutcome(outcome) => {
            admission::check_outcome(chain, outcome)?;
            let record = stored(store, outcome.job)?;
            match (&outcome.status, record) {
                (JobStatus::Done, Some(record)) => {
                    let mine =
                        job_outcome(outcome.job, JobStatus::Done, Some(&record.report), roster)?;
                    if &mine != outcome {
                        return Err(Unvouched::OtherOutputs { job: outcome.job });
                    }
                    Ok(())
                }
                (JobStatus::Done, None) => Err(Unvouched::NoResult { job: outcome.job }),
                // Its last attempt here completed: an end that blames this worker is not what
                // it saw.
                (JobStatus::Failed { reason } | JobStatus::Refused { reason }, Some(record))
                    if named_workers(reason).contains(&me) =>
                {
                    Err(Unvouched::WronglyBlamed {
                        job: outcome.job,
                        me,
                        reason: reason.clone(),
                        session: record.session,
                    })
                }
                _ => Ok(()),
            }
        }
        EntryBody::DatasetCommitted(d) => {
            let owner = roster
                .client_by_key(&d.owner)
                .ok_or(Unvouched::UnknownOwner)?;
            let key = format!("{owner}/{}", d.name);
            // The upload its owner sealed here (crate::store::Sealed), else the current one.
            let record = match store.sealed_of(&key)? {
                Some(sealed) => sealed.record,
                None => store.get(&key)?,
            };
            records(&record, d)
        }
        EntryBody::JobSubmitted(job) => Ok(admission::check_submission(roster, chain, job)?),
        EntryBody::Genesis(_) => Ok(()),
    }
}

/// Why this worker does not vouch for an entry's body ([`check_body`]); sent to the
/// coordinator as the text of a `Forbidden` answer.
#[derive(Debug, thiserror::Error)]
enum Unvouched {
    /// What admission refuses (a job not submitted, an outcome twice, ...).
    #[error("{0}")]
    Admission(#[from] admission::Admission),
    /// The job's record here cannot be read.
    #[error(transparent)]
    Record(#[from] crate::jobs::JobRecordError),
    /// The report kept here does not make an outcome.
    #[error(transparent)]
    Outcome(#[from] coordinator::outcome::OutcomeError),
    /// The outcome's outputs are not what this worker computed.
    #[error("job {job}'s outputs differ from what this worker computed")]
    OtherOutputs {
        /// The job.
        job: u64,
    },
    /// The outcome says done, but this worker holds no result.
    #[error("job {job} has no result here")]
    NoResult {
        /// The job.
        job: u64,
    },
    /// The outcome blames this worker for an attempt it completed.
    #[error(
        "job {job}'s outcome says worker {me} failed or refused it ({reason}), but worker {me} completed it (session {session})"
    )]
    WronglyBlamed {
        /// The job.
        job: u64,
        /// This worker.
        me: u16,
        /// The outcome's reason.
        reason: String,
        /// The session of the attempt that completed here.
        session: u64,
    },
    /// The dataset's owner is not a registered client.
    #[error("the dataset's owner is not registered")]
    UnknownOwner,
    /// The share store failed or lacks the dataset.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The stored schema does not parse.
    #[error(transparent)]
    Schema(#[from] protocols::dataset::DatasetError),
    /// The dataset here differs from the entry's record.
    #[error("{dataset} here has {rows} rows and another schema or row count than recorded")]
    Differs {
        /// `owner/name`.
        dataset: String,
        /// Rows held here.
        rows: u64,
    },
}

/// Whether `d` records `record` (its rows and schema).
fn records(record: &DatasetRecord, d: &DatasetCommitted) -> Result<(), Unvouched> {
    let schema = protocols::schema_commitment::commitment(&record.schema, &record.key())?;
    if record.rows != d.rows || schema != d.schema_hash.0 {
        return Err(Unvouched::Differs {
            dataset: record.key(),
            rows: record.rows,
        });
    }
    Ok(())
}

impl Replica {
    /// Makes current every upload its owner sealed whose `DatasetCommitted` entry this replica
    /// now holds (after the seal, with its rows and schema: [`crate::store::Sealed`]); returns
    /// their keys. Called after every append and at start.
    pub fn publish_recorded(
        &self,
        roster: &ClusterRoster,
        store: &ShareStore,
    ) -> Result<Vec<String>, String> {
        let sealed = store.sealed().map_err(|e| e.to_string())?;
        if sealed.is_empty() {
            return Ok(Vec::new());
        }
        let recorded: Vec<_> = self.admit(|chain| {
            sealed
                .into_iter()
                .filter(|s| {
                    let after = chain.get(s.from_height as usize..).unwrap_or_default();
                    after.iter().any(|e| match &e.body {
                        EntryBody::DatasetCommitted(d) => {
                            roster.client_by_key(&d.owner) == Some(s.record.owner.as_str())
                                && d.name == s.record.name
                                && records(&s.record, d).is_ok()
                        }
                        _ => false,
                    })
                })
                .collect()
        });
        let mut published = Vec::new();
        for s in recorded {
            match store.commit(&s.record.upload) {
                Ok(_) => {}
                // Published by a concurrent append of the same entry.
                Err(crate::store::StoreError::NoUpload(_)) => continue,
                Err(e) => return Err(e.to_string()),
            }
            tracing::info!(worker = self.me, dataset = %s.key, rows = s.record.rows, "dataset current: its ledger entry is on this replica");
            published.push(s.key);
        }
        Ok(published)
    }
}
