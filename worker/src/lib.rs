//! The Quorate worker node: it holds datasets as secret shares, computes jobs jointly with the
//! other workers over the QUIC mesh, and signs ledger entries.
//!
//! - [`store`]: the crash-safe two-phase share store (redb);
//! - [`admission`]: which jobs, runs and commits the worker accepts, against its ledger replica;
//! - [`service`]: control-plane requests in, responses out, without IO: it routes and
//!   authorizes every request by its [`Caller`](coordinator::roster::Caller);
//! - [`executor`]: running one job (policies checked, own shares loaded, protocol on the mesh);
//! - [`jobs`]: what the worker keeps of a finished job, and its side of the ledger;
//! - [`attempts`]: the job attempt running here, cancelled by a newer one;
//! - [`memory`]: a running job's measured memory, and the cap that fails it;
//! - [`replica`]: the ledger replica and what this worker signs (one entry per height);
//! - [`mesh`]: this worker's place in the QUIC mesh of workers, re-formed when it breaks;
//! - [`node`]: the process: control plane on QUIC, the mesh, reload and shutdown;
//! - [`config`]: the worker's configuration file.

#![forbid(unsafe_code)]

pub mod admission;
pub mod admission_budget;
pub mod attempts;
pub mod config;
pub mod executor;
pub mod jobs;
pub mod memory;
pub mod mesh;
pub mod node;
pub mod replica;
pub mod service;
pub mod store;
