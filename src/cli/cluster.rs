//! `cluster init`, `cluster up`, `identity new`, `worker`.

use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result};

use crate::cluster::{self, Cluster};

use super::runtime;

/// Resolves on SIGINT or SIGTERM.
pub(super) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub(super) fn init(
    dir: &Path,
    workers: usize,
    threshold: Option<usize>,
    host: IpAddr,
) -> Result<()> {
    let roster = cluster::init(dir, workers, threshold, host)?;
    println!(
        "cluster of {} workers (t = {}) in {}",
        roster.workers.len(),
        roster.threshold,
        dir.display()
    );
    for w in &roster.workers {
        println!(
            "  worker {}: control {} mesh {} key {}",
            w.id,
            w.address,
            w.mesh,
            w.key.fingerprint()
        );
    }
    println!(
        "next: quorate identity new NAME --cluster {0}; quorate cluster up {0}",
        dir.display()
    );
    Ok(())
}

pub(super) fn new_identity(dir: &Path, name: &str) -> Result<()> {
    let mut cluster = Cluster::open(dir)?;
    let path = cluster.new_client(name)?;
    println!("client '{name}' registered; its key is {}", path.display());
    Ok(())
}

pub(super) fn worker(config: &Path) -> Result<()> {
    runtime()?
        .block_on(worker::node::run(config, shutdown_signal()))
        .map_err(|e| anyhow::anyhow!(e))
}

/// A child process of `cluster up`.
#[derive(Clone, Copy)]
enum Node {
    Coordinator,
    Worker(u16),
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Coordinator => f.write_str("the coordinator"),
            Node::Worker(id) => write!(f, "worker {id}"),
        }
    }
}

/// Starts `node` of `cluster` as a child process.
fn spawn(exe: &Path, cluster: &Cluster, node: Node) -> Result<tokio::process::Child> {
    let (command, config) = match node {
        Node::Coordinator => ("coordinator", cluster.coordinator_config()),
        Node::Worker(id) => ("worker", cluster.worker_config(id)),
    };
    let child = tokio::process::Command::new(exe)
        .arg(command)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {node}"))?;
    println!("{node} started (pid {})", child.id().unwrap_or(0));
    Ok(child)
}

/// Starts the coordinator and every worker of `dir` as child processes, and supervises them:
/// a child that exits is started again (within [`cluster::RestartBudget`]: a child that keeps
/// dying stops the cluster, with the reason), until Ctrl-C or SIGTERM stops them all.
pub(super) fn up(dir: &Path) -> Result<()> {
    let cluster = Cluster::open(dir)?;
    let exe = std::env::current_exe()?;
    runtime()?.block_on(async {
        let mut children = Vec::new();
        let nodes = std::iter::once(Node::Coordinator)
            .chain(cluster.roster.workers.iter().map(|w| Node::Worker(w.id)));
        for node in nodes {
            let child = spawn(&exe, &cluster, node)?;
            children.push((node, child, cluster::RestartBudget::default()));
        }
        println!(
            "the coordinator and {} workers running; a child that exits is restarted; Ctrl-C stops them all",
            children.len() - 1
        );
        let supervise = async {
            loop {
                for (node, child, budget) in children.iter_mut() {
                    let Ok(Some(status)) = child.try_wait() else {
                        continue;
                    };
                    let now = std::time::Instant::now();
                    match budget.restart(now) {
                        Ok(count) => {
                            eprintln!(
                                "{node} exited ({status}); restarting it ({count} restarts in the last {} s, at most {})",
                                cluster::RestartBudget::WINDOW.as_secs(),
                                cluster::RestartBudget::MAX
                            );
                            match spawn(&exe, &cluster, *node) {
                                Ok(fresh) => *child = fresh,
                                Err(e) => return format!("{node} could not be restarted: {e:#}"),
                            }
                        }
                        Err(reason) => return format!("{node} exited ({status}): {reason}"),
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            _ = shutdown_signal() => println!("stopping"),
            reason = supervise => eprintln!("{reason}; stopping the others"),
        }
        for (_, child, _) in children.iter_mut() {
            if let Some(pid) = child.id() {
                // SIGTERM first: each worker closes its store cleanly.
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
        }
        for (id, child, _) in children.iter_mut() {
            match tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    eprintln!("{id} did not stop in 10 s; killing it");
                    let _ = child.kill().await;
                }
            }
        }
        Ok(())
    })
}
