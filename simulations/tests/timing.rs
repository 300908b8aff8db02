//! Virtual time against the link model, deadlocks, slow parties and configuration errors.

use mpc::{EngineConfig, MulProtocol, Params, PartyId};
use simulations::executor::{PartyEnd, run_session};
use simulations::job::JobFileError;
use simulations::link::{LinkModel, LinkTable, NS_PER_MS, NS_PER_S};
use simulations::report::Status;
use simulations::runner::run_protocol;
use simulations::scenario::{FaultSpec, Preset, ScenarioError, WorkloadSpec};
use simulations::{Op, Scenario, SimConfig, SimError};

fn latency_scenario(latency_ms: f64, mbps: f64, batch: usize, reps: usize) -> Scenario {
    let mut s = Scenario::new(
        "latency",
        3,
        Preset::Ideal,
        WorkloadSpec {
            batch,
            repetitions: reps,
            ..WorkloadSpec::op(Op::Mul)
        },
    );
    s.network.latency_ms = Some(latency_ms);
    s.network.bandwidth_mbps = Some(mbps);
    s
}

#[test]
fn virtual_time_is_rounds_times_latency_plus_serialization() {
    // GRR: two input rounds, one round per multiplication, one opening of every product. The
    // rounds are sequential, every message of a round goes on its own link, and each carries
    // `batch` field elements of 32 bytes, but for the opening: `reps * batch` elements.
    for (latency_ms, mbps, batch, reps) in [
        (100.0, 0.0, 1, 1000),
        (50.0, 100.0, 1000, 3),
        (0.2, 10_000.0, 5000, 2),
    ] {
        let s = latency_scenario(latency_ms, mbps, batch, reps);
        let run = run_protocol(&s, MulProtocol::Grr).unwrap();
        assert_eq!(run.outcome.status, Status::Ok);
        assert_eq!(run.rounds, 2 + reps as u64 + 1);
        let serialization = if mbps > 0.0 {
            (batch * 32) as f64 * 8.0 / (mbps * 1e6)
        } else {
            0.0
        };
        let expected = run.rounds as f64 * latency_ms / 1e3 + (2 + 2 * reps) as f64 * serialization;
        assert!(
            (run.virtual_s - expected).abs() < 1e-6 * run.rounds as f64,
            "{} vs {expected}",
            run.virtual_s
        );
    }
}

#[test]
fn a_thousand_sequential_rounds_over_100ms_links_take_100_virtual_seconds() {
    let run = run_protocol(&latency_scenario(100.0, 0.0, 1, 1000), MulProtocol::Grr).unwrap();
    assert!(run.virtual_s >= 100.0, "{}", run.virtual_s);
    assert_eq!(run.compute_rounds, 1000);
}

#[test]
fn a_slow_party_and_a_slow_link_cost_what_they_should() {
    let base = run_protocol(&latency_scenario(10.0, 0.0, 10, 1), MulProtocol::Grr).unwrap();
    let mut slow = latency_scenario(10.0, 0.0, 10, 1);
    slow.faults.push(FaultSpec::Slow {
        party: 1,
        cpu_multiplier: 1.0,
        extra_delay_ms: 5.0,
    });
    let slowed = run_protocol(&slow, MulProtocol::Grr).unwrap();
    // Party 1's delay lands on the critical path twice: its input (round 1) and the opening.
    // In the multiplication round it sends while the others still wait for its input, so its
    // delay there hides behind the one already paid.
    assert_eq!(slowed.virtual_ns - base.virtual_ns, 2 * 5 * NS_PER_MS);

    let mut far = latency_scenario(10.0, 0.0, 10, 1);
    let text = "from = 0\nto = 2\nlatency_ms = 30.0\n";
    far.network.links.push(toml::from_str(text).unwrap());
    let run = run_protocol(&far, MulProtocol::Grr).unwrap();
    assert_eq!(run.outcome.status, Status::Ok);
    assert!(run.virtual_ns > base.virtual_ns + 20 * NS_PER_MS);
}

#[test]
fn a_deadlock_is_reported_naming_the_blocked_parties() {
    let params = Params::new(3, 1).unwrap();
    let config = SimConfig {
        seed: 1,
        links: LinkTable::uniform(LinkModel::ideal(NS_PER_MS)),
        faults: Default::default(),
        compute: Default::default(),
        recv_timeout_ns: None,
    };
    // Parties disagree on who inputs: each waits for another's input forever.
    let run = run_session(
        params,
        EngineConfig::default(),
        &config,
        |mut e| async move {
            let owner = PartyId((e.me().0 + 1) % 3);
            let x = e.input_ints(owner, None, 1, 8).await?;
            Ok(x.len())
        },
    )
    .unwrap();
    let deadlock = run.deadlock.expect("a deadlock");
    assert_eq!(deadlock.blocked.len(), 3);
    assert!(
        deadlock
            .to_string()
            .contains("party 0 waits for party 1 (round 0)"),
        "{deadlock}"
    );
    assert!(matches!(
        run.parties[2].end,
        PartyEnd::Deadlocked {
            from: PartyId(0),
            round: 0
        }
    ));
}

