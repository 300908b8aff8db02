//! What a ledger entry says: its place in the chain (height, previous hash, time), its body
//! (the roster at genesis, a committed dataset, a submitted job, a job's outcome), and the
//! workers' signatures over its hash.
//!
//! The hash of an entry is `SHA-256(ENTRY_HASH_DOMAIN || postcard(height, prev, time, body))`
//! — signatures excluded, so workers sign one fixed digest and signatures can be gathered in
//! any order. A worker signs `SIGNATURE_DOMAIN || hash`; a dataset owner signs
//! `DATASET_DOMAIN || postcard(owner, name, rows, schema_hash)`. The body's enum tag is part
//! of the hashed encoding, so the kind of an entry ([`Entry::kind`]) is hashed and signed
//! without being stored twice.
//!
//! This module defines and encodes; it checks nothing about a chain (that is
//! [`super::verify`](mod@super::verify)) and touches no file (that is [`super::file`]).

use mpc::{Commitment, Opening};
use serde::{Deserialize, Serialize};

use super::job::JobSubmitted;
use crate::keys::{Identity, PublicKey, Signature};

/// Prefix of the hashed encoding of an entry.
pub const ENTRY_HASH_DOMAIN: &[u8] = b"quorate/ledger/entry-hash/v1";
/// Prefix of the message a worker signs: this, then the entry's 32-byte hash.
pub const SIGNATURE_DOMAIN: &[u8] = b"quorate/ledger/worker-signature/v1";
/// Prefix of the message a dataset owner signs: this, then the postcard encoding of
/// `(owner, name, rows, schema_hash)`.
pub const DATASET_DOMAIN: &[u8] = b"quorate/ledger/dataset-owner/v1";

pub use super::hash::{Hash256, JobId, WorkerId};

/// A worker as the roster lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterWorker {
    /// Its number, which is also its MPC party index.
    pub id: WorkerId,
    /// Its key: the worker *is* this key.
    pub key: PublicKey,
    /// Where to reach it (`host:port`).
    pub address: String,
}

/// A client (a data owner, an analyst) as the roster lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterClient {
    /// A name for people.
    pub name: String,
    /// Its key.
    pub key: PublicKey,
}

/// Who takes part: the body of the genesis entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// The workers.
    pub workers: Vec<RosterWorker>,
    /// `t`: no `t` workers learn anything, and every entry needs `t + 1` worker signatures.
    pub threshold: u16,
    /// The coordinator's key.
    pub coordinator: PublicKey,
    /// The registered clients.
    pub clients: Vec<RosterClient>,
}

impl Roster {
    /// Signatures an entry needs: `t + 1`.
    pub fn quorum(&self) -> usize {
        self.threshold as usize + 1
    }

    /// The worker numbered `id`.
    pub fn worker(&self, id: WorkerId) -> Option<&RosterWorker> {
        self.workers.iter().find(|w| w.id == id)
    }

    /// Checks the roster makes sense: `1 <= t`, `2t < n`, distinct worker ids and keys,
    /// distinct client names.
    pub fn validate(&self) -> Result<(), RosterProblem> {
        let (n, t) = (self.workers.len(), self.threshold as usize);
        if t == 0 || 2 * t >= n {
            return Err(RosterProblem::Threshold { t, n });
        }
        for (i, w) in self.workers.iter().enumerate() {
            if let Some(other) = self.workers[..i].iter().find(|o| o.id == w.id) {
                return Err(RosterProblem::WorkerTwice(other.id));
            }
            if self.workers[..i].iter().any(|o| o.key == w.key) {
                return Err(RosterProblem::KeyTwice {
                    worker: w.id,
                    key: w.key,
                });
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            if self.clients[..i].iter().any(|o| o.name == c.name) {
                return Err(RosterProblem::ClientTwice(c.name.clone()));
            }
        }
        Ok(())
    }
}

/// Why a ledger roster cannot be used ([`Roster::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterProblem {
    /// The threshold does not give an honest majority.
    #[error("threshold t={t} with n={n} workers: need 1 <= t and 2t < n")]
    Threshold {
        /// The threshold.
        t: usize,
        /// The number of workers.
        n: usize,
    },
    /// Two workers have one id.
    #[error("worker id {0} appears twice")]
    WorkerTwice(WorkerId),
    /// Two workers have one key.
    #[error("worker {worker}'s key {key} appears twice")]
    KeyTwice {
        /// The later worker.
        worker: WorkerId,
        /// The key.
        key: PublicKey,
    },
    /// Two clients have one name.
    #[error("client name {0:?} appears twice")]
    ClientTwice(String),
    /// The roster does not list this worker with this worker's key (signing a genesis).
    #[error("it does not list worker {0} with this worker's key")]
    NotListed(WorkerId),
}

