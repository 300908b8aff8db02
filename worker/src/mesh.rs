//! The worker's place in the QUIC mesh of workers, formed at startup and formed again when it
//! breaks: a peer that crashed and restarted cannot rejoin a formed mesh (a mesh admits no one
//! after forming), so before a job the worker checks every link and, if a peer has departed,
//! closes its mesh and forms a new one. The other workers do the same on the same job request,
//! so they meet again; a job that starts while a peer's departure is not yet noticed fails
//! naming it, and the next one runs on the new mesh.

use std::net::SocketAddr;
use std::time::Duration;

use mpc::PartyId;
use mpc::identity::Identity;
use mpc::quic::{MeshConfig, Peer, QuicMesh, QuicNetwork, QuicNode};
use tokio::sync::Mutex;

/// The bound on forming the mesh before a job (the dials' deadline).
pub const MESH_WAIT: Duration = Duration::from_secs(30);
/// How long binding the mesh's port may be retried while a closed endpoint releases it.
const BIND_WAIT: Duration = Duration::from_secs(5);

/// The mesh, formed on demand.
pub struct MeshSlot {
    me: PartyId,
    identity: Identity,
    addr: SocketAddr,
    config: MeshConfig,
    peers: Vec<Peer>,
    mesh: Mutex<Option<QuicMesh>>,
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
        }
    }

    /// Forms the mesh unless a whole one is in place (within [`MESH_WAIT`]).
    pub async fn ensure(&self) -> Result<(), String> {
        let mut slot = self.mesh.lock().await;
        if let Some(mesh) = slot.as_ref() {
            let gone = mesh.departed();
            if gone.is_empty() {
                return Ok(());
            }
            tracing::info!(worker = self.me.0, departed = ?gone, "mesh broken: forming it again");
            if let Some(old) = slot.take() {
                old.shutdown().await;
            }
        }
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
                    Err(e) => return Err(e.to_string()),
                }
            };
            node.connect(self.me, &self.peers)
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(MESH_WAIT + BIND_WAIT, form).await {
            Ok(Ok(mesh)) => {
                tracing::info!(worker = self.me.0, "mesh formed");
                *slot = Some(mesh);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(worker = self.me.0, "mesh not formed: {e}");
                Err(format!(
                    "the mesh with the other workers is not formed: {e}"
                ))
            }
            Err(_) => Err(format!(
                "the mesh with the other workers is not formed after {} s",
                (MESH_WAIT + BIND_WAIT).as_secs()
            )),
        }
    }

    /// Session `id` on a whole mesh (formed first if needed).
    pub async fn session(&self, id: u64) -> Result<QuicNetwork, String> {
        self.ensure().await?;
        let slot = self.mesh.lock().await;
        let mesh = slot.as_ref().ok_or("the mesh closed")?;
        mesh.session(mpc::net::SessionId(id))
            .map_err(|e| e.to_string())
    }

    /// Closes the mesh.
    pub async fn shutdown(&self) {
        if let Some(mesh) = self.mesh.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), mesh.shutdown()).await;
        }
    }
}
