//! `quorate simulate` and `quorate bench`: thin calls into the `simulations` crate.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mpc::MulProtocol;
use simulations::scenario::Preset;
use simulations::{BenchOptions, Op};

/// Runs one scenario file and prints its results.
pub(super) fn simulate(
    scenario: PathBuf,
    out: Option<PathBuf>,
    seed: Option<u64>,
    json: bool,
) -> Result<()> {
    let report = simulations::run_scenario_file(&scenario, out.as_deref(), seed)
        .with_context(|| format!("scenario {}", scenario.display()))?;
    if json {
        println!("{}", report.to_json());
    } else {
        for line in report.result_lines() {
            println!("{line}");
        }
        if let Some(dir) = &out {
            eprintln!("report and plots written to {}", dir.display());
        }
    }
    // A run that failed because of a scheduled fault is what the scenario shows; a result that
    // differs from the plaintext computation is a defect.
    let wrong = report
        .runs
        .iter()
        .filter(|r| r.outcome.status == simulations::report::Status::Mismatch)
        .count();
    if wrong > 0 {
        bail!("{wrong} run(s) did not match the plaintext computation");
    }
    Ok(())
}

fn parse_list<T>(
    what: &str,
    items: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>> {
    items
        .iter()
        .map(|s| parse(s.trim()).map_err(|e| anyhow::anyhow!("--{what}: {e}")))
        .collect()
}

/// Runs the benchmark matrix.
#[allow(clippy::too_many_arguments)]
pub(super) fn bench(
    parties: Vec<usize>,
    ops: Vec<String>,
    protocol: Vec<String>,
    randomness: Vec<String>,
    network: Vec<String>,
    batch: usize,
    out: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let options = BenchOptions {
        parties,
        ops: parse_list("ops", &ops, |s| s.parse::<Op>())?,
        protocols: parse_list("protocol", &protocol, |s| s.parse::<MulProtocol>())?,
        randomness: parse_list("randomness", &randomness, |s| s.parse::<mpc::Randomness>())?,
        networks: parse_list("network", &network, |s| match s {
            "lan" => Ok(Preset::Lan),
            "wan" => Ok(Preset::Wan),
            "ideal" => Ok(Preset::Ideal),
            other => Err(format!(
                "unknown network '{other}' (expected lan, wan or ideal)"
            )),
        })?,
        batch,
        out_dir: out.clone(),
        print_results: !json,
        ..BenchOptions::default()
    };
    let cells = options.parties.len()
        * options.ops.len()
        * options.protocols.len()
        * options.randomness.len()
        * options.networks.len();
    eprintln!("running {cells} cells (each checked against the plaintext computation)");
    let report = simulations::run_bench(options)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report.cells)?);
    }
    if let Some(dir) = &out {
        eprintln!(
            "CSV, JSON, Markdown table and plots written to {}",
            dir.display()
        );
    }
    let bad = report.cells.iter().filter(|c| c.status != "ok").count();
    if bad > 0 {
        bail!("{bad} of {cells} cells did not match the plaintext computation");
    }
    Ok(())
}
