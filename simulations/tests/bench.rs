//! The benchmark matrix on a small grid: every cell verified, every file written.

use mpc::MulProtocol;
use simulations::scenario::Preset;
use simulations::{BenchOptions, Op, run_bench};

#[test]
fn a_small_matrix_writes_tables_and_charts() {
    let dir = std::env::temp_dir().join(format!("quorate-sim-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = BenchOptions {
        parties: vec![3, 5],
        ops: vec![Op::Mul, Op::Select],
        protocols: vec![MulProtocol::Grr, MulProtocol::Dn07],
        randomness: vec![mpc::Randomness::Dealt],
        networks: vec![Preset::Lan, Preset::Wan],
        batch: 10,
        out_dir: Some(dir.clone()),
        ..Default::default()
    };
    let report = run_bench(options.clone()).unwrap();
    assert_eq!(report.cells.len(), 2 * 2 * 2 * 2);
    assert!(
        report.cells.iter().all(|c| c.status == "ok"),
        "{:?}",
        report.cells
    );
    let wan_grr = report
        .cells
        .iter()
        .find(|c| c.network == "wan" && c.protocol == "grr" && c.op == "mul")
        .unwrap();
    assert_eq!(wan_grr.compute_rounds, 1, "GRR multiplies in one round");
    assert!(
        (wan_grr.compute_s - 0.05).abs() < 0.001,
        "one 50 ms round: {}",
        wan_grr.compute_s
    );
    let md = std::fs::read_to_string(dir.join("bench.md")).unwrap();
    assert!(
        md.contains("| mul | 3 | 1 |") && md.contains("| select | 5 | 2 |"),
        "{md}"
    );
    for f in [
        "bench.csv",
        "bench.json",
        "bench-wall.csv",
        "bench-mul-time.svg",
        "bench-select-bytes.svg",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let again = run_bench(BenchOptions {
        out_dir: None,
        ..options
    })
    .unwrap();
    assert_eq!(again.cells, report.cells, "one seed, one matrix");
    let _ = std::fs::remove_dir_all(dir);
}

/// The security level is a dimension of the matrix: a malicious cell runs with every product
/// checked and still matches the plaintext computation (under PRSS, the default randomness,
/// which the malicious level accepts).
#[test]
fn security_is_a_dimension() {
    let options = BenchOptions {
        parties: vec![3],
        ops: vec![Op::Mul, Op::Lt],
        protocols: vec![MulProtocol::Dn07],
        randomness: vec![mpc::Randomness::Prss],
        networks: vec![Preset::Lan],
        security: vec![
            mpc::SecurityLevel::SemiHonest,
            mpc::SecurityLevel::Malicious,
        ],
        batch: 10,
        ..Default::default()
    };
    let report = run_bench(options).unwrap();
    let labels: Vec<(&str, &str)> = report
        .cells
        .iter()
        .map(|c| (c.op.as_str(), c.protocol.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("mul", "dn07+prss"),
            ("mul", "dn07+prss+malicious"),
            ("lt", "dn07+prss"),
            ("lt", "dn07+prss+malicious")
        ]
    );
    assert!(
        report.cells.iter().all(|c| c.status == "ok"),
        "{:?}",
        report.cells
    );
    // The check costs rounds: a malicious cell takes more than its semi-honest twin.
    assert!(report.cells[1].rounds > report.cells[0].rounds);
}