/// A dataset every worker has committed to its store, with its owner's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetCommitted {
    /// The owner's key.
    pub owner: PublicKey,
    /// The dataset's name.
    pub name: String,
    /// Number of rows.
    pub rows: u64,
    /// Hash of the dataset's schema.
    pub schema_hash: Hash256,
    /// The owner's signature over the four fields above ([`DatasetCommitted::signed_message`]).
    pub owner_signature: Signature,
}

impl DatasetCommitted {
    /// The body, signed by `owner`.
    pub fn signed(owner: &Identity, name: &str, rows: u64, schema_hash: Hash256) -> Self {
        let owner_key = owner.public_key();
        let message = dataset_message(&owner_key, name, rows, &schema_hash);
        DatasetCommitted {
            owner: owner_key,
            name: name.to_owned(),
            rows,
            schema_hash,
            owner_signature: owner.sign(&message),
        }
    }

    /// What the owner signs.
    pub fn signed_message(&self) -> Vec<u8> {
        dataset_message(&self.owner, &self.name, self.rows, &self.schema_hash)
    }

    /// Whether the owner's signature verifies.
    pub fn owner_signature_valid(&self) -> bool {
        self.owner
            .verify(&self.signed_message(), &self.owner_signature)
            .is_ok()
    }
}

fn dataset_message(owner: &PublicKey, name: &str, rows: u64, schema: &Hash256) -> Vec<u8> {
    let mut out = DATASET_DOMAIN.to_vec();
    postcard::to_io(&(owner, name, rows, schema), &mut out).expect("writing to a Vec");
    out
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// It ran; its outputs are listed.
    Done,
    /// It started and failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// A worker refused it (a policy, a missing dataset) before computing.
    Refused {
        /// Why, naming the dataset and the clause.
        reason: String,
    },
}

/// One output of a job: committed to on the ledger, delivered to its recipients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutput {
    /// The output's name in the job's spec.
    pub name: String,
    /// Pedersen commitment to the value.
    pub commitment: Commitment,
    /// Who may reconstruct it.
    pub recipients: Vec<PublicKey>,
    /// For a public output, the opening itself, so anyone can read and check it.
    pub public: Option<Opening>,
}

/// The end of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The job's number.
    pub job: JobId,
    /// How it ended.
    pub status: JobStatus,
    /// Its outputs (none unless [`JobStatus::Done`]).
    pub outputs: Vec<JobOutput>,
}

