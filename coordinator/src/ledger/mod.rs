//! The ledger: a hash chain of entries that makes every step of the network auditable
//! offline, against the roster of worker keys.
//!
//! An [`Entry`] has a height, the hash of the entry before it (zero for genesis), a time given
//! by the coordinator, a body ([`EntryBody`]: the roster at genesis, a committed dataset, a
//! submitted job, a job's outcome with Pedersen commitments to its outputs) and the signatures
//! of at least `t + 1` workers over its hash. A worker signs only an entry that extends the
//! head it holds ([`sign_if_extends`]), so honest workers never endorse a fork.
//!
//! - [`entry`]: the types, the canonical encoding and the hash and signing domains;
//! - [`verify`](mod@verify): chain verification against a trusted roster, naming the first bad height;
//! - [`job`]: a job's client-signed request and its `JobSubmitted` entry;
//! - [`sign`]: the worker's check-then-sign;
//! - [`pending`]: the candidate the coordinator is gathering signatures for, proposed again
//!   unchanged until appended; pages of entries;
//! - [`file`](mod@file): the append-only file (`<data dir>/ledger/entries.qlg`) with `fsync`ed appends
//!   and strict reading.
//!
//! Domains (each a byte-string prefix of what is hashed or signed):
//! - entry hash: `SHA-256("quorate/ledger/entry-hash/v1" || postcard(height, prev, time, body))`;
//! - worker signature: Ed25519 over `"quorate/ledger/worker-signature/v1" || entry hash`;
//! - dataset owner signature: Ed25519 over
//!   `"quorate/ledger/dataset-owner/v1" || postcard(owner, name, rows, schema_hash)`;
//! - job request (a client asking for a job, or a firm consenting to a settlement round):
//!   Ed25519 over `"quorate/ledger/job-request/v2" || postcard(spec, protocol, security, nonce)`;
//! - commitments: Pedersen with `H` from `"quorate/pedersen/H/v1"` ([`mpc::engine::commit`]).
//!
//! The ledger reads no clock (times are passed in) and opens no socket: gathering signatures
//! from workers is the coordinator's job loop, over the QUIC transport.

pub mod budget;
pub mod catchup;
pub mod entry;
pub mod file;
pub mod hash;
pub mod job;
pub mod pending;
pub mod sign;
pub mod verify;

pub use entry::{
    DATASET_DOMAIN, DatasetCommitted, ENTRY_HASH_DOMAIN, Entry, EntryBody, EntryKind, Hash256,
    Head, JobId, JobOutcome, JobOutput, JobStatus, OutcomeProblem, Roster, RosterClient,
    RosterProblem, RosterWorker, SIGNATURE_DOMAIN, WorkerId, WorkerSignature,
};
pub use file::{Ledger, LedgerError, parse_entries, read_entries};
pub use job::{
    ClientSignature, JOB_REQUEST_DOMAIN, JobRequest, JobSubmitted, RequestProblem, round_nonce,
};
pub use pending::{DEFAULT_PAGE_BYTES, Pending, page};
pub use sign::{Refusal, sign_genesis, sign_if_extends};
pub use verify::{Reason, VerifiedChain, VerifyError, verify, verify_opening};
