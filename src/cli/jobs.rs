//! `coordinator`, `query`, `run`, `result`, `jobs`, `ledger show|verify`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use coordinator::api::{JobInfo, JobState};
use coordinator::ledger::{self, Entry, EntryBody, JobStatus};
use coordinator::outcome::public_digest;
use mpc::engine::commit::Opening;
use protocols::catalog::PublicResult;

use crate::cluster::Cluster;
use crate::jobs::{Coordinator, ReceivedOutput, fetch_outputs, state_word};

use crate::runtime;

pub(super) fn coordinator(config: &Path) -> Result<()> {
    runtime()?
        .block_on(coordinator::node::run(
            config,
            super::cluster::shutdown_signal(),
        ))
        .map_err(|e| anyhow!(e))
}

/// How `query`, `run` and `result` print.
pub(super) struct Output {
    pub json: bool,
    pub wait: Duration,
    /// Where `result` saves the openings of the private outputs.
    pub save: Option<std::path::PathBuf>,
}

/// How the workers' engine session runs a submitted job (`--protocol`, `--security`).
#[derive(Clone, Copy, Debug)]
pub(super) struct EngineChoice {
    /// The multiplication protocol.
    pub protocol: mpc::MulProtocol,
    /// Semi-honest, or malicious with abort.
    pub security: mpc::SecurityLevel,
}

pub(super) fn query(
    dir: &Path,
    as_name: &str,
    sql: &str,
    epsilon: Option<f64>,
    to: &[String],
    engine: EngineChoice,
    out: &Output,
) -> Result<()> {
    let mut spec = toml::Table::new();
    spec.insert("kind".into(), "statistics".into());
    spec.insert("query".into(), sql.into());
    if let Some(e) = epsilon {
        spec.insert("epsilon".into(), e.into());
    }
    if !to.is_empty() {
        spec.insert("recipients".into(), to.to_vec().into());
    }
    let spec = toml::to_string(&spec)?;
    check_sql(dir, as_name, sql)?;
    submit_and_show(dir, as_name, &spec, engine, out)
}

/// Parses the SQL here against the schemas the workers list, so that unsupported SQL is
/// refused with the construct and its position before a job is queued. (The workers check
/// again; if they cannot be reached now, they are the only check.)
fn check_sql(dir: &Path, as_name: &str, sql: &str) -> Result<()> {
    let cluster = Cluster::open(dir)?;
    let identity = cluster.client_identity(as_name)?;
    let listed = runtime()?.block_on(async {
        let workers = crate::client::Workers::connect(&cluster, &identity).await?;
        let lists = workers.list().await;
        workers.close().await;
        lists
    });
    let Ok(lists) = listed else {
        return Ok(());
    };
    let datasets = lists.into_iter().next().unwrap_or_default();
    // Another owner's schema is listed with its categorical domains withheld: a literal of
    // such a column cannot be checked here, so a parse error over one is left to the workers.
    let withheld = std::cell::Cell::new(false);
    let parsed = protocols::stats::parse(sql, |name| {
        let d = datasets.iter().find(|d| d.name == name)?;
        let schema = protocols::dataset::Schema::from_toml(&d.schema, &d.name).ok()?;
        if protocols::schema_commitment::is_withheld(&schema) {
            withheld.set(true);
        }
        Some(schema)
    });
    let query = match parsed {
        Ok(query) => query,
        Err(_) if withheld.get() => return Ok(()),
        Err(e) => bail!("{e}"),
    };
    crate::cluster::check_query_cost(&cluster, &query, &datasets)
}

pub(super) fn run(
    dir: &Path,
    as_name: &str,
    file: &Path,
    engine: EngineChoice,
    out: &Output,
) -> Result<()> {
    let spec =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    // Refuse a bad spec here, naming the file, before the coordinator sees it.
    protocols::catalog::JobSpec::from_toml(&spec)
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    submit_and_show(dir, as_name, &spec, engine, out)
}

