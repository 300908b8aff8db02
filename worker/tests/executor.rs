//! A statistics job run by three workers, each over its own share store and the in-memory
//! network, against the same query in the clear; and a policy that refuses the job.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use coordinator::ledger::budget::{self, Spent};
use coordinator::ledger::{Entry, EntryBody, Hash256, JobOutcome, JobStatus};
use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{EngineConfig, MulProtocol, Params};
use protocols::backend::Clear;
use protocols::catalog::JobSpec;
use protocols::catalog::PublicResult;
use protocols::dataset::{Schema, read_csv};
use protocols::stats::cost::Limits;
use protocols::stats::{GroupMinimums, QueryOptions};
use rand::SeedableRng;
use worker::admission_budget::Reservations;
use worker::executor::{Admission, ExecError, Spending, execute_admitted};
use worker::store::ShareStore;

/// The counting allocator of the `quorate` binary, so that jobs here are measured as a worker
/// measures them (worker/src/memory.rs).
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn count_allocations() {
    worker::memory::set_probe(|| ALLOCATOR.allocated() as u64);
}

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
    let cap = Limits::default().max_job_memory_mib;
    run_charged_over(stores, params, config, nets, spec, Spending::new(), cap)
        .into_iter()
        .map(|r| r.map(|(public, _)| public))
        .collect()
}

/// [`run_job`] with the privacy budget spent so far: each worker's result and spending.
fn run_charged(
    stores: Arc<Vec<ShareStore>>,
    params: Params,
    mul: MulProtocol,
    spec: JobSpec,
    spending: Spending,
) -> Vec<Result<(PublicResult, Vec<Spent>), String>> {
    let config = EngineConfig {
        mul,
        check_openings: true,
        ..Default::default()
    };
    let nets = MemoryNetwork::mesh(params.n());
    let cap = Limits::default().max_job_memory_mib;
    run_charged_over(stores, params, config, nets, spec, spending, cap)
}

fn run_charged_over<N: mpc::net::Network + Sync + 'static>(
    stores: Arc<Vec<ShareStore>>,
    params: Params,
    config: EngineConfig,
    nets: Vec<N>,
    spec: JobSpec,
    spending: Spending,
    memory_cap_mib: u64,
) -> Vec<Result<(PublicResult, Vec<Spent>), String>> {
    let fresh = Arc::new((0..params.n()).map(|_| Reservations::default()).collect());
    let ledger = Ledger {
        spending,
        ended: BTreeSet::new(),
        memory_cap_mib,
    };
    run_admitted_over(stores, params, config, nets, spec, (0, ledger), fresh)
}

/// What a worker's ledger replica says: each dataset's spending, and the jobs that ended; and
/// the worker's memory cap for the job (0: the default, [`Limits::default`]'s).
#[derive(Clone)]
struct Ledger {
    spending: Spending,
    ended: BTreeSet<u64>,
    memory_cap_mib: u64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            spending: Spending::default(),
            ended: BTreeSet::new(),
            memory_cap_mib: Limits::default().max_job_memory_mib,
        }
    }
}

