//! A node's endpoint ([`QuicNode`]) and its place in a formed mesh ([`QuicMesh`]): the
//! transport settings, the connections (formed in [`super::connect`]) and closing.
//!
//! Closing: when the [`QuicMesh`] and all its sessions are dropped (or on
//! [`QuicMesh::shutdown`]), writers finish their streams, the node waits up to
//! [`MeshConfig::linger_ms`] for the peers to acknowledge the last frames, then closes the
//! endpoint, which every peer sees as [`crate::net::NetError::PeerGone`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Endpoint, IdleTimeout, TransportConfig, VarInt};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::connect::{Admission, CLOSE_REFUSED, accept_loop, check_roster, dial, gather};
use super::frame::{Hello, Limits};
use super::links::MeshInner;
use super::session::QuicNetwork;
use super::stream::{Registry, serve_connection};
use super::{MeshConfig, Peer, QuicError, tls};
use crate::identity::{Identity, PublicKey};
use crate::net::SessionId;
use crate::party::PartyId;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn transport(config: &MeshConfig) -> Result<Arc<TransportConfig>, QuicError> {
    let idle = IdleTimeout::try_from(ms(config.idle_timeout_ms))
        .map_err(|e| QuicError::Config(format!("idle_timeout_ms: {e}")))?;
    let mut t = TransportConfig::default();
    t.stream_receive_window(VarInt::from_u32(config.stream_window))
        .receive_window(VarInt::from_u32(config.connection_window))
        .send_window(config.connection_window as u64)
        .max_concurrent_uni_streams(VarInt::from_u32(config.max_sessions))
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .keep_alive_interval(Some(ms(config.keep_alive_ms)))
        .max_idle_timeout(Some(idle));
    Ok(Arc::new(t))
}

/// The endpoint's settings, with the stateless-reset key and the connection-ID key derived
/// from the node's identity instead of drawn at random (RFC 9000 §10.3.2 allows a static reset
/// key). A node that crashed and restarted then recognises the connection IDs it issued before
/// (quinn drops packets whose ID does not validate) and answers them with resets its peers
/// accept, so they see the departure within a keep-alive interval and form the mesh again
/// before the next session, rather than sending into a dead connection until the idle timeout.
///
/// `purpose` separates the keys of a node's endpoints (`"quic"` for the mesh; the control
/// plane uses its own).
pub fn endpoint_config(identity: &Identity, purpose: &str) -> quinn::EndpointConfig {
    let reset = identity.derive_key(&format!("{purpose} stateless reset"));
    let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &reset[..],
    )));
    let cids = identity.derive_key(&format!("{purpose} connection ids"));
    let cid_key = u64::from_le_bytes(cids[..8].try_into().expect("8 bytes"));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    config
}

/// A node's endpoint, bound but not yet part of a mesh.
pub struct QuicNode {
    endpoint: Endpoint,
    identity: Identity,
    config: MeshConfig,
    transport: Arc<TransportConfig>,
    /// The roster's keys, set by [`QuicNode::connect`]: the TLS server checks clients against
    /// them.
    allowed: tls::AllowedKeys,
}

impl QuicNode {
    /// Opens the UDP socket at `addr` (port 0 for any). Must run inside a tokio runtime.
    /// Incoming connections wait, unanswered, until [`QuicNode::connect`] sets the roster.
    pub fn bind(
        identity: Identity,
        addr: SocketAddr,
        config: MeshConfig,
    ) -> Result<QuicNode, QuicError> {
        config.validate()?;
        let transport = transport(&config)?;
        let allowed = tls::AllowedKeys::default();
        let server_tls =
            QuicServerConfig::try_from(tls::deferred_server_config(&identity, allowed.clone())?)
                .map_err(tls::TlsError::from)?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(transport.clone());
        // Serving from the start: a peer that dials before `connect` waits in quinn's queue of
        // incoming connections (nobody accepts them yet) instead of being refused.
        let socket =
            std::net::UdpSocket::bind(addr).map_err(|source| QuicError::Bind { addr, source })?;
        let runtime = quinn::default_runtime()
            .ok_or_else(|| QuicError::Config("no async runtime (tokio) is running".into()))?;
        let endpoint = Endpoint::new(
            endpoint_config(&identity, "quic"),
            Some(server),
            socket,
            runtime,
        )
        .map_err(|source| QuicError::Bind { addr, source })?;
        Ok(QuicNode {
            endpoint,
            identity,
            config,
            transport,
            allowed,
        })
    }

    /// The bound address, with the port the OS chose.
    pub fn local_addr(&self) -> Result<SocketAddr, QuicError> {
        local_addr(&self.endpoint)
    }

