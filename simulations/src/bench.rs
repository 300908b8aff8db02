//! The research benchmark matrix: operations and jobs × parties × multiplication protocols ×
//! networks.
//!
//! Every cell is a fault-free scenario run in virtual time and checked against the plaintext
//! computation (a cell that does not match says so in its status). The figures of a cell are
//! those of the `compute` phase, the operation itself: its virtual time, rounds, and bytes
//! sent per party; inputs and the final opening are left out. A job of the catalog
//! ([`JobPreset`], `auction:1200x4000`) is a row like an operation: its compute phase is every
//! protocol step between the owners' inputs and the recipients' outputs, checked against the
//! same job in the clear. A network is a preset or a world of measured sites
//! ([`crate::sites`]).
//!
//! [`run_bench`] writes into the output directory `bench.csv`, `bench.json`, `bench.md` (a
//! Markdown table, protocols side by side), `bench-wall.csv` (wall-clock seconds, apart so the
//! rest is reproducible) and per operation `bench-<op>-time.svg` and `bench-<op>-bytes.svg`.
//!
//! What this module does not do: simulate (it builds [`Scenario`]s for [`crate::runner`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use mpc::{MulProtocol, Randomness, SecurityLevel};
use serde::{Deserialize, Serialize};

use crate::job::presets::JobPreset;
use crate::plot::{Series, line_chart};
use crate::report::{write_csv, write_json};
use crate::runner::run_protocol_with;
use crate::scenario::{NetworkSpec, Preset, Scenario, WorkloadSpec};
use crate::workload::Op;
use crate::{SimError, link::ns_to_s};

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Numbers of parties (threshold `(n - 1) / 2` each). Default: 3, 5, 7, 11, 15, 21, 31.
    pub parties: Vec<usize>,
    /// Operations. Default: mul, lt, eq, fxmul.
    pub ops: Vec<Op>,
    /// Multiplication protocols. Default: grr, dn07.
    pub protocols: Vec<MulProtocol>,
    /// Sources of randomness, each against every protocol (a PRSS cell's protocol reads
    /// `grr+prss`). Default: prss, the engine's default (add dealt to compare the old path).
    pub randomness: Vec<Randomness>,
    /// Security levels, each against every protocol (a malicious cell's protocol reads
    /// `dn07+malicious`). Default: semi-honest.
    pub security: Vec<SecurityLevel>,
    /// Networks. Default: lan, wan.
    pub networks: Vec<Preset>,
    /// Jobs of the catalog, rows beside the operations. Default: none.
    pub jobs: Vec<JobPreset>,
    /// Worlds of measured sites, networks beside the presets: party `i` at `sites[i mod len]`,
    /// links of the preset `lan` within a site. Default: none.
    pub sites: Vec<Vec<String>>,
    /// Bandwidth between sites, megabits per second (an assumption: the measured table has
    /// none). Default: 1000.
    pub site_bandwidth_mbps: f64,
    /// Elements per batch. Default: 1000.
    pub batch: usize,
    /// Sequential repetitions. Default: 1.
    pub repetitions: usize,
    /// Seed of every cell. Default: 1.
    pub seed: u64,
    /// Where to write the files; none: nothing is written.
    pub out_dir: Option<PathBuf>,
    /// Print one `RESULT key=value ...` line per cell on stdout as it completes.
    pub print_results: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            parties: vec![3, 5, 7, 11, 15, 21, 31],
            ops: vec![Op::Mul, Op::Lt, Op::Eq, Op::Fxmul],
            protocols: vec![MulProtocol::Grr, MulProtocol::Dn07],
            randomness: vec![Randomness::Prss],
            security: vec![SecurityLevel::SemiHonest],
            networks: vec![Preset::Lan, Preset::Wan],
            jobs: Vec::new(),
            sites: Vec::new(),
            site_bandwidth_mbps: 1000.0,
            batch: 1000,
            repetitions: 1,
            seed: 1,
            out_dir: None,
            print_results: false,
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchCell {
    /// The operation.
    pub op: String,
    /// The protocol.
    pub protocol: String,
    /// The network preset.
    pub network: String,
    /// Parties.
    pub parties: usize,
    /// Threshold.
    pub threshold: usize,
    /// Elements per batch.
    pub batch: usize,
    /// Sequential repetitions.
    pub repetitions: usize,
    /// `ok`, `mismatch` or `failed`.
    pub status: String,
    /// Why, when not ok.
    pub reason: String,
    /// Virtual seconds of the compute phase.
    pub compute_s: f64,
    /// Rounds of the compute phase.
    pub compute_rounds: u64,
    /// Bytes sent in the compute phase, all parties.
    pub compute_bytes: u64,
    /// The same per party.
    pub bytes_per_party: u64,
    /// Virtual seconds of the whole run (inputs and opening included).
    pub total_s: f64,
    /// Rounds of the whole run.
    pub rounds: u64,
    /// Bytes sent in the whole run by the party that sent the most.
    pub max_party_bytes: u64,
}

