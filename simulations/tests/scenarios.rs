//! The shipped scenarios: determinism, the crash, the partition and the 31-party run.

use std::path::{Path, PathBuf};

use simulations::faults::PartitionMode;
use simulations::report::Status;
use simulations::runner::run_scenario;
use simulations::scenario::FaultSpec;
use simulations::{Scenario, run_scenario_file};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quorate-sim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn one_seed_gives_byte_identical_reports_and_files() {
    let (a, b) = (out_dir("det-a"), out_dir("det-b"));
    let ra = run_scenario_file(&scenario("wan-5.toml"), Some(&a), None).unwrap();
    let rb = run_scenario_file(&scenario("wan-5.toml"), Some(&b), None).unwrap();
    assert_eq!(ra.to_json(), rb.to_json());
    assert_eq!(ra.runs.len(), 2);
    assert!(
        ra.runs.iter().all(|r| r.outcome.status == Status::Ok),
        "{:?}",
        ra.runs[0].outcome
    );
    let mut compared = 0;
    for entry in std::fs::read_dir(&a).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().starts_with("wall.") {
            continue; // wall-clock figures differ by design
        }
        let (fa, fb) = (
            std::fs::read(a.join(&name)).unwrap(),
            std::fs::read(b.join(&name)).unwrap(),
        );
        assert!(fa == fb, "{name:?} differs between two runs with one seed");
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} files compared");
    assert!(
        a.join("wall.json").exists()
            && a.join("rounds.svg").exists()
            && a.join("bytes.svg").exists()
    );

    let other = run_scenario_file(&scenario("wan-5.toml"), None, Some(99)).unwrap();
    assert_ne!(
        other.to_json(),
        ra.to_json(),
        "another seed changes the inputs and shares"
    );
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

#[test]
fn jitter_and_loss_are_reproducible_too() {
    let mut s = Scenario::load(&scenario("lan-3.toml")).unwrap();
    s.network.jitter = Some(simulations::link::Jitter::Exponential { mean_ms: 3.0 });
    s.network.loss = Some(0.2);
    s.workload.as_mut().unwrap().repetitions = 5;
    let (a, b) = (run_scenario(&s).unwrap(), run_scenario(&s).unwrap());
    assert_eq!(a.to_json(), b.to_json());
    assert!(a.runs.iter().all(|r| r.outcome.status == Status::Ok));
    let calm = run_scenario(&Scenario::load(&scenario("lan-3.toml")).unwrap()).unwrap();
    assert!(
        a.runs[0].virtual_ns > calm.runs[0].virtual_ns + 10_000_000,
        "loss costs retransmission timeouts"
    );
}

#[test]
fn a_crash_during_multiplication_fails_naming_the_crashed_party() {
    let report = run_scenario_file(&scenario("crash-mul.toml"), None, None).unwrap();
    let run = &report.runs[0];
    assert_eq!(run.outcome.status, Status::Failed);
    assert_eq!(run.outcome.party, Some(2));
    let reason = run.outcome.reason.as_deref().unwrap();
    assert!(reason.starts_with("party 2 crashed"), "{reason}");
    assert_eq!(run.party_reports[2].status, "crashed");
    assert!(
        run.party_reports
            .iter()
            .filter(|p| p.party != 2)
            .all(|p| p.status == "failed")
    );
    // The survivors learn of it one link latency (50 ms) after the crash, not at a timeout.
    assert!(run.virtual_s < 1.0, "{}", run.virtual_s);
}

#[test]
fn a_crash_at_a_virtual_instant_is_named_too() {
    let mut s = Scenario::load(&scenario("crash-mul.toml")).unwrap();
    s.faults = vec![FaultSpec::Crash {
        party: 4,
        at_ms: Some(120.0),
        at_round: None,
    }];
    let run = &run_scenario(&s).unwrap().runs[0];
    assert_eq!(
        (run.outcome.status, run.outcome.party),
        (Status::Failed, Some(4))
    );
    assert!(
        run.outcome
            .reason
            .as_deref()
            .unwrap()
            .contains("party 4 crashed at 0.120000 s")
    );
}

#[test]
fn a_held_partition_delays_the_run_and_a_dropping_one_times_out() {
    let held = Scenario::load(&scenario("partition.toml")).unwrap();
    let run = &run_scenario(&held).unwrap().runs[0];
    assert_eq!(run.outcome.status, Status::Ok, "{:?}", run.outcome);
    let mut healthy = held.clone();
    healthy.faults.clear();
    let base = &run_scenario(&healthy).unwrap().runs[0];
    // Held messages arrive one latency after the heal at 1.06 s.
    assert!(
        run.virtual_s > 1.11 && base.virtual_s < 0.5,
        "{} vs {}",
        run.virtual_s,
        base.virtual_s
    );

    let mut dropped = held.clone();
    let FaultSpec::Partition { mode, .. } = &mut dropped.faults[0] else {
        panic!("a partition")
    };
    *mode = PartitionMode::Drop;
    let run = &run_scenario(&dropped).unwrap().runs[0];
    assert_eq!(run.outcome.status, Status::Failed);
    let reason = run.outcome.reason.as_deref().unwrap();
    assert!(
        reason.contains("sent nothing for round") && reason.contains("within 5000 ms"),
        "{reason}"
    );
    // The silent peer is across the cut from the party that timed out.
    let blamed = run.outcome.party.unwrap();
    let timed_out: u16 = reason["party ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(blamed < 2, timed_out < 2, "{reason}");
    assert!(run.virtual_s >= 5.0, "the receiver waited for its deadline");
}

#[test]
fn thirty_one_parties_run_and_verify() {
    let report = run_scenario_file(&scenario("large-31.toml"), None, None).unwrap();
    for run in &report.runs {
        assert_eq!(
            run.outcome.status,
            Status::Ok,
            "{}: {:?}",
            run.protocol,
            run.outcome
        );
        assert_eq!((run.parties, run.threshold), (31, 15));
        assert_eq!(run.party_reports.len(), 31);
    }
}

#[test]
fn every_shipped_scenario_parses() {
    for dir in ["", "measure"] {
        for entry in std::fs::read_dir(scenario(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}
