//! [`SimNetwork`]: the engine's [`Network`] over a discrete-event model of links, in virtual
//! time.
//!
//! Every endpoint of a run shares one world (the private `world` module): per directed link a FIFO
//! queue of messages stamped with their virtual arrival time, per party a local clock, the
//! message it waits for and its counters, and the timed events the executor
//! ([`crate::executor`]) jumps virtual time between. An endpoint only forwards the engine's
//! sends and receives to it, and lets the program name phases and read its clock.
//!
//! A party's clock is the virtual instant it is at: it starts a poll at the global time and
//! advances by the modelled compute cost of what it sends and receives (zero by default, see
//! [`ComputeModel`]).
//!
//! What this module does not do: the bookkeeping of links, clocks and events
//! (the private `world` module), the run loop ([`crate::executor`]), link delays ([`crate::link`]) or
//! fault times ([`crate::faults`]).

use bytes::Bytes;
use std::sync::{Arc, Mutex, MutexGuard};

use mpc::PartyId;
use mpc::net::{NetError, NetStats, Network, Round};
use serde::{Deserialize, Serialize};

use crate::world::World;

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

/// One party's endpoint of a simulated session.
pub struct SimNetwork {
    me: PartyId,
    n: usize,
    world: Arc<Mutex<World>>,
}

impl SimNetwork {
    pub(crate) fn new(me: PartyId, n: usize, world: Arc<Mutex<World>>) -> Self {
        SimNetwork { me, n, world }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This party's virtual clock, in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.world().parties[self.me.index()].clock
    }

    /// Starts a named phase: bytes, messages, rounds and time are counted per phase from here.
    pub fn set_phase(&self, name: &str) {
        self.world().set_phase(self.me.0, name);
    }
}

impl Network for SimNetwork {
    fn me(&self) -> PartyId {
        self.me
    }

    fn parties(&self) -> usize {
        self.n
    }

    fn send(&mut self, to: PartyId, round: Round, payload: Bytes) -> Result<(), NetError> {
        self.world().send(self.me.0, to, round, payload)
    }

    async fn recv(&mut self, from: PartyId, round: Round) -> Result<Bytes, NetError> {
        let me = self.me.0;
        std::future::poll_fn(|_| self.world().try_recv(me, from, round)).await
    }
}
