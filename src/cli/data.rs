//! `upload` and `datasets`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use protocols::dataset::{Schema, read_csv_file};

use crate::client::{Workers, agree};
use crate::cluster::Cluster;

pub(super) fn upload(args: &super::UploadArgs) -> Result<()> {
    let (dir, as_name, dataset, csv) = (&args.cluster, &args.as_name, &args.dataset, &args.csv);
    let (schema, policy, job, replace) = (
        args.schema.as_deref(),
        args.policy.as_deref(),
        args.job.as_deref(),
        args.replace,
    );
    let cluster = Cluster::open(dir)?;
    let identity = cluster.client_identity(as_name)?;
    let schema = match schema {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(Schema::from_toml(&text, &p.display().to_string())?)
        }
        None => None,
    };
    let policy = match policy {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            protocols::policy::Policy::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(text)
        }
        None => None,
    };
    // Everything is checked before a single share leaves this machine.
    let mut table = read_csv_file(csv, schema.as_ref())?;
    if let Some(job) = job {
        let text =
            std::fs::read_to_string(job).with_context(|| format!("reading {}", job.display()))?;
        let spec = protocols::catalog::JobSpec::from_toml(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", job.display()))?;
        if schema.is_none() {
            spec.widen_inferred(dataset, &mut table);
        }
        spec.check_upload(dataset, &table).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a valid input of {}: {e}",
                csv.display(),
                job.display()
            )
        })?;
    }
    if schema.is_none() {
        print!("{}", inferred_note(csv, &table.schema)?);
    }
    if args.dry_run {
        println!(
            "dry run: {} rows of {} checked; nothing was sent",
            table.rows(),
            csv.display()
        );
        return Ok(());
    }
    let rows = table.rows();
    let runtime = crate::runtime()?;
    let recorded = runtime.block_on(async {
        let workers = Workers::connect(&cluster, &identity).await?;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} chunks")
                    .expect("a valid template"),
            );
            bar.set_message(format!("uploading {dataset}"));
            bar
        });
        let result = workers
            .upload(
                &cluster,
                dataset,
                &table,
                policy,
                replace,
                |sent, total| match &bar {
                    Some(bar) => {
                        bar.set_length(total);
                        bar.set_position(sent);
                    }
                    None if sent == total || sent % 16 == 0 => {
                        eprintln!("uploading {dataset}: {sent}/{total} chunks")
                    }
                    None => {}
                },
            )
            .await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        workers.close().await;
        result?;
        // The record on the ledger, signed by the owner and by the workers that hold it.
        let record = crate::jobs::dataset_record(&identity, dataset, &table);
        let recorded = match crate::jobs::Coordinator::connect(&cluster, &identity).await {
            Ok(c) => {
                let r = c.record_dataset(record).await;
                c.close().await;
                r
            }
            Err(e) => Err(e),
        };
        anyhow::Ok(recorded)
    })?;
    println!(
        "dataset '{dataset}' of {as_name}: {rows} rows, {} columns, stored as shares on {} workers",
        table.schema.columns.len(),
        cluster.roster.workers.len()
    );
    match recorded {
        Ok(()) => println!("recorded on the ledger"),
        Err(e) => eprintln!(
            "warning: not recorded on the ledger: {e:#}\nthe workers make '{dataset}' current only once its ledger entry reaches them: upload it again (with --replace) when the cluster is back"
        ),
    }
    Ok(())
}

/// What the owner reads before an upload without `--schema`: the inferred schema, that its
/// widths are public, and how to pin them.
fn inferred_note(csv: &Path, schema: &Schema) -> Result<String> {
    let categorical: Vec<&str> = schema
        .columns
        .iter()
        .filter(|c| matches!(c.ty, protocols::dataset::ColumnType::Categorical { .. }))
        .map(|c| c.name.as_str())
        .collect();
    let domains = if categorical.is_empty() {
        String::new()
    } else {
        format!(
            "WARNING: the domain of {} is exactly the distinct values of your CSV, and domains \
             are public to the workers and in the schema hash on the ledger (for a settlement's \
             payee: the firms you pay). Declare the full domain in a schema file (--schema) to \
             reveal only the list you choose (DISCLOSURE.md, \"Schemas\").\n",
            categorical.join(", ")
        )
    };
    Ok(domains
        + &format!(
            "schema inferred from {} (no --schema given):\n{}\
         The types and widths above are public: every worker and analyst sees them (never your \
         values). A width is the narrowest of {:?} bits that holds your values, and it bounds \
         what statistics over the column can compute. To pin the schema, save the TOML below \
         to a file, edit it, and upload with --schema FILE (--dry-run shows this without \
         uploading):\n{}\n",
            csv.display(),
            schema.describe(),
            protocols::dataset::WIDTH_LADDER,
            toml::to_string(schema)?
        ))
}

pub(super) fn datasets(dir: &Path, as_name: &str, json: bool) -> Result<()> {
    use coordinator::ledger::budget::epsilon;
    let cluster = Cluster::open(dir)?;
    let identity = cluster.client_identity(as_name)?;
    let runtime = crate::runtime()?;
    let list = runtime.block_on(async {
        let workers = Workers::connect(&cluster, &identity).await?;
        let lists = workers.list().await;
        workers.close().await;
        agree(&lists?)
    })?;
    if json {
        let rows: Vec<_> = list
            .iter()
            .map(|d| {
                let mut row = serde_json::json!({"owner": d.owner, "name": d.name, "rows": d.rows, "columns": d.columns});
                if let Some((budget, spent)) = d.budget {
                    row["epsilon_budget"] = epsilon(budget).into();
                    row["epsilon_spent"] = epsilon(spent).into();
                }
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for d in &list {
            let budget = d.budget.map_or(String::new(), |(budget, spent)| {
                format!(
                    ", privacy budget: epsilon {} left of {} ({} spent)",
                    epsilon(budget.saturating_sub(spent)),
                    epsilon(budget),
                    epsilon(spent)
                )
            });
            println!(
                "{}/{}: {} rows, {} columns{budget}",
                d.owner, d.name, d.rows, d.columns
            );
        }
        if list.is_empty() {
            println!("no datasets");
        }
    }
    Ok(())
}
