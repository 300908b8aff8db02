//! Scenarios: what to simulate, as TOML.
//!
//! ```toml
//! name = "wan-5"              # default: the file's stem
//! parties = 5                 # required
//! threshold = 2               # default: (parties - 1) / 2
//! seed = 7                    # default: 0
//! protocols = ["grr", "dn07"] # default: ["dn07"]; one run per protocol
//! check_openings = true       # default: true
//! security = "malicious"      # semi-honest | malicious (with abort); default: semi-honest
//!
//! [network]                   # default: the `lan` preset
//! preset = "wan"              # lan (0.2 ms, 10 Gbit/s) | wan (50 ms, 100 Mbit/s) | ideal (0 ms, unlimited)
//! latency_ms = 50.0           # one way; default: the preset's
//! bandwidth_mbps = 100.0      # megabits per second, 0 = unlimited; default: the preset's
//! jitter = { kind = "uniform", max_ms = 2.0 }  # none | uniform | exponential (mean_ms); default: none
//! loss = 0.0                  # per transmission, in [0, 1); default: 0
//! rto_ms = 200.0              # delay of each lost transmission; default: 200
//! bandwidth_scope = "link"    # link (per ordered pair) | sender (one uplink per party); default: link
//! recv_timeout_ms = 30000.0   # virtual receive deadline, 0 = none; default: 30000
//! sites = ["frankfurt", "virginia"]  # party i at sites[i mod len]: measured RTT / 2 one way
//! site_bandwidth_mbps = 1000.0       # between sites; default: the preset's (see crate::sites)
//! [[network.links]]           # per-pair overrides of latency, bandwidth, jitter, loss, rto
//! from = 0
//! to = 4
//! symmetric = true            # default: true (also to -> from); false: an asymmetric link
//! latency_ms = 150.0
//!
//! [compute]                   # default: model = "none" (computation takes no virtual time)
//! model = "per_byte"          # none | per_byte (ns_per_message, ns_per_byte) | measured (scale)
//! ns_per_byte = 2.0
//!
//! [[faults]]
//! kind = "crash"              # crash (party, at_ms and/or at_round)
//! party = 2                   # partition (groups, from_ms, until_ms, mode = hold | drop; default hold)
//! at_round = 3                # slow (party, cpu_multiplier default 1, extra_delay_ms default 0)
//!
//! [workload]
//! op = "mul"                  # mul | lt | le | gt | ge | eq | select | fxmul
//! batch = 1000                # default: 1000
//! repetitions = 1             # sequential repetitions; default: 1
//! bits = 32                   # inputs in [-2^bits, 2^bits); default: 32
//! frac = 16                   # fixed-point fractional bits; default: 16
//! ```
//!
//!
//! Instead of `[workload]`, a `[job]` table runs a job of the catalog (see [`crate::job`]):
//!
//! ```toml
//! [job]
//! sql = "SELECT AVG(salary) FROM payroll GROUP BY gender"   # statistics, or:
//! # spec = { kind = "auction", dataset = "bids", grid = { min = 100, max = 4099, step = 1 } }
//! # spec_file = "settlement.toml"    # the TOML of `quorate run`, relative to this file
//! [job.data]
//! kind = "table"              # table | auction | orders | settlement | csv
//! dataset = "payroll"         # table: name, owners, rows, [[job.data.columns]]
//! owners = 10                 #   columns: name, type (integer | fixed | categorical), bits,
//! rows = 10000                #   frac, domain, weights, min, max, mean, sd (normal if mean)
//! # kind = "auction", bidders = 1200 (max_quantity)   # prices: the job's grid
//! # kind = "orders", firms = 10, orders = 10000
//! # kind = "settlement", obligations = 300 (balance_factor)   # firms: the job's
//! # kind = "csv", files = [{ owner = "acme", dataset = "payroll", path = "acme.csv", schema = "payroll.toml" }]
//! ```
//!
//! Every table refuses unknown keys.
//!
//! What this module does not do: run anything (see [`crate::runner`]). The `[network]`
//! table is in its `network` submodule ([`NetworkSpec`]).

use std::path::Path;

use mpc::{MulProtocol, Params};
use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::executor::SimConfig;
use crate::faults::{Crash, Fault, FaultPlan, Partition, PartitionMode, Slow};
use crate::job::JobScenario;
use crate::link::ms_to_ns;
use crate::sim_net::ComputeModel;
use crate::workload::{Op, OpWorkload};

mod invalid;
mod network;

