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
//!
//! A connection is a [`Caller`] derived from the key it authenticated with
//! ([`ClusterRoster::caller`]), never from a name. Client names are checked when the roster
//! loads ([`check_client_name`]): the reserved names (`coordinator`, `worker`, `worker-3`, …,
//! any case) are refused, as are two clients of one name and a client key equal to another
//! client's, a worker's or the coordinator's.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mpc::identity::PublicKey;
use serde::{Deserialize, Serialize};

use crate::ledger::{Roster, RosterWorker};

/// Who is at the other end of a control connection, from the key it authenticated with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The coordinator (the roster's coordinator key).
    Coordinator,
    /// Worker `i` (its roster key).
    Worker(u16),
    /// A registered client, by the name the roster gives its key.
    Client {
        /// The client's roster name (the owner name of its datasets).
        name: String,
    },
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Coordinator => f.write_str("the coordinator"),
            Caller::Worker(i) => write!(f, "worker {i}"),
            Caller::Client { name } => write!(f, "client '{name}'"),
        }
    }
}

/// Checks a client name: 1-64 letters, digits, `-`, `_` or `.`, and not a reserved name (the
/// coordinator's and the workers', in any case: `coordinator`, `worker`, `worker3`,
/// `worker-3`, `worker_3`), so that no client can pass for a node in messages or logs.
pub fn check_client_name(name: &str) -> Result<(), ClientNameError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ClientNameError::Malformed(name.to_owned()));
    }
    let lower = name.to_ascii_lowercase();
    let worker_like = lower
        .strip_prefix("worker")
        .map(|rest| rest.trim_start_matches(['-', '_', '.']))
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()));
    if lower == "coordinator" || worker_like {
        return Err(ClientNameError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// Why a client name is refused ([`check_client_name`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientNameError {
    /// Empty, too long, or a character outside letters, digits, `-`, `_` and `.`.
    #[error("client name '{0}' must be 1-64 letters, digits, '-', '_' or '.'")]
    Malformed(String),
    /// The name of a node (`coordinator`, `worker3`, ...).
    #[error("client name '{0}' is reserved for the cluster's nodes")]
    Reserved(String),
}

/// Why a cluster roster cannot be used ([`ClusterRoster::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterProblem {
    /// Worker ids are not `0..n` in order.
    #[error("worker ids must be 0..n in order; entry {entry} has id {id}")]
    WorkerOrder {
        /// The position in the list.
        entry: usize,
        /// The id written there.
        id: u16,
    },
    /// What the ledger's roster refuses (threshold, repeated workers or clients).
    #[error(transparent)]
    Ledger(#[from] crate::ledger::RosterProblem),
    /// A worker holds the coordinator's key.
    #[error("worker {worker} has the coordinator's key {}", key.fingerprint())]
    WorkerHasCoordinatorKey {
        /// The worker.
        worker: u16,
        /// The key.
        key: PublicKey,
    },
    /// A client's name is malformed or reserved.
    #[error(transparent)]
    ClientName(#[from] ClientNameError),
    /// Two clients have one name.
    #[error("client name '{0}' appears twice")]
    ClientTwice(String),
    /// Two clients have one key.
    #[error("clients '{first}' and '{second}' have the same key {}", key.fingerprint())]
    SharedClientKey {
        /// The earlier client.
        first: String,
        /// The later client.
        second: String,
        /// The key.
        key: PublicKey,
    },
    /// A client holds the coordinator's key.
    #[error("client '{0}' has the coordinator's key")]
    ClientHasCoordinatorKey(String),
    /// A client holds a worker's key.
    #[error("client '{client}' has worker {worker}'s key")]
    ClientHasWorkerKey {
        /// The client.
        client: String,
        /// The worker.
        worker: u16,
    },
}

/// Why a node's configuration file could not be loaded ([`load_config`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration (unknown keys included).
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: toml::de::Error,
    },
}

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
    #[source]
    pub reason: RosterFault,
}

/// What is wrong with a roster file ([`RosterError`]).
#[derive(Debug, thiserror::Error)]
pub enum RosterFault {
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The file is not a roster in TOML.
    #[error(transparent)]
    Parse(#[from] toml::de::Error),
    /// The roster could not be written as TOML.
    #[error(transparent)]
    Serialize(#[from] toml::ser::Error),
    /// The roster parses but cannot be used.
    #[error(transparent)]
    Invalid(#[from] RosterProblem),
}

impl ClusterRoster {
    /// Reads and validates a roster file.
    pub fn load(path: &Path) -> Result<Self, RosterError> {
        let err = |reason: RosterFault| RosterError {
            file: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.into()))?;
        let roster: ClusterRoster = toml::from_str(&text).map_err(|e| err(e.into()))?;
        roster.validate().map_err(|e| err(e.into()))?;
        Ok(roster)
    }

    /// Writes the roster (atomically: a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), RosterError> {
        let err = |reason: RosterFault| RosterError {
            file: path.display().to_string(),
            reason,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(e.into()))?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| err(e.into()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.into()))
    }

