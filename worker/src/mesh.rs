//! The worker's place in the QUIC mesh of workers, formed at startup and formed again, by
//! agreement, when it breaks.
//!
//! A mesh admits no one once formed, so a peer that crashed and restarted can only rejoin in a
//! new mesh, and every worker must form that new mesh at the same time: a worker that re-forms
//! on its own (as soon as it notices a departure) meets peers still on the old mesh, and
//! workers end up on different meshes while jobs arrive (BENCHMARKS.md, "Chaos", the variants measured). So a
//! mesh belongs to an *epoch* chosen by the coordinator and carried by every job attempt
//! (`Request::RunJob::mesh`):
//! - a job of the mesh's own epoch runs on it; if a peer has departed from it, the attempt
//!   fails at once naming that peer ([`MeshError::Departed`]) instead of waiting;
//! - a job of another epoch closes the mesh and forms a new one: the coordinator chooses a new
//!   epoch after any attempt that failed for want of a peer, and sends it to every worker, so
//!   they all re-form once, together, and a restarted worker is back in the next attempt;
//! - the mesh formed at startup has no epoch yet: the first job adopts it if it is whole.
//!
//! The coordinator's half of the agreement (choosing epochs, retrying) is in
//! `coordinator::node`.

use std::net::SocketAddr;
use std::time::Duration;

use mpc::PartyId;
use mpc::identity::Identity;
use mpc::quic::{MeshConfig, Peer, QuicMesh, QuicNetwork, QuicNode};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

/// The bound on forming the mesh before a job (the dials' deadline).
pub const MESH_WAIT: Duration = Duration::from_secs(30);
/// How long binding the mesh's port may be retried while a closed endpoint releases it.
const BIND_WAIT: Duration = Duration::from_secs(5);

/// Why a job has no mesh session.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// Peers have left this epoch's mesh (crashed, restarted, or moved to a newer epoch).
    #[error("{}", departed_text(.0))]
    Departed(Vec<PartyId>),
    /// The mesh could not be formed, or a session not opened on it (the QUIC error names the
    /// party that did not connect).
    #[error("the mesh with the other workers is not formed: {0}")]
    Forming(#[from] mpc::quic::QuicError),
    /// The formation outlasted its bound (a bind that hangs).
    #[error("the mesh with the other workers is not formed: not formed after {} s", .0.as_secs())]
    FormingTimeout(Duration),
    /// The mesh closed while a session was being opened.
    #[error("the mesh with the other workers is not formed: the mesh closed")]
    Closed,
}

fn departed_text(parties: &[PartyId]) -> String {
    let list: Vec<String> = parties.iter().map(|p| p.0.to_string()).collect();
    match parties {
        [one] => format!("party {} left the mesh", one.0),
        _ => format!("parties {} left the mesh", list.join(", ")),
    }
}

/// A formed mesh and the epoch it belongs to (`None`: formed at startup, not yet adopted).
struct Formed {
    epoch: Option<u64>,
    mesh: QuicMesh,
}

/// The mesh, formed on demand.
pub struct MeshSlot {
    me: PartyId,
    identity: Identity,
    addr: SocketAddr,
    config: MeshConfig,
    peers: Vec<Peer>,
    mesh: Mutex<Option<Formed>>,
    /// The formation started at startup, stopped when the first job chooses an epoch.
    startup: std::sync::Mutex<Option<AbortHandle>>,
}

impl MeshSlot {
    /// A slot for party `me` of `peers`, listening on `addr`; nothing formed yet.
    pub fn new(
        me: PartyId,
        identity: Identity,
        addr: SocketAddr,
        config: MeshConfig,
        peers: Vec<Peer>,
    ) -> Self {
        MeshSlot {
            me,
            identity,
            addr,
            config,
            peers,
            mesh: Mutex::new(None),
            startup: std::sync::Mutex::new(None),
        }
    }