pub use invalid::ScenarioError;
pub use network::{LinkOverride, LinkSpec, NetworkSpec, Preset};

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name in reports. Default: the file's stem (or "scenario").
    #[serde(default)]
    pub name: Option<String>,
    /// Number of parties.
    pub parties: usize,
    /// Threshold `t`. Default: `(parties - 1) / 2`.
    #[serde(default)]
    pub threshold: Option<usize>,
    /// Seed of the whole run. Default: 0.
    #[serde(default)]
    pub seed: u64,
    /// Multiplication protocols, one run each. Default: `["dn07"]`.
    #[serde(default = "default_protocols")]
    pub protocols: Vec<MulProtocol>,
    /// Check redundant shares at openings. Default: true.
    #[serde(default = "yes")]
    pub check_openings: bool,
    /// The engine's security level. Default: semi-honest.
    #[serde(default)]
    pub security: mpc::SecurityLevel,
    /// Links. Default: the `lan` preset.
    #[serde(default)]
    pub network: NetworkSpec,
    /// How computation advances virtual time. Default: it does not.
    #[serde(default)]
    pub compute: ComputeModel,
    /// Faults. Default: none.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// An engine operation to compute (or `job`).
    #[serde(default)]
    pub workload: Option<WorkloadSpec>,
    /// A job of the catalog to run (or `workload`).
    #[serde(default)]
    pub job: Option<JobScenario>,
    /// The directory relative paths of `job` start from (the scenario file's); not in the file.
    #[serde(skip)]
    pub base_dir: Option<std::path::PathBuf>,
}

fn default_protocols() -> Vec<MulProtocol> {
    vec![MulProtocol::Dn07]
}
fn yes() -> bool {
    true
}

/// One `[[faults]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum FaultSpec {
    /// A crash at a virtual instant and/or a round (whichever comes first).
    Crash {
        /// The party.
        party: u16,
        /// Virtual milliseconds from the start.
        at_ms: Option<f64>,
        /// The first round the party does not take part in.
        at_round: Option<u32>,
    },
    /// Links between groups cut for `[from_ms, until_ms)`.
    Partition {
        /// Groups of parties.
        groups: Vec<Vec<u16>>,
        /// Start, virtual milliseconds.
        from_ms: f64,
        /// Heal, virtual milliseconds.
        until_ms: f64,
        /// `hold` (default) or `drop`.
        #[serde(default)]
        mode: PartitionMode,
    },
    /// A slow party.
    Slow {
        /// The party.
        party: u16,
        /// Multiplies its compute costs. Default: 1.
        #[serde(default = "one")]
        cpu_multiplier: f64,
        /// Extra delay of each message it sends, milliseconds. Default: 0.
        #[serde(default)]
        extra_delay_ms: f64,
    },
}

fn one() -> f64 {
    1.0
}

/// The `[workload]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The engine operation.
    pub op: Op,
    /// Elements per batch. Default: 1000.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Sequential repetitions. Default: 1.
    #[serde(default = "default_reps")]
    pub repetitions: usize,
    /// Input bound in bits. Default: 32.
    #[serde(default = "default_bits")]
    pub bits: u32,
    /// Fixed-point fractional bits. Default: 16.
    #[serde(default = "default_frac")]
    pub frac: u32,
}

fn default_batch() -> usize {
    1000
}
fn default_reps() -> usize {
    1
}
fn default_bits() -> u32 {
    32
}
fn default_frac() -> u32 {
    16
}

impl WorkloadSpec {
    /// The workload with defaults for everything but the operation.
    pub fn op(op: Op) -> Self {
        WorkloadSpec {
            op,
            batch: default_batch(),
            repetitions: default_reps(),
            bits: default_bits(),
            frac: default_frac(),
        }
    }
    /// The engine workload it describes.
    pub fn to_workload(&self) -> OpWorkload {
        OpWorkload {
            op: self.op,
            batch: self.batch,
            repetitions: self.repetitions,
            bits: self.bits,
            frac: self.frac,
        }
    }
}

impl Scenario {
    /// A fault-free scenario on one preset.
    pub fn new(name: &str, parties: usize, preset: Preset, workload: WorkloadSpec) -> Self {
        Scenario {
            name: Some(name.into()),
            parties,
            threshold: None,
            seed: 0,
            protocols: default_protocols(),
            check_openings: true,
            security: mpc::SecurityLevel::SemiHonest,
            network: NetworkSpec::preset(preset),
            compute: ComputeModel::None,
            faults: Vec::new(),
            workload: Some(workload),
            job: None,
            base_dir: None,
        }
    }

    /// A fault-free scenario running a job of the catalog on one preset.
    pub fn job(name: &str, parties: usize, preset: Preset, job: JobScenario) -> Self {
        Scenario {
            workload: None,
            job: Some(job),
            ..Scenario::new(name, parties, preset, WorkloadSpec::op(Op::Mul))
        }
    }

    /// The directory a job's relative paths start from.
    pub fn base(&self) -> &Path {
        self.base_dir.as_deref().unwrap_or(Path::new("."))
    }

