//! Reports: what a run did, as rows for JSON and CSV.
//!
//! A [`Report`] holds one [`RunReport`] per protocol variant of a scenario: the outcome (ok,
//! mismatch against the plaintext, or failed with a reason naming the party at fault), the
//! virtual time, rounds, and per party and per phase the bytes and messages sent and
//! received. Wall-clock figures ([`WallStats`]) sit beside it and go to files of their own
//! (`wall.json`, `wall.csv`), so that every other file is byte-identical across two runs
//! with one seed.
//!
//! Files written by [`Report::write`]: `report.json`, `runs.csv`, `parties.csv` (per party
//! and phase), `phases.csv` (per phase over all parties: input, each protocol step, output),
//! `rounds.csv`, `wall.json`, `wall.csv`.
//!
//! What this module does not do: decide outcomes (see [`crate::runner`]) or draw (see
//! [`crate::plot`]).

use std::fs;
use std::path::Path;

use mpc::net::NetStats;
use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::executor::WallStats;
use crate::link::ns_to_s;
use crate::sim_net::PhaseStats;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every party finished and the results match the plaintext computation.
    Ok,
    /// Every party finished, but a result differs from the plaintext (or parties disagree).
    Mismatch,
    /// A party crashed, failed, or the run deadlocked.
    Failed,
}

impl Status {
    /// `ok`, `mismatch` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Mismatch => "mismatch",
            Status::Failed => "failed",
        }
    }
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Ok, mismatch or failed.
    pub status: Status,
    /// Why, for anything but ok; names the party.
    pub reason: Option<String>,
    /// The party at fault, when one is: the crashed one, or the peer an error names.
    pub party: Option<u16>,
}

/// One party's share of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyReport {
    /// The party.
    pub party: u16,
    /// Its site, when the network names sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// `ok`, `failed`, `crashed`, `deadlocked` or `stalled`.
    pub status: String,
    /// The party's error, if it failed.
    pub error: Option<String>,
    /// Its virtual clock at the end (ns).
    pub finish_ns: u64,
    /// Totals over all phases.
    pub total: NetStats,
    /// Per phase.
    pub phases: Vec<PhaseStats>,
}

/// One run: one scenario with one protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The multiplication protocol.
    pub protocol: String,
    /// Parties.
    pub parties: usize,
    /// Threshold.
    pub threshold: usize,
    /// The seed.
    pub seed: u64,
    /// The network (preset name, `+custom` when overridden).
    pub network: String,
    /// The operation, or the job's kind.
    pub op: String,
    /// The job and its data, for a job run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Elements per batch (a job: input values in all).
    pub batch: usize,
    /// Sequential repetitions.
    pub repetitions: usize,
    /// How it ended.
    pub outcome: Outcome,
    /// Virtual time of the whole run, nanoseconds.
    pub virtual_ns: u64,
    /// The same in seconds.
    pub virtual_s: f64,
    /// Virtual time of the `compute` phase (last party in to last party out), ns.
    pub compute_ns: u64,
    /// Communication rounds of the run (distinct round tags).
    pub rounds: u64,
    /// Rounds of the `compute` phase.
    pub compute_rounds: u64,
    /// Messages sent, all parties.
    pub messages: u64,
    /// Payload bytes sent, all parties.
    pub bytes: u64,
    /// Payload bytes sent in the `compute` phase, all parties.
    pub compute_bytes: u64,
    /// Per phase, in order: input, each protocol step, output.
    pub phases: Vec<PhaseSummary>,
    /// Per party.
    pub party_reports: Vec<PartyReport>,
    /// Per round tag, the virtual instant its last message was received (ns).
    pub round_end_ns: Vec<u64>,
    /// Wall-clock figures; not serialized with the rest.
    #[serde(skip)]
    pub wall: WallStats,
}

impl RunReport {
    /// The per-phase counters of `phase`, summed over parties, and its span: from the last
    /// party entering it (when every party has what the phase needs) to the last one leaving.
    pub fn phase_total(&self, phase: &str) -> (NetStats, u64) {
        let mut total = NetStats::default();
        let (mut start, mut end) = (0, 0);
        for p in &self.party_reports {
            for ph in p.phases.iter().filter(|ph| ph.name == phase) {
                add(&mut total, &ph.net);
                start = start.max(ph.start_ns);
                end = end.max(ph.end_ns);
            }
        }
        (total, end.saturating_sub(start))
    }

    /// Bytes sent in the whole run by the party that sent the most.
    pub fn max_party_bytes(&self) -> u64 {
        self.party_reports
            .iter()
            .map(|p| p.total.bytes_sent)
            .max()
            .unwrap_or(0)
    }

