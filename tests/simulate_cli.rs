//! `quorate simulate` and `quorate bench` through the real binary.

use std::process::Command;

fn quorate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quorate"))
}

#[test]
fn a_shipped_scenario_runs_and_writes_its_report() {
    let out = tempfile::tempdir().unwrap();
    let run = quorate()
        .args(["simulate", "simulations/scenarios/lan-3.toml", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("RESULT") && l.contains("status=ok"))
            .count(),
        2,
        "{stdout}"
    );
    for file in ["report.json", "runs.csv", "rounds.svg"] {
        assert!(out.path().join(file).exists(), "{file} missing");
    }
}

#[test]
fn a_crash_scenario_names_the_crashed_party() {
    let run = quorate()
        .args(["simulate", "simulations/scenarios/crash-mul.toml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success());
    assert!(
        stdout.contains("status=failed") && stdout.contains("party 2"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_are_named() {
    let run = quorate()
        .args(["bench", "--ops", "mul,frobnicate"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("frobnicate"));
    let run = quorate()
        .args(["simulate", "no/such/scenario.toml"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("no/such/scenario.toml"));
}

#[test]
fn a_job_crash_scenario_names_the_worker_and_bench_takes_jobs_and_sites() {
    let run = quorate()
        .args(["simulate", "simulations/scenarios/settlement-crash.toml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success());
    assert!(
        stdout.contains("op=settlement") && stdout.contains("reason=\"party 3 crashed"),
        "{stdout}"
    );
    let run = quorate()
        .args([
            "bench",
            "--jobs",
            "stats:60",
            "--parties",
            "3",
            "--protocol",
            "grr",
            "--network",
            "sites:frankfurt+virginia",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("op=statistics") && stdout.contains("network=sites:frankfurt+virginia"),
        "{stdout}"
    );
    for (args, named) in [
        (["--jobs", "lottery:3"], "lottery"),
        (["--network", "sites:aarhus"], "aarhus"),
    ] {
        let run = quorate().arg("bench").args(args).output().unwrap();
        assert!(!run.status.success());
        assert!(String::from_utf8_lossy(&run.stderr).contains(named));
    }
}
