//! A cluster's folder, as `quorate cluster init` lays it out:
//!
//! ```text
//! DIR/roster.toml                      who takes part (copy it to every machine)
//! DIR/coordinator/identity.key         the coordinator's key (0600)
//! DIR/coordinator/coordinator.toml     the coordinator's config (data in DIR/coordinator/data)
//! DIR/workers/worker-I/worker.toml     worker I's configuration (paths relative to it)
//! DIR/workers/worker-I/identity.key    worker I's key (0600)
//! DIR/workers/worker-I/data/           worker I's shares and ledger replica
//! DIR/clients/NAME.key                 a client's key (0600), from `quorate identity new`
//! ```

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use coordinator::roster::{ClientEntry, ClusterRoster, CoordinatorEntry, WorkerEntry};
use mpc::identity::Identity;

/// A cluster folder.
pub struct Cluster {
    dir: PathBuf,
    /// The roster.
    pub roster: ClusterRoster,
}

impl Cluster {
    /// Opens the cluster in `dir` (reads its roster).
    pub fn open(dir: &Path) -> Result<Self> {
        let roster = ClusterRoster::load(&dir.join("roster.toml")).with_context(|| {
            format!(
                "{} is not a cluster folder (run `quorate cluster init`)",
                dir.display()
            )
        })?;
        Ok(Cluster {
            dir: dir.to_path_buf(),
            roster,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The roster file.
    pub fn roster_path(&self) -> PathBuf {
        self.dir.join("roster.toml")
    }

    /// Worker `id`'s configuration file.
    pub fn worker_config(&self, id: u16) -> PathBuf {
        self.dir
            .join("workers")
            .join(format!("worker-{id}"))
            .join("worker.toml")
    }

    /// The coordinator's configuration file.
    pub fn coordinator_config(&self) -> PathBuf {
        self.dir.join("coordinator").join("coordinator.toml")
    }

    /// The coordinator's ledger (in a local cluster folder).
    pub fn ledger_path(&self) -> PathBuf {
        coordinator::ledger::Ledger::path_in(&self.dir.join("coordinator").join("data"))
    }

    /// The key of client `name`, which must be registered in the roster.
    pub fn client_identity(&self, name: &str) -> Result<Identity> {
        let entry = self.roster.client(name).with_context(|| {
            format!(
                "no client '{name}' in {} (run `quorate identity new {name} --cluster …`)",
                self.roster_path().display()
            )
        })?;
        let path = self.dir.join("clients").join(format!("{name}.key"));
        let identity =
            Identity::read_file(&path).with_context(|| format!("reading {}", path.display()))?;
        if identity.public_key() != entry.key {
            bail!(
                "{} does not hold the key the roster lists for '{name}'",
                path.display()
            );
        }
        Ok(identity)
    }

    /// Registers a new client `name`: writes its key and adds it to the roster.
    pub fn new_client(&mut self, name: &str) -> Result<PathBuf> {
        coordinator::roster::check_client_name(name).map_err(|e| anyhow::anyhow!(e))?;
        if self.roster.client(name).is_some() {
            bail!("client '{name}' is already in the roster");
        }
        let identity = Identity::generate(&mut rand::rng());
        let path = self.dir.join("clients").join(format!("{name}.key"));
        std::fs::create_dir_all(path.parent().expect("a parent"))?;
        identity
            .write_file(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        self.roster.clients.push(ClientEntry {
            name: name.to_string(),
            key: identity.public_key(),
        });
        self.roster.save(&self.roster_path())?;
        Ok(path)
    }
}

/// How often `cluster up` restarts a child that exits: at most [`RestartBudget::MAX`] times
/// within [`RestartBudget::WINDOW`]; one more exit in the window stops the cluster (a child
/// that dies at once on every start has a reason no restart fixes: a bad config, a damaged
/// store, a taken port).
#[derive(Debug, Default)]
pub struct RestartBudget {
    restarts: std::collections::VecDeque<std::time::Instant>,
}

impl RestartBudget {
    /// Restarts allowed within [`RestartBudget::WINDOW`].
    pub const MAX: usize = 5;
    /// The window.
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

    /// Records an exit at `now`: the number of restarts within the window, this one included,
    /// or [`TooManyExits`] when the child is not restarted.
    pub fn restart(&mut self, now: std::time::Instant) -> Result<usize, TooManyExits> {
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Self::WINDOW)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= Self::MAX {
            return Err(TooManyExits {
                exits: Self::MAX + 1,
                window: Self::WINDOW,
            });
        }
        self.restarts.push_back(now);
        Ok(self.restarts.len())
    }
}

/// A child exited more often than [`RestartBudget`] allows: it is not restarted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("it exited {exits} times within {} s; not restarting it again", .window.as_secs())]
pub struct TooManyExits {
    /// Exits within the window, the last one included.
    pub exits: usize,
    /// The window.
    pub window: std::time::Duration,
}

/// Refuses, before it is queued, a query whose estimated cost to a worker is over the limits of
/// worker 0's configuration in this folder (the defaults when the folder holds none): the
/// workers check again with their own.
pub fn check_query_cost(
    cluster: &Cluster,
    query: &protocols::stats::Query,
    datasets: &[coordinator::api::DatasetInfo],
) -> Result<()> {
    use protocols::stats::cost;
    let limits = worker::config::WorkerConfig::load(&cluster.worker_config(0))
        .map(|c| c.limits)
        .unwrap_or_default();
    let rows = datasets
        .iter()
        .filter(|d| d.name == query.table)
        .map(|d| d.rows)
        .sum();
    // The workers estimate with what their engines run; the client assumes the cluster's
    // default randomness (PRSS: the binary-domain one-hot and selection where C(n, t) allows).
    let paths = cost::Paths::default_for(cluster.roster.params());
    let estimate = cost::estimate(query, rows, cluster.roster.workers.len(), paths);
    limits.check(&estimate).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::RestartBudget;
    use std::time::{Duration, Instant};

    #[test]
    fn restarts_are_bounded_within_the_window() {
        let mut budget = RestartBudget::default();
        let t0 = Instant::now();
        for k in 1..=RestartBudget::MAX {
            assert_eq!(budget.restart(t0 + Duration::from_secs(k as u64)), Ok(k));
        }
        let refused = budget
            .restart(t0 + Duration::from_secs(10))
            .expect_err("a sixth exit in a minute");
        assert!(refused.to_string().contains("not restarting"), "{refused}");
        // Once the window has passed, restarts are allowed again.
        let later = t0 + RestartBudget::WINDOW + Duration::from_secs(30);
        assert_eq!(budget.restart(later), Ok(1));
    }
}

/// A currently free UDP port on `host` (QUIC runs on UDP).
fn free_port(host: IpAddr) -> Result<u16> {
    Ok(UdpSocket::bind((host, 0))?.local_addr()?.port())
}

/// Creates a cluster folder for `workers` workers with threshold `threshold`, every node on
/// `host` at ports free right now (edit the roster's addresses for a multi-machine deployment).
pub fn init(
    dir: &Path,
    workers: usize,
    threshold: Option<usize>,
    host: IpAddr,
) -> Result<ClusterRoster> {
    let params = match threshold {
        Some(t) => mpc::Params::new(workers, t),
        None => mpc::Params::max_threshold(workers),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if dir.join("roster.toml").exists() {
        bail!(
            "{} already holds a cluster (roster.toml exists)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = rand::rng();
    let addr = || -> Result<SocketAddr> { Ok(SocketAddr::new(host, free_port(host)?)) };

    let coordinator = Identity::generate(&mut rng);
    let coordinator_dir = dir.join("coordinator");
    std::fs::create_dir_all(&coordinator_dir)?;
    coordinator.write_file(&coordinator_dir.join("identity.key"))?;
    std::fs::write(
        coordinator_dir.join("coordinator.toml"),
        "# The coordinator. Paths are relative to this file.\nroster = \"../roster.toml\"\nidentity = \"identity.key\"\ndata_dir = \"data\"\n# job_timeout_s = 600\n",
    )?;
    let coordinator = CoordinatorEntry {
        address: addr()?,
        key: coordinator.public_key(),
    };

    let mut entries = Vec::with_capacity(workers);
    for id in 0..workers as u16 {
        let identity = Identity::generate(&mut rng);
        let wdir = dir.join("workers").join(format!("worker-{id}"));
        std::fs::create_dir_all(wdir.join("data"))?;
        identity.write_file(&wdir.join("identity.key"))?;
        let config = format!(
            "# Worker {id}. Paths are relative to this file.\nid = {id}\nroster = \"../../roster.toml\"\nidentity = \"identity.key\"\ndata_dir = \"data\"\n"
        );
        std::fs::write(wdir.join("worker.toml"), config)?;
        entries.push(WorkerEntry {
            id,
            address: addr()?,
            mesh: addr()?,
            key: identity.public_key(),
        });
    }
    let roster = ClusterRoster {
        threshold: params.t() as u16,
        coordinator,
        workers: entries,
        clients: Vec::new(),
    };
    roster.validate().map_err(|e| anyhow::anyhow!(e))?;
    roster.save(&dir.join("roster.toml"))?;
    Ok(roster)
}
