//! The `quorate` command line and the client side of the protocol: a data owner's machine
//! shares its values locally and sends each worker only its own shares; it reconstructs only
//! what it is entitled to.
//!
//! - [`cluster`]: a cluster's folder (roster, keys, node configs) and `cluster init`;
//! - [`client`]: connecting to workers, uploading datasets in two phases, reading them back;
//! - [`jobs`]: submitting jobs to the coordinator, fetching and checking private outputs;
//! - [`children`]: node processes started, watched and stopped (`cluster up`, the demo, tests);
//! - `cli`: the commands (private to the binary).

#![forbid(unsafe_code)]

pub mod children;
#[doc(hidden)]
pub mod cli;
pub mod client;
pub mod cluster;
pub mod demo;
pub mod jobs;

/// The multi-threaded runtime every command (and test) that talks to the network runs on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
