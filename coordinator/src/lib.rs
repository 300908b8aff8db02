//! The Quorate control plane: the roster, jobs and their scheduling, and the ledger.
//!
//! - [`ledger`]: the hash chain of signed entries (format, append, verify);
//! - [`keys`]: Ed25519 identities, public keys and signatures as the ledger uses them.
//!
//! Pure logic apart from [`ledger::file`], which owns the ledger's file: no clocks (times are
//! passed in), no sockets.

#![forbid(unsafe_code)]

pub mod keys;
pub mod ledger;