    /// Per phase over every party, in the order the parties went through them.
    pub fn phase_summaries(&self) -> Vec<PhaseSummary> {
        let mut out: Vec<PhaseSummary> = Vec::new();
        for p in &self.party_reports {
            for ph in &p.phases {
                let i = match out.iter().position(|s| s.name == ph.name) {
                    Some(i) => i,
                    None => {
                        out.push(PhaseSummary {
                            name: ph.name.clone(),
                            start_ns: ph.start_ns,
                            end_ns: ph.end_ns,
                            virtual_ns: 0,
                            rounds: 0,
                            bytes_sent: 0,
                            max_party_bytes: 0,
                            messages: 0,
                        });
                        out.len() - 1
                    }
                };
                let s = &mut out[i];
                s.start_ns = s.start_ns.min(ph.start_ns);
                s.end_ns = s.end_ns.max(ph.end_ns);
                s.rounds = s.rounds.max(ph.net.rounds);
                s.bytes_sent += ph.net.bytes_sent;
                s.max_party_bytes = s.max_party_bytes.max(ph.net.bytes_sent);
                s.messages += ph.net.messages_sent;
            }
        }
        out.sort_by_key(|s| (s.start_ns, s.end_ns));
        let mut previous = 0;
        for s in &mut out {
            s.virtual_ns = s.end_ns.saturating_sub(previous);
            previous = previous.max(s.end_ns);
        }
        out
    }
}

/// One phase of a run, over every party.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// The phase's name (`input`, `03 lt`, `output`, ...).
    pub name: String,
    /// Virtual instant the first party entered it (ns).
    pub start_ns: u64,
    /// Virtual instant the last party left it (ns).
    pub end_ns: u64,
    /// Virtual time it adds to the run: from the end of the previous phase to its own end
    /// (ns); the phases' times add up to the run's.
    pub virtual_ns: u64,
    /// Rounds (the most any party took part in).
    pub rounds: u64,
    /// Bytes sent, all parties.
    pub bytes_sent: u64,
    /// Bytes sent by the party that sent the most.
    pub max_party_bytes: u64,
    /// Messages sent, all parties.
    pub messages: u64,
}

/// Adds `b` into `a`.
pub fn add(a: &mut NetStats, b: &NetStats) {
    a.bytes_sent += b.bytes_sent;
    a.bytes_received += b.bytes_received;
    a.messages_sent += b.messages_sent;
    a.messages_received += b.messages_received;
    a.rounds += b.rounds;
}

/// All runs of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// One run per protocol.
    pub runs: Vec<RunReport>,
}

#[derive(Serialize)]
struct RunRow<'a> {
    scenario: &'a str,
    protocol: &'a str,
    parties: usize,
    threshold: usize,
    seed: u64,
    network: &'a str,
    op: &'a str,
    job: &'a str,
    batch: usize,
    repetitions: usize,
    status: &'a str,
    party_at_fault: Option<u16>,
    reason: &'a str,
    virtual_s: f64,
    virtual_ns: u64,
    compute_ns: u64,
    rounds: u64,
    compute_rounds: u64,
    messages: u64,
    bytes: u64,
    compute_bytes: u64,
}

#[derive(Serialize)]
struct PartyRow<'a> {
    protocol: &'a str,
    party: u16,
    site: &'a str,
    status: &'a str,
    phase: &'a str,
    start_ns: u64,
    end_ns: u64,
    bytes_sent: u64,
    bytes_received: u64,
    messages_sent: u64,
    messages_received: u64,
    rounds: u64,
}

#[derive(Serialize)]
struct PhaseRow<'a> {
    protocol: &'a str,
    phase: &'a str,
    start_ns: u64,
    end_ns: u64,
    virtual_ns: u64,
    rounds: u64,
    bytes_sent: u64,
    max_party_bytes: u64,
    messages: u64,
}

#[derive(Serialize)]
struct RoundRow<'a> {
    protocol: &'a str,
    round: usize,
    end_ns: u64,
    duration_ns: u64,
}

#[derive(Serialize)]
struct WallRow<'a> {
    protocol: &'a str,
    total_s: f64,
    polls: u64,
    slowest_party_s: f64,
}

/// Writes `rows` as CSV to `path`.
pub fn write_csv<T: Serialize>(
    path: &Path,
    rows: impl IntoIterator<Item = T>,
) -> Result<(), SimError> {
    let csv_err = |e: csv::Error| SimError::Output {
        path: path.into(),
        source: Box::new(e),
    };
    let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
    for row in rows {
        w.serialize(row).map_err(csv_err)?;
    }
    w.flush().map_err(|source| SimError::Io {
        path: path.into(),
        source,
    })
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), SimError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| SimError::Output {
        path: path.into(),
        source: Box::new(e),
    })?;
    fs::write(path, text + "\n").map_err(|source| SimError::Io {
        path: path.into(),
        source,
    })
}