/// Runs job `job.0` as every worker, each admitting it among its own `reservations`.
fn run_admitted_over<N: mpc::net::Network + Sync + 'static>(
    stores: Arc<Vec<ShareStore>>,
    params: Params,
    config: EngineConfig,
    nets: Vec<N>,
    spec: JobSpec,
    job: (u64, Ledger),
    reservations: Arc<Vec<Reservations>>,
) -> Vec<Result<(PublicResult, Vec<Spent>), String>> {
    mpc::testing::block_on(run_networks(nets, params, config, 3, move |mut e| {
        let (stores, spec, job) = (stores.clone(), spec.clone(), job.clone());
        let reservations = reservations.clone();
        async move {
            let me = e.me().index();
            let limits = Limits::default();
            let admission = Admission {
                job: job.0,
                spending: &job.1.spending,
                ended: &job.1.ended,
                reservations: &reservations[me],
            };
            // As the worker runs it: under the measured memory cap (worker/src/memory.rs).
            let run = execute_admitted(&mut e, &stores[me], &spec, &limits, &admission);
            Ok(worker::memory::capped(job.1.memory_cap_mib, run)
                .await
                .map(|(o, spent)| (o.public, spent))
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
    let nets = every_message_altered_by(1);
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
    let options = QueryOptions::with_minimums(minimums);
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

/// Every worker refuses `query` (with `epsilon`), naming acme's dataset and `clause`.
fn refused_by_all(
    stores: &Arc<Vec<ShareStore>>,
    params: Params,
    query: &str,
    epsilon: Option<f64>,
    clause: &str,
) {
    let spec = JobSpec::Statistics {
        query: query.into(),
        epsilon,
        recipients: vec![],
    };
    for out in run_job(stores.clone(), params, MulProtocol::Grr, spec) {
        let err = out.unwrap_err();
        assert!(
            err.contains("dataset 'payroll' (owner acme)") && err.contains(clause),
            "{query}: {err}"
        );
    }
}

#[test]
fn every_worker_holds_the_analyst_to_the_disclosure_clauses() {
    let params = Params::new(3, 1).unwrap();
    let policy = "require_dp = true\nmax_epsilon = 1.0\nforbid_functions = [\"MAX\", \"MEDIAN\"]";
    let (_dirs, stores, _) = stores(&[("acme", policy), ("beta", ""), ("gamma", "")], params);
    // The tracker pair: two exact sums whose difference is one salary.
    for tracker in [
        "SELECT SUM(salary) FROM payroll WHERE salary < 60000",
        "SELECT SUM(salary) FROM payroll WHERE salary < 60001",
    ] {
        refused_by_all(&stores, params, tracker, None, "require_dp");
    }
    refused_by_all(
        &stores,
        params,
        "SELECT SUM(salary) FROM payroll WHERE salary < 60000",
        Some(4.0),
        "max_epsilon",
    );
    refused_by_all(
        &stores,
        params,
        "SELECT COUNT(*), MAX(salary) FROM payroll",
        Some(0.5),
        "forbid_functions",
    );
    // Under the cap, the same tracker is answered, with noise.
    let spec = JobSpec::Statistics {
        query: "SELECT COUNT(*), SUM(salary) FROM payroll WHERE salary < 60000".into(),
        epsilon: Some(0.5),
        recipients: vec![],
    };
    for out in run_job(stores.clone(), params, MulProtocol::Grr, spec) {
        let Ok(PublicResult::Statistics(r)) = out else {
            panic!("{out:?}")
        };
        assert_eq!(r.epsilon, Some(0.5));
    }
}

/// acme's policy sets a minimum query set of 10: a probe whose WHERE picks out the few top
/// salaries, and its complement, are refused by every worker naming the dataset and the
/// clause; a query over a middle set is answered.
#[test]
fn every_worker_holds_a_query_to_the_minimum_query_set() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, tables) = stores_under("min_query_rows = 10", params);
    let salaries: Vec<i128> = tables.iter().flat_map(|t| t.columns[0].clone()).collect();
    let above = |t: i128| salaries.iter().filter(|&&s| s > t).count();
    assert!((1..10).contains(&above(115_000)), "{}", above(115_000));
    assert!((10..=62).contains(&above(75_000)), "{}", above(75_000));
    for probe in [
        "SELECT SUM(salary) FROM payroll WHERE salary > 115000",
        "SELECT SUM(salary) FROM payroll WHERE salary <= 115000",
    ] {
        refused_by_all(&stores, params, probe, None, "min_query_rows");
    }
    let spec = JobSpec::Statistics {
        query: "SELECT COUNT(*) FROM payroll WHERE salary > 75000".into(),
        epsilon: None,
        recipients: vec![],
    };
    for out in run_job(stores.clone(), params, MulProtocol::Grr, spec) {
        let Ok(PublicResult::Statistics(r)) = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            r.rows[0].values[0],
            protocols::stats::Value::Int(above(75_000) as i128)
        );
    }
}

/// acme's dataset asks for `require_security = "malicious"`: every worker refuses the
/// semi-honest job, naming the dataset and the clause; the same job at the malicious level runs
/// and equals the clear computation.
#[test]
fn a_require_security_dataset_is_read_only_by_a_malicious_level_job() {
    let params = Params::new(3, 1).unwrap();
    let policy = "require_security = \"malicious\"";
    let (_dirs, stores, tables) = stores(&[("acme", policy), ("beta", ""), ("gamma", "")], params);
    let query = "SELECT team, COUNT(*), SUM(salary) FROM payroll GROUP BY team";
    refused_by_all(&stores, params, query, None, "require_security");
    for out in run_job(
        stores.clone(),
        params,
        MulProtocol::Grr,
        JobSpec::Statistics {
            query: query.into(),
            epsilon: None,
            recipients: vec![],
        },
    ) {
        let err = out.unwrap_err();
        assert!(err.contains("semi-honest"), "{err}");
    }
    let config = EngineConfig {
        mul: MulProtocol::Grr,
        check_openings: true,
        security: mpc::SecurityLevel::Malicious,
        ..Default::default()
    };
    let spec = JobSpec::Statistics {
        query: query.into(),
        epsilon: None,
        recipients: vec![],
    };
    let outputs = run_job_over(stores, params, config, MemoryNetwork::mesh(3), spec);
    let minimums = GroupMinimums {
        owners: 3,
        rows: 10,
    };
    assert_matches_clear(&outputs, query, &tables, minimums);
}

/// Two DP jobs admitted before either's outcome is on the ledger cannot together pass the
/// budget: job 1 (epsilon 0.6 of acme's 1.0) runs and its spend stays reserved on every worker
/// while its outcome is not on the ledger, so job 2 asking 0.6 is refused by every worker,
/// naming the dataset; job 3 asking 0.4 fits beside it. Job 3 failing releases its share;
/// once job 1's outcome is on the ledger, the ledger counts it instead of the reservation.
#[test]
fn concurrent_dp_jobs_cannot_overspend_the_budget() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, _) = stores_under("epsilon_budget = 1.0", params);
    let config = EngineConfig {
        check_openings: true,
        ..Default::default()
    };
    let reservations: Arc<Vec<Reservations>> =
        Arc::new((0..3).map(|_| Reservations::default()).collect());
    let query = |epsilon: f64| JobSpec::Statistics {
        query: "SELECT COUNT(*) FROM payroll".into(),
        epsilon: Some(epsilon),
        recipients: vec![],
    };
    let run = |job: u64, epsilon: f64, ledger: &Ledger| {
        run_admitted_over(
            stores.clone(),
            params,
            config.clone(),
            MemoryNetwork::mesh(3),
            query(epsilon),
            (job, ledger.clone()),
            reservations.clone(),
        )
    };
    let empty = Ledger::default();
    assert!(run(1, 0.6, &empty).iter().all(Result::is_ok));
    for r in reservations.iter() {
        assert_eq!(r.pending_on("acme/payroll"), budget::units(0.6));
    }
    // Job 1 is admitted and not yet on the ledger: job 2 would pass the budget.
    for out in run(2, 0.6, &empty) {
        let err = out.unwrap_err();
        assert!(
            err.contains("dataset 'payroll' (owner acme)")
                && err.contains("epsilon_budget")
                && err.contains("epsilon 0.6 spent")
                && err.contains("reserved"),
            "{err}"
        );
    }
    // What is left fits: job 3 asks 0.4 (then 1.0 is reserved in all).
    assert!(run(3, 0.4, &empty).iter().all(Result::is_ok));
    // Job 3 fails on every worker (as the node does on an error): its reservation goes.
    for r in reservations.iter() {
        r.release(3);
        assert_eq!(r.pending_on("acme/payroll"), budget::units(0.6));
    }
    // Job 1's outcome lands: the ledger counts its 0.6, the reservation is over, and 0.4 fits.
    let on_ledger = Ledger {
        spending: budget::spending(&[outcome(1, &[Spent::new("acme/payroll", 0.6)])]),
        ended: BTreeSet::from([1]),
        ..Ledger::default()
    };
    assert!(run(4, 0.4, &on_ledger).iter().all(Result::is_ok));
    for r in reservations.iter() {
        assert_eq!(r.pending_on("acme/payroll"), budget::units(0.4));
    }
    assert!(run(5, 0.1, &on_ledger).iter().all(Result::is_err));
}

/// The outcome entry of job `job`, done, recording `spent` (as the worker's report would).
fn outcome(job: u64, spent: &[Spent]) -> Entry {
    Entry {
        height: job,
        prev: Hash256::ZERO,
        time: 0,
        body: EntryBody::JobOutcome(JobOutcome {
            job,
            status: JobStatus::Done,
            outputs: spent.iter().map(Spent::output).collect(),
        }),
        signatures: Vec::new(),
    }
}

/// Stores where acme's payroll is under `policy` and beta's and gamma's under the default.
fn stores_under(
    policy: &str,
    params: Params,
) -> (
    Vec<tempfile::TempDir>,
    Arc<Vec<ShareStore>>,
    Vec<protocols::dataset::Table>,
) {
    stores(&[("acme", policy), ("beta", ""), ("gamma", "")], params)
}

/// The repeated query: acme's policy allows epsilon 1 in all; each run of a query at 0.4 is
/// recorded (as its outcome entry would record it) and the third is refused by every worker,
/// naming the dataset, what was spent and the budget. The spending is recomputed from the
/// chain as `ledger verify` does.
#[test]
fn a_repeated_dp_query_is_refused_once_the_budget_is_spent() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, _) = stores(
        &[
            ("acme", "epsilon_budget = 1.0"),
            ("beta", ""),
            ("gamma", ""),
        ],
        params,
    );
    let spec = JobSpec::Statistics {
        query: "SELECT COUNT(*), SUM(salary) FROM payroll".into(),
        epsilon: Some(0.4),
        recipients: vec![],
    };
    let mut chain: Vec<Entry> = Vec::new();
    for job in 1..=3u64 {
        let spending = budget::spending(&chain);
        let outs = run_charged(
            stores.clone(),
            params,
            MulProtocol::Grr,
            spec.clone(),
            spending,
        );
        if job == 3 {
            for out in outs {
                let err = out.unwrap_err();
                assert!(
                    err.contains("dataset 'payroll' (owner acme)")
                        && err.contains("epsilon_budget")
                        && err.contains("epsilon 0.8 spent of a budget of 1"),
                    "{err}"
                );
            }
            break;
        }
        let spent = outs[0].as_ref().unwrap().1.clone();
        assert!(outs.iter().all(|o| o.as_ref().unwrap().1 == spent));
        let keys: Vec<&str> = spent.iter().map(|s| s.dataset.as_str()).collect();
        assert_eq!(keys, ["acme/payroll", "beta/payroll", "gamma/payroll"]);
        chain.push(outcome(job, &spent));
    }
    assert_eq!(budget::spent_on(&chain, "acme/payroll"), budget::units(0.8));
    // An exact query is refused outright: it would spend without bound.
    refused_by_all(
        &stores,
        params,
        "SELECT SUM(salary) FROM payroll",
        None,
        "epsilon_budget",
    );
}

