//! [`Stepped`]: the engine as a job's [`Backend`], naming a phase of the simulated network
//! for each protocol step, so that a report gives every step its rounds, bytes per party and
//! virtual time.
//!
//! A step is a run of consecutive calls of one interactive primitive (`mul`, `lt`, `open`,
//! `prf_tags`, ...): the protocols batch independent work into one call, so a step is what the
//! protocol does at that point, and its phase is named `NN primitive` in call order
//! (`07 lt`). Every call is forwarded unchanged to [`mpc::Engine`]'s own `Backend`
//! implementation, so the job runs exactly the code the workers run.
//!
//! The same program runs over the in-memory network too ([`Phased`] names phases only where
//! the network counts them), which is how the simulator's own cost is measured against the
//! engine's (`examples/job_speed.rs`).
//!
//! What this module does not do: run jobs or know what they compute (see [`super`]).

use mpc::net::Network;
use mpc::net::memory::MemoryNetwork;
use mpc::{Engine, PartyId, Result};
use protocols::backend::{Backend, Secret};

use crate::sim_net::SimNetwork;

/// A network a job's phases can be named on (a no-op where nothing is counted per phase).
pub trait Phased: Network {
    /// Starts the phase `name`.
    fn phase(&self, _name: &str) {}
}

impl Phased for SimNetwork {
    fn phase(&self, name: &str) {
        self.set_phase(name);
    }
}

impl Phased for MemoryNetwork {}

/// The engine of one party, naming a phase per protocol step.
pub struct Stepped<N: Phased> {
    /// The wrapped engine.
    pub engine: Engine<N>,
    current: Option<&'static str>,
    steps: usize,
}

impl<N: Phased> Stepped<N> {
    /// Wraps `engine`; the first interactive call starts step `01`.
    pub fn new(engine: Engine<N>) -> Self {
        Stepped {
            engine,
            current: None,
            steps: 0,
        }
    }

    /// The number of steps so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    fn step(&mut self, primitive: &'static str) {
        if self.current != Some(primitive) {
            self.current = Some(primitive);
            self.steps += 1;
            self.engine
                .network()
                .phase(&format!("{:02} {primitive}", self.steps));
        }
    }
}

impl<N: Phased> Backend for Stepped<N> {
    fn constant(&self, values: &[i128]) -> Result<Secret> {
        Backend::constant(&self.engine, values)
    }
    async fn mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.step("mul");
        Backend::mul(&mut self.engine, a, b).await
    }
    async fn dot(&mut self, a: &Secret, b: &Secret, width: usize) -> Result<Secret> {
        self.step("dot");
        Backend::dot(&mut self.engine, a, b, width).await
    }
    async fn fx_mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.step("fx_mul");
        Backend::fx_mul(&mut self.engine, a, b).await
    }
    async fn trunc(&mut self, a: &Secret, m: u32) -> Result<Secret> {
        self.step("trunc");
        Backend::trunc(&mut self.engine, a, m).await
    }
    async fn select(&mut self, c: &Secret, a: &Secret, b: &Secret) -> Result<Secret> {
        self.step("select");
        Backend::select(&mut self.engine, c, a, b).await
    }
    async fn lt(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.step("lt");
        Backend::lt(&mut self.engine, a, b).await
    }
    async fn le(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.step("le");
        Backend::le(&mut self.engine, a, b).await
    }
    async fn eq(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.step("eq");
        Backend::eq(&mut self.engine, a, b).await
    }
    async fn fx_div(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.step("fx_div");
        Backend::fx_div(&mut self.engine, a, b).await
    }
    async fn fx_sqrt(&mut self, x: &Secret) -> Result<Secret> {
        self.step("fx_sqrt");
        Backend::fx_sqrt(&mut self.engine, x).await
    }
    async fn bit_decompose(&mut self, x: &Secret) -> Result<Vec<Secret>> {
        self.step("bit_decompose");
        Backend::bit_decompose(&mut self.engine, x).await
    }
    fn binary_selection(&self) -> bool {
        Backend::binary_selection(&self.engine)
    }
    async fn select_ranks(
        &mut self,
        x: &Secret,
        members: &Secret,
        ranks: &Secret,
    ) -> Result<Secret> {
        self.step("select_ranks");
        Backend::select_ranks(&mut self.engine, x, members, ranks).await
    }
    async fn one_hot(&mut self, g: &Secret, groups: usize) -> Result<Secret> {
        self.step("one_hot");
        Backend::one_hot(&mut self.engine, g, groups).await
    }
    async fn random_bits(&mut self, len: usize) -> Result<Secret> {
        self.step("random_bits");
        Backend::random_bits(&mut self.engine, len).await
    }
    async fn random_masks(&mut self, len: usize, bits: u32) -> Result<Secret> {
        self.step("random_masks");
        Backend::random_masks(&mut self.engine, len, bits).await
    }
    async fn open(&mut self, a: &Secret) -> Result<Vec<i128>> {
        self.step("open");
        Backend::open(&mut self.engine, a).await
    }
    async fn open_to(&mut self, a: &Secret, to: PartyId) -> Result<Option<Vec<i128>>> {
        self.step("open_to");
        Backend::open_to(&mut self.engine, a, to).await
    }
    async fn prf_tags(&mut self, x: &Secret) -> Result<Vec<[u8; 32]>> {
        self.step("prf_tags");
        Backend::prf_tags(&mut self.engine, x).await
    }
    fn checks_inputs(&self) -> bool {
        Backend::checks_inputs(&self.engine)
    }
    async fn check_inputs(&mut self, inputs: &[mpc::OwnerInput<'_, mpc::Fr>]) -> Result<()> {
        self.step("check_inputs");
        Backend::check_inputs(&mut self.engine, inputs).await
    }
    async fn agree_all(&mut self, claims: &[bool]) -> Result<Vec<bool>> {
        self.step("agree_all");
        Backend::agree_all(&mut self.engine, claims).await
    }
    async fn all_zero(&mut self, x: &Secret, groups: &[usize]) -> Result<Vec<bool>> {
        self.step("all_zero");
        Backend::all_zero(&mut self.engine, x, groups).await
    }
}