impl Report {
    /// The report as JSON, without wall-clock figures.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes")
    }

    /// Writes every file of the report into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<(), SimError> {
        fs::create_dir_all(dir).map_err(|source| SimError::Io {
            path: dir.into(),
            source,
        })?;
        write_json(&dir.join("report.json"), self)?;
        write_csv(&dir.join("runs.csv"), self.runs.iter().map(run_row))?;
        let parties = self.runs.iter().flat_map(|r| {
            r.party_reports.iter().flat_map(move |p| {
                p.phases.iter().map(move |ph| PartyRow {
                    protocol: &r.protocol,
                    party: p.party,
                    site: p.site.as_deref().unwrap_or(""),
                    status: &p.status,
                    phase: &ph.name,
                    start_ns: ph.start_ns,
                    end_ns: ph.end_ns,
                    bytes_sent: ph.net.bytes_sent,
                    bytes_received: ph.net.bytes_received,
                    messages_sent: ph.net.messages_sent,
                    messages_received: ph.net.messages_received,
                    rounds: ph.net.rounds,
                })
            })
        });
        write_csv(&dir.join("parties.csv"), parties)?;
        let rounds = self.runs.iter().flat_map(|r| {
            r.round_end_ns
                .iter()
                .enumerate()
                .map(move |(i, &end)| RoundRow {
                    protocol: &r.protocol,
                    round: i,
                    end_ns: end,
                    duration_ns: end.saturating_sub(if i == 0 { 0 } else { r.round_end_ns[i - 1] }),
                })
        });
        write_csv(&dir.join("rounds.csv"), rounds)?;
        let phases = self.runs.iter().flat_map(|r| {
            r.phases.iter().map(move |ph| PhaseRow {
                protocol: &r.protocol,
                phase: &ph.name,
                start_ns: ph.start_ns,
                end_ns: ph.end_ns,
                virtual_ns: ph.virtual_ns,
                rounds: ph.rounds,
                bytes_sent: ph.bytes_sent,
                max_party_bytes: ph.max_party_bytes,
                messages: ph.messages,
            })
        });
        write_csv(&dir.join("phases.csv"), phases)?;
        let walls: Vec<(&str, &WallStats)> = self
            .runs
            .iter()
            .map(|r| (r.protocol.as_str(), &r.wall))
            .collect();
        write_json(&dir.join("wall.json"), &walls)?;
        write_csv(
            &dir.join("wall.csv"),
            walls.iter().map(|(protocol, w)| WallRow {
                protocol,
                total_s: w.total_s,
                polls: w.polls,
                slowest_party_s: w.per_party_s.iter().copied().fold(0.0, f64::max),
            }),
        )
    }

    /// One `RESULT key=value ...` line per run (CONVENTIONS §12).
    pub fn result_lines(&self) -> Vec<String> {
        self.runs
            .iter()
            .map(|r| {
                let max_party = r.max_party_bytes();
                format!(
                    "RESULT scenario={} protocol={} n={} t={} op={}{} batch={} reps={} network={} status={} virtual_s={:.6} \
                     compute_s={:.6} rounds={} messages={} bytes={} max_party_bytes={} wall_s={:.3}{}",
                    r.scenario,
                    r.protocol,
                    r.parties,
                    r.threshold,
                    r.op,
                    r.job.as_ref().map(|j| format!(" job=\"{j}\"")).unwrap_or_default(),
                    r.batch,
                    r.repetitions,
                    r.network,
                    r.outcome.status.name(),
                    r.virtual_s,
                    ns_to_s(r.compute_ns),
                    r.rounds,
                    r.messages,
                    r.bytes,
                    max_party,
                    r.wall.total_s,
                    r.outcome.reason.as_ref().map(|s| format!(" reason=\"{s}\"")).unwrap_or_default(),
                )
            })
            .collect()
    }
}

fn run_row(r: &RunReport) -> RunRow<'_> {
    RunRow {
        scenario: &r.scenario,
        protocol: &r.protocol,
        parties: r.parties,
        threshold: r.threshold,
        seed: r.seed,
        network: &r.network,
        op: &r.op,
        job: r.job.as_deref().unwrap_or(""),
        batch: r.batch,
        repetitions: r.repetitions,
        status: r.outcome.status.name(),
        party_at_fault: r.outcome.party,
        reason: r.outcome.reason.as_deref().unwrap_or(""),
        virtual_s: r.virtual_s,
        virtual_ns: r.virtual_ns,
        compute_ns: r.compute_ns,
        rounds: r.rounds,
        compute_rounds: r.compute_rounds,
        messages: r.messages,
        bytes: r.bytes,
        compute_bytes: r.compute_bytes,
    }
}