    /// Starts forming the mesh in the background, with no epoch yet: uploads do not need it,
    /// and the first job adopts it if it is whole by then.
    pub fn form_at_startup(self: &std::sync::Arc<Self>) {
        let slot = self.clone();
        let task = tokio::spawn(async move {
            let mut formed = slot.mesh.lock().await;
            match slot.form().await {
                Ok(mesh) => *formed = Some(Formed { epoch: None, mesh }),
                Err(e) => tracing::warn!(worker = slot.me.0, "{e} (formed again by the next job)"),
            }
        });
        *self.startup.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
    }

    /// Makes sure a whole mesh of `epoch` is in place (see the module doc).
    async fn ensure(
        &self,
        epoch: u64,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<Formed>>, MeshError> {
        // A job chooses the epoch now: a startup formation still waiting is stopped (dropping
        // it closes its endpoint, so the port is free for the epoch's own formation).
        self.stop_startup();
        let mut slot = self.mesh.lock().await;
        match slot.as_mut() {
            Some(f) if f.epoch == Some(epoch) => {
                let gone = f.mesh.departed();
                if !gone.is_empty() {
                    // Re-forming alone would wait for peers still on this mesh: fail now, and
                    // the coordinator moves every worker to a new epoch.
                    return Err(MeshError::Departed(gone));
                }
                return Ok(slot);
            }
            Some(f) if f.epoch.is_none() && f.mesh.departed().is_empty() => {
                f.epoch = Some(epoch);
                return Ok(slot);
            }
            _ => {}
        }
        if let Some(old) = slot.take() {
            tracing::info!(worker = self.me.0, epoch, "forming the mesh of a new epoch");
            old.mesh.shutdown().await;
        }
        let mesh = self.form().await?;
        tracing::info!(worker = self.me.0, epoch, "mesh formed");
        *slot = Some(Formed {
            epoch: Some(epoch),
            mesh,
        });
        Ok(slot)
    }

    /// Binds the mesh's port and forms the mesh (within [`MESH_WAIT`]).
    async fn form(&self) -> Result<QuicMesh, MeshError> {
        // One bound: the dials' own deadline is MESH_WAIT (the mesh's 60 s default would
        // outlast it), so a formation ends by failing cleanly, naming the party that did not
        // connect; the outer timeout only catches a bind that hangs, and dropping a formation
        // closes its endpoint too (mpc::quic).
        let mut config = self.config.clone();
        config.connect_timeout_ms = config.connect_timeout_ms.min(MESH_WAIT.as_millis() as u64);
        let form = async {
            // The old endpoint's socket may linger a moment (a stale session holds it).
            let mut tries = 0;
            let node = loop {
                match QuicNode::bind(self.identity.clone(), self.addr, config.clone()) {
                    Ok(node) => break node,
                    Err(e) if tries < 25 => {
                        tracing::debug!("mesh endpoint not bound yet: {e}");
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            node.connect(self.me, &self.peers).await
        };
        match tokio::time::timeout(MESH_WAIT + BIND_WAIT, form).await {
            Ok(Ok(mesh)) => Ok(mesh),
            Ok(Err(e)) => {
                tracing::warn!(worker = self.me.0, "mesh not formed: {e}");
                Err(MeshError::Forming(e))
            }
            Err(_) => Err(MeshError::FormingTimeout(MESH_WAIT + BIND_WAIT)),
        }
    }

    /// The parties that have left the current mesh (none when there is no mesh).
    pub async fn departed(&self) -> Vec<PartyId> {
        match self.mesh.lock().await.as_ref() {
            Some(f) => f.mesh.departed(),
            None => Vec::new(),
        }
    }

    /// Session `id` on a whole mesh of `epoch` (formed first if needed).
    pub async fn session(&self, epoch: u64, id: u64) -> Result<QuicNetwork, MeshError> {
        let slot = self.ensure(epoch).await?;
        let formed = slot.as_ref().ok_or(MeshError::Closed)?;
        Ok(formed.mesh.session(mpc::net::SessionId(id))?)
    }

    /// Stops the startup formation if it is still running.
    fn stop_startup(&self) {
        let startup = self
            .startup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(startup) = startup {
            startup.abort();
        }
    }

    /// Closes the mesh.
    pub async fn shutdown(&self) {
        self.stop_startup();
        if let Some(formed) = self.mesh.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), formed.mesh.shutdown()).await;
        }
    }
}
