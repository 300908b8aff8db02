//! The node processes a cluster runs as children: `quorate cluster up`, the demo and the
//! end-to-end tests' harness start, watch and stop them here.
//!
//! A [`Node`] is started from the cluster folder's config ([`node_command`]). Stopping is
//! [`terminate`]: SIGTERM first, so that a node finishes or aborts its jobs and closes its
//! store cleanly, a bounded wait, then SIGKILL. A [`Children`] holds every child it was given
//! and stops them all when it is dropped, whatever happened (an error, a panic, a failed
//! test), so no process outlives its parent's run.
//!
//! What this module does not do: decide when to restart a child (`cluster up` does, within
//! [`crate::cluster::RestartBudget`]) or wait for a node to answer (its callers poll its API).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

/// How long [`Children`] waits, when dropped, for its children to stop after SIGTERM.
pub const DROP_GRACE: Duration = Duration::from_secs(5);

/// A node of a cluster, as a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// The coordinator.
    Coordinator,
    /// The worker with this roster id.
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

/// `exe coordinator --config C` or `exe worker --config W`, with `cluster`'s config of `node`
/// and no standard input; the caller chooses where the output goes.
pub fn node_command(exe: &Path, cluster: &Cluster, node: Node) -> Command {
    let (command, config) = match node {
        Node::Coordinator => ("coordinator", cluster.coordinator_config()),
        Node::Worker(id) => ("worker", cluster.worker_config(id)),
    };
    let mut c = Command::new(exe);
    c.arg(command)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null());
    c
}

/// Sends SIGTERM to `child` (a node then closes its store cleanly).
pub fn signal_stop(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits until `child` has exited, at most until `deadline`; whether it has.
fn reaped_by(child: &mut Child, deadline: Instant) -> bool {
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM to `child` and reaps it, killing it if it has not exited within `bound`.
/// Returns whether it had to be killed.
pub fn terminate(child: &mut Child, bound: Duration) -> bool {
    signal_stop(child);
    let stopped = reaped_by(child, Instant::now() + bound);
    if !stopped {
        let _ = child.kill();
        let _ = child.wait();
    }
    !stopped
}

/// Named child processes, every one stopped ([`Children::stop_all`]) when this is dropped.
#[derive(Default)]
pub struct Children {
    running: Vec<(String, Child)>,
}

impl Children {
    /// No children yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes charge of `child`, named `name` in messages; returns its index.
    pub fn adopt(&mut self, name: impl Into<String>, child: Child) -> usize {
        self.running.push((name.into(), child));
        self.running.len() - 1
    }

    /// How many children this holds.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether this holds no child.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// The name of child `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.running[i].0
    }

    /// The first child that has exited since it was adopted, with its status (it is reaped).
    pub fn exited(&mut self) -> Option<(usize, ExitStatus)> {
        self.running
            .iter_mut()
            .enumerate()
            .find_map(|(i, (_, c))| c.try_wait().ok().flatten().map(|s| (i, s)))
    }

    /// Puts `child` in the place of child `i` (which has exited: see [`Children::exited`]).
    pub fn replace(&mut self, i: usize, child: Child) {
        let mut old = std::mem::replace(&mut self.running[i].1, child);
        let _ = old.kill();
        let _ = old.wait();
    }

    /// Sends SIGTERM to every child, waits for them all (at most `bound` in total) and kills
    /// the rest; returns the names of those it had to kill. Holds no child afterwards.
    pub fn stop_all(&mut self, bound: Duration) -> Vec<String> {
        for (_, c) in &self.running {
            signal_stop(c);
        }
        let deadline = Instant::now() + bound;
        let mut killed = Vec::new();
        for (name, mut c) in self.running.drain(..) {
            if !reaped_by(&mut c, deadline) {
                let _ = c.kill();
                let _ = c.wait();
                killed.push(name);
            }
        }
        killed
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all(DROP_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(seconds: &str) -> Child {
        Command::new("sleep")
            .arg(seconds)
            .spawn()
            .expect("sleep runs")
    }

    #[test]
    fn every_child_is_stopped_on_drop_and_exits_are_seen() {
        let mut children = Children::new();
        let long = children.adopt("long", sleeper("60"));
        let short = children.adopt("short", sleeper("0"));
        assert!(
            reaped_by_index(&mut children, short),
            "the short child never exited"
        );
        assert_eq!(children.name(long), "long");
        children.replace(short, sleeper("60"));
        let pids: Vec<u32> = children.running.iter().map(|(_, c)| c.id()).collect();
        assert_eq!(children.len(), 2);
        let started = Instant::now();
        drop(children);
        // SIGTERM stops `sleep` at once: no waiting for the grace period.
        assert!(started.elapsed() < DROP_GRACE, "{:?}", started.elapsed());
        for pid in pids {
            let alive = Command::new("kill").args(["-0", &pid.to_string()]).status();
            assert!(
                !alive.unwrap().success(),
                "process {pid} outlived its Children"
            );
        }
    }

    fn reaped_by_index(children: &mut Children, i: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some((j, status)) = children.exited() {
                return j == i && status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_after_the_bound() {
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 60"])
            .spawn()
            .expect("sh runs");
        // Let the shell ignore SIGTERM (kept across its exec) before the signal.
        std::thread::sleep(Duration::from_millis(300));
        assert!(terminate(&mut child, Duration::from_millis(300)));
        assert!(child.try_wait().unwrap().is_some());
        let mut polite = sleeper("60");
        assert!(!terminate(&mut polite, Duration::from_secs(10)));
    }
}
