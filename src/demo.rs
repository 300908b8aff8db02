//! `quorate demo`: a throwaway local cluster in a temporary folder, three firms' sample payroll
//! data uploaded as shares, joint statistics computed by the worker processes over their QUIC
//! mesh, and every figure printed beside the same query evaluated in the clear. Exits non-zero
//! if any figure disagrees.
//!
//! Everything goes the way a real deployment does: the firms upload through the client, an
//! analyst submits jobs to the coordinator process, the workers run them over their mesh, and
//! the ledger the coordinator wrote is verified offline at the end.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use coordinator::api::JobState;
use protocols::dataset::{Schema, Table, read_csv};
use protocols::outcome::PublicResult;
use protocols::stats::{GroupMinimums, Inputs, QueryOptions, QueryResult, Value};
use rand::{Rng, SeedableRng};

use crate::client::Workers;
use crate::cluster::{self, Cluster};
use crate::jobs::Coordinator;

const SCHEMA: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n\
[[columns]]\nname = \"gender\"\ntype = \"categorical\"\ndomain = [\"f\", \"m\"]\n\
[[columns]]\nname = \"role\"\ntype = \"categorical\"\ndomain = [\"engineer\", \"analyst\", \"manager\"]\n";

const QUERIES: [&str; 3] = [
    "SELECT gender, COUNT(*), AVG(salary), STDDEV_SAMP(salary) FROM payroll GROUP BY gender",
    "SELECT role, COUNT(*), SUM(salary), MIN(salary), MAX(salary) FROM payroll WHERE salary > 45000 GROUP BY role",
    "SELECT MEDIAN(salary), HISTOGRAM(salary, 50000, 80000, 110000) FROM payroll",
];

/// Kills the worker processes when dropped, whatever happens.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in &mut self.0 {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

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
    let options = QueryOptions {
        minimums: GroupMinimums {
            owners: 3,
            rows: 10,
        },
        epsilon: None,
    };
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
    cluster::init(&dir, 3, None, "127.0.0.1".parse()?)?;
    let mut cluster = Cluster::open(&dir)?;
    let firms = ["acme", "beta", "gamma"];
    for f in firms.iter().chain(&["analyst"]) {
        cluster.new_client(f)?;
    }
    println!(
        "cluster: a coordinator and 3 workers (t = 1) on 127.0.0.1, keys and roster in {}",
        dir.display()
    );

    let mut children = Vec::new();
    let spawn = |args: [&std::ffi::OsStr; 3], log: &str| -> Result<Child> {
        let log = std::fs::File::create(tmp.path().join(log))?;
        Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a cluster process")
    };
    let config = cluster.coordinator_config();
    children.push(spawn(
        [
            "coordinator".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ],
        "coordinator.log",
    )?);
    for w in &cluster.roster.workers {
        let config = cluster.worker_config(w.id);
        children.push(spawn(
            ["worker".as_ref(), "--config".as_ref(), config.as_os_str()],
            &format!("worker-{}.log", w.id),
        )?);
    }
    let _processes = Processes(children);

    let schema = Schema::from_toml(SCHEMA, "demo schema")?;
    let tables: Vec<Table> = (0..3)
        .map(|f| read_csv(sample_csv(f, 400).as_bytes(), "sample.csv", Some(&schema)))
        .collect::<Result<_, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Wait (bounded) until every node answers, then each firm uploads its own rows and
        // records the dataset on the ledger.
        let deadline = Instant::now() + Duration::from_secs(30);
        for (f, table) in firms.iter().zip(&tables) {
            let identity = cluster.client_identity(f)?;
            let workers = loop {
                match Workers::connect(&cluster, &identity).await {
                    Ok(w) => break w,
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!("workers not ready yet: {e:#}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => return Err(e.context("the workers did not start")),
                }
            };
            workers.upload(&cluster, "payroll", table, None, false, |_, _| {}).await?;
            workers.close().await;
            let c = Coordinator::connect(&cluster, &identity).await?;
            c.record_dataset(crate::jobs::dataset_record(&identity, "payroll", table)).await?;
            c.close().await;
            println!("{f}: uploaded {} payroll rows as secret shares (each worker holds only its own shares); recorded on the ledger", table.rows());
        }

        let analyst = cluster.client_identity("analyst")?;
        let c = Coordinator::connect(&cluster, &analyst).await?;
        let mut failures = 0;
        for sql in QUERIES {
            let spec = format!("kind = \"statistics\"\nquery = \"{sql}\"\n");
            let t0 = Instant::now();
            let job = c.submit(&spec, mpc::MulProtocol::Grr).await?;
            let info = c.wait(job, Duration::from_secs(300)).await?;
            let report = match (&info.state, &info.report) {
                (JobState::Done, Some(report)) => report,
                (state, _) => bail!("job {job}: {state:?}"),
            };
            let PublicResult::Statistics(mpc_result) = serde_json::from_str(&report.public)? else {
                bail!("job {job}: not a statistics result");
            };
            let clear = clear_answer(sql, &schema, &tables).await?;
            println!("\n{sql}\n  job {job}, computed jointly in {:.2} s by 3 workers over QUIC:", t0.elapsed().as_secs_f64());
            println!("{}", indent(&mpc_result.to_string()));
            println!("  the same SQL in the clear:");
            println!("{}", indent(&clear.to_string()));
            let agree = mpc_result.rows.len() == clear.rows.len()
                && mpc_result.suppressed == clear.suppressed
                && mpc_result.rows.iter().zip(&clear.rows).all(|(a, b)| a.group == b.group && a.values.iter().zip(&b.values).all(|(x, y)| close(x, y)));
            println!("  {}", if agree { "agree" } else { "DISAGREE" });
            failures += usize::from(!agree);
        }
        c.close().await;
        if failures > 0 {
            bail!("{failures} of {} jobs disagree with the clear computation", QUERIES.len());
        }
        Ok(())
    })?;
    // Offline, from the file alone and the roster: every link and signature.
    let entries = coordinator::ledger::read_entries(&cluster.ledger_path())?;
    let chain = coordinator::ledger::verify(&entries, &cluster.roster.ledger_roster())
        .map_err(|e| anyhow::anyhow!("the ledger does not verify: {e}"))?;
    println!(
        "\nledger verified: {} entries (genesis, 3 datasets, every job submitted and its outcome), each signed by at least t+1 = 2 workers",
        chain.len()
    );
    println!(
        "demo done in {:.1} s; the cluster is shut down and its folder removed",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
