//! The command tree (`DESIGN.md`, "Command line"). Each command lives in its own module; this
//! one declares the arguments and dispatches.

mod cluster;
mod data;
mod sim;

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Demo => crate::demo::run(&std::env::current_exe()?),
        Command::Simulate {
            scenario,
            out,
            seed,
            json,
        } => sim::simulate(scenario, out, seed, json),
        Command::Bench {
            parties,
            ops,
            protocol,
            network,
            batch,
            out,
            json,
        } => sim::bench(parties, ops, protocol, network, batch, out, json),
        Command::Cluster {
            command:
                ClusterCommand::Init {
                    dir,
                    workers,
                    threshold,
                    host,
                },
        } => cluster::init(&dir, workers, threshold, host),
        Command::Cluster {
            command: ClusterCommand::Up { dir },
        } => cluster::up(&dir),
        Command::Identity {
            command: IdentityCommand::New { name, cluster },
        } => cluster::new_identity(&cluster, &name),
        Command::Worker { config } => cluster::worker(&config),
        Command::Upload {
            cluster,
            as_name,
            dataset,
            csv,
            schema,
            policy,
            replace,
        } => data::upload(
            &cluster,
            &as_name,
            &dataset,
            &csv,
            schema.as_deref(),
            policy.as_deref(),
            replace,
        ),
        Command::Datasets {
            cluster,
            as_name,
            json,
        } => data::datasets(&cluster, &as_name, json),
    }
}

/// Secure multiparty computation on secret-shared data: statistics, matching and settlement.
#[derive(Parser)]
#[command(name = "quorate", version, about)]
struct Cli {
    /// The command.
    #[command(subcommand)]
    command: Command,
}

/// Every command.
#[derive(Subcommand)]
enum Command {
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
    /// A local cluster: keys, roster and configs; starting it.
    Cluster {
        /// What to do.
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Client identities (a firm, an analyst).
    Identity {
        /// What to do.
        #[command(subcommand)]
        command: IdentityCommand,
    },
    /// Runs one worker node until SIGINT or SIGTERM.
    Worker {
        /// Its configuration file (DIR/workers/worker-I/worker.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Uploads a CSV as a dataset: every value is secret-shared on this machine and each worker
    /// receives only its own shares; the dataset appears only once every worker stored it.
    Upload {
        /// The cluster folder.
        #[arg(long)]
        cluster: PathBuf,
        /// The client identity uploading (the dataset's owner).
        #[arg(long = "as")]
        as_name: String,
        /// The dataset's name.
        #[arg(long)]
        dataset: String,
        /// The CSV file (header row first).
        #[arg(long)]
        csv: PathBuf,
        /// A schema (TOML); inferred from the CSV when absent.
        #[arg(long)]
        schema: Option<PathBuf>,
        /// A policy (TOML); the default policy when absent.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Replace an existing dataset of that name.
        #[arg(long)]
        replace: bool,
    },
    /// Lists the datasets every worker holds.
    Datasets {
        /// The cluster folder.
        #[arg(long)]
        cluster: PathBuf,
        /// The client identity asking.
        #[arg(long = "as")]
        as_name: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Writes keys (mode 0600), the roster and one config per node into DIR.
    Init {
        /// The folder to create.
        dir: PathBuf,
        /// Number of workers.
        #[arg(long, default_value_t = 3)]
        workers: usize,
        /// Threshold t (default: the largest with 2t < n).
        #[arg(long)]
        threshold: Option<usize>,
        /// The host every node listens on (edit roster.toml for several machines).
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
    },
    /// Starts every worker of DIR as a child process; Ctrl-C stops them all.
    Up {
        /// The cluster folder.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Creates a client key and registers it in the roster.
    New {
        /// The client's name.
        name: String,
        /// The cluster folder.
        #[arg(long)]
        cluster: PathBuf,
    },
}
