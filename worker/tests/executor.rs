//! A statistics job run by three workers, each over its own share store and the in-memory
//! network, against the same query in the clear; and a policy that refuses the job.

mod common;

use std::sync::Arc;

use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{EngineConfig, MulProtocol, Params};
use protocols::backend::Clear;
use protocols::catalog::JobSpec;
use protocols::dataset::{Schema, read_csv};
use protocols::outcome::PublicResult;
use protocols::stats::{GroupMinimums, QueryOptions};
use rand::SeedableRng;
use worker::executor::{ExecError, execute};
use worker::store::ShareStore;

const SCHEMA: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n[[columns]]\nname = \"team\"\ntype = \"categorical\"\ndomain = [\"red\", \"green\", \"blue\"]\n";

fn csv(owner: u64, rows: usize) -> String {
    let mut text = String::from("salary,team\n");
    for i in 0..rows as u64 {
        let salary = 30_000 + (i * 7919 + owner * 104_729) % 90_000;
        text.push_str(&format!(
            "{salary},{}\n",
            ["red", "green", "blue"][((i + owner) % 3) as usize]
        ));
    }
    text
}

/// Uploads each owner's table to three stores, as the two-phase protocol would.
fn stores(
    owners: &[(&str, &str)],
    params: Params,
) -> (
    Vec<tempfile::TempDir>,
    Arc<Vec<ShareStore>>,
    Vec<protocols::dataset::Table>,
) {
    let schema = Schema::from_toml(SCHEMA, "schema").unwrap();
    let (dirs, stores) = common::stores(params.n());
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(7);
    let mut tables = Vec::new();
    for (k, (owner, policy)) in owners.iter().enumerate() {
        let table = read_csv(csv(k as u64, 24).as_bytes(), "t.csv", Some(&schema)).unwrap();
        let d = common::Dataset {
            owner,
            name: "payroll",
            schema: SCHEMA,
            policy,
        };
        common::deal(&stores, &d, &table, params, &mut rng);
        tables.push(table);
    }
    (dirs, Arc::new(stores), tables)
}

fn run_job(
    stores: Arc<Vec<ShareStore>>,
    params: Params,
    mul: MulProtocol,
    spec: JobSpec,
) -> Vec<Result<PublicResult, String>> {
    let config = EngineConfig {
        mul,
        check_openings: true,
        ..Default::default()
    };
    run_job_over(
        stores,
        params,
        config,
        MemoryNetwork::mesh(params.n()),
        spec,
    )
}

fn run_job_over<N: mpc::net::Network + Sync + 'static>(
    stores: Arc<Vec<ShareStore>>,
    params: Params,
    config: EngineConfig,
    nets: Vec<N>,
    spec: JobSpec,
) -> Vec<Result<PublicResult, String>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run_networks(nets, params, config, 3, move |mut e| {
        let (stores, spec) = (stores.clone(), spec.clone());
        async move {
            let me = e.me().index();
            Ok(execute(&mut e, &stores[me], &spec)
                .await
                .map(|o| o.public)
                .map_err(|e: ExecError| e.to_string()))
        }
    }))
    .into_iter()
    .map(|r| r.unwrap())
    .collect()
}

