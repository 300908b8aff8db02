//! The Quorate worker node: it holds datasets as secret shares, computes jobs jointly with the
//! other workers over the QUIC mesh, and signs ledger entries.
//!
//! So far: [`store`], the crash-safe two-phase share store. The node's server, mesh and
//! executor follow with the QUIC transport.

#![forbid(unsafe_code)]

pub mod service;
pub mod store;
