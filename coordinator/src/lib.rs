//! The Quorate control plane: the roster, jobs and their scheduling, and the ledger.
//!
//! - [`api`]: the wire protocol between clients, the coordinator and workers;
//! - [`ledger`]: the hash chain of signed entries (format, append, verify);
//! - [`files`]: data folders and files only this user may read;
//! - [`keys`]: Ed25519 identities, public keys and signatures as the ledger uses them;
//! - [`jobs`]: the coordinator's durable job queue;
//! - [`submit`]: what a client's signed job request does (a new job, or a firm's consent to a
//!   settlement round);
//! - [`outcome`]: the ledger entry a job's report makes (built by the coordinator, checked
//!   by every worker before it signs);
//! - [`attempt`]: a job's attempts and the mesh epoch they run in (retried when a worker
//!   left the mesh);
//! - [`machine`]: a job's dispatch as a pure state machine (attempts, deadline, retries in a
//!   new epoch, the job's end), driven by the node;
//! - [`quorum`]: a ledger entry's signature round as a pure state machine (final at `t + 1`);
//! - [`roster`]: the cluster's `roster.toml`, and which [`Caller`](roster::Caller) a key is;
//! - [`transport`]: the control plane on QUIC (pinned keys, one request per stream);
//! - [`node`]: the coordinator process (`quorate coordinator --config FILE`).
//!
//! The coordinator never sees a share: it queues jobs, hands them to the workers, compares
//! their reports (public values and commitments only) and writes the ledger.

#![forbid(unsafe_code)]

pub mod api;
pub mod attempt;
pub mod files;
pub mod jobs;
pub mod keys;
pub mod ledger;
pub mod machine;
pub mod node;
pub mod outcome;
pub mod quorum;
pub mod roster;
pub mod submit;
pub mod transport;
