//! [`Engine`]: one party's context for a secure computation.
//!
//! An engine owns a party's endpoint of the session's [`Network`], its RNG, its pool of
//! preprocessed randomness and its counters, and offers batched primitives: inputs, openings,
//! linear operations (on [`Shared`] itself, no communication), multiplication with a choice of
//! protocol, random sharings and bits, comparisons, fixed-point arithmetic and selection. Every
//! primitive takes a batch and costs a number of rounds that does not depend on its length.
//!
//! All parties of a session run the same sequence of engine calls (the same program, with
//! their own inputs); the engine numbers rounds so that a divergence is detected as a round
//! mismatch rather than silently mixing messages.
//!
//! What the engine does not do: open sockets, read files or clocks, or spawn tasks. The
//! transport behind [`Network`] does all of that, so the same code runs in memory, in the
//! simulator's virtual time, and over QUIC.
//!
//! Security is per session ([`SecurityLevel`]): semi-honest with an honest majority
//! (`2t < n`), or malicious with abort, where every product and random bit is checked before
//! any output is opened (`verify.rs`, after Chida et al. 2018), so protocols run unchanged
//! under both.

mod agree;
mod binary;
mod binary_grr;
mod bits;
mod bitslice;
pub mod commit;
mod compare;
mod decode;
mod div_sqrt;
mod div_sqrt_plan;
mod edabits;
mod fixed;
mod goldschmidt;
mod input;
mod linear;
mod mul;
mod one_hot;
mod open;
mod owner_inputs;
mod preprocess;
pub mod prf;
pub mod prss;
mod verify;

pub use commit::{Commitment, Opening};
pub use div_sqrt_plan::{INTEGER_FRAC, MAX_ROOT_BITS, quotient_facts, root_facts};
pub use input::{share_fixed, share_ints};
pub use mul::MulProtocol;
pub use owner_inputs::{OwnerInput, RULE_CONSISTENT, RULE_RANGE};
pub use preprocess::BitProtocol;
pub use verify::{CHECK_BASE, MAX_PENDING, MAX_PENDING_ANDS};

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

use crate::error::{MpcError, Result};
use crate::field::{Field, Fr};
use crate::net::codec;
use crate::net::metered::Metered;
use crate::net::{NetStats, Network, Round};
use crate::params::Params;
use crate::party::PartyId;
use crate::shamir::Interpolator;

/// Choices that every party of a session must make alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// The multiplication protocol. Default: DN07.
    pub mul: MulProtocol,
    /// Check, whenever more shares arrive than an opening needs, that they lie on one
    /// polynomial (detects corrupted shares; costs a few local multiplications). Default: on.
    pub check_openings: bool,
    /// How random bits are made. Default: XOR of dealt bits.
    #[serde(default)]
    pub bits: BitProtocol,
    /// How random sharings, masks, double sharings and comparisons' random bits are made.
    /// Default: [`Randomness::Prss`] (which itself falls back to dealt randomness when
    /// `C(n, t)` exceeds [`prss::MAX_SUBSETS`]).
    #[serde(default)]
    pub randomness: Randomness,
    /// Semi-honest, or malicious with abort ([`verify`]). Default: semi-honest.
    #[serde(default)]
    pub security: SecurityLevel,
}

/// The adversary a session is secure against (every party alike; see [`verify`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityLevel {
    /// Parties follow the protocol; up to `t` of them pool what they see (the default).
    #[default]
    SemiHonest,
    /// Up to `t` parties may deviate arbitrarily: every product and random bit is checked
    /// ([`verify`]) before any output is opened, and every opening uses all `n` shares with the
    /// consistency check; a deviation makes the session fail with
    /// [`MpcError::IntegrityCheckFailed`] (security with abort).
    Malicious,
}

impl std::str::FromStr for SecurityLevel {
    type Err = crate::error::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let choices = [
            ("semi-honest", SecurityLevel::SemiHonest),
            ("semihonest", SecurityLevel::SemiHonest),
            ("malicious", SecurityLevel::Malicious),
        ];
        let expected = "semi-honest or malicious";
        Self::Err::pick("security level", expected, &choices, &s.replace('_', "-"))
    }
}

impl std::fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecurityLevel::SemiHonest => "semi-honest",
            SecurityLevel::Malicious => "malicious",
        })
    }
}

/// Where a session's randomness comes from (every party alike).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Randomness {
    /// Dealt by the parties in a dealing round (DN07 extraction, XOR of dealt bits), and
    /// comparisons' bit circuits on field elements.
    Dealt,
    /// Pseudo-random secret sharing ([`prss`], Cramer–Damgård–Ishai 2005): random values, masks
    /// and double sharings with no communication after one key round per session; comparisons
    /// with edaBits and daBits from the same keys, their bit circuits in GF(2^8)
    /// (Escudero et al. 2020; `engine/edabits.rs`). Falls back to `Dealt` when `C(n, t)` exceeds
    /// [`prss::MAX_SUBSETS`]. Under [`SecurityLevel::Malicious`] too, with the daBits' products
    /// and every GF(2^8) AND checked (see [`prss`]'s module doc and `edabits.rs`). The default.
    #[default]
    Prss,
}

