//! Why a scenario is refused: the text does not parse, or a parsed scenario asks for what the
//! simulator cannot run (a bad `(n, t)`, a party that does not exist, an empty interval).
//! [`crate::SimError::Scenario`] carries it with the file.

use crate::sites::UnknownSite;

/// What is wrong with a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The TOML does not describe a scenario (with line and column).
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    /// `parties` and `threshold` are not a valid `(n, t)`.
    #[error(transparent)]
    Params(#[from] mpc::MpcError),
    /// No multiplication protocol to run.
    #[error("protocols: name at least one of grr, dn07")]
    NoProtocols,
    /// A workload needs inputs from parties 0, 1 and 2.
    #[error("parties: at least 3 are needed (inputs come from parties 0, 1 and 2)")]
    TooFewParties,
    /// A workload of no work.
    #[error("workload: batch and repetitions must be at least 1")]
    EmptyWorkload,
    /// A workload's input width the engine cannot square.
    #[error("workload.bits = {0}: must be in 1..={max}", max = mpc::share::MAX_BITS / 2 - 1)]
    WorkloadBits(u32),
    /// The job the scenario describes is invalid.
    #[error(transparent)]
    Job(#[from] crate::job::JobFileError),
    /// Both or neither of `[workload]` and `[job]`.
    #[error("give exactly one of [workload] and [job]")]
    WorkloadOrJob,
    /// A field names a party past the scenario's count.
    #[error("{field}: no party {party} among {parties}")]
    NoParty {
        /// The field (`faults.crash.party`, ...).
        field: &'static str,
        /// The party named.
        party: u16,
        /// Parties in the scenario.
        parties: usize,
    },
    /// A site name the simulator does not know.
    #[error("network.sites: {0}")]
    Site(#[from] UnknownSite),
    /// A loss rate outside `[0, 1)`.
    #[error("network: loss must be in [0, 1)")]
    Loss,
    /// A crash without its moment.
    #[error("faults: the crash of party {0} needs at_ms or at_round")]
    CrashWhen(u16),
    /// A partition that ends before it starts.
    #[error("faults: partition from_ms = {from_ms} is not before until_ms = {until_ms}")]
    PartitionInterval {
        /// Its start.
        from_ms: f64,
        /// Its end.
        until_ms: f64,
    },
    /// A slowdown that is not positive.
    #[error("faults: party {0}'s cpu_multiplier must be positive")]
    CpuMultiplier(u16),
}
