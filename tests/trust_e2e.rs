//! The trust model's rules on a real local cluster, tried the way a user (or an attacker with
//! a registered key) could: reserved names refused at registration, the upload-id hijack of
//! issue 13, concurrent uploads of one dataset name, a ledger read in pages smaller than one
//! entry, and a squatter left out of an auction that lists its participants.

mod support;

use coordinator::api::{Request, Response, UploadHeader};
use coordinator::transport::ApiClient;
use protocols::dataset::read_csv_file;
use quorate::client::Workers;
use support::{LocalCluster, ok, run};

fn write_csv(dir: &std::path::Path, name: &str, rows: usize) -> std::path::PathBuf {
    let mut text = String::from("salary,team\n");
    for i in 0..rows {
        text.push_str(&format!("{},{}\n", 20_000 + i * 37, ["red", "blue"][i % 2]));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A connection as a client registered a moment ago: retried (for at most 5 s) until the
/// worker has re-read the roster and answers a ping.
async fn connect_registered(
    identity: &mpc::identity::Identity,
    addr: std::net::SocketAddr,
    key: mpc::identity::PublicKey,
) -> ApiClient {
    for _ in 0..25 {
        if let Ok(c) = ApiClient::connect(identity, addr, key, "worker").await {
            if c.call(&Request::Ping).await.is_ok() {
                return c;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the worker at {addr} never let the new client in");
}

/// `quorate identity new coordinator` (or a worker's name) is refused: on the old code it
/// registered a client that every worker took for the coordinator.
#[test]
fn reserved_names_are_refused_at_registration() {
    let cluster = LocalCluster::init(3);
    let dir = cluster.dir_arg();
    for name in ["coordinator", "worker-1", "Worker2"] {
        let out = run(&["identity", "new", name, "--cluster", &dir]);
        assert!(!out.status.success(), "{name} was registered");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("reserved"), "{name}: {err}");
    }
    let roster = cluster.cluster().roster;
    assert_eq!(
        roster
            .clients
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["acme"]
    );
}

/// The upload-id hijack of issue 13: mallory, a registered client who learned the id of
/// acme's committed upload, begins an upload under that id for a dataset of her own with the
/// same shape, prepares, commits and reads it back. On the old code she got acme's shares;
/// now her upload is hers alone, holds nothing, and every step after the begin fails.
#[test]
fn an_upload_id_hijack_gets_nothing() {
    let cluster = LocalCluster::start(3);
    let dir = cluster.dir_arg();
    ok(
        &run(&["identity", "new", "mallory", "--cluster", &dir]),
        "identity new mallory",
    );
    let csv = write_csv(cluster.path(), "payroll.csv", 50);
    let table = read_csv_file(&csv, None).unwrap();
    let c = cluster.cluster();
    let acme = c.client_identity("acme").unwrap();
    let mallory = c.client_identity("mallory").unwrap();
    quorate::runtime().unwrap().block_on(async {
        let workers = Workers::connect(&c, &acme).await.unwrap();
        let id = workers
            .upload(&c, "payroll", &table, None, false, |_, _| {})
            .await
            .unwrap();
        workers.close().await;
        // Current on the workers once its ledger entry reaches them.
        let coordinator = quorate::jobs::Coordinator::connect(&c, &acme)
            .await
            .unwrap();
        let record = quorate::jobs::dataset_record(&acme, "payroll", &table);
        coordinator.record_dataset(record).await.unwrap();
        coordinator.close().await;
        let header = UploadHeader {
            upload: id.clone(),
            dataset: "stolen".into(),
            schema: toml::to_string(&table.schema).unwrap(),
            policy: String::new(),
            rows: table.rows() as u64,
            columns: table.schema.columns.len() as u32,
            replace: false,
        };
        for w in &c.roster.workers {
            let m = connect_registered(&mallory, w.address, w.key).await;
            // Beginning is harmless: the upload is mallory's own, empty.
            let _ = m.call(&Request::UploadBegin(header.clone())).await.unwrap();
            for request in [
                Request::UploadPrepare { upload: id.clone() },
                Request::UploadCommit { upload: id.clone() },
                Request::ReadShares {
                    dataset: "stolen".into(),
                    column: 0,
                },
                Request::ReadShares {
                    dataset: "payroll".into(),
                    column: 0,
                },
            ] {
                let r = m.call(&request).await.unwrap();
                assert!(
                    matches!(r, Response::Error { .. }),
                    "worker {}: mallory's {request:?} was answered {r:?}",
                    w.id
                );
            }
            m.close().await;
        }
        let workers = Workers::connect(&c, &acme).await.unwrap();
        assert_eq!(
            workers.read_back(&c, "payroll", 0).await.unwrap(),
            table.columns[0]
        );
        workers.close().await;
    });
    let listed = ok(&cluster.client(&["datasets"]), "datasets");
    assert!(!listed.contains("stolen"), "{listed}");
}

/// Five uploads of one dataset name at once (no --replace): at most one is stored, the others
/// fail naming the conflict, and every worker holds the same datasets. On the old code all
/// five said "stored".
#[test]
fn concurrent_uploads_of_one_name_store_at_most_one() {
    let cluster = LocalCluster::start(3);
    let csvs: Vec<_> = (0..5)
        .map(|i| write_csv(cluster.path(), &format!("p{i}.csv"), 40 + i))
        .collect();
    let children: Vec<_> = csvs
        .iter()
        .map(|csv| cluster.spawn_upload("payroll", csv))
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let stored = outs.iter().filter(|o| o.status.success()).count();
    assert!(stored <= 1, "{stored} of 5 concurrent uploads were stored");
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("in progress") || err.contains("already exists"),
            "{err}"
        );
    }
    let listed = ok(&cluster.client(&["datasets"]), "datasets");
    assert_eq!(listed.matches("acme/payroll").count(), stored, "{listed}");
}

/// A ledger served in pages of one entry (the coordinator's `ledger_page_bytes = 1`) still
/// reads whole: `ledger show --as` and `ledger verify --as` see every entry.
#[test]
fn a_ledger_reads_whole_in_pages_of_one_entry() {
    let mut cluster = LocalCluster::init(3);
    cluster.configure_coordinator("ledger_page_bytes = 1");
    for i in 0..3 {
        cluster.start_worker(i);
    }
    cluster.start_coordinator();
    for i in 0..3 {
        cluster.wait_ready(i);
    }
    cluster.wait_coordinator();
    for name in ["a", "b", "c"] {
        let csv = write_csv(cluster.path(), &format!("{name}.csv"), 20);
        let out = ok(
            &cluster.client(&["upload", "--dataset", name, "--csv", csv.to_str().unwrap()]),
            "upload",
        );
        assert!(out.contains("recorded on the ledger"), "{out}");
    }
    let shown = ok(
        &cluster.client(&["ledger", "show", "--json"]),
        "ledger show",
    );
    let entries: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        entries.as_array().unwrap().len(),
        4,
        "genesis and 3 datasets"
    );
    let verified = ok(&cluster.client(&["ledger", "verify"]), "ledger verify");
    assert!(verified.contains("4 entries"), "{verified}");
}

/// A job naming one recipient twice is refused at submission (on the old code it was queued
/// and its outcome never verified); past `max_queued_jobs` waiting jobs, a submission is
/// refused naming the full queue.
#[test]
fn submissions_with_duplicate_recipients_or_a_full_queue_are_refused() {
    let mut cluster = LocalCluster::init(3);
    cluster.configure_coordinator("max_queued_jobs = 0");
    cluster.start_coordinator();
    cluster.wait_coordinator();
    let query = "kind = \"statistics\"\nquery = \"SELECT COUNT(*) FROM payroll\"\n";
    let err = run_refused(
        &cluster,
        &format!("{query}recipients = [\"acme\", \"acme\"]\n"),
    );
    assert!(err.contains("recipient \"acme\" appears twice"), "{err}");
    let err = run_refused(&cluster, query);
    assert!(err.contains("the job queue is full"), "{err}");
    ok(&cluster.client(&["jobs"]), "jobs");
}

/// `quorate run` of the job `spec`, which must fail: its error output.
fn run_refused(cluster: &LocalCluster, spec: &str) -> String {
    let path = cluster.path().join("job.toml");
    std::fs::write(&path, spec).unwrap();
    let out = cluster.client(&["run", path.to_str().unwrap()]);
    assert!(!out.status.success(), "{spec} was run");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Squatting a closed auction through the CLI: mallory registers and uploads `beet-bids` with
/// the bidders' very schema and a large demand at every price. `quorate run
/// examples/auction.toml`, which lists the three bidders as `participants`, clears at the
/// example's price and volume all the same (with her bids it would not: see
/// `worker/tests/matching_jobs.rs::a_squatter_does_not_enter_a_closed_auction`). On the old
/// code every owner's `beet-bids` bid.
#[test]
fn a_squatter_does_not_enter_a_listed_auction() {
    let cluster = LocalCluster::start(3);
    let dir = cluster.dir_arg();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/");
    let schema = format!("{examples}data/auction/schema.toml");
    let squat = cluster.path().join("mallory.csv");
    let mut bids = String::from("price,buy,sell\n");
    for price in (100..=130).step_by(5) {
        bids.push_str(&format!("{price},80,0\n"));
    }
    std::fs::write(&squat, bids).unwrap();
    let mut uploads: Vec<(&str, String)> = ["north-farm", "south-farm", "sugar-mill"]
        .iter()
        .map(|b| (*b, format!("{examples}data/auction/{b}.csv")))
        .collect();
    uploads.push(("mallory", squat.to_str().unwrap().to_string()));
    for (who, csv) in &uploads {
        ok(
            &run(&["identity", "new", who, "--cluster", &dir]),
            "identity new",
        );
        let upload = [
            "upload",
            "--cluster",
            &dir,
            "--as",
            who,
            "--dataset",
            "beet-bids",
            "--csv",
            csv,
            "--schema",
            &schema,
        ];
        ok(&run(&upload), "upload");
    }
    let auction = format!("{examples}auction.toml");
    let out = ok(&cluster.client(&["run", &auction, "--json"]), "run");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    let public: protocols::catalog::PublicResult =
        serde_json::from_value(got["public"].clone()).unwrap();
    let protocols::catalog::PublicResult::Auction(result) = public else {
        panic!("not an auction result: {out}")
    };
    let expected = protocols::matching::Clearing::Traded {
        price: 115,
        volume: 45,
    };
    assert_eq!(result.clearing, expected, "{out}");
}
