//! A real local cluster of `quorate` processes for end-to-end tests: a temporary folder made by
//! `quorate cluster init`, worker processes started and killed at will, every child killed
//! when the harness is dropped (even when a test fails), and bounded waits only.

#![allow(dead_code, missing_docs, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use coordinator::api::{Request, Response};
use coordinator::transport::ApiClient;
use quorate::children::{Node, node_command};
use quorate::cluster::Cluster;

/// The `quorate` binary under test.
pub fn quorate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quorate"));
    c.env("RUST_LOG", "warn").env_remove("RUST_BACKTRACE");
    c
}

/// Runs `quorate` with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    quorate()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("quorate runs")
}

/// The standard output of a command that must have succeeded (else fails with `what` and
/// both streams).
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A local cluster in a temporary folder.
pub struct LocalCluster {
    pub dir: tempfile::TempDir,
    pub workers: Vec<Option<Child>>,
    pub coordinator: Option<Child>,
}

impl LocalCluster {
    /// `cluster init` with `n` workers and one client, `acme`; no process started yet.
    pub fn init(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let out = run(&[
            "cluster",
            "init",
            dir.path().to_str().unwrap(),
            "--workers",
            &n.to_string(),
        ]);
        assert!(
            out.status.success(),
            "cluster init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&[
            "identity",
            "new",
            "acme",
            "--cluster",
            dir.path().to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "identity new: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        LocalCluster {
            dir,
            workers: (0..n).map(|_| None).collect(),
            coordinator: None,
        }
    }

    /// `init`, then every worker and the coordinator started and answering.
    pub fn start(n: usize) -> Self {
        let mut c = Self::init(n);
        for i in 0..n {
            c.start_worker(i);
        }
        c.start_coordinator();
        for i in 0..n {
            c.wait_ready(i);
        }
        c.wait_coordinator();
        c
    }

    /// Adds `line` to the coordinator's configuration file (before it starts).
    pub fn configure_coordinator(&self, line: &str) {
        let config = self.cluster().coordinator_config();
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(line);
        text.push('\n');
        std::fs::write(&config, text).unwrap();
    }

    /// Starts the coordinator (appending to its log file in the folder).
    pub fn start_coordinator(&mut self) {
        self.start_coordinator_with(&[]);
    }

    /// Starts the coordinator with extra environment variables (test hooks).
    pub fn start_coordinator_with(&mut self, env: &[(&str, &str)]) {
        self.coordinator = Some(self.start_node(Node::Coordinator, env));
    }

    /// Starts `node` as `cluster up` does ([`quorate::children::node_command`]), with `env`
    /// and its output appended to its log file in the folder.
    fn start_node(&self, node: Node, env: &[(&str, &str)]) -> Child {
        let log = match node {
            Node::Coordinator => "coordinator.log".to_string(),
            Node::Worker(i) => format!("worker-{i}.log"),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join(log))
            .unwrap();
        node_command(
            Path::new(env!("CARGO_BIN_EXE_quorate")),
            &self.cluster(),
            node,
        )
        .env_remove("RUST_BACKTRACE")
        .envs(env.iter().copied())
        .env(
            "RUST_LOG",
            std::env::var("QUORATE_TEST_LOG").unwrap_or("info".into()),
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{node} does not start: {e}"))
    }

    /// Waits (at most 20 s) until the coordinator answers a ping.
    pub fn wait_coordinator(&self) {
        let c = self.cluster().roster.coordinator.clone();
        self.wait_pong(c.address, c.key, "the coordinator", || {
            self.coordinator_log()
        });
    }

    /// Whether the coordinator process has exited (reaped if so).
    pub fn coordinator_exited(&mut self) -> bool {
        match self.coordinator.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) => {
                self.coordinator = None;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Kills the coordinator with SIGKILL and reaps it.
    pub fn kill_coordinator(&mut self) {
        if let Some(mut child) = self.coordinator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The coordinator's log so far.
    pub fn coordinator_log(&self) -> String {
        std::fs::read_to_string(self.path().join("coordinator.log")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn dir_arg(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    pub fn cluster(&self) -> Cluster {
        Cluster::open(self.dir.path()).expect("the cluster folder")
    }

    pub fn worker_config(&self, i: usize) -> PathBuf {
        self.cluster().worker_config(i as u16)
    }

    /// Starts worker `i` (its output goes to a log file in the folder).
    pub fn start_worker(&mut self, i: usize) {
        self.start_worker_with(i, &[]);
    }

    /// Starts worker `i` with extra environment variables (test hooks).
    pub fn start_worker_with(&mut self, i: usize, env: &[(&str, &str)]) {
        self.workers[i] = Some(self.start_node(Node::Worker(i as u16), env));
    }

    /// Waits (at most 20 s) until worker `i` answers a ping.
    pub fn wait_ready(&self, i: usize) {
        let w = self.cluster().roster.workers[i].clone();
        self.wait_pong(w.address, w.key, &format!("worker {i}"), || self.log(i));
    }

    /// Pings the node at `address` holding `key` as `acme` until it answers (at most 20 s);
    /// on timeout, fails with the node's log.
    fn wait_pong(
        &self,
        address: std::net::SocketAddr,
        key: mpc::identity::PublicKey,
        what: &str,
        log: impl Fn() -> String,
    ) {
        let identity = self.cluster().client_identity("acme").unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        loop {
            let ok = rt.block_on(async {
                match ApiClient::connect(&identity, address, key, "probe").await {
                    Ok(c) => matches!(c.call(&Request::Ping).await, Ok(Response::Pong { .. })),
                    Err(_) => false,
                }
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not ready in 20 s: {}",
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills worker `i` with SIGKILL and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.workers[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops worker `i` with SIGTERM (a clean stop) and reaps it (at most 20 s, then SIGKILL).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.workers[i].take() {
            terminate(&mut child, Duration::from_secs(20));
        }
    }

    /// Whether worker `i` is still running (it has not exited).
    pub fn worker_running(&mut self, i: usize) -> bool {
        self.workers[i]
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Worker `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.path().join(format!("worker-{i}.log"))).unwrap_or_default()
    }

    /// `quorate upload --dataset NAME --csv FILE` as acme, spawned with its output piped.
    pub fn spawn_upload(&self, dataset: &str, csv: &Path) -> Child {
        quorate()
            .args(["upload", "--cluster", &self.dir_arg(), "--as", "acme"])
            .args(["--dataset", dataset, "--csv"])
            .arg(csv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("quorate upload starts")
    }

    /// `quorate ARGS --cluster DIR --as acme`.
    pub fn client(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let dir = self.dir_arg();
        all.extend(["--cluster", &dir, "--as", "acme"]);
        run(&all)
    }
}

/// Sends SIGTERM to `child` and reaps it, killing it if it has not exited within `bound`
/// (the CLI's own, so the tests stop nodes as `cluster up` does).
pub fn terminate(child: &mut Child, bound: Duration) {
    quorate::children::terminate(child, bound);
}

/// Waits (at most `bound`) until `cond` holds, polling every 100 ms.
pub fn wait_until(bound: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.kill_coordinator();
        for i in 0..self.workers.len() {
            self.kill(i);
        }
    }
}
