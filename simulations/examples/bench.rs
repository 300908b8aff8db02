//! Runs the benchmark matrix and prints a `RESULT` line per cell, then the Markdown table.
//!
//! `cargo run --release -p simulations --example bench -- [--parties 3,5,7] [--ops mul,lt]
//!  [--jobs auction:1200x4000,stats:100000] [--protocols grr,dn07] [--randomness dealt,prss]
//!  [--networks lan,wan] [--sites frankfurt+ireland+virginia] [--batch N] [--reps N] [--seed N]
//!  [--out DIR]`
//!
//! With `--jobs` and no `--ops`, only the jobs run; the jobs' table follows the operations'.

use std::path::PathBuf;

use simulations::BenchOptions;
use simulations::scenario::Preset;

fn list<T>(
    arg: Option<String>,
    parse: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let arg = arg.ok_or_else(|| anyhow::anyhow!("a flag needs a comma-separated list"))?;
    arg.split(',').map(|s| parse(s.trim())).collect()
}

fn main() -> anyhow::Result<()> {
    let mut options = BenchOptions {
        print_results: true,
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    let mut ops_given = false;
    while let Some(flag) = args.next() {
        let value = args.next();
        match flag.as_str() {
            "--parties" => options.parties = list(value, |s| Ok(s.parse()?))?,
            "--ops" => {
                ops_given = true;
                options.ops = list(value, |s| s.parse().map_err(anyhow::Error::msg))?
            }
            "--jobs" => options.jobs = list(value, |s| s.parse().map_err(anyhow::Error::msg))?,
            "--sites" => {
                options.sites = list(value, |s| Ok(s.split('+').map(str::to_string).collect()))?
            }
            "--protocols" => {
                options.protocols = list(value, |s| s.parse().map_err(anyhow::Error::msg))?
            }
            "--randomness" => {
                options.randomness = list(value, |s| s.parse().map_err(anyhow::Error::msg))?
            }
            "--networks" => {
                options.networks = list(value, |s| match s {
                    "lan" => Ok(Preset::Lan),
                    "wan" => Ok(Preset::Wan),
                    "ideal" => Ok(Preset::Ideal),
                    other => anyhow::bail!("unknown network '{other}' (lan, wan, ideal)"),
                })?
            }
            "--batch" => {
                options.batch = value
                    .ok_or_else(|| anyhow::anyhow!("--batch needs a number"))?
                    .parse()?
            }
            "--reps" => {
                options.repetitions = value
                    .ok_or_else(|| anyhow::anyhow!("--reps needs a number"))?
                    .parse()?
            }
            "--seed" => {
                options.seed = value
                    .ok_or_else(|| anyhow::anyhow!("--seed needs a number"))?
                    .parse()?
            }
            "--out" => {
                options.out_dir = Some(PathBuf::from(
                    value.ok_or_else(|| anyhow::anyhow!("--out needs a directory"))?,
                ))
            }
            other => anyhow::bail!("unknown flag '{other}'"),
        }
    }
    if !options.jobs.is_empty() && !ops_given {
        options.ops.clear();
    }
    let report = simulations::run_bench(options)?;
    println!("{}", report.markdown());
    if !report.cells.is_empty() && report.cells.iter().any(|c| c.op.contains(':')) {
        println!("{}", report.job_markdown());
    }
    Ok(())
}
