//! `quorate simulate` and `quorate bench`: thin calls into the `simulations` crate.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mpc::MulProtocol;
use simulations::job::presets::JobPreset;
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

fn parse_list<T, E: std::fmt::Display>(
    what: &str,
    items: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>> {
    items
        .iter()
        .map(|s| parse(s.trim()).map_err(|e| anyhow::anyhow!("--{what}: {e}")))
        .collect()
}

/// The matrix's dimensions, as given on the command line.
#[derive(clap::Args)]
pub(super) struct BenchArgs {
    /// Party counts (threshold (n-1)/2 each).
    #[arg(long, value_delimiter = ',', default_value = "3,5,7")]
    pub(super) parties: Vec<usize>,
    /// Operations: mul, lt, le, gt, ge, eq, select, fxmul, div, sqrt. Default:
    /// mul,lt,eq,fxmul without --jobs, none with.
    #[arg(long, value_delimiter = ',')]
    pub(super) ops: Option<Vec<String>>,
    /// Jobs of the catalog by kind and size: auction:BIDDERSxPRICES, stats:ROWS,
    /// settlement:FIRMSxOBLIGATIONS, orders:FIRMSxORDERS.
    #[arg(long, value_delimiter = ',')]
    pub(super) jobs: Vec<String>,
    /// Multiplication protocols: grr, dn07.
    #[arg(long, value_delimiter = ',', default_value = "grr,dn07")]
    pub(super) protocol: Vec<String>,
    /// Sources of randomness, each against every protocol: dealt (dealing rounds, bit
    /// circuits on field elements) or prss (pseudo-random secret sharing, edaBits
    /// comparisons in GF(2^8); the default, as in the engine and the workers).
    #[arg(long, value_delimiter = ',', default_value = "prss")]
    pub(super) randomness: Vec<String>,
    /// Security levels, each against every protocol: semi-honest, malicious (with abort:
    /// every product and random bit checked before outputs are opened).
    #[arg(long, value_delimiter = ',', default_value = "semi-honest")]
    pub(super) security: Vec<String>,
    /// Networks: lan, wan, ideal, or measured sites joined by '+'
    /// (sites:frankfurt+ireland+virginia, 1 Gbit/s between sites).
    #[arg(long, value_delimiter = ',', default_value = "lan,wan")]
    pub(super) network: Vec<String>,
    /// Elements per batch.
    #[arg(long, default_value_t = 1000)]
    pub(super) batch: usize,
}

/// Runs the benchmark matrix.
pub(super) fn bench(args: BenchArgs, out: Option<PathBuf>, json: bool) -> Result<()> {
    let jobs = parse_list("jobs", &args.jobs, |s| s.parse::<JobPreset>())?;
    let ops = match &args.ops {
        Some(ops) => parse_list("ops", ops, |s| s.parse::<Op>())?,
        None if jobs.is_empty() => BenchOptions::default().ops,
        None => Vec::new(),
    };
    let (mut networks, mut sites) = (Vec::new(), Vec::new());
    for s in &args.network {
        match s.trim() {
            "lan" => networks.push(Preset::Lan),
            "wan" => networks.push(Preset::Wan),
            "ideal" => networks.push(Preset::Ideal),
            other => match other.strip_prefix("sites:") {
                Some(list) => {
                    let list: Vec<String> = list.split('+').map(str::to_string).collect();
                    for site in &list {
                        simulations::sites::site(site)
                            .map_err(|e| anyhow::anyhow!("--network: {e}"))?;
                    }
                    sites.push(list);
                }
                None => bail!(
                    "--network: unknown network '{other}' (expected lan, wan, ideal or sites:A+B+...)"
                ),
            },
        }
    }
    let options = BenchOptions {
        parties: args.parties,
        ops,
        jobs,
        protocols: parse_list("protocol", &args.protocol, |s| s.parse::<MulProtocol>())?,
        randomness: parse_list("randomness", &args.randomness, |s| {
            s.parse::<mpc::Randomness>()
        })?,
        security: parse_list("security", &args.security, |s| {
            s.parse::<mpc::SecurityLevel>()
        })?,
        networks,
        sites,
        batch: args.batch,
        out_dir: out.clone(),
        print_results: !json,
        ..BenchOptions::default()
    };
    let cells = options.parties.len()
        * (options.ops.len() + options.jobs.len())
        * options.protocols.len()
        * options.randomness.len()
        * options.security.len()
        * (options.networks.len() + options.sites.len());
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
