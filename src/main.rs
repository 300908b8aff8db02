//! `quorate`: the command line of the Quorate MPC network. Parses arguments, sets up logging and
//! hands each command to its module in `cli`.

mod cli;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Demo => {
            println!(
                "quorate demo: the local cluster arrives with the coordinator; meanwhile, the engine in a simulated network:"
            );
            cli::sim::bench(
                vec![3],
                vec![
                    "mul".into(),
                    "lt".into(),
                    "eq".into(),
                    "fxmul".into(),
                    "div".into(),
                ],
                vec!["grr".into(), "dn07".into()],
                vec!["lan".into()],
                100,
                None,
                false,
            )
        }
        Command::Simulate {
            scenario,
            out,
            seed,
            json,
        } => cli::sim::simulate(scenario, out, seed, json),
        Command::Bench {
            parties,
            ops,
            protocol,
            network,
            batch,
            out,
            json,
        } => cli::sim::bench(parties, ops, protocol, network, batch, out, json),
    }
}