/// The matrix.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Cells, in op, network, protocol, parties order.
    pub cells: Vec<BenchCell>,
    /// Wall seconds per cell, in the same order; not serialized with the cells.
    #[serde(skip)]
    pub wall_s: Vec<f64>,
}

/// Runs the matrix; writes its files when `options.out_dir` is set.
pub fn run_bench(options: BenchOptions) -> Result<BenchReport, SimError> {
    let mut report = BenchReport::default();
    let mut networks: Vec<(String, NetworkSpec)> = options
        .networks
        .iter()
        .map(|&p| (p.name().to_string(), NetworkSpec::preset(p)))
        .collect();
    for sites in &options.sites {
        let spec = NetworkSpec {
            sites: sites.clone(),
            site_bandwidth_mbps: Some(options.site_bandwidth_mbps),
            ..NetworkSpec::preset(Preset::Lan)
        };
        networks.push((spec.label(), spec));
    }
    let rows = options
        .ops
        .iter()
        .map(|op| (op.to_string(), Some(*op), None))
        .chain(
            options
                .jobs
                .iter()
                .map(|j| (j.label.clone(), None, Some(j))),
        );
    for (row, op, job) in rows {
        for (network, spec) in &networks {
            let cells: Vec<(MulProtocol, Randomness, SecurityLevel)> = options
                .protocols
                .iter()
                .flat_map(|&p| options.randomness.iter().map(move |&r| (p, r)))
                .flat_map(|(p, r)| options.security.iter().map(move |&s| (p, r, s)))
                .collect();
            for (protocol, randomness, security) in cells {
                let mut label = match randomness {
                    Randomness::Dealt => protocol.to_string(),
                    other => format!("{protocol}+{other}"),
                };
                if security == SecurityLevel::Malicious {
                    label.push_str("+malicious");
                }
                for &n in &options.parties {
                    let name = format!("bench-{row}-{network}-{label}-{n}");
                    let mut scenario = match (op, job) {
                        (Some(op), _) => {
                            let workload = WorkloadSpec {
                                batch: options.batch,
                                repetitions: options.repetitions,
                                ..WorkloadSpec::op(op)
                            };
                            Scenario::new(&name, n, Preset::Lan, workload)
                        }
                        (None, Some(job)) => Scenario::job(&name, n, Preset::Lan, job.job.clone()),
                        (None, None) => unreachable!("a row is an operation or a job"),
                    };
                    scenario.network = spec.clone();
                    scenario.seed = options.seed;
                    scenario.security = security;
                    let run = run_protocol_with(&scenario, protocol, randomness)?;
                    if options.print_results {
                        for line in (crate::report::Report {
                            scenario: name,
                            runs: vec![run.clone()],
                        })
                        .result_lines()
                        {
                            println!("{line}");
                        }
                    }
                    report.wall_s.push(run.wall.total_s);
                    report.cells.push(BenchCell {
                        op: row.clone(),
                        protocol: label.clone(),
                        network: network.clone(),
                        parties: n,
                        threshold: run.threshold,
                        batch: run.batch,
                        repetitions: run.repetitions,
                        status: run.outcome.status.name().to_string(),
                        reason: run.outcome.reason.clone().unwrap_or_default(),
                        compute_s: ns_to_s(run.compute_ns),
                        compute_rounds: run.compute_rounds,
                        compute_bytes: run.compute_bytes,
                        bytes_per_party: run.compute_bytes / n as u64,
                        total_s: run.virtual_s,
                        rounds: run.rounds,
                        max_party_bytes: run.max_party_bytes(),
                    });
                }
            }
        }
    }
    if let Some(dir) = &options.out_dir {
        report.write(dir)?;
    }
    Ok(report)
}