/// Under the malicious level the job's answer is the clear one; when one worker adds an error
/// to every message it sends, every worker fails the job with "integrity check failed" (or
/// because a peer that detected it stopped) and no answer is produced.
#[test]
fn a_malicious_level_job_matches_clear_and_aborts_on_a_cheating_worker() {
    use mpc::net::cheat::{Cheat, Cheating, Tamper};
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, tables) = stores(&[("acme", ""), ("beta", ""), ("gamma", "")], params);
    let query = "SELECT team, COUNT(*), SUM(salary), AVG(salary) FROM payroll WHERE salary > 40000 GROUP BY team";
    let spec = JobSpec::Statistics {
        query: query.into(),
        epsilon: None,
        recipients: vec![],
    };
    let config = EngineConfig {
        mul: MulProtocol::Dn07,
        security: mpc::SecurityLevel::Malicious,
        ..Default::default()
    };
    let honest = run_job_over(
        stores.clone(),
        params,
        config,
        MemoryNetwork::mesh(3),
        spec.clone(),
    );
    let minimums = GroupMinimums {
        owners: 3,
        rows: 10,
    };
    assert_matches_clear(&honest, query, &tables, minimums);
    let nets: Vec<Cheating<MemoryNetwork>> = MemoryNetwork::mesh(3)
        .into_iter()
        .enumerate()
        .map(|(i, net)| {
            let cheat = Cheat {
                rounds: if i == 1 {
                    None
                } else {
                    Some(Default::default())
                },
                to: None,
                tamper: Tamper::All,
                error: 1,
            };
            Cheating::new(net, cheat).0
        })
        .collect();
    let outputs = run_job_over(stores, params, config, nets, spec);
    for (i, o) in outputs.iter().enumerate() {
        let e = o.as_ref().expect_err("no answer under a cheating worker");
        assert!(
            e.contains("integrity check failed") || e.contains("left the session"),
            "worker {i}: {e}"
        );
    }
    assert!(
        outputs
            .iter()
            .any(|o| o.as_ref().unwrap_err().contains("integrity check failed"))
    );
}

#[test]
fn a_statistics_job_matches_the_clear_computation() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, tables) = stores(&[("acme", ""), ("beta", ""), ("gamma", "")], params);
    let query = "SELECT team, COUNT(*), SUM(salary), AVG(salary), MAX(salary) FROM payroll WHERE salary > 40000 GROUP BY team";
    for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
        let outputs = run_job(
            stores.clone(),
            params,
            mul,
            JobSpec::Statistics {
                query: query.into(),
                epsilon: None,
                recipients: vec![],
            },
        );
        let minimums = GroupMinimums {
            owners: 3,
            rows: 10,
        };
        assert_matches_clear(&outputs, query, &tables, minimums);
    }
}

/// Every worker's answer is the same, and equals `query` over `tables` in the clear.
fn assert_matches_clear(
    outputs: &[Result<PublicResult, String>],
    query: &str,
    tables: &[protocols::dataset::Table],
    minimums: GroupMinimums,
) {
    let first = outputs[0].clone().unwrap();
    assert!(
        outputs.iter().all(|o| o.as_ref() == Ok(&first)),
        "workers disagree: {outputs:?}"
    );
    // The same query in the clear on the plain rows.
    let schema = Schema::from_toml(SCHEMA, "schema").unwrap();
    let parsed = protocols::stats::parse(query, |_| Some(schema.clone())).unwrap();
    let inputs = protocols::stats::Inputs::clear(&schema, tables).unwrap();
    let options = QueryOptions {
        minimums,
        epsilon: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let clear = rt
        .block_on(protocols::stats::run_query(
            &mut Clear::default(),
            &parsed,
            &inputs,
            &options,
        ))
        .unwrap();
    let PublicResult::Statistics(got) = first else {
        panic!("a statistics job returned another kind");
    };
    assert_eq!(got.rows.len(), clear.rows.len());
    assert_eq!(got.suppressed, clear.suppressed);
    for (g, c) in got.rows.iter().zip(&clear.rows) {
        assert_eq!(format!("{:?}", g.group), format!("{:?}", c.group));
        // Counts, sums and maxima exactly; the average within fixed-point precision.
        for (gv, cv) in g.values.iter().zip(&c.values) {
            match (gv, cv) {
                (protocols::stats::Value::Float(a), protocols::stats::Value::Float(b)) => {
                    assert!((a - b).abs() < 1e-3, "{a} vs {b}")
                }
                (a, b) => assert_eq!(a, b),
            }
        }
    }
}

/// Squatting: mallory uploads her own `payroll` with another schema. On the old code every job
/// over `payroll` failed ("different schemas"); now her dataset is left out and the answer is
/// that of the three real owners' datasets.
#[test]
fn a_squatted_dataset_name_does_not_break_the_job() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, tables) = stores(&[("acme", ""), ("beta", ""), ("gamma", "")], params);
    let squat_schema = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 20\n";
    let squat = read_csv(
        "salary\n1\n2\n".as_bytes(),
        "s.csv",
        Some(&Schema::from_toml(squat_schema, "s").unwrap()),
    )
    .unwrap();
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(8);
    let d = common::Dataset {
        owner: "mallory",
        name: "payroll",
        schema: squat_schema,
        policy: "",
    };
    common::deal(&stores, &d, &squat, params, &mut rng);
    let inputs = worker::executor::Inputs::named(&stores[0], "payroll").unwrap();
    assert_eq!(inputs.owners(), ["acme", "beta", "gamma"]);
    let query = "SELECT team, COUNT(*), SUM(salary) FROM payroll GROUP BY team";
    let outputs = run_job(stores, params, MulProtocol::Grr, statistics(query));
    let minimums = GroupMinimums {
        owners: 3,
        rows: 10,
    };
    assert_matches_clear(&outputs, query, &tables, minimums);
}

