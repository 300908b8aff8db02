//! The Quorate worker node: it holds datasets as secret shares, computes jobs jointly with the
//! other workers over the QUIC mesh, and signs ledger entries.
//!
//! - [`store`]: the crash-safe two-phase share store (redb);
//! - [`service`]: control-plane requests in, responses out, without IO;
//! - [`node`]: the process: control plane on QUIC, the mesh, reload and shutdown;
//! - [`config`]: the worker's configuration file.

#![forbid(unsafe_code)]

pub mod attempts;
pub mod config;
pub mod executor;
pub mod jobs;
pub mod mesh;
pub mod node;
pub mod service;
pub mod store;