impl BenchReport {
    /// The Markdown table: one row per operation and party count, protocols side by side.
    pub fn markdown(&self) -> String {
        let keys =
            |f: fn(&BenchCell) -> String| self.cells.iter().map(f).collect::<BTreeSet<String>>();
        let (ops, nets, protos) = (
            ordered(&self.cells, |c| c.op.clone()),
            keys(|c| c.network.clone()),
            keys(|c| c.protocol.clone()),
        );
        let find = |op: &str, n: usize, net: &str, proto: &str| {
            self.cells
                .iter()
                .find(|c| c.op == op && c.parties == n && c.network == net && c.protocol == proto)
        };
        let mut out = String::from("| op | n | t |");
        let mut rule = String::from("| --- | ---: | ---: |");
        for p in &protos {
            let _ = write!(out, " rounds {p} |");
            rule += " ---: |";
        }
        for net in &nets {
            for p in &protos {
                let _ = write!(out, " {net} {p} ms |");
                rule += " ---: |";
            }
        }
        for p in &protos {
            let _ = write!(out, " kB/party {p} |");
            rule += " ---: |";
        }
        out = out + "\n" + &rule + "\n";
        for op in &ops {
            let mut ns: Vec<(usize, usize)> = self
                .cells
                .iter()
                .filter(|c| &c.op == op)
                .map(|c| (c.parties, c.threshold))
                .collect();
            ns.sort();
            ns.dedup();
            for (n, t) in ns {
                let _ = write!(out, "| {op} | {n} | {t} |");
                let any_net = |p: &str| nets.iter().find_map(|net| find(op, n, net, p));
                for p in &protos {
                    let _ = write!(
                        out,
                        " {} |",
                        any_net(p).map_or("-".into(), |c| c.compute_rounds.to_string())
                    );
                }
                for net in &nets {
                    for p in &protos {
                        let cell = match find(op, n, net, p) {
                            Some(c) if c.status == "ok" => format!("{:.2}", c.compute_s * 1e3),
                            Some(c) => c.status.clone(),
                            None => "-".into(),
                        };
                        let _ = write!(out, " {cell} |");
                    }
                }
                for p in &protos {
                    let kb = any_net(p).map_or("-".into(), |c| {
                        format!("{:.1}", c.bytes_per_party as f64 / 1e3)
                    });
                    let _ = write!(out, " {kb} |");
                }
                out += "\n";
            }
        }
        out
    }

    /// The Markdown table of the jobs' cells, one row each: whole-run rounds and virtual time
    /// (inputs and outputs included), the protocol steps' virtual time, and the bytes of the
    /// party that sent the most.
    pub fn job_markdown(&self) -> String {
        let mut out = String::from(
            "| job | network | protocol | n | t | status | rounds | virtual s | steps s | MB sent (max party) |\n\
             | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n",
        );
        for c in self.cells.iter().filter(|c| c.op.contains(':')) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.1} |",
                c.op,
                c.network,
                c.protocol,
                c.parties,
                c.threshold,
                c.status,
                c.rounds,
                c.total_s,
                c.compute_s,
                c.max_party_bytes as f64 / 1e6
            );
        }
        out
    }

    /// Writes every file of the matrix into `dir`.
    pub fn write(&self, dir: &std::path::Path) -> Result<(), SimError> {
        std::fs::create_dir_all(dir).map_err(|source| SimError::Io {
            path: dir.into(),
            source,
        })?;
        write_csv(&dir.join("bench.csv"), &self.cells)?;
        write_json(&dir.join("bench.json"), &self.cells)?;
        let md = dir.join("bench.md");
        let mut text = self.markdown();
        if self.cells.iter().any(|c| c.op.contains(':')) {
            text += "\n";
            text += &self.job_markdown();
        }
        std::fs::write(&md, text).map_err(|source| SimError::Io { path: md, source })?;
        #[derive(Serialize)]
        struct WallRow<'a> {
            op: &'a str,
            protocol: &'a str,
            network: &'a str,
            parties: usize,
            wall_s: f64,
        }
        let walls = self
            .cells
            .iter()
            .zip(&self.wall_s)
            .map(|(c, &wall_s)| WallRow {
                op: &c.op,
                protocol: &c.protocol,
                network: &c.network,
                parties: c.parties,
                wall_s,
            });
        write_csv(&dir.join("bench-wall.csv"), walls)?;
        for op in ordered(&self.cells, |c| c.op.clone()) {
            let series = |y: fn(&BenchCell) -> f64| -> Vec<Series> {
                let mut lines: Vec<Series> = Vec::new();
                for c in self.cells.iter().filter(|c| c.op == op && c.status == "ok") {
                    let label = format!("{} {}", c.protocol, c.network);
                    match lines.iter_mut().find(|s| s.label == label) {
                        Some(s) => s.points.push((c.parties as f64, y(c))),
                        None => lines.push(Series {
                            label,
                            points: vec![(c.parties as f64, y(c))],
                        }),
                    }
                }
                lines
            };
            let batch = self
                .cells
                .iter()
                .find(|c| c.op == op)
                .map_or(0, |c| c.batch);
            let title = if op.contains(':') {
                format!("{op}: virtual time of the job's protocol steps")
            } else {
                format!("{op}: virtual time of one batch of {batch}")
            };
            let file: String = op
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let path = dir.join(format!("bench-{file}-time.svg"));
            line_chart(
                &path,
                &title,
                "parties",
                "compute time (ms)",
                &series(|c| c.compute_s * 1e3),
                true,
            )?;
            let title = format!("{op}: bytes sent per party");
            let path = dir.join(format!("bench-{file}-bytes.svg"));
            // Bytes do not depend on the network: one line per protocol suffices, but drawing
            // every line keeps the legend aligned with the time chart.
            line_chart(
                &path,
                &title,
                "parties",
                "bytes sent per party (B)",
                &series(|c| c.bytes_per_party as f64),
                true,
            )?;
        }
        Ok(())
    }
}

/// Distinct values in first-appearance order.
fn ordered(cells: &[BenchCell], key: impl Fn(&BenchCell) -> String) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cells {
        let k = key(c);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}
