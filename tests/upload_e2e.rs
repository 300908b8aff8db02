//! Uploads over a real local cluster of worker processes: durability across SIGKILL, an upload
//! interrupted by a dying worker, bad input of every kind.

mod support;

use std::time::Duration;

use coordinator::api::{Request, Response};
use coordinator::transport::ApiClient;
use protocols::dataset::read_csv_file;
use quorate::client::Workers;
use support::LocalCluster;

fn write_csv(dir: &std::path::Path, name: &str, rows: usize) -> std::path::PathBuf {
    let mut text = String::from("id,salary,score,team\n");
    for i in 0..rows {
        let salary = 20_000 + (i as i64 * 7919) % 180_000 - if i % 11 == 0 { 250_000 } else { 0 };
        text.push_str(&format!(
            "e{i},{salary},{}.{:03},{}\n",
            i % 17,
            (i * 37) % 1000,
            ["red", "green", "blue"][i % 3]
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn read_back_all(cluster: &LocalCluster, dataset: &str, columns: u32) -> Vec<Vec<i128>> {
    let c = cluster.cluster();
    let identity = c.client_identity("acme").unwrap();
    let rt = quorate::runtime().unwrap();
    rt.block_on(async {
        let workers = Workers::connect(&c, &identity).await.unwrap();
        let mut out = Vec::new();
        for col in 0..columns {
            out.push(workers.read_back(&c, dataset, col).await.unwrap());
        }
        workers.close().await;
        out
    })
}

#[test]
fn uploaded_values_survive_a_sigkilled_worker() {
    let mut cluster = LocalCluster::start(3);
    let csv = write_csv(cluster.path(), "payroll.csv", 1000);
    let out = cluster.client(&[
        "upload",
        "--dataset",
        "payroll",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    cluster.kill(1);
    cluster.start_worker(1);
    cluster.wait_ready(1);

    let table = read_csv_file(&csv, None).unwrap();
    assert_eq!(
        read_back_all(&cluster, "payroll", 4),
        table.columns,
        "reconstructed values differ from the upload"
    );
    let out = cluster.client(&["datasets"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme/payroll: 1000 rows, 4 columns"));
}

#[test]
fn a_worker_dying_mid_upload_leaves_no_dataset_and_a_retry_succeeds() {
    let mut cluster = LocalCluster::start(3);
    let csv = write_csv(cluster.path(), "big.csv", 400_000);
    let upload = cluster.spawn_upload("big", &csv);
    // Kill worker 2 once it has begun storing the upload (its log says so), before the commit.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !cluster.log(2).contains("upload begun") {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never began: {}",
            cluster.log(2)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    cluster.kill(2);
    let out = upload.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the upload should fail: {stderr}");
    assert!(
        stderr.contains("worker 2"),
        "the error names the dead worker: {stderr}"
    );

    cluster.start_worker(2);
    cluster.wait_ready(2);
    let out = cluster.client(&["datasets"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no datasets"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = cluster.client(&["upload", "--dataset", "big", "--csv", csv.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "retry: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cluster.client(&["datasets"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme/big: 400000 rows"));
}

#[test]
fn bad_input_gets_named_errors_and_the_workers_keep_serving() {
    let cluster = LocalCluster::start(3);
    let dir = cluster.path();
    // A ragged row, a non-numeric value, an out-of-range value: file, line and column named.
    std::fs::write(dir.join("ragged.csv"), "a,b\n1,2\n3\n").unwrap();
    let out = cluster.client(&[
        "upload",
        "--dataset",
        "x",
        "--csv",
        dir.join("ragged.csv").to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("ragged.csv:3: row has 1 fields, the header has 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        dir.join("schema.toml"),
        "[[columns]]\nname = \"a\"\ntype = \"integer\"\nbits = 15\n",
    )
    .unwrap();
    std::fs::write(dir.join("nan.csv"), "a\n1\nabc\n").unwrap();
    let schema = dir.join("schema.toml");
    let out = cluster.client(&[
        "upload",
        "--dataset",
        "x",
        "--csv",
        dir.join("nan.csv").to_str().unwrap(),
        "--schema",
        schema.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nan.csv:3:1 (a): 'abc' is not an integer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("big.csv"), "a\n1\n40000\n").unwrap();
    let out = cluster.client(&[
        "upload",
        "--dataset",
        "x",
        "--csv",
        dir.join("big.csv").to_str().unwrap(),
        "--schema",
        schema.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("big.csv:3:1 (a): '40000' is out of range for a 15-bit integer column"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A config that points nowhere.
    let out = support::run(&["worker", "--config", "/no/such/worker.toml"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("/no/such/worker.toml")
    );

    let c = cluster.cluster();
    let w = c.roster.workers[0].clone();
    let rt = quorate::runtime().unwrap();
    rt.block_on(async {
        // A key not in the roster is refused at the handshake.
        let stranger = mpc::identity::Identity::generate(&mut rand::rng());
        let refused = ApiClient::connect(&stranger, w.address, w.key, "worker 0").await;
        let refused = match refused {
            Err(e) => e.to_string(),
            Ok(client) => format!("{:?}", client.call(&Request::Ping).await),
        };
        assert!(refused.contains("worker 0"), "{refused}");

        // An oversized frame and garbage bytes are answered with errors; the worker keeps serving.
        let identity = c.client_identity("acme").unwrap();
        let client = ApiClient::connect(&identity, w.address, w.key, "worker 0")
            .await
            .unwrap();
        let mut oversize = ((coordinator::api::MAX_FRAME + 1) as u32)
            .to_le_bytes()
            .to_vec();
        oversize.extend([1, 0, 0]);
        let r = client.call_raw(&oversize).await.unwrap();
        assert!(
            matches!(&r, Response::Error { message, .. } if message.contains("exceeds the limit")),
            "{r:?}"
        );
        let r = client
            .call_raw(&[5, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff])
            .await
            .unwrap();
        assert!(matches!(r, Response::Error { .. }), "{r:?}");
        // Garbage datagrams at the worker's UDP port.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..50u8 {
            udp.send_to(&[i; 200], w.address).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(matches!(
            client.call(&Request::Ping).await,
            Ok(Response::Pong { .. })
        ));
    });
    let out = cluster.client(&["datasets"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