impl std::str::FromStr for Randomness {
    type Err = crate::error::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let choices = [("dealt", Randomness::Dealt), ("prss", Randomness::Prss)];
        Self::Err::pick("randomness", "dealt or prss", &choices, s)
    }
}

impl std::fmt::Display for Randomness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Randomness::Dealt => "dealt",
            Randomness::Prss => "prss",
        })
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            mul: MulProtocol::Dn07,
            check_openings: true,
            bits: BitProtocol::DealtXor,
            randomness: Randomness::Prss,
            security: SecurityLevel::SemiHonest,
        }
    }
}

/// What an engine has done so far: network counts and operation counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Bytes, messages and rounds on the network.
    pub net: NetStats,
    /// Communication rounds the engine ran (every party runs the same number).
    pub rounds: u64,
    /// Secure multiplications performed (each element of a batch counts one).
    pub multiplications: u64,
    /// Random bits consumed.
    pub random_bits: u64,
}

impl EngineStats {
    /// The difference `self - earlier`: the cost of what ran in between.
    pub fn since(&self, earlier: &EngineStats) -> EngineStats {
        EngineStats {
            net: self.net.since(&earlier.net),
            rounds: self.rounds - earlier.rounds,
            multiplications: self.multiplications - earlier.multiplications,
            random_bits: self.random_bits - earlier.random_bits,
        }
    }
}

/// One party's context for a session.
pub struct Engine<N: Network, F: Field = Fr> {
    net: Metered<N>,
    params: Params,
    me: PartyId,
    rng: ChaCha12Rng,
    config: EngineConfig,
    round: u32,
    interp: Interpolator<F>,
    pool: preprocess::Pool<F>,
    prss: Option<prss::Prss<F>>,
    comparison_memory: usize,
    check_base: usize,
    multiplications: u64,
    random_bits: u64,
    pending: verify::Pending<F>,
    pending_ands: verify::PendingAnds,
}

impl<N: Network, F: Field> Engine<N, F> {
    /// An engine for party `net.me()`; `seed` seeds its RNG (from the OS in production, fixed in
    /// tests, so that a run can be replayed).
    pub fn new(net: N, params: Params, config: EngineConfig, seed: [u8; 32]) -> Result<Self> {
        if net.parties() != params.n() {
            return Err(MpcError::InvalidArgument {
                op: "Engine::new",
                reason: format!(
                    "network has {} parties but params say n={}",
                    net.parties(),
                    params.n()
                ),
            });
        }
        let me = params.check(net.me())?;
        let mut config = config;
        if config.security == SecurityLevel::Malicious {
            // Every opening uses all n shares and checks them.
            config.check_openings = true;
        }
        Ok(Engine {
            net: Metered::new(net),
            params,
            me,
            rng: ChaCha12Rng::from_seed(seed),
            config,
            round: 0,
            interp: Interpolator::seeded({
                let mut check_seed = seed;
                check_seed[31] ^= 0x5a; // a stream apart from the protocol's randomness
                check_seed
            }),
            pool: preprocess::Pool::default(),
            prss: None,
            comparison_memory: edabits::COMPARISON_MEMORY,
            check_base: verify::CHECK_BASE,
            multiplications: 0,
            random_bits: 0,
            pending: verify::Pending::default(),
            pending_ands: verify::PendingAnds::default(),
        })
    }

    /// This party.
    pub fn me(&self) -> PartyId {
        self.me
    }
    /// The `(n, t)` setting.
    pub fn params(&self) -> Params {
        self.params
    }
    /// The session's configuration.
    pub fn config(&self) -> EngineConfig {
        self.config
    }
    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            net: self.net.stats().clone(),
            rounds: self.round as u64,
            multiplications: self.multiplications,
            random_bits: self.random_bits,
        }
    }
    /// Sets the working memory an edaBits comparison may hold (bytes; default 256 MiB), so
    /// tests can make long batches run in several chunks.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn set_comparison_memory(&mut self, bytes: usize) {
        self.comparison_memory = bytes;
    }
    /// Sets the length below which the malicious check stops halving its claim (default
    /// [`CHECK_BASE`]; at least 1), so tests can run many halvings on few products.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn set_check_base(&mut self, elements: usize) {
        self.check_base = elements.max(1);
    }
    /// The network endpoint.
    pub fn network(&self) -> &N {
        self.net.inner()
    }
    /// This party's RNG (for callers that draw local randomness in step with the engine).
    pub fn rng(&mut self) -> &mut ChaCha12Rng {
        &mut self.rng
    }

    fn next_round(&mut self) -> Round {
        let r = Round(self.round);
        self.round += 1;
        r
    }

    fn others(&self) -> impl Iterator<Item = PartyId> + use<N, F> {
        let me = self.me;
        self.params.parties().filter(move |&p| p != me)
    }

    fn send_elems(&mut self, to: PartyId, round: Round, elems: &[F]) -> Result<()> {
        Ok(self.net.send(to, round, codec::encode(elems))?)
    }

    async fn recv_elems(&mut self, from: PartyId, round: Round, len: usize) -> Result<Vec<F>> {
        let bytes = self.net.recv(from, round).await?;
        codec::decode(&bytes, len, from)
    }
}

/// Checks two batches have one length.
fn same_len(op: &'static str, a: usize, b: usize) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(MpcError::LengthMismatch {
            op,
            left: a,
            right: b,
        })
    }
}
