//! The Quorate control plane: the wire protocol between clients, the coordinator and workers
//! ([`api`]); the roster, jobs and the ledger follow. The coordinator never sees a share.

#![forbid(unsafe_code)]

pub mod api;