#[test]
fn a_silent_peer_times_out_in_virtual_time() {
    let params = Params::new(3, 1).unwrap();
    let config = SimConfig {
        seed: 1,
        links: LinkTable::uniform(LinkModel::ideal(NS_PER_MS)),
        faults: Default::default(),
        compute: Default::default(),
        recv_timeout_ns: Some(3600 * NS_PER_S),
    };
    let started = std::time::Instant::now();
    let run = run_session(
        params,
        EngineConfig::default(),
        &config,
        |mut e| async move {
            let owner = PartyId((e.me().0 + 1) % 3);
            e.input_ints(owner, None, 1, 8).await.map(|x| x.len())
        },
    )
    .unwrap();
    assert!(run.deadlock.is_none());
    assert_eq!(run.virtual_ns, 3600 * NS_PER_S);
    assert!(
        started.elapsed().as_secs() < 60,
        "an hour of virtual waiting is not an hour of real time"
    );
    let PartyEnd::Failed(e) = &run.parties[0].end else {
        panic!("party 0 times out")
    };
    assert!(
        e.to_string().contains("party 1 sent nothing for round 0"),
        "{e}"
    );
}

#[test]
fn scenario_files_refuse_typos_and_bad_values() {
    let dir = std::env::temp_dir().join(format!("quorate-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, text: &str, needle: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let err = Scenario::load(&path).unwrap_err();
        assert!(matches!(err, SimError::Scenario { .. }));
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(needle), "{msg}");
    };
    let ok = "parties = 3\n[workload]\nop = \"mul\"\n";
    check("typo.toml", &format!("{ok}bacth = 3\n"), "bacth");
    check(
        "net.toml",
        "parties = 3\n[network]\nlatncy_ms = 3.0\n[workload]\nop = \"mul\"\n",
        "latncy_ms",
    );
    check(
        "fault.toml",
        &format!("{ok}[[faults]]\nkind = \"crash\"\nparty = 1\nwhen = 3\n"),
        "when",
    );
    check(
        "crash.toml",
        &format!("{ok}[[faults]]\nkind = \"crash\"\nparty = 1\n"),
        "at_ms or at_round",
    );
    check(
        "party.toml",
        &format!("{ok}[[faults]]\nkind = \"slow\"\nparty = 9\n"),
        "no party 9",
    );
    check(
        "op.toml",
        "parties = 3\n[workload]\nop = \"frobnicate\"\n",
        "frobnicate",
    );
    check(
        "t.toml",
        "parties = 4\nthreshold = 2\n[workload]\nop = \"mul\"\n",
        "2t < n",
    );
    let _ = std::fs::remove_dir_all(dir);
    // The same refusals, by kind.
    let reason = |text: &str| match Scenario::from_toml(text, std::path::Path::new("s.toml")) {
        Err(SimError::Scenario { reason, .. }) => reason,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted: {text}"),
    };
    assert!(matches!(
        reason(&format!("{ok}[[faults]]\nkind = \"crash\"\nparty = 1\n")),
        ScenarioError::CrashWhen(1)
    ));
    assert!(matches!(
        reason(&format!("{ok}[[faults]]\nkind = \"slow\"\nparty = 9\n")),
        ScenarioError::NoParty {
            field: "faults.slow.party",
            party: 9,
            parties: 3
        }
    ));
    assert!(matches!(
        reason("parties = 4\nthreshold = 2\n[workload]\nop = \"mul\"\n"),
        ScenarioError::Params(_)
    ));
    assert!(matches!(
        reason("parties = 3\n"),
        ScenarioError::WorkloadOrJob
    ));
    assert!(matches!(
        reason(&format!("{ok}bacth = 3\n")),
        ScenarioError::Parse(_)
    ));
    assert!(matches!(
        reason("parties = 3\n[network]\nsites = [\"mars\"]\n[workload]\nop = \"mul\"\n"),
        ScenarioError::Site(_)
    ));
    assert!(matches!(
        reason(
            "parties = 3\n[job]\nsql = \"SELECT COUNT(*) FROM t\"\nspec_file = \"x.toml\"\n[job.data]\nkind = \"table\"\ndataset = \"t\"\nowners = 1\nrows = 1\ncolumns = []\n"
        ),
        ScenarioError::Job(JobFileError::NotOne)
    ));
}

#[test]
fn compute_models_advance_virtual_time() {
    use simulations::sim_net::ComputeModel;
    let mut s = latency_scenario(0.0, 0.0, 100, 2);
    assert_eq!(
        run_protocol(&s, MulProtocol::Dn07).unwrap().virtual_ns,
        0,
        "free links, free compute"
    );
    s.compute = ComputeModel::PerByte {
        ns_per_message: 1000.0,
        ns_per_byte: 1.0,
    };
    let (a, b) = (
        run_protocol(&s, MulProtocol::Dn07).unwrap(),
        run_protocol(&s, MulProtocol::Dn07).unwrap(),
    );
    assert_eq!(a.outcome.status, Status::Ok);
    assert!(a.virtual_ns > 0 && a.virtual_ns == b.virtual_ns);
    s.faults.push(FaultSpec::Slow {
        party: 0,
        cpu_multiplier: 10.0,
        extra_delay_ms: 0.0,
    });
    assert!(
        run_protocol(&s, MulProtocol::Dn07).unwrap().virtual_ns > a.virtual_ns,
        "a slow CPU shows"
    );
    s.compute = ComputeModel::Measured { scale: 1.0 };
    let measured = run_protocol(&s, MulProtocol::Dn07).unwrap();
    assert_eq!(measured.outcome.status, Status::Ok);
    assert!(measured.virtual_ns > 0);
}