/// A job whose measured memory passes its cap fails, on every worker, naming what it used and
/// the cap and where the cap is set; the process goes on, and the same job under the default
/// cap then runs and matches the clear computation.
#[test]
fn a_job_over_its_memory_cap_fails_and_the_worker_goes_on() {
    count_allocations();
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, tables) = stores(&[("acme", ""), ("beta", ""), ("gamma", "")], params);
    let query =
        "SELECT team, COUNT(*), AVG(salary) FROM payroll WHERE salary > 40000 GROUP BY team";
    let config = EngineConfig {
        mul: MulProtocol::Grr,
        check_openings: true,
        ..Default::default()
    };
    let nets = MemoryNetwork::mesh(3);
    let spending = Spending::new();
    let spec = statistics(query);
    let capped = run_charged_over(stores.clone(), params, config, nets, spec, spending, 0);
    let mut over = 0;
    for r in &capped {
        let e = r
            .as_ref()
            .err()
            .expect("no worker finishes a job over its cap");
        if e.contains("over its cap of 0 MiB set in worker.toml [limits] max_job_memory_mib") {
            over += 1;
        }
    }
    assert!(over >= 1, "{capped:?}");
    // The worker goes on: the same job under the default cap.
    let outputs = run_job(stores, params, MulProtocol::Grr, statistics(query));
    assert_matches_clear(&outputs, query, &tables, DEFAULT_MINIMUMS);
}

