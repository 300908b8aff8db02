//! Simulations of Quorate's MPC engine in virtual time.
//!
//! The real engine code (`mpc::Engine`) runs for every party in one thread over
//! [`sim_net::SimNetwork`], a discrete-event model of the links between them: latency and
//! jitter, bandwidth with queueing, loss as retransmission delay ([`link`]), and scheduled
//! crashes, partitions and slow parties ([`faults`]). The [`executor`] polls the parties in a
//! fixed order and jumps virtual time from event to event, so a 100 ms link costs no real
//! 100 ms.
//!
//! **Determinism.** A seed fixes the whole run: the inputs, every party's randomness, every
//! jitter and loss draw. Two runs with one seed give byte-identical reports, except the
//! wall-clock figures, which are kept in separate fields and files. (The optional
//! [`sim_net::ComputeModel::Measured`] puts wall time into virtual time and gives that up.)
//!
//! Entry points: [`run_scenario_file`] for one TOML [`scenario`], [`run_bench`] for the
//! research matrix of operations and jobs × parties × protocols × networks ([`mod@bench`]). A
//! scenario runs one batched engine operation ([`workload`]) or any job of the catalog through
//! the workers' own dispatch ([`job`]), over preset links or measured sites ([`sites`]).
//! Results are checked against the plaintext computation (a job: the same job on the `Clear`
//! backend), written as JSON and CSV per run, party and phase ([`report`]) and drawn as SVG
//! ([`plot`]).
//!
//! What this crate does not do: open sockets, or run anything but the engine's own code; the
//! QUIC transport and real clusters live elsewhere.

#![forbid(unsafe_code)]

pub mod accounting;
pub mod bench;
pub mod executor;
pub mod faults;
pub mod job;
pub mod link;
pub mod plot;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sim_net;
pub mod sites;
pub mod workload;
mod world;

use std::path::{Path, PathBuf};

pub use bench::{BenchOptions, BenchReport, run_bench};
pub use executor::{SimConfig, run_session};
pub use report::{Report, RunReport};
pub use scenario::Scenario;
pub use sim_net::SimNetwork;
pub use workload::Op;

/// What can go wrong around a simulation (the simulated parties' own failures are not
/// errors: they are outcomes in the report).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A scenario file does not parse or is invalid (the reason gives line and column).
    #[error("scenario {}: {reason}", path.display())]
    Scenario {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: scenario::ScenarioError,
    },
    /// A scenario built in code is invalid.
    #[error("scenario '{scenario}': {reason}")]
    Invalid {
        /// Its name.
        scenario: String,
        /// What is wrong.
        reason: scenario::ScenarioError,
    },
    /// A scenario's job cannot be prepared: no job, no data, or no clear reference.
    #[error("scenario '{scenario}': {source}")]
    Job {
        /// Its name.
        scenario: String,
        /// What is wrong.
        source: job::JobWorkloadError,
    },
    /// An output could not be produced.
    #[error("writing {}: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// What failed: the CSV or JSON writer's error, or the plotting library's (whose
        /// error type differs by drawing backend, hence boxed).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The engine refused to start (bad parameters).
    #[error(transparent)]
    Engine(#[from] mpc::MpcError),
}

/// Result of this crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;

/// Runs the scenario in `path` (with its seed replaced by `seed_override`, if given); writes
/// the report's files and plots into `out_dir`, if given.
pub fn run_scenario_file(
    path: &Path,
    out_dir: Option<&Path>,
    seed_override: Option<u64>,
) -> Result<Report> {
    let mut scenario = Scenario::load(path)?;
    if let Some(seed) = seed_override {
        scenario.seed = seed;
    }
    let report = runner::run_scenario(&scenario)?;
    if let Some(dir) = out_dir {
        report.write(dir)?;
        plot::scenario_plots(&report, dir)?;
    }
    Ok(report)
}