/// `FROM acme.payroll` reads acme's dataset alone; a tie between two schemas of one name is
/// refused, naming the owners.
#[test]
fn a_qualified_name_reads_one_owner_and_a_tie_is_named() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, tables) = stores(&[("acme", ""), ("beta", "")], params);
    let named = |name: &str| -> Vec<String> {
        let inputs = worker::executor::Inputs::named(&stores[0], name).unwrap();
        inputs.owners().iter().map(|o| o.to_string()).collect()
    };
    assert_eq!(named("acme/payroll"), ["acme"]);
    assert_eq!(named("payroll"), ["acme", "beta"]);
    // One owner's statistics are always suppressed (3 owners a group at least), as in the clear.
    let query = "SELECT team, COUNT(*), SUM(salary) FROM acme.payroll GROUP BY team";
    let outputs = run_job(stores.clone(), params, MulProtocol::Grr, statistics(query));
    let minimums = GroupMinimums {
        owners: 3,
        rows: 10,
    };
    assert_matches_clear(&outputs, query, &tables[..1], minimums);
    // A second schema for `payroll`, by as many owners as the first: which is meant?
    let other = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 20\n";
    let table = read_csv(
        "salary\n1\n".as_bytes(),
        "o.csv",
        Some(&Schema::from_toml(other, "o").unwrap()),
    )
    .unwrap();
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(9);
    for owner in ["xeno", "yuri"] {
        let d = common::Dataset {
            owner,
            name: "payroll",
            schema: other,
            policy: "",
        };
        common::deal(&stores, &d, &table, params, &mut rng);
    }
    let query = "SELECT COUNT(*) FROM payroll";
    for out in run_job(stores, params, MulProtocol::Grr, statistics(query)) {
        let err = out.unwrap_err();
        assert!(
            err.contains("acme, beta")
                && err.contains("xeno, yuri")
                && err.contains("owner/payroll"),
            "{err}"
        );
    }
}

fn statistics(query: &str) -> JobSpec {
    JobSpec::Statistics {
        query: query.into(),
        epsilon: None,
        recipients: vec![],
    }
}

#[test]
fn every_worker_refuses_a_job_the_policy_forbids() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, _) = stores(
        &[
            ("acme", ""),
            ("beta", "allow_kinds = [\"auction\"]"),
            ("gamma", ""),
        ],
        params,
    );
    let spec = JobSpec::Statistics {
        query: "SELECT SUM(salary) FROM payroll".into(),
        epsilon: None,
        recipients: vec![],
    };
    for out in run_job(stores, params, MulProtocol::Grr, spec) {
        let err = out.unwrap_err();
        assert!(
            err.contains("dataset 'payroll' (owner beta)") && err.contains("allow_kinds"),
            "{err}"
        );
    }
}