fn submit_and_show(
    dir: &Path,
    as_name: &str,
    spec: &str,
    engine: EngineChoice,
    out: &Output,
) -> Result<()> {
    show_job(dir, as_name, out, async |c: &Coordinator| {
        let job = c.submit_at(spec, engine.protocol, engine.security).await?;
        if !out.json {
            let consent = match protocols::catalog::JobSpec::from_toml(spec) {
                Ok(protocols::catalog::JobSpec::Settlement(r)) => format!(
                    " (settlement round {:?}: signed by {as_name}; it runs once every firm has run this file)",
                    r.round
                ),
                _ => String::new(),
            };
            eprintln!(
                "job {job} queued{consent}; waiting for it (at most {} s)",
                out.wait.as_secs()
            );
        }
        Ok(job)
    })
}

pub(super) fn result(dir: &Path, as_name: &str, job: u64, out: &Output) -> Result<()> {
    show_job(dir, as_name, out, async |_: &Coordinator| Ok(job))
}

/// Connects to the coordinator as `as_name`, picks a job with `pick` (submitting one, or
/// naming one), waits for its end and shows it; the connection is closed whatever happens.
fn show_job(
    dir: &Path,
    as_name: &str,
    out: &Output,
    pick: impl AsyncFnOnce(&Coordinator) -> Result<u64>,
) -> Result<()> {
    let cluster = Cluster::open(dir)?;
    let identity = cluster.client_identity(as_name)?;
    runtime()?.block_on(async {
        let c = Coordinator::connect(&cluster, &identity).await?;
        let result = async {
            let job = pick(&c).await?;
            let info = c.wait(job, out.wait).await?;
            show(&cluster, &identity, as_name, &c, &info, out).await
        }
        .await;
        c.close().await;
        result
    })
}