/// The default group minimums (3 owners, 10 rows).
const DEFAULT_MINIMUMS: GroupMinimums = GroupMinimums {
    owners: 3,
    rows: 10,
};

/// The cap itself: a job that holds 64 MiB is stopped under a 16 MiB cap with the figures in
/// its error, and runs to its end under a larger one.
#[test]
fn the_memory_cap_stops_a_job_between_its_rounds() {
    count_allocations();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let job = || async {
        let held = vec![1u8; 64 << 20];
        tokio::time::sleep(std::time::Duration::from_millis(30)).await; // a round
        Ok::<usize, ExecError>(held.iter().map(|&b| b as usize).sum())
    };
    let err = rt.block_on(worker::memory::capped(16, job())).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("job used 6"), "{text}");
    assert!(text.contains("over its cap of 16 MiB"), "{text}");
    assert_eq!(
        rt.block_on(worker::memory::capped(100_000, job())).unwrap(),
        64 << 20
    );
}

/// Three in-memory endpoints where worker `cheater` adds 1 to every element of every message
/// it sends.
fn every_message_altered_by(cheater: u16) -> Vec<mpc::net::cheat::Cheating<MemoryNetwork>> {
    use mpc::net::cheat::{Cheat, Tamper, memory_mesh};
    let cheat = Cheat {
        rounds: None,
        to: None,
        tamper: Tamper::All,
        error: 1,
    };
    memory_mesh(3, Some(&(mpc::PartyId(cheater), cheat))).0
}

