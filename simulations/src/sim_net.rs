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
use mpc::net::{NetError, Network, Round};

pub use crate::accounting::{ComputeModel, PhaseStats};
use crate::world::World;

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
