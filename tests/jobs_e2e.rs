//! A statistics job over a real cluster of worker processes and their QUIC mesh: three firms
//! upload, the coordinator's key asks every worker to run the job (as the coordinator will),
//! and every worker's public result equals the same SQL evaluated in the clear.

mod support;

use coordinator::api::{Request, Response};
use coordinator::transport::ApiClient;
use mpc::identity::Identity;
use protocols::dataset::{Schema, read_csv_file};
use support::{LocalCluster, run};

const SCHEMA: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n[[columns]]\nname = \"team\"\ntype = \"categorical\"\ndomain = [\"red\", \"green\", \"blue\"]\n";

#[test]
fn three_firms_one_query_same_answer_as_in_the_clear() {
    let cluster = LocalCluster::start(3);
    let dir = cluster.dir_arg();
    std::fs::write(cluster.path().join("schema.toml"), SCHEMA).unwrap();
    let schema_path = cluster.path().join("schema.toml");
    let mut csvs = Vec::new();
    for (k, owner) in ["acme", "beta", "gamma"].iter().enumerate() {
        if *owner != "acme" {
            assert!(
                run(&["identity", "new", owner, "--cluster", &dir])
                    .status
                    .success()
            );
        }
        let mut text = String::from("salary,team\n");
        for i in 0..30u64 {
            let salary = 30_000 + (i * 7919 + k as u64 * 104_729) % 90_000;
            text.push_str(&format!(
                "{salary},{}\n",
                ["red", "green", "blue"][((i + k as u64) % 3) as usize]
            ));
        }
        let path = cluster.path().join(format!("{owner}.csv"));
        std::fs::write(&path, text).unwrap();
        let out = run(&[
            "upload",
            "--cluster",
            &dir,
            "--as",
            owner,
            "--dataset",
            "payroll",
            "--csv",
            path.to_str().unwrap(),
            "--schema",
            schema_path.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "upload by {owner}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        csvs.push(path);
    }

    let query = "SELECT team, COUNT(*), SUM(salary), MIN(salary) FROM payroll WHERE salary >= 50000 GROUP BY team";
    let spec = format!("kind = \"statistics\"\nquery = \"{query}\"\n");
    let c = cluster.cluster();
    let coordinator =
        Identity::read_file(&cluster.path().join("coordinator/identity.key")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let outputs: Vec<String> = rt.block_on(async {
        let mut handles = Vec::new();
        for w in c.roster.workers.clone() {
            let (coordinator, spec) = (coordinator.clone(), spec.clone());
            handles.push(tokio::spawn(async move {
                let client =
                    ApiClient::connect(&coordinator, w.address, w.key, &format!("worker {}", w.id))
                        .await
                        .unwrap();
                let r = client
                    .call(&Request::RunJob {
                        job: 7,
                        spec,
                        protocol: mpc::MulProtocol::Dn07,
                    })
                    .await
                    .unwrap();
                client.close().await;
                r
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            match h.await.unwrap() {
                Response::JobOutput(json) => out.push(json),
                other => panic!("job failed: {other:?}"),
            }
        }
        out
    });
    assert!(
        outputs.iter().all(|o| o == &outputs[0]),
        "workers disagree: {outputs:?}"
    );

    // The same SQL in the clear over the three CSVs.
    let schema = Schema::from_toml(SCHEMA, "schema").unwrap();
    let tables: Vec<_> = csvs
        .iter()
        .map(|p| read_csv_file(p, Some(&schema)).unwrap())
        .collect();
    let parsed = protocols::stats::parse(query, |_| Some(schema.clone())).unwrap();
    let inputs = protocols::stats::Inputs::clear(&schema, &tables).unwrap();
    let options = protocols::stats::QueryOptions {
        minimums: protocols::stats::GroupMinimums {
            owners: 3,
            rows: 10,
        },
        epsilon: None,
    };
    let clear = rt
        .block_on(protocols::stats::run_query(
            &mut protocols::backend::Clear::default(),
            &parsed,
            &inputs,
            &options,
        ))
        .unwrap();
    let expected =
        serde_json::to_string(&protocols::outcome::PublicResult::Statistics(clear)).unwrap();
    assert_eq!(outputs[0], expected);

    // A client cannot run jobs itself.
    let acme = c.client_identity("acme").unwrap();
    let w = c.roster.workers[0].clone();
    let r = rt.block_on(async {
        let client = ApiClient::connect(&acme, w.address, w.key, "worker 0")
            .await
            .unwrap();
        client
            .call(&Request::RunJob {
                job: 8,
                spec,
                protocol: mpc::MulProtocol::Grr,
            })
            .await
            .unwrap()
    });
    assert!(
        matches!(&r, Response::Error { message, .. } if message.contains("only the coordinator")),
        "{r:?}"
    );
}