/// Issue 15, naming: with four workers (n >= 3t + 1), a worker that sends shares of an opening
/// off the polynomial is named in every honest worker's job error, the text the coordinator
/// records on the ledger ("... (party 3 sent a share off the polynomial)"). Worker 3 cheats in
/// one round at a time from the first until one is an opening; no round gets anyone else named.
#[test]
fn a_worker_cheating_at_an_opening_is_named_in_the_job_error() {
    use mpc::net::cheat::{Cheat, Tamper, memory_mesh};
    let params = Params::new(4, 1).unwrap();
    let (_dirs, stores, _) = stores(&[("acme", ""), ("beta", ""), ("gamma", "")], params);
    let spec = statistics("SELECT COUNT(*), SUM(salary) FROM payroll");
    let malicious = EngineConfig {
        mul: MulProtocol::Grr,
        security: mpc::SecurityLevel::Malicious,
        ..Default::default()
    };
    let named =
        "integrity check failed: opening consistency (party 3 sent a share off the polynomial)";
    let found = (0..40u32).find(|&round| {
        let cheat = Cheat {
            tamper: Tamper::All,
            ..Cheat::in_round(round)
        };
        let nets = memory_mesh(4, Some(&(mpc::PartyId(3), cheat))).0;
        let outcome = run_counting_rounds(&stores, params, malicious, nets, &spec);
        for (w, (r, _)) in outcome[..3].iter().enumerate() {
            if let Err(e) = r {
                assert!(
                    !e.contains("off the polynomial)") || e.contains(named),
                    "round {round}, worker {w}: {e}"
                );
            }
        }
        outcome[..3]
            .iter()
            .all(|(r, _)| r.as_ref().is_err_and(|e| e.contains(named)))
    });
    assert!(found.is_some(), "no round of the job named worker 3");
}

/// Runs `spec` once on every worker under `config`: each worker's answer (or error) and the
/// rounds its engine took.
fn run_counting_rounds<N: mpc::net::Network + Sync + 'static>(
    stores: &Arc<Vec<ShareStore>>,
    params: Params,
    config: EngineConfig,
    nets: Vec<N>,
    spec: &JobSpec,
) -> Vec<(Result<PublicResult, String>, u64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run_networks(nets, params, config, 5, move |mut e| {
        let (stores, spec) = (stores.clone(), spec.clone());
        async move {
            let me = e.me().index();
            let run = worker::executor::execute(&mut e, &stores[me], &spec).await;
            Ok((
                run.map(|o| o.public).map_err(|e| e.to_string()),
                e.stats().rounds,
            ))
        }
    }))
    .into_iter()
    .map(|r| r.unwrap())
    .collect()
}

