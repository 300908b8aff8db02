//! The shipped examples in the demo (auction, limit orders, record matching, settlement):
//! which firm uploads which example file, and each example run end to end as a job and
//! compared, public result and every recipient's private outputs, with the same job in the
//! clear.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use coordinator::api::{JobInfo, JobState};
use coordinator::ledger::Entry;
use mpc::Field;
use protocols::catalog::{JobSpec, PublicResult};
use protocols::dataset::{Schema, Table, read_csv};
use protocols::outcome::{Outcome, OwnedTable};
use protocols::stats::GroupMinimums;

use super::upload_and_record;
use crate::cluster::Cluster;
use crate::jobs::Coordinator;

/// One of the shipped examples (`examples/*.toml`), run end to end.
pub(super) struct Example {
    title: &'static str,
    spec: &'static str,
    pub(super) uploads: &'static [Upload],
}

/// One owner's dataset of an example.
pub(super) struct Upload {
    pub(super) owner: &'static str,
    dataset: &'static str,
    csv: &'static str,
    schema: Option<&'static str>,
}

/// The uploads of one example: each `owner` uploads `examples/data/DIR/OWNER.csv` as
/// `dataset`, or (the second form) each `owner / dataset` pair `DIR/OWNER-DATASET.csv`.
macro_rules! uploads {
    ($dir:literal, $schema:expr, $dataset:literal, [$($owner:literal),+ $(,)?]) => {
        &[$(Upload {
            owner: $owner,
            dataset: $dataset,
            csv: data!("data/", $dir, "/", $owner, ".csv"),
            schema: $schema,
        }),+]
    };
    ($dir:literal, $schema:expr, [$($owner:literal / $dataset:literal),+ $(,)?]) => {
        &[$(Upload {
            owner: $owner,
            dataset: $dataset,
            csv: data!("data/", $dir, "/", $owner, "-", $dataset, ".csv"),
            schema: $schema,
        }),+]
    };
}

const AUCTION_SCHEMA: &str = data!("data/auction/schema.toml");
const ORDERS_SCHEMA: &str = data!("data/orders/schema.toml");
const RECORDS_SCHEMA: &str = data!("data/record-match/schema.toml");

/// Which firm uploads which example file, for every example the demo runs: the one table
/// (each `examples/*.toml` points here rather than listing its uploads again).
pub(super) const EXAMPLES: &[Example] = &[
    Example {
        title: "sealed-bid double auction (examples/auction.toml)",
        spec: data!("auction.toml"),
        uploads: uploads!(
            "auction",
            Some(AUCTION_SCHEMA),
            "beet-bids",
            ["north-farm", "south-farm", "sugar-mill"]
        ),
    },
    Example {
        title: "limit-order matching (examples/orders.toml)",
        spec: data!("orders.toml"),
        uploads: uploads!(
            "orders",
            Some(ORDERS_SCHEMA),
            "orders",
            ["alpha", "beta", "gamma"]
        ),
    },
    Example {
        title: "record matching (examples/record-match.toml)",
        spec: data!("record-match.toml"),
        uploads: uploads!(
            "record-match",
            Some(RECORDS_SCHEMA),
            "customers",
            ["acme", "globex", "initech"]
        ),
    },
    Example {
        title: "settlement with gridlock resolution (examples/settlement.toml)",
        spec: data!("settlement.toml"),
        uploads: uploads!(
            "settlement",
            None,
            [
                "acme" / "accounts",
                "acme" / "obligations",
                "globex" / "accounts",
                "globex" / "obligations",
                "initech" / "accounts",
                "initech" / "obligations",
                "umbrella" / "accounts",
                "umbrella" / "obligations",
            ]
        ),
    },
];

/// Uploads an example's datasets (each checked against the job first), runs the job through
/// the coordinator, computes the same job in the clear, and compares the public result and
/// every recipient's private outputs (fetched from the workers, reconstructed, checked against
/// the ledger's commitments). Returns whether everything agrees.
pub(super) async fn run_example(cluster: &Cluster, example: &Example) -> Result<bool> {
    let spec = JobSpec::from_toml(example.spec).map_err(|e| anyhow!("{}: {e}", example.title))?;
    println!("\n{}", example.title);
    let plain = upload_example(cluster, &spec, example).await?;
    let t0 = Instant::now();
    let (info, entries) = run_job(cluster, &spec, example).await?;
    let job = info.id;
    let report = match (&info.state, &info.report) {
        (JobState::Done, Some(report)) => report,
        (state, _) => bail!("job {job} ({}): {state:?}", example.title),
    };
    let public: serde_json::Value = serde_json::from_str(&report.public)?;
    let clear = clear_job(&spec, &plain, example.title).await?;
    let clear_public = serde_json::to_value(&clear.public)?;
    println!(
        "  job {job}, computed jointly in {:.2} s; public result:\n    {}",
        t0.elapsed().as_secs_f64(),
        compact(&public)
    );
    let mut agree = public == clear_public;
    if !agree {
        println!("  in the clear:\n    {}", compact(&clear_public));
    }
    agree &= private_outputs_agree(cluster, &clear, &info, &entries).await?;
    println!(
        "  {}",
        if agree {
            "agree with the same job computed in the clear"
        } else {
            "DISAGREE with the clear computation"
        }
    );
    Ok(agree)
}

