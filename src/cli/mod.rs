//! The command tree (`DESIGN.md`, "Command line"). Each command lives in its own module; this
//! one only declares the arguments.

pub(crate) mod sim;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Secure multiparty computation on secret-shared data: statistics, matching and settlement.
#[derive(Parser)]
#[command(name = "quorate", version, about)]
pub(crate) struct Cli {
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Every command.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// A throwaway local cluster, sample data, every job kind, ledger verified.
    Demo,
    /// Runs a scenario: n parties in one process over a simulated network, in virtual time.
    Simulate {
        /// The scenario file (TOML), e.g. simulations/scenarios/wan-5.toml.
        scenario: PathBuf,
        /// Writes report.json, CSVs and SVG plots here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replaces the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Prints the report as JSON instead of RESULT lines.
        #[arg(long)]
        json: bool,
    },
    /// The research benchmark matrix: operations × parties × protocols × networks, each cell
    /// checked against the plaintext computation.
    Bench {
        /// Party counts (threshold (n-1)/2 each).
        #[arg(long, value_delimiter = ',', default_value = "3,5,7")]
        parties: Vec<usize>,
        /// Operations: mul, lt, le, gt, ge, eq, select, fxmul, div, sqrt.
        #[arg(long, value_delimiter = ',', default_value = "mul,lt,eq,fxmul")]
        ops: Vec<String>,
        /// Multiplication protocols: grr, dn07.
        #[arg(long, value_delimiter = ',', default_value = "grr,dn07")]
        protocol: Vec<String>,
        /// Networks: lan, wan, ideal.
        #[arg(long, value_delimiter = ',', default_value = "lan,wan")]
        network: Vec<String>,
        /// Elements per batch.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Writes CSV, JSON, a Markdown table and SVG plots here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Prints the cells as JSON instead of RESULT lines.
        #[arg(long)]
        json: bool,
    },
}