/// Each store's record of checked input columns: per dataset (in listing order), per column.
fn checked_columns(stores: &[ShareStore]) -> Vec<Vec<Vec<Option<u32>>>> {
    stores
        .iter()
        .map(|s| {
            s.list()
                .unwrap()
                .iter()
                .map(|r| s.checked_columns(&r.upload, r.columns).unwrap())
                .collect()
        })
        .collect()
}

/// Under the malicious level a worker remembers the input columns a job checked only once the
/// job succeeded (not after a cheating worker made it abort, not under semi-honest, only the
/// columns the query read, with their declared bits); the next job over the same versions then
/// skips their check — every worker claims it — and takes fewer rounds for the same answer; a
/// replaced version starts unchecked.
#[test]
fn a_worker_skips_only_the_input_checks_every_worker_saw_pass() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores, _) = stores(&[("acme", ""), ("beta", "")], params);
    let spec = statistics("SELECT COUNT(*), SUM(salary) FROM payroll");
    let malicious = EngineConfig {
        mul: MulProtocol::Grr,
        security: mpc::SecurityLevel::Malicious,
        ..Default::default()
    };
    let nothing = vec![vec![vec![None, None]; 2]; 3];

    let semi = run_counting_rounds(
        &stores,
        params,
        EngineConfig::default(),
        MemoryNetwork::mesh(3),
        &spec,
    );
    assert!(semi.iter().all(|(r, _)| r.is_ok()), "{semi:?}");
    assert_eq!(
        checked_columns(&stores),
        nothing,
        "semi-honest checks nothing"
    );

    let cheating = every_message_altered_by(2);
    let aborted = run_counting_rounds(&stores, params, malicious, cheating, &spec);
    assert!(aborted.iter().all(|(r, _)| r.is_err()), "{aborted:?}");
    assert_eq!(
        checked_columns(&stores),
        nothing,
        "an aborted job records nothing"
    );

    let first = run_counting_rounds(&stores, params, malicious, MemoryNetwork::mesh(3), &spec);
    let salary_bits = Schema::from_toml(SCHEMA, "schema").unwrap().columns[0]
        .ty
        .bits();
    assert_eq!(
        checked_columns(&stores),
        vec![vec![vec![Some(salary_bits), None]; 2]; 3],
        "the salary column was read and checked; team was not read"
    );
    let second = run_counting_rounds(&stores, params, malicious, MemoryNetwork::mesh(3), &spec);
    for ((a, rounds_a), (b, rounds_b)) in first.iter().zip(&second) {
        assert_eq!(a.as_ref().unwrap(), b.as_ref().unwrap(), "the same answer");
        assert!(
            rounds_b < rounds_a,
            "the second job skips the check: {rounds_b} rounds against {rounds_a}"
        );
    }

    // A new version of acme's dataset (same values) starts unchecked on every worker.
    let schema = Schema::from_toml(SCHEMA, "schema").unwrap();
    let table = read_csv(csv(0, 24).as_bytes(), "t.csv", Some(&schema)).unwrap();
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(8);
    let acme = common::Dataset {
        owner: "acme",
        name: "payroll",
        schema: SCHEMA,
        policy: "",
    };
    common::deal_version(&stores, &acme, &table, params, &mut rng, "-v2");
    for per_store in checked_columns(&stores) {
        assert_eq!(per_store[0], vec![None, None], "acme's new version");
        assert_eq!(
            per_store[1],
            vec![Some(salary_bits), None],
            "beta's version"
        );
    }
    // (The check's rounds grow with the number of values it checks, so the third job, which
    // checks acme's column only, sits between the first and the second.)
    let third = run_counting_rounds(&stores, params, malicious, MemoryNetwork::mesh(3), &spec);
    for (((a, _), (_, rounds_b)), (c, rounds_c)) in first.iter().zip(&second).zip(&third) {
        assert_eq!(a.as_ref().unwrap(), c.as_ref().unwrap());
        assert!(
            rounds_c > rounds_b,
            "acme's new version is checked again: {rounds_c} rounds against {rounds_b}"
        );
    }
}
