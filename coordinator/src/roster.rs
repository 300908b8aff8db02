//! The cluster's roster file (`roster.toml`): who takes part, where to reach them and their
//! keys. Every node and client reads it; a copy on each machine is all a deployment needs.
//!
//! ```toml
//! threshold = 1
//! [coordinator]
//! address = "10.0.0.1:7000"
//! key = "…64 hex digits…"
//! [[workers]]
//! id = 0
//! address = "10.0.0.2:7100"   # control plane: clients and the coordinator
//! mesh = "10.0.0.2:7101"      # MPC traffic between workers
//! key = "…"
//! [[clients]]
//! name = "acme"
//! key = "…"
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use mpc::identity::PublicKey;
use serde::{Deserialize, Serialize};

use crate::ledger::{Roster, RosterWorker};

/// The coordinator's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorEntry {
    /// Control-plane address.
    pub address: SocketAddr,
    /// Its key.
    pub key: PublicKey,
}

/// A worker's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerEntry {
    /// Its id: its MPC party index, `0..n`.
    pub id: u16,
    /// Control-plane address (clients, coordinator).
    pub address: SocketAddr,
    /// Mesh address (the other workers).
    pub mesh: SocketAddr,
    /// Its key.
    pub key: PublicKey,
}

/// A client's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// Its name (the owner name of its datasets).
    pub name: String,
    /// Its key.
    pub key: PublicKey,
}

/// The whole roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRoster {
    /// `t`.
    pub threshold: u16,
    /// The coordinator.
    pub coordinator: CoordinatorEntry,
    /// The workers, in id order.
    pub workers: Vec<WorkerEntry>,
    /// Registered clients.
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
}

/// A roster that cannot be used, with the file and the reason.
#[derive(Debug, thiserror::Error)]
#[error("roster {file}: {reason}")]
pub struct RosterError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

impl ClusterRoster {
    /// Reads and validates a roster file.
    pub fn load(path: &Path) -> Result<Self, RosterError> {
        let err = |reason: String| RosterError {
            file: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let roster: ClusterRoster = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        roster.validate().map_err(err)?;
        Ok(roster)
    }

    /// Writes the roster (atomically: a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), RosterError> {
        let err = |reason: String| RosterError {
            file: path.display().to_string(),
            reason,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// Checks ids are `0..n` in order, `2t < n`, keys and names distinct.
    pub fn validate(&self) -> Result<(), String> {
        for (i, w) in self.workers.iter().enumerate() {
            if w.id as usize != i {
                return Err(format!(
                    "worker ids must be 0..n in order; entry {i} has id {}",
                    w.id
                ));
            }
        }
        self.ledger_roster().validate()
    }

    /// The `(n, t)` setting.
    pub fn params(&self) -> mpc::Params {
        mpc::Params::new(self.workers.len(), self.threshold as usize).expect("validated roster")
    }

    /// The client called `name`.
    pub fn client(&self, name: &str) -> Option<&ClientEntry> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// The name of the client holding `key`, if any.
    pub fn client_by_key(&self, key: &PublicKey) -> Option<&str> {
        self.clients
            .iter()
            .find(|c| &c.key == key)
            .map(|c| c.name.as_str())
    }

    /// Keys a worker's control plane accepts: every client and the coordinator.
    pub fn control_keys(&self) -> HashSet<PublicKey> {
        self.clients
            .iter()
            .map(|c| c.key)
            .chain([self.coordinator.key])
            .collect()
    }

    /// The roster as the ledger's genesis records it: the workers, the threshold and the
    /// coordinator. Clients are left out, so that registering one later (`quorate identity
    /// new`) does not change the roster a verifier trusts; entries carry their clients' keys.
    pub fn ledger_roster(&self) -> Roster {
        Roster {
            workers: self
                .workers
                .iter()
                .map(|w| RosterWorker {
                    id: w.id,
                    key: w.key,
                    address: w.address.to_string(),
                })
                .collect(),
            threshold: self.threshold,
            coordinator: self.coordinator.key,
            clients: Vec::new(),
        }
    }
}

/// Reads a node's TOML configuration file (unknown keys refused by `T`) and resolves the
/// relative paths `paths` picks out of it against the file's folder.
pub fn load_config<T: serde::de::DeserializeOwned>(
    path: &Path,
    paths: impl FnOnce(&mut T) -> Vec<&mut std::path::PathBuf>,
) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut config: T = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in paths(&mut config) {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    Ok(config)
}