    /// Reads and validates a scenario file; the name defaults to the file's stem.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.into(),
            source,
        })?;
        Scenario::from_toml(&text, path)
    }

    /// Parses and validates a scenario's text, read from `path` (which names it in errors,
    /// gives its default name and the directory its relative paths start from): the pure
    /// half of [`Scenario::load`], and a fuzz target.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, SimError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| SimError::Scenario {
            path: path.into(),
            reason: e.into(),
        })?;
        if s.name.is_none() {
            s.name = path.file_stem().map(|st| st.to_string_lossy().into_owned());
        }
        s.base_dir = path.parent().map(Path::to_path_buf);
        s.validate().map_err(|reason| SimError::Scenario {
            path: path.into(),
            reason,
        })?;
        Ok(s)
    }

    /// The name in reports.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("scenario")
    }

    /// `(n, t)`.
    pub fn params(&self) -> Result<Params, ScenarioError> {
        let t = self.threshold.unwrap_or(self.parties.saturating_sub(1) / 2);
        Ok(Params::new(self.parties, t)?)
    }

    /// Checks everything a parse cannot: ranges, party ids, intervals.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.params()?;
        if self.protocols.is_empty() {
            return Err(ScenarioError::NoProtocols);
        }
        match (&self.workload, &self.job) {
            (Some(w), None) => {
                if self.parties < 3 {
                    return Err(ScenarioError::TooFewParties);
                }
                if w.batch == 0 || w.repetitions == 0 {
                    return Err(ScenarioError::EmptyWorkload);
                }
                if w.bits == 0 || 2 * w.bits + 2 > mpc::share::MAX_BITS {
                    return Err(ScenarioError::WorkloadBits(w.bits));
                }
            }
            (None, Some(job)) => {
                job.spec(self.base())?;
            }
            _ => return Err(ScenarioError::WorkloadOrJob),
        }
        let party = |field: &'static str, p: u16| {
            if (p as usize) < self.parties {
                Ok(())
            } else {
                Err(ScenarioError::NoParty {
                    field,
                    party: p,
                    parties: self.parties,
                })
            }
        };
        self.network.validate_sites()?;
        let mut links = vec![self.network.link()];
        for o in &self.network.links {
            party("network.links.from", o.from)?;
            party("network.links.to", o.to)?;
            links.push(o.link());
        }
        for l in links {
            if l.loss.is_some_and(|x| !(0.0..1.0).contains(&x)) {
                return Err(ScenarioError::Loss);
            }
        }
        for f in &self.faults {
            match f {
                FaultSpec::Crash {
                    party: p,
                    at_ms,
                    at_round,
                } => {
                    party("faults.crash.party", *p)?;
                    if at_ms.is_none() && at_round.is_none() {
                        return Err(ScenarioError::CrashWhen(*p));
                    }
                }
                FaultSpec::Partition {
                    groups,
                    from_ms,
                    until_ms,
                    ..
                } => {
                    for &p in groups.iter().flatten() {
                        party("faults.partition.groups", p)?;
                    }
                    if from_ms.partial_cmp(until_ms) != Some(std::cmp::Ordering::Less) {
                        return Err(ScenarioError::PartitionInterval {
                            from_ms: *from_ms,
                            until_ms: *until_ms,
                        });
                    }
                }
                FaultSpec::Slow {
                    party: p,
                    cpu_multiplier,
                    ..
                } => {
                    party("faults.slow.party", *p)?;
                    if cpu_multiplier.is_nan() || *cpu_multiplier <= 0.0 {
                        return Err(ScenarioError::CpuMultiplier(*p));
                    }
                }
            }
        }
        Ok(())
    }

    /// The links, faults and timing of a run with this scenario's seed.
    pub fn sim_config(&self) -> SimConfig {
        let net = &self.network;
        let faults = self
            .faults
            .iter()
            .map(|f| match f {
                FaultSpec::Crash {
                    party,
                    at_ms,
                    at_round,
                } => Fault::Crash(Crash {
                    party: *party,
                    at_ns: at_ms.map(ms_to_ns),
                    at_round: *at_round,
                }),
                FaultSpec::Partition {
                    groups,
                    from_ms,
                    until_ms,
                    mode,
                } => Fault::Partition(Partition {
                    groups: groups.clone(),
                    from_ns: ms_to_ns(*from_ms),
                    until_ns: ms_to_ns(*until_ms),
                    mode: *mode,
                }),
                FaultSpec::Slow {
                    party,
                    cpu_multiplier,
                    extra_delay_ms,
                } => Fault::Slow(Slow {
                    party: *party,
                    cpu_multiplier: *cpu_multiplier,
                    extra_delay_ns: ms_to_ns(*extra_delay_ms),
                }),
            })
            .collect();
        SimConfig {
            seed: self.seed,
            links: net.link_table(self.parties),
            faults: FaultPlan { faults },
            compute: self.compute,
            recv_timeout_ns: (net.recv_timeout_ms > 0.0).then(|| ms_to_ns(net.recv_timeout_ms)),
        }
    }
}