/// Prints a job's end: its public result checked against the ledger, and this identity's
/// private outputs reconstructed and checked against their commitments.
async fn show(
    cluster: &Cluster,
    identity: &mpc::identity::Identity,
    as_name: &str,
    c: &Coordinator,
    info: &JobInfo,
    out: &Output,
) -> Result<()> {
    let entries = c.ledger().await?;
    let chain = ledger::verify(&entries, &cluster.roster.ledger_roster())
        .map_err(|e| anyhow!("the coordinator's ledger does not verify: {e}"))?;
    match &info.state {
        JobState::Done => {}
        JobState::Refused(why) => bail!("job {} refused: {why}", info.id),
        JobState::Failed(why) => bail!("job {} failed: {why}", info.id),
        other => bail!("job {} is {}", info.id, state_word(other)),
    }
    let report = info
        .report
        .as_ref()
        .ok_or_else(|| anyhow!("job {} is done but has no report", info.id))?;
    // The public result must be the one the ledger committed to.
    let height = info.outcome_height.unwrap_or(u64::MAX);
    let recorded = entries.get(height as usize).and_then(|e| match &e.body {
        EntryBody::JobOutcome(o) => o.outputs.first().and_then(|o| o.public),
        _ => None,
    });
    let digest = public_digest(&report.public);
    if recorded.and_then(|o| o.value()) != Some(digest) {
        bail!(
            "job {}'s public result does not match the ledger's commitment at height {height}",
            info.id
        );
    }
    let public: PublicResult = serde_json::from_str(&report.public)
        .with_context(|| format!("job {}'s public result", info.id))?;
    let private = if report.outputs.iter().any(|o| o.recipient == as_name) {
        fetch_outputs(cluster, identity, as_name, info, &entries, &chain).await?
    } else {
        Vec::new()
    };
    // A private statistics answer: completed here from the values this identity received.
    let answer = match (
        &public,
        private
            .iter()
            .find(|o| o.name == protocols::stats::PRIVATE_OUTPUT),
    ) {
        (PublicResult::Statistics(r), Some(o)) if r.private.is_some() => {
            let values = o
                .integers
                .as_deref()
                .ok_or_else(|| anyhow!("job {}'s private answer is not integral", info.id))?;
            Some(
                r.reveal(values)
                    .map_err(|e| anyhow!("job {}'s private answer: {e}", info.id))?,
            )
        }
        _ => None,
    };
    if let Some(path) = &out.save {
        let saved: Vec<SavedOpening> = private
            .iter()
            .flat_map(|o| {
                o.openings
                    .iter()
                    .enumerate()
                    .map(move |(i, opening)| SavedOpening {
                        height,
                        output: coordinator::outcome::output_name(as_name, &o.name, &o.labels, i),
                        opening: *opening,
                    })
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&saved)?)
            .with_context(|| format!("writing {}", path.display()))?;
        if !out.json {
            eprintln!(
                "{} openings saved to {} (check them with `quorate ledger verify --openings`)",
                saved.len(),
                path.display()
            );
        }
    }
    if out.json {
        let value = serde_json::json!({
            "job": info.id,
            "kind": info.kind,
            "security": info.security,
            "state": "done",
            "public": public,
            "answer": answer,
            "private": private,
            "ledger_height": height,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "job {} ({}) done; result committed at ledger height {height}",
        info.id, info.kind
    );
    match &answer {
        Some(r) => println!(
            "{r}(private to you: reconstructed from the workers' shares, checked against the ledger)"
        ),
        None => print_public(&public),
    }
    for o in private
        .iter()
        .filter(|o| o.name != protocols::stats::PRIVATE_OUTPUT)
    {
        print_private(o);
    }
    Ok(())
}

/// Prints a public result for people.
pub(super) fn print_public(public: &PublicResult) {
    match public {
        PublicResult::Statistics(r) => println!("{r}"),
        #[allow(unreachable_patterns)]
        other => println!(
            "{}",
            serde_json::to_string_pretty(other).unwrap_or_else(|e| e.to_string())
        ),
    }
}

fn print_private(o: &ReceivedOutput) {
    println!("your {} (private, checked against the ledger):", o.name);
    for (i, v) in o.values.iter().enumerate() {
        let label = o.labels.get(i).map_or(String::new(), |l| format!("{l}: "));
        match &o.integers {
            Some(ints) => println!("  {label}{}", ints[i]),
            None => println!("  {label}{v:.4}"),
        }
    }
}

pub(super) fn jobs(dir: &Path, as_name: &str, json: bool) -> Result<()> {
    let cluster = Cluster::open(dir)?;
    let identity = cluster.client_identity(as_name)?;
    runtime()?.block_on(async {
        let c = Coordinator::connect(&cluster, &identity).await?;
        let jobs = c.jobs().await;
        c.close().await;
        let jobs = jobs?;
        if json {
            println!("{}", serde_json::to_string_pretty(&jobs)?);
            return Ok(());
        }
        for j in jobs {
            let why = match &j.state {
                JobState::Refused(w) | JobState::Failed(w) => format!(": {w}"),
                _ => String::new(),
            };
            println!(
                "job {:>4}  {:<12} {:<8} by {}{why}",
                j.id,
                j.kind,
                state_word(&j.state),
                j.submitter
            );
        }
        Ok(())
    })
}

/// Where `ledger show|verify` read: a file given, the coordinator (asked as `as_name`), or
/// the local cluster's coordinator copy.
fn ledger_entries(from: &super::LedgerSource) -> Result<(Cluster, String, Vec<Entry>)> {
    let (file, as_name) = (from.file.as_deref(), from.as_name.as_deref());
    let cluster = Cluster::open(&from.cluster)?;
    if let (None, Some(name)) = (file, as_name) {
        let identity = cluster.client_identity(name)?;
        let entries = runtime()?.block_on(async {
            let c = Coordinator::connect(&cluster, &identity).await?;
            let entries = c.ledger().await;
            c.close().await;
            entries
        })?;
        return Ok((cluster, "the coordinator's ledger".into(), entries));
    }
    let path = file.map_or_else(|| cluster.ledger_path(), Path::to_path_buf);
    if file.is_none() && !path.exists() {
        bail!(
            "no ledger at {}: pass --file (a worker's data/ledger/entries.qlg) or --as NAME to download it from the coordinator",
            path.display()
        );
    }
    let entries = ledger::read_entries(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok((cluster, path.display().to_string(), entries))
}

pub(super) fn ledger_show(from: &super::LedgerSource, json: bool) -> Result<()> {
    let (_, path, entries) = ledger_entries(from)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    println!("{} entries in {path}", entries.len());
    for e in &entries {
        let what = match &e.body {
            EntryBody::Genesis(r) => format!(
                "genesis: {} workers, t = {}, coordinator {}",
                r.workers.len(),
                r.threshold,
                r.coordinator.fingerprint()
            ),
            EntryBody::DatasetCommitted(d) => format!(
                "dataset {} by {}: {} rows, schema {}",
                d.name,
                d.owner.fingerprint(),
                d.rows,
                d.schema_hash
            ),
            EntryBody::JobSubmitted(j) => format!(
                "job {} submitted by {} ({} client signatures), request {}",
                j.job,
                j.submitter().map_or("nobody".into(), |k| k.fingerprint()),
                j.signatures.len(),
                j.request.digest()
            ),
            EntryBody::JobOutcome(o) => match &o.status {
                JobStatus::Done => {
                    format!("job {} done: {} committed outputs", o.job, o.outputs.len())
                }
                JobStatus::Failed { reason } => format!("job {} failed: {reason}", o.job),
                JobStatus::Refused { reason } => format!("job {} refused: {reason}", o.job),
            },
        };
        let workers: Vec<String> = e.signatures.iter().map(|s| s.worker.to_string()).collect();
        println!(
            "{:>5}  {}  signed by workers {}  {}",
            e.height,
            &e.hash().to_string()[..16],
            workers.join(","),
            what
        );
    }
    Ok(())
}

pub(super) fn ledger_verify(from: &super::LedgerSource, openings: Option<&Path>) -> Result<()> {
    let (cluster, path, entries) = ledger_entries(from)?;
    let chain = ledger::verify(&entries, &cluster.roster.ledger_roster())
        .map_err(|e| anyhow!("{path}: {e}"))?;
    let mut checked = 0;
    if let Some(p) = openings {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let list: Vec<SavedOpening> = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a list of openings", p.display()))?;
        for o in &list {
            let entry = entries
                .get(o.height as usize)
                .ok_or_else(|| anyhow!("{}: no entry at height {}", p.display(), o.height))?;
            let EntryBody::JobOutcome(outcome) = &entry.body else {
                bail!(
                    "{}: the entry at height {} is not a job outcome",
                    p.display(),
                    o.height
                );
            };
            let index = outcome
                .outputs
                .iter()
                .position(|x| x.name == o.output)
                .ok_or_else(|| anyhow!("height {}: no output {:?}", o.height, o.output))?;
            if !ledger::verify_opening(entry, index, &o.opening) {
                bail!(
                    "height {}: output {:?} does not open to the value given",
                    o.height,
                    o.output
                );
            }
            checked += 1;
        }
    }
    println!(
        "ledger verified: {} entries, every hash link, t+1 worker signatures and every client signature on a job valid (head {} at height {}){}",
        chain.len(),
        &chain.head().hash.to_string()[..16],
        chain.head().height,
        if checked > 0 {
            format!("; {checked} openings match their commitments")
        } else {
            String::new()
        }
    );
    // The privacy budget, recomputed from the signed specs (ledger::budget::recompute).
    let spending = ledger::budget::recompute(&entries).map_err(|e| anyhow!("{path}: {e}"))?;
    for (dataset, (units, jobs)) in &spending {
        println!(
            "privacy budget: {dataset}: epsilon {} spent by {} jobs ({})",
            ledger::budget::epsilon(*units),
            jobs.len(),
            jobs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// An opening a recipient keeps, to show later that a value is the one the ledger committed.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct SavedOpening {
    /// The outcome entry's height.
    pub height: u64,
    /// The output's name in the entry.
    pub output: String,
    /// The value and blinding.
    pub opening: Opening,
}
