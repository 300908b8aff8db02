//! The command tree (`DESIGN.md`, "Command line"). Each command lives in its own module; this
//! one declares the arguments and dispatches.

mod cluster;
mod data;
mod jobs;
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
        Command::Bench { args, out, json } => sim::bench(args, out, json),
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
        Command::Upload(args) => data::upload(&args),
        Command::Datasets {
            cluster,
            as_name,
            json,
        } => data::datasets(&cluster, &as_name, json),
        Command::Coordinator { config } => jobs::coordinator(&config),
        Command::Query {
            cluster,
            as_name,
            sql,
            epsilon,
            to,
            job,
        } => jobs::query(
            &cluster,
            &as_name,
            &sql,
            epsilon,
            &to,
            job.engine()?,
            &job.output(None),
        ),
        Command::Run {
            cluster,
            as_name,
            spec,
            job,
        } => jobs::run(&cluster, &as_name, &spec, job.engine()?, &job.output(None)),
        Command::Result {
            cluster,
            as_name,
            job,
            save,
            json,
            wait,
        } => jobs::result(
            &cluster,
            &as_name,
            job,
            &jobs::Output {
                json,
                wait: std::time::Duration::from_secs(wait),
                save,
            },
        ),
        Command::Jobs {
            cluster,
            as_name,
            json,
        } => jobs::jobs(&cluster, &as_name, json),
        Command::Ledger {
            command: LedgerCommand::Show { from, json },
        } => jobs::ledger_show(&from, json),
        Command::Ledger {
            command: LedgerCommand::Verify { from, openings },
        } => jobs::ledger_verify(&from, openings.as_deref()),
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
    /// The research benchmark matrix: operations and jobs × parties × protocols × networks,
    /// each cell checked against the plaintext computation.
    Bench {
        /// What to measure.
        #[command(flatten)]
        args: sim::BenchArgs,
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
    Upload(UploadArgs),
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
    /// Runs the coordinator until SIGINT or SIGTERM.
    Coordinator {
        /// Its configuration file (DIR/coordinator/coordinator.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Asks a statistics question in SQL over every owner's rows; waits and prints the answer.
    Query {
        /// The cluster folder.
        #[arg(long)]
        cluster: PathBuf,
        /// The client identity asking.
        #[arg(long = "as")]
        as_name: String,
        /// The SQL, e.g. "SELECT AVG(salary) FROM payroll GROUP BY team".
        sql: String,
        /// Differential privacy budget: noise drawn jointly by the workers.
        #[arg(long)]
        epsilon: Option<f64>,
        /// Gives the answer privately to this client only (repeat for several); without it
        /// the answer is public. Which groups are reported stays public.
        #[arg(long = "to", value_name = "NAME")]
        to: Vec<String>,
        /// How the job runs and prints.
        #[command(flatten)]
        job: JobArgs,
    },
    /// Submits any job (statistics, auction, orders, record matching, settlement) as a TOML
    /// spec, signed by this identity; waits and prints its public result and this identity's
    /// private outputs. A settlement round runs once every firm it lists has run the same file
    /// (each run signs the round: the firm's consent).
    Run {
        /// The cluster folder.
        #[arg(long)]
        cluster: PathBuf,
        /// The client identity submitting.
        #[arg(long = "as")]
        as_name: String,
        /// The job spec (see examples/*.toml).
        spec: PathBuf,
        /// How the job runs and prints.
        #[command(flatten)]
        job: JobArgs,
    },
    /// A job's public result and this identity's private outputs, fetched from the workers,
    /// reconstructed here and checked against the ledger's commitments.
    Result {
        /// The cluster folder.
        #[arg(long)]
        cluster: PathBuf,
        /// The client identity (the recipient).
        #[arg(long = "as")]
        as_name: String,
        /// The job's number.
        job: u64,
        /// Saves the openings of the private outputs to this JSON file.
        #[arg(long)]
        save: Option<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for a job still running.
        #[arg(long, default_value_t = 600)]
        wait: u64,
    },
    /// Lists the coordinator's jobs and their states.
    Jobs {
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
    /// The ledger: print it, or verify it offline against the roster.
    Ledger {
        /// What to do.
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

/// What `upload` takes.
#[derive(clap::Args)]
pub(super) struct UploadArgs {
    /// The cluster folder.
    #[arg(long)]
    pub(super) cluster: PathBuf,
    /// The client identity uploading (the dataset's owner).
    #[arg(long = "as")]
    pub(super) as_name: String,
    /// The dataset's name.
    #[arg(long)]
    pub(super) dataset: String,
    /// The CSV file (header row first).
    #[arg(long)]
    pub(super) csv: PathBuf,
    /// A schema (TOML); inferred from the CSV when absent.
    #[arg(long)]
    pub(super) schema: Option<PathBuf>,
    /// A policy (TOML); the default policy when absent.
    #[arg(long)]
    pub(super) policy: Option<PathBuf>,
    /// A job spec this dataset is meant for (e.g. examples/auction.toml): the rows are
    /// checked against what that job needs (a monotone bid curve, prices on the grid, no
    /// negative quantity) before anything is uploaded.
    #[arg(long)]
    pub(super) job: Option<PathBuf>,
    /// Replace an existing dataset of that name.
    #[arg(long)]
    pub(super) replace: bool,
    /// Read and check the CSV and show its schema, then stop: nothing is sent.
    #[arg(long)]
    pub(super) dry_run: bool,
}

/// Options shared by `query` and `run`.
#[derive(clap::Args)]
struct JobArgs {
    /// Multiplication protocol: grr or dn07.
    #[arg(long, default_value = "grr")]
    protocol: String,
    /// Security level: semi-honest, or malicious (with abort: every product and random bit
    /// checked before any output is opened).
    #[arg(long, default_value = "semi-honest")]
    security: String,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the result.
    #[arg(long, default_value_t = 600)]
    wait: u64,
}

impl JobArgs {
    fn engine(&self) -> anyhow::Result<jobs::EngineChoice> {
        Ok(jobs::EngineChoice {
            protocol: self
                .protocol
                .parse()
                .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?,
            security: self
                .security
                .parse()
                .map_err(|e| anyhow::anyhow!("--security: {e}"))?,
        })
    }
    fn output(&self, save: Option<PathBuf>) -> jobs::Output {
        jobs::Output {
            json: self.json,
            wait: std::time::Duration::from_secs(self.wait),
            save,
        }
    }
}

/// Where `ledger show|verify` read the chain, and the roster they check it against.
#[derive(clap::Args)]
pub(super) struct LedgerSource {
    /// The cluster folder (its roster; the coordinator's ledger by default).
    #[arg(long)]
    pub(super) cluster: PathBuf,
    /// Another copy of the ledger (a worker's replica, a downloaded file).
    #[arg(long)]
    pub(super) file: Option<PathBuf>,
    /// Downloads the ledger from the coordinator as this client identity.
    #[arg(long = "as")]
    pub(super) as_name: Option<String>,
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Prints every entry.
    Show {
        /// Which ledger.
        #[command(flatten)]
        from: LedgerSource,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Checks every hash link and every signature against the roster, offline; with
    /// `--openings`, that each saved opening opens its commitment.
    Verify {
        /// Which ledger.
        #[command(flatten)]
        from: LedgerSource,
        /// Openings saved by `quorate result --save`.
        #[arg(long)]
        openings: Option<PathBuf>,
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
    /// Starts the coordinator and every worker of DIR as child processes; Ctrl-C stops them
    /// all.
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
