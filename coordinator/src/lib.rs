//! The Quorate control plane: the roster, jobs and their scheduling, and the ledger.
//!
//! - [`api`]: the wire protocol between clients, the coordinator and workers;
//! - [`ledger`]: the hash chain of signed entries (format, append, verify);
//! - [`keys`]: Ed25519 identities, public keys and signatures as the ledger uses them.
//!
//! Pure logic apart from [`ledger::file`], which owns the ledger's file, and the async frame
//! helpers of [`api`]: no clocks (times are passed in). The coordinator never sees a share.

#![forbid(unsafe_code)]

pub mod api;
pub mod keys;
pub mod ledger;
pub mod roster;
pub mod transport;
