//! `quorate demo`: a throwaway local cluster in a temporary folder (a coordinator and three
//! workers), three firms' sample payroll data uploaded as shares and four statistics queries (one
//! answered privately to the analyst),
//! then every shipped example (auction, limit orders, record matching, settlement) uploaded by
//! its firms and run as a job; every public figure and every recipient's private output is
//! printed beside the same job computed in the clear, and the ledger is verified at the end.
//! Exits non-zero if anything disagrees.
//!
//! The shipped examples, and which firm uploads which of their files, are in `examples`.
//!
//! Everything goes the way a real deployment does: the firms upload through the client, an
//! analyst submits jobs to the coordinator process, the workers run them over their mesh, and
//! the ledger the coordinator wrote is verified offline at the end.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use anyhow::{Context, Result, bail};
use coordinator::api::{DatasetInfo, JobInfo, JobState};
use mpc::identity::Identity;
use protocols::catalog::PublicResult;
use protocols::dataset::{Schema, Table, read_csv};
use protocols::stats::{GroupMinimums, Inputs, QueryOptions, QueryResult, Value};
use rand::{Rng, SeedableRng};

use crate::children::{Children, Node, node_command};
use crate::client::Workers;
use crate::cluster::{self, Cluster};
use crate::jobs::Coordinator;
use examples::{EXAMPLES, run_example};

/// A file of `examples/`, compiled in.
macro_rules! data {
    ($($path:expr),+) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/", $($path),+))
    };
}

mod examples;

/// The policy of the demo's `wages` datasets: differential privacy required, a budget.
const DP_POLICY: &str = data!("policy-dp.toml");

const SCHEMA: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n\
[[columns]]\nname = \"gender\"\ntype = \"categorical\"\ndomain = [\"f\", \"m\"]\n\
[[columns]]\nname = \"role\"\ntype = \"categorical\"\ndomain = [\"engineer\", \"analyst\", \"manager\"]\n";

/// The statistics queries, each with its recipients (none: the answer is public).
const QUERIES: [(&str, &[&str]); 4] = [
    (
        "SELECT gender, COUNT(*), AVG(salary), STDDEV_SAMP(salary) FROM payroll GROUP BY gender",
        &[],
    ),
    (
        "SELECT role, COUNT(*), SUM(salary), MIN(salary), MAX(salary) FROM payroll WHERE salary > 45000 GROUP BY role",
        &[],
    ),
    (
        "SELECT MEDIAN(salary), HISTOGRAM(salary, 50000, 80000, 110000) FROM payroll",
        &[],
    ),
    (
        "SELECT role, COUNT(*), AVG(salary), VAR_POP(salary) FROM payroll WHERE gender = 'f' GROUP BY role",
        &["analyst"],
    ),
];

fn sample_csv(firm: usize, rows: usize) -> String {
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(firm as u64 + 1);
    let mut text = String::from("salary,gender,role\n");
    for _ in 0..rows {
        let role = rng.random_range(0..3);
        let gender = rng.random_range(0..2);
        let base = [62_000, 48_000, 85_000][role] + firm as i64 * 3_000;
        let salary = base - gender as i64 * 2_500 + rng.random_range(-15_000..15_000);
        text.push_str(&format!(
            "{salary},{},{}\n",
            ["f", "m"][gender],
            ["engineer", "analyst", "manager"][role]
        ));
    }
    text
}

async fn clear_answer(sql: &str, schema: &Schema, tables: &[Table]) -> Result<QueryResult> {
    let query = protocols::stats::parse(sql, |_| Some(schema.clone()))?;
    let inputs = Inputs::clear(schema, tables)?;
    let options = QueryOptions::with_minimums(GroupMinimums {
        owners: 3,
        rows: 10,
    });
    Ok(protocols::stats::run_query(
        &mut protocols::backend::Clear::default(),
        &query,
        &inputs,
        &options,
    )
    .await?)
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-3 * (1.0 + y.abs()),
        _ => a == b,
    }
}

