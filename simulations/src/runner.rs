//! Runs a [`Scenario`]: one simulated session per protocol variant, each checked against the
//! plaintext computation and turned into a [`RunReport`].
//!
//! The outcome names the party at fault: a crashed party first (it is the cause of whatever
//! failed after it), then a deadlock's awaited peers, then the earliest failure in virtual
//! time, blaming the peer its error names (a peer that left, went silent, or sent a bad
//! message). Parties that all finish must open the same values, equal to the plaintext.
//!
//! What this module does not do: parse scenarios, simulate, or write files.

use std::sync::Arc;

use mpc::net::NetStats;
use mpc::{EngineConfig, MulProtocol};

use crate::SimError;
use crate::executor::{PartyEnd, SessionRun, run_session};
use crate::faults::blamed;
use crate::job::JobWorkload;
use crate::link::ns_to_s;
use crate::report::{Outcome, PartyReport, PhaseSummary, Report, RunReport, Status, add};
use crate::scenario::{Scenario, ScenarioError};
use crate::workload::OpWorkload;

/// Runs every protocol variant of `scenario`.
pub fn run_scenario(scenario: &Scenario) -> Result<Report, SimError> {
    let runs = scenario
        .protocols
        .iter()
        .map(|&p| run_protocol(scenario, p))
        .collect::<Result<_, _>>()?;
    Ok(Report {
        scenario: scenario.name().to_string(),
        runs,
    })
}

/// Runs `scenario` with one multiplication protocol and dealt randomness (the scenarios'
/// recorded figures were measured so; [`run_protocol_with`] chooses).
pub fn run_protocol(scenario: &Scenario, protocol: MulProtocol) -> Result<RunReport, SimError> {
    run_protocol_with(scenario, protocol, mpc::Randomness::Dealt)
}

/// Runs `scenario` with one multiplication protocol and one source of randomness.
pub fn run_protocol_with(
    scenario: &Scenario,
    protocol: MulProtocol,
    randomness: mpc::Randomness,
) -> Result<RunReport, SimError> {
    let invalid = |reason: ScenarioError| SimError::Invalid {
        scenario: scenario.name().to_string(),
        reason,
    };
    scenario.validate().map_err(invalid)?;
    match (&scenario.workload, &scenario.job) {
        (Some(w), _) => run_op(scenario, protocol, randomness, &w.to_workload()),
        (None, Some(job)) => {
            let job =
                JobWorkload::prepare(job, scenario.seed, scenario.base()).map_err(|source| {
                    SimError::Job {
                        scenario: scenario.name().to_string(),
                        source,
                    }
                })?;
            run_job(scenario, protocol, randomness, Arc::new(job))
        }
        (None, None) => Err(invalid(ScenarioError::WorkloadOrJob)),
    }
}

fn engine_config(
    scenario: &Scenario,
    protocol: MulProtocol,
    randomness: mpc::Randomness,
) -> EngineConfig {
    EngineConfig {
        mul: protocol,
        check_openings: scenario.check_openings,
        randomness,
        security: scenario.security,
        ..Default::default()
    }
}

fn run_op(
    scenario: &Scenario,
    protocol: MulProtocol,
    randomness: mpc::Randomness,
    workload: &OpWorkload,
) -> Result<RunReport, SimError> {
    let params = scenario.params().map_err(|reason| SimError::Invalid {
        scenario: scenario.name().to_string(),
        reason,
    })?;
    let inputs = workload.inputs(scenario.seed);
    let config = scenario.sim_config();
    let run = run_session(
        params,
        engine_config(scenario, protocol, randomness),
        &config,
        |e| workload.program(e, inputs.clone()),
    )?;
    let outcome = outcome(&run, |done| {
        let (first, opened) = done[0];
        if let Some((p, _)) = done.iter().find(|(_, d)| d.0 != opened.0) {
            return Err((
                format!("party {p} opened other values than party {first}"),
                Some(*p),
            ));
        }
        workload
            .verify(&inputs, &opened.0)
            .map_err(|mismatch| (mismatch.to_string(), None))
    });
    let rounds = run
        .parties
        .iter()
        .filter_map(|p| match &p.end {
            PartyEnd::Done((_, stats)) => Some(stats.rounds),
            _ => None,
        })
        .max()
        .unwrap_or(run.round_end_ns.len() as u64);
    let mut report = assemble(scenario, protocol, &run, outcome, rounds);
    report.op = workload.op.to_string();
    report.batch = workload.batch;
    report.repetitions = workload.repetitions;
    let (compute, span) = report.phase_total("compute");
    report.compute_ns = span;
    report.compute_bytes = compute.bytes_sent;
    report.compute_rounds = report
        .party_reports
        .iter()
        .flat_map(|p| {
            p.phases
                .iter()
                .filter(|ph| ph.name == "compute")
                .map(|ph| ph.net.rounds)
        })
        .max()
        .unwrap_or(0);
    Ok(report)
}

fn run_job(
    scenario: &Scenario,
    protocol: MulProtocol,
    randomness: mpc::Randomness,
    job: Arc<JobWorkload>,
) -> Result<RunReport, SimError> {
    let params = scenario.params().map_err(|reason| SimError::Invalid {
        scenario: scenario.name().to_string(),
        reason,
    })?;
    let config = scenario.sim_config();
    let run = run_session(
        params,
        engine_config(scenario, protocol, randomness),
        &config,
        |e| job.clone().program(e),
    )?;
    let outcome = outcome(&run, |done| job.verify(done));
    let rounds = run.round_end_ns.len() as u64;
    let mut report = assemble(scenario, protocol, &run, outcome, rounds);
    report.op = job.spec.kind().to_string();
    report.job = Some(job.label.clone());
    report.batch = job.input_values();
    report.repetitions = 1;
    // The job itself: every phase between the inputs and the outputs.
    let steps: Vec<&PhaseSummary> = report
        .phases
        .iter()
        .filter(|p| p.name != "input" && p.name != "output")
        .collect();
    report.compute_ns = steps.iter().map(|p| p.virtual_ns).sum();
    report.compute_rounds = steps.iter().map(|p| p.rounds).sum();
    report.compute_bytes = steps.iter().map(|p| p.bytes_sent).sum();
    Ok(report)
}

