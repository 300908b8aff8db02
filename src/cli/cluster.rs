//! `cluster init`, `cluster up`, `identity new`, `worker`.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};

use crate::children::{Children, Node, node_command};
use crate::cluster::{self, Cluster};

use crate::runtime;

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

/// Starts the coordinator and every worker of `dir` as child processes, and supervises them:
/// a child that exits is started again (within [`cluster::RestartBudget`]: a child that keeps
/// dying stops the cluster, with the reason), until Ctrl-C or SIGTERM stops them all.
pub(super) fn up(dir: &Path) -> Result<()> {
    let cluster = Cluster::open(dir)?;
    let exe = std::env::current_exe()?;
    runtime()?.block_on(async {
        let start = |node: Node| {
            let child = node_command(&exe, &cluster, node)
                .spawn()
                .with_context(|| format!("starting {node}"))?;
            println!("{node} started (pid {})", child.id());
            anyhow::Ok(child)
        };
        let mut children = Children::new();
        let mut budgets = Vec::new();
        let nodes = std::iter::once(Node::Coordinator)
            .chain(cluster.roster.workers.iter().map(|w| Node::Worker(w.id)));
        for node in nodes {
            children.adopt(node.to_string(), start(node)?);
            budgets.push((node, cluster::RestartBudget::default()));
        }
        println!(
            "the coordinator and {} workers running; a child that exits is restarted; Ctrl-C stops them all",
            children.len() - 1
        );
        let supervise = async {
            loop {
                while let Some((i, status)) = children.exited() {
                    let (node, budget) = &mut budgets[i];
                    match budget.restart(std::time::Instant::now()) {
                        Ok(count) => {
                            eprintln!(
                                "{node} exited ({status}); restarting it ({count} restarts in the last {} s, at most {})",
                                cluster::RestartBudget::WINDOW.as_secs(),
                                cluster::RestartBudget::MAX
                            );
                            match start(*node) {
                                Ok(fresh) => children.replace(i, fresh),
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
        // SIGTERM first: each node closes its store cleanly.
        for name in children.stop_all(std::time::Duration::from_secs(10)) {
            eprintln!("{name} did not stop in 10 s; it was killed");
        }
        Ok(())
    })
}
