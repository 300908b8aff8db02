//! A formed mesh's shared state, [`MeshInner`]: the connections, the routing registry and
//! the closing machinery, held by the [`super::QuicMesh`] handle and by every session
//! ([`super::QuicNetwork`]) so that the mesh lives as long as any of them. Forming the mesh
//! is [`super::mesh`]; this module sits below both it and the sessions.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::{Connection, Endpoint, VarInt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::stream::Registry;
use super::{MeshConfig, Peer};
use crate::party::PartyId;

/// Application close code: the node is closing.
const CLOSE_DONE: u32 = 0;

/// A node's place in a formed mesh, shared by the mesh handle and its sessions.
pub(super) struct MeshInner {
    pub(super) me: PartyId,
    pub(super) roster: Vec<Peer>,
    pub(super) links: Vec<Option<Connection>>,
    pub(super) registry: Arc<Registry>,
    pub(super) config: MeshConfig,
    pub(super) runtime: tokio::runtime::Handle,
    /// Cloned into every writer task; closed when the last one ends.
    pub(super) drain: Mutex<Option<mpsc::Sender<()>>>,
    pub(super) drained: Mutex<Option<mpsc::Receiver<()>>>,
    pub(super) endpoint: Endpoint,
    pub(super) accept_task: JoinHandle<()>,
}

impl MeshInner {
    pub(super) fn drain_guard(&self) -> Option<mpsc::Sender<()>> {
        self.drain.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops new writers and returns what finishes closing: wait for the writers (up to the
    /// linger time), then close the endpoint.
    pub(super) fn begin_close(&self) -> impl Future<Output = ()> + Send + 'static {
        drop(self.drain.lock().unwrap_or_else(|e| e.into_inner()).take());
        let drained = self
            .drained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let (endpoint, linger) = (
            self.endpoint.clone(),
            Duration::from_millis(self.config.linger_ms),
        );
        async move {
            if let Some(mut drained) = drained {
                let _ = tokio::time::timeout(linger, drained.recv()).await;
            }
            endpoint.close(VarInt::from_u32(CLOSE_DONE), b"node closed");
        }
    }
}

impl Drop for MeshInner {
    fn drop(&mut self) {
        self.accept_task.abort();
        let closing = self.begin_close();
        self.runtime.spawn(closing);
    }
}