/// Each owner of `example` uploads its dataset (checked against the job first) and records
/// it on the ledger. Returns the tables as uploaded: `(owner, dataset, table)`.
async fn upload_example<'a>(
    cluster: &Cluster,
    spec: &JobSpec,
    example: &'a Example,
) -> Result<Vec<(&'a str, &'a str, Table)>> {
    let mut plain = Vec::new();
    for u in example.uploads {
        let schema = u
            .schema
            .map(|s| Schema::from_toml(s, u.dataset))
            .transpose()?;
        let mut table = read_csv(
            u.csv.as_bytes(),
            &format!("{}.csv", u.owner),
            schema.as_ref(),
        )?;
        if schema.is_none() {
            spec.widen_inferred(u.dataset, &mut table);
        }
        spec.check_upload(u.dataset, &table)
            .map_err(|e| anyhow!("{}: {e}", u.owner))?;
        let identity = cluster.client_identity(u.owner)?;
        upload_and_record(cluster, &identity, u.dataset, &table, None).await?;
        plain.push((u.owner, u.dataset, table));
    }
    let mut owners: Vec<&str> = example.uploads.iter().map(|u| u.owner).collect();
    owners.dedup();
    println!(
        "  {} uploaded their data as secret shares",
        owners.join(", ")
    );
    Ok(plain)
}

/// The first owner submits the example's job (for a settlement round, every other firm then
/// consents by sending the same round file); waits (bounded) for it. Returns the job and the
/// ledger after it.
async fn run_job(
    cluster: &Cluster,
    spec: &JobSpec,
    example: &Example,
) -> Result<(JobInfo, Vec<Entry>)> {
    let submitter = cluster.client_identity(example.uploads[0].owner)?;
    let c = Coordinator::connect(cluster, &submitter).await?;
    let job = c.submit(example.spec, mpc::MulProtocol::Grr).await?;
    if let JobSpec::Settlement(round) = spec {
        // The round runs once every firm has signed it: each sends the same round file.
        for firm in round
            .firms
            .iter()
            .filter(|f| *f != example.uploads[0].owner)
        {
            let identity = cluster.client_identity(firm)?;
            let consent = Coordinator::connect(cluster, &identity).await?;
            let same = consent.submit(example.spec, mpc::MulProtocol::Grr).await;
            consent.close().await;
            if same? != job {
                bail!(
                    "{firm}'s consent to round {:?} made another job",
                    round.round
                );
            }
        }
        println!(
            "  every firm signed round {:?} (its consent); the round applies at most once",
            round.round
        );
    }
    let info = c.wait(job, Duration::from_secs(300)).await?;
    let entries = c.ledger().await?;
    c.close().await;
    Ok((info, entries))
}

/// The same job in the clear: the same tables, in the order the workers read them.
async fn clear_job(
    spec: &JobSpec,
    plain: &[(&str, &str, Table)],
    title: &str,
) -> Result<Outcome<PublicResult>> {
    let mut tables = Vec::new();
    for name in spec.input_names().unwrap_or_default() {
        let mut mine: Vec<&(&str, &str, Table)> =
            plain.iter().filter(|(_, d, _)| *d == name).collect();
        mine.sort_by_key(|(o, _, _)| *o);
        for (owner, dataset, table) in mine {
            tables.push(OwnedTable::clear(owner, dataset, table)?);
        }
    }
    let minimums = GroupMinimums {
        owners: 3,
        rows: 10,
    };
    spec.run(&mut protocols::backend::Clear::default(), &tables, minimums)
        .await
        .map_err(|e| anyhow!("{title} in the clear: {e}"))
}

/// Every recipient's private outputs, as that recipient sees them (fetched from the workers,
/// reconstructed, checked against the ledger), printed and compared with the clear job's.
async fn private_outputs_agree(
    cluster: &Cluster,
    clear: &Outcome<PublicResult>,
    info: &JobInfo,
    entries: &[Entry],
) -> Result<bool> {
    let chain = coordinator::ledger::verify(entries, &cluster.roster.ledger_roster())
        .map_err(|e| anyhow!("the ledger does not verify: {e}"))?;
    let mut recipients: Vec<&str> = Vec::new();
    for p in &clear.private {
        if !recipients.contains(&p.recipient.as_str()) {
            recipients.push(&p.recipient);
        }
    }
    let mut agree = true;
    for r in recipients {
        let identity = cluster.client_identity(r)?;
        let got = crate::jobs::fetch_outputs(cluster, &identity, r, info, entries, &chain).await?;
        let mut line = Vec::new();
        for p in clear.private.iter().filter(|p| p.recipient == r) {
            let want: Vec<i128> = p
                .values
                .shares()
                .iter()
                .map(|v| v.to_i128().unwrap_or(i128::MIN))
                .collect();
            let have = got
                .iter()
                .find(|o| o.name == p.name)
                .and_then(|o| o.integers.clone());
            let ok = have.as_deref() == Some(&want[..]);
            agree &= ok;
            let shown: Vec<String> = want
                .iter()
                .enumerate()
                .map(|(i, v)| match p.labels.get(i) {
                    Some(l) => format!("{l} {v}"),
                    None => v.to_string(),
                })
                .collect();
            line.push(format!(
                "{} [{}]{}",
                p.name,
                shown.join(", "),
                if ok { "" } else { " DIFFERS" }
            ));
        }
        println!("  {r}, privately: {}", line.join("; "));
    }
    if !clear.private.is_empty() {
        println!(
            "  (each recipient fetched its shares from the workers, reconstructed them and checked them against the ledger's commitments)"
        );
    }
    Ok(agree)
}

/// A JSON value on one line, cut for the terminal.
fn compact(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.len() > 300 {
        format!("{}...", &text[..300])
    } else {
        text
    }
}
