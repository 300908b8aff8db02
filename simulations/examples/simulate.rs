//! Runs one scenario and prints a `RESULT` line per protocol variant.
//!
//! `cargo run --release -p simulations --example simulate -- SCENARIO.toml [--out DIR] [--seed N]`

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut path, mut out, mut seed) = (None, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => {
                out = Some(PathBuf::from(
                    args.next()
                        .ok_or_else(|| anyhow::anyhow!("--out needs a directory"))?,
                ))
            }
            "--seed" => {
                seed = Some(
                    args.next()
                        .ok_or_else(|| anyhow::anyhow!("--seed needs a number"))?
                        .parse()?,
                )
            }
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            other => anyhow::bail!("unexpected argument '{other}'"),
        }
    }
    let path = path
        .ok_or_else(|| anyhow::anyhow!("usage: simulate SCENARIO.toml [--out DIR] [--seed N]"))?;
    let report = simulations::run_scenario_file(&path, out.as_deref(), seed)?;
    for line in report.result_lines() {
        println!("{line}");
    }
    Ok(())
}