    /// This node's public key.
    pub fn public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// Joins the mesh of `roster` as party `me`: dials every higher party, admits every lower
    /// one, and returns once all `n - 1` connections are up, or fails naming the first party
    /// that could not be reached within [`MeshConfig::connect_timeout_ms`].
    pub async fn connect(self, me: PartyId, roster: &[Peer]) -> Result<QuicMesh, QuicError> {
        let n = roster.len();
        check_roster(&self.identity, me, roster)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| QuicError::Config("connect must run inside a tokio runtime".into()))?;
        let transport = self.transport.clone();
        let others = roster
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me.index())
            .map(|(_, p)| p.key);
        if self.allowed.set(others.collect()).is_err() {
            return Err(QuicError::Config(
                "the node's roster was already set".into(),
            ));
        }

        let deadline = Instant::now() + ms(self.config.connect_timeout_ms);
        let (admitted_tx, mut admitted) = mpsc::unbounded_channel();
        let admission = Arc::new(Admission {
            me,
            roster: roster.to_vec(),
            formed: Default::default(),
        });
        // Until the mesh is formed, the guard owns the accept loop and the endpoint: a formation
        // that fails, or whose caller gives up (drops this future), stops the loop and closes
        // the endpoint, so the port is free for the next attempt (issue 20: a stray accept loop
        // kept it bound and every later formation failed with "Address already in use").
        let mut forming = Forming {
            accept: Some(runtime.spawn(accept_loop(
                self.endpoint.clone(),
                admission.clone(),
                admitted_tx,
            ))),
            endpoint: self.endpoint.clone(),
        };

        let mut dials = JoinSet::new();
        for peer in (me.0 + 1..n as u16).map(PartyId) {
            let target = roster[peer.index()];
            let tls = QuicClientConfig::try_from(tls::client_config(&self.identity, target.key)?)
                .map_err(tls::TlsError::from)?;
            let mut client = quinn::ClientConfig::new(Arc::new(tls));
            client.transport_config(transport.clone());
            let hello = Hello {
                from: me,
                to: peer,
                parties: n as u16,
            };
            dials.spawn(dial(self.endpoint.clone(), client, hello, target, deadline));
        }

        let links = match gather(
            me,
            roster,
            &mut dials,
            &mut admitted,
            deadline,
            self.config.connect_timeout_ms,
        )
        .await
        {
            Ok(links) => links,
            // The guard stops the accept loop and closes the endpoint.
            Err(e) => return Err(e),
        };
        let accept_task = forming.accept.take().expect("taken only here");
        // From here on the accept loop admits nobody: `admitted` is dropped.
        let _ = admission.formed.set(links.clone());
        drop(admitted);
        let limits = Limits {
            max_frame: self.config.max_frame,
            max_round_bytes: self.config.max_round_bytes,
        };
        let registry = Arc::new(Registry::new(n, limits));
        for (p, link) in links.iter().enumerate() {
            if let Some(conn) = link {
                runtime.spawn(serve_connection(
                    registry.clone(),
                    PartyId(p as u16),
                    conn.clone(),
                ));
            }
        }
        let (drain, drained) = mpsc::channel(1);
        tracing::debug!(%me, parties = n, "mesh formed");
        Ok(QuicMesh {
            inner: Arc::new(MeshInner {
                me,
                roster: roster.to_vec(),
                links,
                registry,
                config: self.config,
                runtime,
                drain: Mutex::new(Some(drain)),
                drained: Mutex::new(Some(drained)),
                endpoint: self.endpoint,
                accept_task,
            }),
        })
    }
}

/// A formation in progress: dropped before the mesh is formed, it stops the accept loop and
/// closes the endpoint (the dial tasks stop with their `JoinSet`).
struct Forming {
    accept: Option<JoinHandle<()>>,
    endpoint: Endpoint,
}

impl Drop for Forming {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            self.endpoint
                .close(VarInt::from_u32(CLOSE_REFUSED), b"mesh not formed");
        }
    }
}

fn local_addr(endpoint: &Endpoint) -> Result<SocketAddr, QuicError> {
    endpoint.local_addr().map_err(QuicError::LocalAddr)
}

/// A node's connections to every other party of its roster. Sessions share them.
pub struct QuicMesh {
    inner: Arc<MeshInner>,
}

impl QuicMesh {
    /// This node's party id.
    pub fn me(&self) -> PartyId {
        self.inner.me
    }

    /// Parties in the mesh.
    pub fn parties(&self) -> usize {
        self.inner.roster.len()
    }

    /// The roster the mesh was formed from.
    pub fn roster(&self) -> &[Peer] {
        &self.inner.roster
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> Result<SocketAddr, QuicError> {
        local_addr(&self.inner.endpoint)
    }

    /// The parties whose connection has closed (a peer that crashed, restarted or left):
    /// a mesh with any is broken for good, and the node should form a new one.
    pub fn departed(&self) -> Vec<PartyId> {
        self.inner
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.as_ref().is_some_and(|c| c.close_reason().is_some()))
            .map(|(p, _)| PartyId(p as u16))
            .collect()
    }

    /// This node's endpoint of session `id`. Each id may be opened once per mesh; all parties
    /// open the same id to talk in it. Frames that arrived for it earlier are waiting.
    pub fn session(&self, id: SessionId) -> Result<QuicNetwork, QuicError> {
        QuicNetwork::open(self.inner.clone(), id)
    }

    /// Closes the node now: writers get up to the linger time to deliver what they hold, then
    /// every connection closes (sessions still open fail with `PeerGone`). Dropping the mesh
    /// and all its sessions does the same in the background.
    pub async fn shutdown(self) {
        self.inner.accept_task.abort();
        self.inner.begin_close().await;
        let _ = tokio::time::timeout(
            ms(self.inner.config.linger_ms),
            self.inner.endpoint.wait_idle(),
        )
        .await;
    }
}
