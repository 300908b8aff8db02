//! The shipped settlement example (`examples/settlement.toml` and its CSVs) run as a job by
//! three workers, each over its own share store and the in-memory network: the upload checks
//! pass, the public status, every firm's new balance and settled flags, the accounts updates
//! and the consumed obligations match the example's documented outcome. A dataset of an owner outside the round is not read
//! (its refusing policy does not stop the job), and a firm's refusing policy does.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{EngineConfig, MulProtocol, Params};
use protocols::catalog::JobSpec;
use protocols::catalog::PublicResult;
use protocols::dataset::{Table, read_csv, read_csv_file};
use protocols::settlement::SettlementResult;
use rand::SeedableRng;
use worker::executor::execute;
use worker::store::ShareStore;

const FIRMS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn spec() -> JobSpec {
    let text = std::fs::read_to_string(example().join("settlement.toml")).unwrap();
    JobSpec::from_toml(&text).unwrap()
}

/// Shares `table` as `owner`'s dataset `name` into every store and commits it.
fn upload(
    stores: &[ShareStore],
    params: Params,
    owner: &str,
    name: &str,
    table: &Table,
    policy: &str,
) {
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(owner.len() as u64 + name.len() as u64);
    let schema = toml::to_string(&table.schema).unwrap();
    let d = common::Dataset {
        owner,
        name,
        schema: &schema,
        policy,
    };
    common::deal(stores, &d, table, params, &mut rng);
}

/// Every firm's example datasets (checked as the client would), plus `extra` uploads.
fn stores(
    params: Params,
    policy_of: impl Fn(&str) -> &'static str,
) -> (Vec<tempfile::TempDir>, Arc<Vec<ShareStore>>) {
    let (dirs, stores) = common::stores(params.n());
    let spec = spec();
    for firm in FIRMS {
        for dataset in ["accounts", "obligations"] {
            let path = example().join(format!("data/settlement/{firm}-{dataset}.csv"));
            let mut table = read_csv_file(&path, None).unwrap();
            // As `quorate upload --job` does: an inferred balance column gets room to grow.
            spec.widen_inferred(dataset, &mut table);
            spec.check_upload(dataset, &table)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            upload(&stores, params, firm, dataset, &table, policy_of(firm));
        }
    }
    // An owner outside the round with an accounts dataset that refuses every job.
    let outsider = read_csv("balance\n1000000\n".as_bytes(), "x.csv", None).unwrap();
    upload(
        &stores,
        params,
        "outsider",
        "accounts",
        &outsider,
        "allow_kinds = []\n",
    );
    (dirs, Arc::new(stores))
}

/// Opened outputs of one run: public result, (recipient, output name, values), updated
/// columns by `owner/dataset` (the balance, or the amounts left).
type Opened = (
    SettlementResult,
    Vec<(String, String, Vec<i128>)>,
    Vec<(String, Vec<i128>)>,
);

fn run(stores: Arc<Vec<ShareStore>>, params: Params) -> Vec<Result<Opened, String>> {
    mpc::testing::block_on(run_networks(
        MemoryNetwork::mesh(params.n()),
        params,
        EngineConfig {
            mul: MulProtocol::Dn07,
            check_openings: true,
            ..Default::default()
        },
        5,
        move |mut e| {
            let stores = stores.clone();
            async move {
                let me = e.me().index();
                let out = match execute(&mut e, &stores[me], &spec()).await {
                    Ok(out) => out,
                    Err(err) => return Ok(Err(err.to_string())),
                };
                let PublicResult::Settlement(public) = out.public else {
                    panic!("not a settlement result");
                };
                let mut private = Vec::new();
                for p in &out.private {
                    private.push((
                        p.recipient.clone(),
                        p.name.clone(),
                        e.open_ints(&p.values).await?,
                    ));
                }
                // New balances, and the amounts left in each obligations dataset.
                let mut updates = Vec::new();
                for u in &out.updates {
                    let column = if u.name == "accounts" { 0 } else { 2 };
                    assert_eq!(u.columns.len(), 1 + column);
                    let values = e.open_ints(&u.columns[column]).await?;
                    updates.push((format!("{}/{}", u.owner, u.name), values));
                }
                Ok(Ok((public, private, updates)))
            }
        },
    ))
    .into_iter()
    .map(|r| r.unwrap())
    .collect()
}

#[test]
fn the_shipped_example_settles_as_documented() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores) = stores(params, |_| "");
    let results = run(stores, params);
    let (public, private, mut updates) = results[0].clone().unwrap();
    for r in &results[1..] {
        assert_eq!(
            r.as_ref().unwrap(),
            &(public.clone(), private.clone(), updates.clone())
        );
    }
    assert_eq!(public.iterations, 2);
    assert!(!public.all_settled);
    assert_eq!(public.obligations, 8);
    let want = [
        ("acme", 250),
        ("globex", 150),
        ("initech", 200),
        ("umbrella", 250),
    ];
    // Settled obligations are consumed (amount 0); umbrella's, which did not settle, stay.
    let left = [
        ("acme", vec![0, 0]),
        ("globex", vec![0, 0]),
        ("initech", vec![0, 0]),
        ("umbrella", vec![400, 200]),
    ];
    updates.sort();
    let mut expected: Vec<(String, Vec<i128>)> = want
        .iter()
        .map(|(f, b)| (format!("{f}/accounts"), vec![*b]))
        .chain(
            left.iter()
                .map(|(f, a)| (format!("{f}/obligations"), a.clone())),
        )
        .collect();
    expected.sort();
    assert_eq!(updates, expected);
    for (firm, balance) in want {
        let mine: Vec<_> = private.iter().filter(|p| p.0 == firm).collect();
        assert_eq!(mine.len(), 2, "{firm}: a balance and settled flags");
        let get = |name: &str| &mine.iter().find(|p| p.1 == name).unwrap().2;
        assert_eq!(get("balance"), &vec![balance]);
        let flag = i128::from(firm != "umbrella");
        assert_eq!(get("settled"), &vec![flag, flag], "{firm}");
    }
}

#[test]
fn a_firms_policy_can_refuse_the_round() {
    let params = Params::new(3, 1).unwrap();
    let (_dirs, stores) = stores(params, |firm| {
        if firm == "initech" {
            "allow_kinds = [\"statistics\"]\n"
        } else {
            ""
        }
    });
    for r in run(stores, params) {
        let err = r.unwrap_err();
        assert!(
            err.contains("initech") && err.contains("allow_kinds"),
            "{err}"
        );
    }
}
