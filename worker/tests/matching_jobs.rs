//! The shipped matching examples (`examples/*.toml` with their CSVs and schemas) run by three
//! workers through `execute`, each over its own share store: the public results the examples
//! state, every bidder's and firm's private output reconstructed from the workers' shares, and
//! a policy that refuses the kind.

mod common;

use std::sync::Arc;

use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{EngineConfig, Field, Fr, MulProtocol, Params, PartyId};
use protocols::catalog::JobSpec;
use protocols::catalog::PublicResult;
use protocols::dataset::{Schema, read_csv};
use protocols::matching::Clearing;
use rand::SeedableRng;
use worker::executor::{JobOutput, execute};
use worker::store::ShareStore;

fn example(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    std::fs::read_to_string(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Uploads every owner's example CSV of `kind` as `dataset` to three stores (two-phase, as
/// the upload protocol does), after the job's upload check.
fn stores(
    spec: &JobSpec,
    kind: &str,
    dataset: &str,
    owners: &[&str],
    policy: &str,
) -> (Vec<tempfile::TempDir>, Arc<Vec<ShareStore>>) {
    let params = Params::new(3, 1).unwrap();
    let schema_text = example(&format!("data/{kind}/schema.toml"));
    let schema = Schema::from_toml(&schema_text, "schema.toml").unwrap();
    let (dirs, stores) = common::stores(3);
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(5);
    for owner in owners {
        let csv = example(&format!("data/{kind}/{owner}.csv"));
        let table = read_csv(csv.as_bytes(), owner, Some(&schema)).unwrap();
        spec.check_upload(dataset, &table).unwrap();
        let d = common::Dataset {
            owner,
            name: dataset,
            schema: &schema_text,
            policy,
        };
        common::deal(&stores, &d, &table, params, &mut rng);
    }
    (dirs, Arc::new(stores))
}

/// Every worker's output (or its error).
fn run_job(stores: Arc<Vec<ShareStore>>, spec: JobSpec) -> Vec<Result<JobOutput, String>> {
    let params = Params::new(3, 1).unwrap();
    mpc::testing::block_on(run_networks(
        MemoryNetwork::mesh(3),
        params,
        EngineConfig {
            mul: MulProtocol::Dn07,
            check_openings: true,
            ..Default::default()
        },
        3,
        move |mut e| {
            let (stores, spec) = (stores.clone(), spec.clone());
            async move {
                let me = e.me().index();
                Ok(execute(&mut e, &stores[me], &spec)
                    .await
                    .map_err(|e| e.to_string()))
            }
        },
    ))
    .into_iter()
    .map(|r| r.unwrap())
    .collect()
}

/// A private output reconstructed: recipient, labels, values.
type Reconstructed = (String, Vec<String>, Vec<i128>);

/// The public result all workers agree on, and each private output reconstructed from the
/// shares of workers 0 and 1: (recipient, labels, values).
fn reconstruct(outputs: Vec<Result<JobOutput, String>>) -> (PublicResult, Vec<Reconstructed>) {
    let outputs: Vec<JobOutput> = outputs.into_iter().map(|o| o.unwrap()).collect();
    for o in &outputs[1..] {
        assert_eq!(o.public, outputs[0].public, "the workers agree");
    }
    let lambda: Vec<Fr> = mpc::shamir::lagrange_coefficients(&[PartyId(0), PartyId(1)], 0);
    let private = (0..outputs[0].private.len())
        .map(|k| {
            let (a, b) = (&outputs[0].private[k], &outputs[1].private[k]);
            let values = a
                .values
                .shares()
                .iter()
                .zip(b.values.shares())
                .map(|(&x, &y)| (lambda[0] * x + lambda[1] * y).to_i128().unwrap())
                .collect();
            (a.recipient.clone(), a.labels.clone(), values)
        })
        .collect();
    (outputs[0].public.clone(), private)
}

#[test]
fn the_auction_example_runs_on_three_workers() {
    let spec = JobSpec::from_toml(&example("auction.toml")).unwrap();
    let owners = ["north-farm", "south-farm", "sugar-mill"];
    let (_dirs, stores) = stores(&spec, "auction", "beet-bids", &owners, "");
    let (public, private) = reconstruct(run_job(stores, spec));
    let PublicResult::Auction(result) = public else {
        panic!("an auction result")
    };
    assert_eq!(
        result.clearing,
        Clearing::Traded {
            price: 115,
            volume: 45
        }
    );
    let got: Vec<(String, Vec<i128>)> = private.into_iter().map(|(r, _, v)| (r, v)).collect();
    assert_eq!(
        got,
        vec![
            ("north-farm".to_string(), vec![0, 25]),
            ("south-farm".to_string(), vec![0, 20]),
            ("sugar-mill".to_string(), vec![45, 0]),
        ]
    );
}

#[test]
fn the_orders_example_runs_on_three_workers() {
    let spec = JobSpec::from_toml(&example("orders.toml")).unwrap();
    let (_dirs, stores) = stores(&spec, "orders", "orders", &["alpha", "beta", "gamma"], "");
    let (public, private) = reconstruct(run_job(stores, spec));
    let PublicResult::Orders(result) = public else {
        panic!("an orders result")
    };
    assert_eq!(
        result.clearing,
        Clearing::Traded {
            price: 100,
            volume: 75
        }
    );
    assert_eq!(private[2].1, vec!["order 1", "order 2", "order 3"]);
    let fills: Vec<Vec<i128>> = private.into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(
        fills,
        vec![vec![40, 0, 0], vec![30, 20, 15], vec![20, 25, 0]]
    );
}

#[test]
fn the_record_match_example_runs_on_three_workers() {
    let spec = JobSpec::from_toml(&example("record-match.toml")).unwrap();
    let owners = ["acme", "globex", "initech"];
    let (_dirs, stores) = stores(&spec, "record-match", "customers", &owners, "");
    let (public, private) = reconstruct(run_job(stores, spec));
    let PublicResult::RecordMatch(result) = public else {
        panic!("a record-match result")
    };
    assert_eq!(result.common, 3);
    assert_eq!(result.sums.len(), 4);
    assert!(private.is_empty(), "the example's sums are public");
}

#[test]
fn a_policy_that_refuses_the_kind_stops_the_auction() {
    let spec = JobSpec::from_toml(&example("auction.toml")).unwrap();
    let owners = ["north-farm", "south-farm", "sugar-mill"];
    let (_dirs, stores) = stores(
        &spec,
        "auction",
        "beet-bids",
        &owners,
        "allow_kinds = [\"statistics\"]\n",
    );
    for out in run_job(stores, spec) {
        let err = out.unwrap_err();
        assert!(
            err.contains("allow_kinds") && err.contains("beet-bids"),
            "{err}"
        );
    }
}

/// Uploads `csv` as `owner`'s `dataset` (the example schema of `kind`) to the stores.
fn squat(stores: &[ShareStore], kind: &str, dataset: &str, owner: &str, csv: &str) {
    let schema_text = example(&format!("data/{kind}/schema.toml"));
    let schema = Schema::from_toml(&schema_text, "schema.toml").unwrap();
    let table = read_csv(csv.as_bytes(), owner, Some(&schema)).unwrap();
    let d = common::Dataset {
        owner,
        name: dataset,
        schema: &schema_text,
        policy: "",
    };
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(6);
    common::deal(stores, &d, &table, Params::new(3, 1).unwrap(), &mut rng);
}

/// `spec` run in the clear over the listed owners' example CSVs of `kind`: the reference.
fn clear_run(spec: &JobSpec, kind: &str, dataset: &str, owners: &[&str]) -> JobOutput {
    let schema_text = example(&format!("data/{kind}/schema.toml"));
    let schema = Schema::from_toml(&schema_text, "schema.toml").unwrap();
    let tables: Vec<protocols::outcome::OwnedTable> = owners
        .iter()
        .map(|owner| {
            let csv = example(&format!("data/{kind}/{owner}.csv"));
            let table = read_csv(csv.as_bytes(), owner, Some(&schema)).unwrap();
            protocols::outcome::OwnedTable::clear(owner, dataset, &table).unwrap()
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let minimums = protocols::stats::GroupMinimums { owners: 1, rows: 1 };
    let mut clear = protocols::backend::Clear::default();
    rt.block_on(spec.run(&mut clear, &tables, minimums))
        .unwrap()
}

/// (recipient, values) of a clear outcome's private outputs (on `Clear` the shares are the
/// values).
fn clear_private(out: &JobOutput) -> Vec<(String, Vec<i128>)> {
    out.private
        .iter()
        .map(|p| {
            let values = p.values.shares().iter();
            (
                p.recipient.clone(),
                values.map(|v| v.to_i128().unwrap()).collect(),
            )
        })
        .collect()
}

/// A closed auction: mallory uploads `beet-bids` with the very schema of the bidders and a
/// large demand at every price. Open (no participant list), her bids move the clearing price;
/// with `participants` (as examples/auction.toml lists them) every worker leaves her out and
/// the result — public clearing and each bidder's allocation — is that of the clear job over
/// the listed bidders alone. On the old code the spec had no `participants` and she joined.
#[test]
fn a_squatter_does_not_enter_a_closed_auction() {
    let spec = JobSpec::from_toml(&example("auction.toml")).unwrap();
    let owners = ["north-farm", "south-farm", "sugar-mill"];
    assert_eq!(spec.participants(), Some(&owners.map(String::from)[..]));
    let (_dirs, stores) = stores(&spec, "auction", "beet-bids", &owners, "");
    let bids =
        "price,buy,sell\n100,80,0\n105,80,0\n110,80,0\n115,80,0\n120,80,0\n125,80,0\n130,80,0\n";
    squat(&stores, "auction", "beet-bids", "mallory", bids);

    let mut open = spec.clone();
    if let JobSpec::Auction { participants, .. } = &mut open {
        participants.clear();
    }
    let (public, _) = reconstruct(run_job(stores.clone(), open));
    let PublicResult::Auction(opened) = public else {
        panic!("an auction result")
    };

    let reference = clear_run(&spec, "auction", "beet-bids", &owners);
    let (public, private) = reconstruct(run_job(stores, spec));
    assert_eq!(public, reference.public);
    let PublicResult::Auction(closed) = public else {
        panic!("an auction result")
    };
    assert_eq!(
        closed.clearing,
        Clearing::Traded {
            price: 115,
            volume: 45
        }
    );
    assert_ne!(
        opened.clearing, closed.clearing,
        "her bids matter when open"
    );
    let got: Vec<(String, Vec<i128>)> = private.into_iter().map(|(r, _, v)| (r, v)).collect();
    assert_eq!(got, clear_private(&reference));
    assert!(got.iter().all(|(r, _)| r != "mallory"));
}

/// The same for an order book: a squatting book of the same schema is left out of a closed
/// one, whose fills are those of the clear job over the listed firms.
#[test]
fn a_squatter_does_not_enter_a_closed_order_book() {
    let spec = JobSpec::from_toml(&example("orders.toml")).unwrap();
    let owners = ["alpha", "beta", "gamma"];
    assert_eq!(spec.participants(), Some(&owners.map(String::from)[..]));
    let (_dirs, stores) = stores(&spec, "orders", "orders", &owners, "");
    squat(
        &stores,
        "orders",
        "orders",
        "mallory",
        "side,price,quantity\nbuy,105,500\n",
    );
    let reference = clear_run(&spec, "orders", "orders", &owners);
    let (public, private) = reconstruct(run_job(stores, spec));
    assert_eq!(public, reference.public);
    let got: Vec<(String, Vec<i128>)> = private.into_iter().map(|(r, _, v)| (r, v)).collect();
    assert_eq!(got, clear_private(&reference));
}

/// A listed participant without a dataset makes every worker refuse the job, naming it.
#[test]
fn a_missing_participant_is_named() {
    let mut spec = JobSpec::from_toml(&example("auction.toml")).unwrap();
    let owners = ["north-farm", "south-farm", "sugar-mill"];
    let (_dirs, stores) = stores(&spec, "auction", "beet-bids", &owners, "");
    if let JobSpec::Auction { participants, .. } = &mut spec {
        participants.push("east-farm".into());
    }
    for out in run_job(stores, spec) {
        let err = out.unwrap_err();
        assert!(
            err.contains("east-farm") && err.contains("beet-bids"),
            "{err}"
        );
    }
}
