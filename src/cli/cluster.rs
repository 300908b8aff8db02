//! `cluster init`, `cluster up`, `identity new`, `worker`.

use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result};

use crate::cluster::{self, Cluster};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

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

/// Starts the coordinator and every worker of `dir` as child processes.
pub(super) fn up(dir: &Path) -> Result<()> {
    let cluster = Cluster::open(dir)?;
    let exe = std::env::current_exe()?;
    runtime()?.block_on(async {
        let mut children = Vec::new();
        let coordinator = tokio::process::Command::new(&exe)
            .arg("coordinator")
            .arg("--config")
            .arg(cluster.coordinator_config())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the coordinator")?;
        children.push((Node::Coordinator, coordinator));
        for w in &cluster.roster.workers {
            let child = tokio::process::Command::new(&exe)
                .arg("worker")
                .arg("--config")
                .arg(cluster.worker_config(w.id))
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting worker {}", w.id))?;
            children.push((Node::Worker(w.id), child));
        }
        println!(
            "the coordinator and {} workers running; Ctrl-C stops them all",
            children.len() - 1
        );
        let exited = async {
            loop {
                for (id, child) in children.iter_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return (*id, status);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            _ = shutdown_signal() => println!("stopping"),
            (node, status) = exited => eprintln!("{node} exited ({status}); stopping the others"),
        }
        for (_, child) in children.iter_mut() {
            if let Some(pid) = child.id() {
                // SIGTERM first: each worker closes its store cleanly.
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
        }
        for (id, child) in children.iter_mut() {
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