/// Runs the demo; `exe` is the `quorate` binary to start the coordinator and workers with.
pub fn run(exe: &Path) -> Result<()> {
    let started = Instant::now();
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cluster");
    let firms = ["acme", "beta", "gamma"];
    let cluster = new_cluster(&dir, &firms)?;
    println!(
        "cluster: a coordinator and 3 workers (t = 1) on 127.0.0.1, keys and roster in {}",
        dir.display()
    );
    // Dropped on every way out of the demo: no node outlives it.
    let _children = start_nodes(exe, &cluster, tmp.path())?;

    let schema = Schema::from_toml(SCHEMA, "demo schema")?;
    let tables: Vec<Table> = (0..3)
        .map(|f| read_csv(sample_csv(f, 400).as_bytes(), "sample.csv", Some(&schema)))
        .collect::<Result<_, _>>()?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        upload_payroll(&cluster, &firms, &tables).await?;
        let mut failures = statistics_queries(&cluster, &schema, &tables).await?;
        dp_query(&cluster, &firms, &tables).await?;
        let mut jobs = QUERIES.len();
        for example in EXAMPLES {
            failures += usize::from(!run_example(&cluster, example).await?);
            jobs += 1;
        }
        if failures > 0 {
            bail!("{failures} of {jobs} jobs disagree with the clear computation");
        }
        Ok(())
    })?;
    // Offline, from the file alone and the roster: every link and signature.
    let entries = coordinator::ledger::read_entries(&cluster.ledger_path())?;
    let chain = coordinator::ledger::verify(&entries, &cluster.roster.ledger_roster())
        .map_err(|e| anyhow::anyhow!("the ledger does not verify: {e}"))?;
    println!(
        "\nledger verified: {} entries (genesis, every dataset, every job submitted and its outcome), each signed by at least t+1 = 2 workers",
        chain.len()
    );
    println!(
        "demo done in {:.1} s; the cluster is shut down and its folder removed",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A cluster of three workers in `dir`, with a client key for the payroll `firms`, the
/// analyst and every example's owners.
fn new_cluster(dir: &Path, firms: &[&'static str]) -> Result<Cluster> {
    cluster::init(dir, 3, None, "127.0.0.1".parse()?)?;
    let mut cluster = Cluster::open(dir)?;
    let mut names: Vec<&str> = firms.iter().copied().chain(["analyst"]).collect();
    for example in EXAMPLES {
        names.extend(example.uploads.iter().map(|u| u.owner));
    }
    names.sort_unstable();
    names.dedup();
    for f in names {
        cluster.new_client(f)?;
    }
    Ok(cluster)
}

/// Starts the coordinator and every worker of `cluster`, each logging to its own file in
/// `logs`; the processes end when the returned [`Children`] is dropped.
fn start_nodes(exe: &Path, cluster: &Cluster, logs: &Path) -> Result<Children> {
    let mut children = Children::new();
    let nodes = std::iter::once(Node::Coordinator)
        .chain(cluster.roster.workers.iter().map(|w| Node::Worker(w.id)));
    for node in nodes {
        let log = match node {
            Node::Coordinator => "coordinator.log".to_string(),
            Node::Worker(id) => format!("worker-{id}.log"),
        };
        let log = std::fs::File::create(logs.join(log))?;
        let child = node_command(exe, cluster, node)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {node}"))?;
        children.adopt(node.to_string(), child);
    }
    Ok(children)
}

/// Waits (bounded) until every node answers, then each firm uploads its own rows as `payroll`
/// and records the dataset on the ledger.
async fn upload_payroll(cluster: &Cluster, firms: &[&str], tables: &[Table]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for (f, table) in firms.iter().zip(tables) {
        let identity = cluster.client_identity(f)?;
        let workers = loop {
            match Workers::connect(cluster, &identity).await {
                Ok(w) => break w,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("workers not ready yet: {e:#}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.context("the workers did not start")),
            }
        };
        workers
            .upload(cluster, "payroll", table, None, false, |_, _| {})
            .await?;
        workers.close().await;
        let c = Coordinator::connect(cluster, &identity).await?;
        c.record_dataset(crate::jobs::dataset_record(&identity, "payroll", table))
            .await?;
        c.close().await;
        println!(
            "{f}: uploaded {} payroll rows as secret shares (each worker holds only its own shares); recorded on the ledger",
            table.rows()
        );
    }
    Ok(())
}

/// The analyst runs every query of [`QUERIES`] as a job; each answer is printed beside the
/// same SQL in the clear. Returns how many disagree.
async fn statistics_queries(cluster: &Cluster, schema: &Schema, tables: &[Table]) -> Result<usize> {
    let analyst = cluster.client_identity("analyst")?;
    let c = Coordinator::connect(cluster, &analyst).await?;
    let mut failures = 0;
    for (sql, recipients) in QUERIES {
        let spec =
            format!("kind = \"statistics\"\nquery = \"{sql}\"\nrecipients = {recipients:?}\n");
        let t0 = Instant::now();
        let job = c.submit(&spec, mpc::MulProtocol::Grr).await?;
        let info = c.wait(job, Duration::from_secs(300)).await?;
        let report = match (&info.state, &info.report) {
            (JobState::Done, Some(report)) => report,
            (state, _) => bail!("job {job}: {state:?}"),
        };
        let PublicResult::Statistics(mut mpc_result) = serde_json::from_str(&report.public)? else {
            bail!("job {job}: not a statistics result");
        };
        let clear = clear_answer(sql, schema, tables).await?;
        println!(
            "\n{sql}\n  job {job}, computed jointly in {:.2} s by 3 workers over QUIC:",
            t0.elapsed().as_secs_f64()
        );
        if mpc_result.private.is_some() {
            println!("{}", indent(&mpc_result.to_string()));
            mpc_result = analyst_answer(cluster, &c, &info, mpc_result).await?;
            println!(
                "  the analyst, privately (reconstructed from its shares, checked against the ledger):"
            );
        }
        println!("{}", indent(&mpc_result.to_string()));
        println!("  the same SQL in the clear:");
        println!("{}", indent(&clear.to_string()));
        let agree = same_answer(&mpc_result, &clear);
        println!("  {}", if agree { "agree" } else { "DISAGREE" });
        failures += usize::from(!agree);
    }
    c.close().await;
    Ok(failures)
}

/// A private answer as the analyst reads it: the ledger shows only which groups are
/// reported; the analyst fetches its shares of the values, reconstructs them and checks them
/// against the ledger.
async fn analyst_answer(
    cluster: &Cluster,
    c: &Coordinator,
    info: &JobInfo,
    result: QueryResult,
) -> Result<QueryResult> {
    let job = info.id;
    let analyst = cluster.client_identity("analyst")?;
    let entries = c.ledger().await?;
    let chain = coordinator::ledger::verify(&entries, &cluster.roster.ledger_roster())
        .map_err(|e| anyhow!("the ledger does not verify: {e}"))?;
    let got =
        crate::jobs::fetch_outputs(cluster, &analyst, "analyst", info, &entries, &chain).await?;
    let values = got
        .iter()
        .find(|o| o.name == protocols::stats::PRIVATE_OUTPUT)
        .and_then(|o| o.integers.as_deref())
        .ok_or_else(|| anyhow!("job {job}: no private answer for the analyst"))?;
    result.reveal(values).map_err(|e| anyhow!("job {job}: {e}"))
}

/// The same groups, suppressions and values (floats within [`close`]).
fn same_answer(mpc_result: &QueryResult, clear: &QueryResult) -> bool {
    mpc_result.rows.len() == clear.rows.len()
        && mpc_result.suppressed == clear.suppressed
        && mpc_result.rows.iter().zip(&clear.rows).all(|(a, b)| {
            a.group == b.group && a.values.iter().zip(&b.values).all(|(x, y)| close(x, y))
        })
}

/// Each firm uploads its rows again as `wages` under `examples/policy-dp.toml`; the analyst
/// runs one DP query, and `quorate datasets` shows the budget it spent.
async fn dp_query(cluster: &Cluster, firms: &[&str], tables: &[Table]) -> Result<()> {
    for (f, table) in firms.iter().zip(tables) {
        let identity = cluster.client_identity(f)?;
        upload_and_record(cluster, &identity, "wages", table, Some(DP_POLICY.into())).await?;
    }
    // Counts and histogram cells have sensitivity 1: useful answers at epsilon 0.5 (a sum of
    // the 31-bit salary column would get noise scaled to 2^31, its declared bound).
    let sql = "SELECT gender, COUNT(*), HISTOGRAM(salary, 50000, 80000, 110000) FROM wages GROUP BY gender";
    println!(
        "\neach firm uploads the same rows as 'wages' under examples/policy-dp.toml (require_dp, max_epsilon 0.5, epsilon_budget 2)"
    );
    let analyst = cluster.client_identity("analyst")?;
    let c = Coordinator::connect(cluster, &analyst).await?;
    let spec = format!("kind = \"statistics\"\nquery = \"{sql}\"\nepsilon = 0.5\n");
    let t0 = Instant::now();
    let job = c.submit(&spec, mpc::MulProtocol::Grr).await?;
    let info = c.wait(job, Duration::from_secs(300)).await?;
    c.close().await;
    let report = match (&info.state, &info.report) {
        (JobState::Done, Some(report)) => report,
        (state, _) => bail!("job {job}: {state:?}"),
    };
    let PublicResult::Statistics(result) = serde_json::from_str(&report.public)? else {
        bail!("job {job}: not a statistics result");
    };
    println!(
        "\n{sql} (epsilon = 0.5)\n  job {job}, computed jointly in {:.2} s, with discrete Laplace noise drawn inside the computation:",
        t0.elapsed().as_secs_f64()
    );
    println!("{}", indent(&result.to_string()));
    let list = charged_wages(cluster, &analyst).await?;
    println!("  quorate datasets, as the workers count the budget from their ledger replicas:");
    for d in &list {
        let Some((budget, spent)) = d.budget else {
            bail!("{}/wages: no privacy budget listed", d.owner);
        };
        let eps = coordinator::ledger::budget::epsilon;
        println!(
            "    {}/{}: epsilon {} left of {} ({} spent)",
            d.owner,
            d.name,
            eps(budget.saturating_sub(spent)),
            eps(budget),
            eps(spent)
        );
        if spent == 0 {
            bail!(
                "{}/wages: the DP query's spending is not on the ledger",
                d.owner
            );
        }
    }
    Ok(())
}

/// `identity` uploads `table` as its dataset `name` (under `policy`, TOML, or the workers'
/// default) and records the dataset on the ledger.
async fn upload_and_record(
    cluster: &Cluster,
    identity: &Identity,
    name: &str,
    table: &Table,
    policy: Option<String>,
) -> Result<()> {
    let workers = Workers::connect(cluster, identity).await?;
    workers
        .upload(cluster, name, table, policy, false, |_, _| {})
        .await?;
    workers.close().await;
    let c = Coordinator::connect(cluster, identity).await?;
    c.record_dataset(crate::jobs::dataset_record(identity, name, table))
        .await?;
    c.close().await;
    Ok(())
}

/// The `wages` datasets as the workers list them, once every one shows the DP query's
/// spending (the outcome entry reaches the workers' replicas when the coordinator appends
/// it), or as they are after a bounded wait.
async fn charged_wages(cluster: &Cluster, analyst: &Identity) -> Result<Vec<DatasetInfo>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let workers = Workers::connect(cluster, analyst).await?;
        let lists = workers.list().await;
        workers.close().await;
        let list: Vec<_> = crate::client::agree(&lists?)?
            .into_iter()
            .filter(|d| d.name == "wages")
            .collect();
        let charged = list.iter().all(|d| d.budget.is_some_and(|(_, s)| s > 0));
        if charged || Instant::now() > deadline {
            return Ok(list);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
