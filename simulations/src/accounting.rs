//! What a simulated party is charged and what it counts: the [`ComputeModel`] that advances
//! its virtual clock for local computation, and the [`PhaseStats`] of each named phase of its
//! run. Plain data shared by the endpoints ([`crate::sim_net`]), the world they share and the
//! reports; no behaviour of its own.

use mpc::net::NetStats;
use serde::{Deserialize, Serialize};

/// How local computation advances a party's virtual clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum ComputeModel {
    /// Computation is free: only the network takes time (the default; deterministic).
    #[default]
    None,
    /// A deterministic cost per message and per byte, charged on every send and receive.
    PerByte {
        /// Nanoseconds per message handled.
        #[serde(default)]
        ns_per_message: f64,
        /// Nanoseconds per payload byte handled.
        #[serde(default)]
        ns_per_byte: f64,
    },
    /// The wall time each poll of a party really took, times `scale`. Not reproducible: two
    /// runs with one seed give different virtual times.
    Measured {
        /// Multiplies the measured wall time (1.0 = this machine's speed).
        #[serde(default = "one")]
        scale: f64,
    },
}

fn one() -> f64 {
    1.0
}

/// Counters of one phase of one party's run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseStats {
    /// The phase's name, as the program declared it.
    pub name: String,
    /// Virtual instant the phase started at (ns).
    pub start_ns: u64,
    /// Virtual instant the phase ended at (ns).
    pub end_ns: u64,
    /// Bytes, messages and rounds of the phase.
    pub net: NetStats,
}