impl JobOutcome {
    /// Checks the outcome is well formed: outputs only when done, distinct output names,
    /// every public opening matches its commitment.
    pub fn check(&self) -> Result<(), OutcomeProblem> {
        if self.status != JobStatus::Done && !self.outputs.is_empty() {
            return Err(OutcomeProblem::OutputsOfUnfinished {
                job: self.job,
                outputs: self.outputs.len(),
            });
        }
        for (i, out) in self.outputs.iter().enumerate() {
            if self.outputs[..i].iter().any(|o| o.name == out.name) {
                return Err(OutcomeProblem::OutputTwice(out.name.clone()));
            }
            if let Some(opening) = &out.public {
                if !out.commitment.verify(opening) {
                    return Err(OutcomeProblem::OpeningMismatch {
                        index: i,
                        name: out.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Why a job outcome is malformed ([`JobOutcome::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeProblem {
    /// Outputs listed for a job that did not complete.
    #[error("job {job} did not complete but lists {outputs} outputs")]
    OutputsOfUnfinished {
        /// The job.
        job: JobId,
        /// How many outputs it lists.
        outputs: usize,
    },
    /// Two outputs have one name.
    #[error("output name {0:?} appears twice")]
    OutputTwice(String),
    /// A public output's opening does not match its commitment.
    #[error("public output {index} ({name:?}) does not open its commitment")]
    OpeningMismatch {
        /// Its position.
        index: usize,
        /// Its name.
        name: String,
    },
}

/// What an entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryBody {
    /// The first entry: who takes part.
    Genesis(Roster),
    /// A dataset was stored by every worker.
    DatasetCommitted(DatasetCommitted),
    /// A job was accepted: its client-signed request ([`super::job`]).
    JobSubmitted(JobSubmitted),
    /// A job ended.
    JobOutcome(JobOutcome),
}

/// The kind of an entry, without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// [`EntryBody::Genesis`].
    Genesis,
    /// [`EntryBody::DatasetCommitted`].
    DatasetCommitted,
    /// [`EntryBody::JobSubmitted`].
    JobSubmitted,
    /// [`EntryBody::JobOutcome`].
    JobOutcome,
}

impl EntryBody {
    /// The kind of this body.
    pub fn kind(&self) -> EntryKind {
        match self {
            EntryBody::Genesis(_) => EntryKind::Genesis,
            EntryBody::DatasetCommitted(_) => EntryKind::DatasetCommitted,
            EntryBody::JobSubmitted(_) => EntryKind::JobSubmitted,
            EntryBody::JobOutcome(_) => EntryKind::JobOutcome,
        }
    }
}

/// A worker's signature over an entry's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSignature {
    /// The signer.
    pub worker: WorkerId,
    /// Its signature over `SIGNATURE_DOMAIN || hash`.
    pub signature: Signature,
}

/// One link of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 0 (genesis).
    pub height: u64,
    /// Hash of the entry at `height - 1`; zero for genesis.
    pub prev: Hash256,
    /// Unix time in milliseconds, given by the coordinator; never decreases along the chain.
    pub time: u64,
    /// What the entry records.
    pub body: EntryBody,
    /// Workers' signatures over [`Entry::hash`]; at least `t + 1` from distinct workers.
    pub signatures: Vec<WorkerSignature>,
}

/// The fields an entry's hash covers, borrowed for encoding.
#[derive(Serialize)]
struct Hashed<'a> {
    height: u64,
    prev: &'a Hash256,
    time: u64,
    body: &'a EntryBody,
}

impl Entry {
    /// An unsigned genesis entry for `roster`.
    pub fn genesis(time: u64, roster: Roster) -> Entry {
        Entry {
            height: 0,
            prev: Hash256::ZERO,
            time,
            body: EntryBody::Genesis(roster),
            signatures: Vec::new(),
        }
    }

    /// An unsigned entry extending `head`.
    pub fn next(head: &Head, time: u64, body: EntryBody) -> Entry {
        Entry {
            height: head.height + 1,
            prev: head.hash,
            time,
            body,
            signatures: Vec::new(),
        }
    }

    /// The kind of entry.
    pub fn kind(&self) -> EntryKind {
        self.body.kind()
    }

    /// The hash of the entry, signatures excluded (see the module doc).
    pub fn hash(&self) -> Hash256 {
        let hashed = Hashed {
            height: self.height,
            prev: &self.prev,
            time: self.time,
            body: &self.body,
        };
        let bytes = postcard::to_allocvec(&hashed).expect("entries always encode");
        Hash256::of(ENTRY_HASH_DOMAIN, &bytes)
    }

    /// What a worker signs: `SIGNATURE_DOMAIN || hash`.
    pub fn signed_message(&self) -> Vec<u8> {
        signed_message(&self.hash())
    }

    /// Signs the entry as `worker` and adds the signature, with no checks: for building
    /// chains in tests and tools. A worker signs through [`super::sign_if_extends`].
    pub fn sign_as(&mut self, worker: WorkerId, identity: &Identity) {
        let signature = identity.sign(&self.signed_message());
        self.signatures.push(WorkerSignature { worker, signature });
    }
}

/// `SIGNATURE_DOMAIN || hash`.
pub(crate) fn signed_message(hash: &Hash256) -> Vec<u8> {
    [SIGNATURE_DOMAIN, &hash.0[..]].concat()
}

/// The end of a chain as a worker or a verifier holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Height of the last entry.
    pub height: u64,
    /// Its hash.
    pub hash: Hash256,
    /// Its time.
    pub time: u64,
}

impl Head {
    /// The head that `entry` makes.
    pub fn of(entry: &Entry) -> Head {
        Head {
            height: entry.height,
            hash: entry.hash(),
            time: entry.time,
        }
    }
}
