//! A worker's configuration file (TOML, unknown keys refused). Paths are relative to the file's
//! folder.
//!
//! ```toml
//! id = 0                       # this worker's id in the roster
//! roster = "../../roster.toml" # the cluster's roster
//! identity = "identity.key"    # this worker's Ed25519 key (mode 0600)
//! data_dir = "data"            # shares and the ledger replica live here
//! upload_expiry_s = 3600       # optional: an unfinished upload is dropped after this long
//! [mesh]                       # optional: QUIC mesh tuning (mpc::quic::MeshConfig; defaults documented there)
//! [limits]                     # optional: the most one job may cost this worker, estimated before it
//!                              # runs (protocols::stats::cost::Limits; defaults documented there):
//! max_job_memory_mib = 2048    #   peak memory
//! max_job_sent_mib = 16384     #   bytes sent to the other workers
//! max_job_rounds = 20000       #   communication rounds
//! ```

use std::path::{Path, PathBuf};

use mpc::quic::MeshConfig;
use protocols::stats::cost::Limits;
use serde::{Deserialize, Serialize};

/// A worker's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// This worker's id in the roster.
    pub id: u16,
    /// The roster file.
    pub roster: PathBuf,
    /// This worker's key file.
    pub identity: PathBuf,
    /// Where shares and the ledger replica are stored.
    pub data_dir: PathBuf,
    /// Seconds after which an upload neither committed nor aborted is dropped (default 3600:
    /// [`crate::service::DEFAULT_UPLOAD_EXPIRY`]).
    #[serde(default = "default_upload_expiry")]
    pub upload_expiry_s: u64,
    /// Mesh tuning (defaults: `MeshConfig::default()`).
    #[serde(default)]
    pub mesh: MeshConfig,
    /// Job cost limits (defaults: `Limits::default()`); set the same on every worker.
    #[serde(default)]
    pub limits: Limits,
}

fn default_upload_expiry() -> u64 {
    crate::service::DEFAULT_UPLOAD_EXPIRY.as_secs()
}

impl WorkerConfig {
    /// Reads a configuration and resolves its paths against the file's folder.
    pub fn load(path: &Path) -> Result<Self, coordinator::roster::ConfigError> {
        coordinator::roster::load_config(path, |c: &mut Self| {
            vec![&mut c.roster, &mut c.identity, &mut c.data_dir]
        })
    }
}
