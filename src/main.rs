//! `quorate`: the command line of the Quorate MPC network.

use clap::{Parser, Subcommand};

/// Secure multiparty computation on secret-shared data: statistics, matching and settlement.
#[derive(Parser)]
#[command(name = "quorate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A throwaway local cluster, sample data, every job kind, ledger verified.
    Demo,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => {
            println!("quorate demo: not yet — the local cluster lands with the coordinator issue.");
            println!(
                "Meanwhile the engine runs in memory: cargo run --release -p mpc --example throughput -- --op lt"
            );
            Ok(())
        }
    }
}
