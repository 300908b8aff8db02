//! What Quorate users compute: statistics, matching and settlement, written against
//! [`backend::Backend`] so that one protocol function runs on the MPC engine, in the clear (the
//! reference for tests) and under a counter.
//!
//! Protocol code never opens a socket, a file or a clock; it sees the other parties only through
//! the backend. Datasets and policies ([`dataset`], [`policy`]) are plain data: parsing a CSV
//! and checking a policy are pure functions. [`stats`] answers SQL questions over the union of
//! every owner's rows (`quorate query`); [`matching`] runs sealed-bid auctions, limit-order
//! books and record matching; [`settlement`] nets firms' secret obligations against their
//! secret balances and writes the new balances back (`quorate run JOB.toml`).

#![forbid(unsafe_code)]

pub mod backend;
pub mod catalog;
pub mod dataset;
pub mod matching;
pub mod outcome;
pub mod policy;
pub mod settlement;
pub mod stats;

pub use backend::{Backend, Clear, Counting, Secret};