/// The report of a session, but for the workload's own fields.
fn assemble<T>(
    scenario: &Scenario,
    protocol: MulProtocol,
    run: &SessionRun<T>,
    mut outcome: Outcome,
    rounds: u64,
) -> RunReport {
    // A crashed worker is named with its site, as a user of the cluster knows it.
    if let (Some(p), Some(reason)) = (outcome.party, outcome.reason.as_mut()) {
        if let Some(site) = scenario.network.site_of(p) {
            *reason = reason.replacen(
                &format!("party {p} crashed"),
                &format!("party {p} ({site}) crashed"),
                1,
            );
        }
    }
    let party_reports: Vec<PartyReport> = run
        .parties
        .iter()
        .enumerate()
        .map(|(p, r)| {
            let mut total = NetStats::default();
            r.phases.iter().for_each(|ph| add(&mut total, &ph.net));
            let (status, error) = match &r.end {
                PartyEnd::Done(_) => ("ok", None),
                PartyEnd::Failed(e) => ("failed", Some(e.to_string())),
                PartyEnd::Crashed { .. } => ("crashed", None),
                PartyEnd::Deadlocked { from, round } => (
                    "deadlocked",
                    Some(format!("waits for party {from} (round {round})")),
                ),
                PartyEnd::Stalled => (
                    "stalled",
                    Some("awaited something outside the simulated network".into()),
                ),
            };
            PartyReport {
                party: p as u16,
                site: scenario.network.site_of(p as u16),
                status: status.into(),
                error,
                finish_ns: r.finish_ns,
                total,
                phases: r.phases.clone(),
            }
        })
        .collect();
    let mut report = RunReport {
        scenario: scenario.name().to_string(),
        protocol: protocol.to_string(),
        parties: run.parties.len(),
        threshold: scenario.params().map_or(0, |p| p.t()),
        seed: scenario.seed,
        network: scenario.network.label(),
        op: String::new(),
        job: None,
        batch: 0,
        repetitions: 0,
        outcome,
        virtual_ns: run.virtual_ns,
        virtual_s: ns_to_s(run.virtual_ns),
        compute_ns: 0,
        rounds,
        compute_rounds: 0,
        messages: party_reports.iter().map(|p| p.total.messages_sent).sum(),
        bytes: party_reports.iter().map(|p| p.total.bytes_sent).sum(),
        compute_bytes: 0,
        phases: Vec::new(),
        party_reports,
        round_end_ns: run.round_end_ns.clone(),
        wall: run.wall.clone(),
    };
    report.phases = report.phase_summaries();
    report
}

/// How a run ended: the crashed party first, then a deadlock, then the earliest failure;
/// when every party finished, `verify` checks their results (party id and result each).
fn outcome<T>(
    run: &SessionRun<T>,
    verify: impl FnOnce(&[(u16, &T)]) -> Result<(), (String, Option<u16>)>,
) -> Outcome {
    let failed = |reason: String, party: Option<u16>| Outcome {
        status: Status::Failed,
        reason: Some(reason),
        party,
    };
    // The first failure of a party other than the crashed ones, for context.
    let first_error = run
        .parties
        .iter()
        .enumerate()
        .filter_map(|(p, r)| match &r.end {
            PartyEnd::Failed(e) => Some((r.finish_ns, p, e.to_string(), blamed(e))),
            PartyEnd::Stalled => Some((
                r.finish_ns,
                p,
                "awaited something outside the simulated network".into(),
                None,
            )),
            _ => None,
        })
        .min_by_key(|(t, p, _, _)| (*t, *p));

    let crashed = run
        .parties
        .iter()
        .enumerate()
        .filter_map(|(p, r)| match r.end {
            PartyEnd::Crashed { at_ns } => Some((at_ns, p)),
            _ => None,
        })
        .min();
    if let Some((at_ns, p)) = crashed {
        let mut reason = format!("party {p} crashed at {:.6} s", ns_to_s(at_ns));
        if let Some((t, q, e, _)) = &first_error {
            reason += &format!("; then party {q} failed at {:.6} s: {e}", ns_to_s(*t));
        }
        return failed(reason, Some(p as u16));
    }
    if let Some(d) = &run.deadlock {
        return failed(d.to_string(), d.blocked.first().map(|b| b.from));
    }
    if let Some((t, p, e, blame)) = first_error {
        return failed(
            format!("party {p} failed at {:.6} s: {e}", ns_to_s(t)),
            blame.or(Some(p as u16)),
        );
    }

    let done: Vec<(u16, &T)> = run
        .parties
        .iter()
        .enumerate()
        .filter_map(|(p, r)| match &r.end {
            PartyEnd::Done(v) => Some((p as u16, v)),
            _ => None,
        })
        .collect();
    match verify(&done) {
        Ok(()) => Outcome {
            status: Status::Ok,
            reason: None,
            party: None,
        },
        Err((reason, party)) => Outcome {
            status: Status::Mismatch,
            reason: Some(reason),
            party,
        },
    }
}