    /// Checks ids are `0..n` in order, `2t < n`, worker keys distinct, and every client: a
    /// valid, unreserved name ([`check_client_name`]) held by no other client, and a key held
    /// by no other client, worker or the coordinator.
    pub fn validate(&self) -> Result<(), RosterProblem> {
        for (i, w) in self.workers.iter().enumerate() {
            if w.id as usize != i {
                return Err(RosterProblem::WorkerOrder { entry: i, id: w.id });
            }
        }
        self.ledger_roster().validate()?;
        if let Some(w) = self.workers.iter().find(|w| w.key == self.coordinator.key) {
            return Err(RosterProblem::WorkerHasCoordinatorKey {
                worker: w.id,
                key: w.key,
            });
        }
        for (i, c) in self.clients.iter().enumerate() {
            check_client_name(&c.name)?;
            if self.clients[..i].iter().any(|o| o.name == c.name) {
                return Err(RosterProblem::ClientTwice(c.name.clone()));
            }
            if let Some(o) = self.clients[..i].iter().find(|o| o.key == c.key) {
                return Err(RosterProblem::SharedClientKey {
                    first: o.name.clone(),
                    second: c.name.clone(),
                    key: c.key,
                });
            }
            if c.key == self.coordinator.key {
                return Err(RosterProblem::ClientHasCoordinatorKey(c.name.clone()));
            }
            if let Some(w) = self.workers.iter().find(|w| w.key == c.key) {
                return Err(RosterProblem::ClientHasWorkerKey {
                    client: c.name.clone(),
                    worker: w.id,
                });
            }
        }
        Ok(())
    }

    /// Who holds `key`: the coordinator, a worker or a registered client (`None`: nobody in
    /// this roster). Keys are distinct across roles ([`ClusterRoster::validate`]).
    pub fn caller(&self, key: &PublicKey) -> Option<Caller> {
        if *key == self.coordinator.key {
            return Some(Caller::Coordinator);
        }
        if let Some(w) = self.workers.iter().find(|w| w.key == *key) {
            return Some(Caller::Worker(w.id));
        }
        self.client_by_key(key).map(|name| Caller::Client {
            name: name.to_string(),
        })
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
) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut config: T = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in paths(&mut config) {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Identity;
    use rand::SeedableRng;

    fn roster(clients: &[(&str, PublicKey)]) -> (ClusterRoster, Vec<Identity>) {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(7);
        let ids: Vec<Identity> = (0..4).map(|_| Identity::generate(&mut rng)).collect();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let roster = ClusterRoster {
            threshold: 1,
            coordinator: CoordinatorEntry {
                address: addr,
                key: ids[0].public_key(),
            },
            workers: (1..4)
                .map(|i| WorkerEntry {
                    id: i as u16 - 1,
                    address: addr,
                    mesh: addr,
                    key: ids[i].public_key(),
                })
                .collect(),
            clients: clients
                .iter()
                .map(|(n, k)| ClientEntry {
                    name: n.to_string(),
                    key: *k,
                })
                .collect(),
        };
        (roster, ids)
    }

    fn fresh_key(seed: u64) -> PublicKey {
        Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(seed)).public_key()
    }

    #[test]
    fn reserved_names_are_refused() {
        for name in [
            "coordinator",
            "Coordinator",
            "worker",
            "worker1",
            "worker-0",
            "WORKER_12",
        ] {
            let err = check_client_name(name).unwrap_err();
            assert_eq!(err, ClientNameError::Reserved(name.into()));
            assert!(err.to_string().contains("reserved"), "{name}: {err}");
        }
        for name in ["acme", "workers-union", "worker-bee", "coordinators"] {
            check_client_name(name).unwrap();
        }
        assert!(matches!(
            check_client_name("a/b"),
            Err(ClientNameError::Malformed(_))
        ));
        assert!(check_client_name("").is_err());
    }

    /// A hand-written roster that registers a client as `coordinator` does not load.
    #[test]
    fn a_client_named_coordinator_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let (r, _) = roster(&[("acme", fresh_key(1)), ("coordinator", fresh_key(2))]);
        let path = dir.path().join("roster.toml");
        std::fs::write(&path, toml::to_string(&r).unwrap()).unwrap();
        let err = ClusterRoster::load(&path).unwrap_err().to_string();
        assert!(err.contains("'coordinator' is reserved"), "{err}");
    }

    #[test]
    fn duplicate_client_names_and_keys_are_refused() {
        let k = fresh_key(1);
        let (r, _) = roster(&[("acme", k), ("acme", fresh_key(2))]);
        assert_eq!(
            r.validate().unwrap_err(),
            RosterProblem::ClientTwice("acme".into())
        );
        let (r, _) = roster(&[("acme", k), ("beta", k)]);
        assert!(r.validate().unwrap_err().to_string().contains("same key"));
        let (mut r, ids) = roster(&[]);
        r.clients.push(ClientEntry {
            name: "mallory".into(),
            key: ids[0].public_key(),
        });
        assert_eq!(
            r.validate().unwrap_err(),
            RosterProblem::ClientHasCoordinatorKey("mallory".into())
        );
        r.clients[0].key = ids[2].public_key();
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("worker 1's key")
        );
    }

    #[test]
    fn callers_come_from_keys() {
        let k = fresh_key(1);
        let (r, ids) = roster(&[("acme", k)]);
        assert_eq!(r.caller(&ids[0].public_key()), Some(Caller::Coordinator));
        assert_eq!(r.caller(&ids[3].public_key()), Some(Caller::Worker(2)));
        assert_eq!(
            r.caller(&k),
            Some(Caller::Client {
                name: "acme".into()
            })
        );
        assert_eq!(r.caller(&fresh_key(9)), None);
    }
}
