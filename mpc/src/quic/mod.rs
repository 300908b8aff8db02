//! The QUIC transport: a mesh of mutually authenticated connections between the parties of a
//! roster, carrying any number of sessions, each seen by protocol code as a
//! [`crate::net::Network`].
//!
//! How it fits together:
//!
//! 1. [`QuicNode::bind`] opens one quinn endpoint (one UDP socket) for a node's identity; it
//!    serves from then on, but peers that dial early wait until the roster is known.
//! 2. [`QuicNode::connect`] forms the mesh from the roster (a [`Peer`] per party: key and
//!    address, party `i` at index `i`). **The lower id dials the higher one**, so each pair has
//!    exactly one connection and no tie-breaking is needed; a dial that fails while the peer
//!    starts is retried with backoff, within [`MeshConfig::connect_timeout_ms`]. TLS pins keys
//!    ([`tls`]): the dialer accepts only the key it expects, the accepting side any roster key,
//!    then a hello on the first stream ([`frame::Hello`]) makes both ends agree on party ids
//!    and the roster size. A connection from a key outside the roster fails the handshake, is
//!    logged, and changes nothing for the mesh.
//! 3. [`QuicMesh::session`] gives a [`QuicNetwork`] for a [`SessionId`]. Per session and
//!    ordered pair of parties, the sender opens one unidirectional stream on its first message
//!    and writes each round's payload as frames ([`frame`]: a 33-byte header, then at most
//!    [`MeshConfig::max_chunk`] bytes, the chunks of one payload back to back); the receiver
//!    routes the stream by the session id of its first frame, so frames that arrive before
//!    the local session is opened wait for it.
//!
//! A payload may be of any size up to [`MeshConfig::max_round_bytes`]: the engine sends one
//! payload per (peer, round), whatever the frames, and receives it whole. Sending never
//! waits: a writer task per (session, peer) owns the stream, drains an unbounded queue and
//! writes each payload's chunks as slices of it (no copy). A reader task per incoming stream
//! checks each header (version, session, frame length against [`MeshConfig::max_frame`], the
//! round's total against [`MeshConfig::max_round_bytes`], the chunk's place in its payload)
//! before reading what follows, then reassembles the payload as its bytes arrive: the buffer
//! grows with the bytes received (to at most twice them, and never past the announced
//! total), so a peer's announced length allocates nothing by itself. Receiving waits on a
//! queue with a deadline ([`MeshConfig::recv_timeout_ms`]). Every error names the peer: a
//! closed or lost connection is [`crate::net::NetError::PeerGone`], a frame or a round over
//! the limit [`crate::net::NetError::Oversize`], anything malformed (a chunk out of
//! sequence, another round inside a payload) [`crate::net::NetError::Transport`]. Such a
//! refusal stops that one stream: the peer's other sessions and the node go on.
//!
//! Not done here: reconnecting (a node that restarts needs a new mesh), membership changes,
//! and anything about what the frames mean.

mod connect;
pub mod frame;
mod links;
mod mesh;
mod session;
mod stream;
pub mod tls;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::identity::PublicKey;
use crate::net::SessionId;
use crate::party::PartyId;

pub use mesh::{QuicMesh, QuicNode, endpoint_config};
pub use session::QuicNetwork;

/// Why forming or using the mesh failed. Each variant names the party, address or session.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The UDP socket could not be opened.
    #[error("binding a QUIC endpoint to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Certificates or TLS configuration could not be built.
    #[error("TLS setup: {0}")]
    Tls(#[from] tls::TlsError),
    /// The roster does not describe a mesh this node can join.
    #[error("roster: {0}")]
    Roster(String),
    /// A configuration value is out of range.
    #[error("QUIC configuration: {0}")]
    Config(String),
    /// A task of the mesh (a dial, a session's link) panicked or was cancelled.
    #[error("a {what} task failed: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// tokio's report.
        source: tokio::task::JoinError,
    },
    /// The endpoint's local address could not be read.
    #[error("reading the endpoint's address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// A peer could not be reached in time.
    #[error("connecting party {peer} (key {key}) at {addr}: {reason}")]
    Connect {
        /// The party.
        peer: PartyId,
        /// Its key's fingerprint.
        key: String,
        /// Its address.
        addr: SocketAddr,
        /// The last failure.
        reason: String,
    },
    /// A peer answered but the connection was refused (by it or by us): wrong key, wrong
    /// roster, wrong version.
    #[error("connection with party {peer} (key {key}) refused: {reason}")]
    Refused {
        /// The party.
        peer: PartyId,
        /// Its key's fingerprint.
        key: String,
        /// Why.
        reason: String,
    },
    /// A session id is already open on this mesh, or was used before.
    #[error("session {} is already open or was used before on this mesh", .0.0)]
    SessionInUse(SessionId),
}

/// A mesh member: its identity and where it listens. Party `i` is the roster's entry `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The party's public key, pinned in TLS.
    pub key: PublicKey,
    /// Its UDP address.
    pub addr: SocketAddr,
}

/// Transport settings, tuned for bulk share traffic. Every field has a default (below).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshConfig {
    /// Largest frame (chunk) payload accepted from a peer, in bytes: a bound checked on each
    /// frame header, independent of the chunk size the peer chose. Default 256 MiB; at least
    /// `max_chunk`, at most `u32::MAX`.
    pub max_frame: usize,
    /// Size of the chunks a round's payload is cut into when sent: each is one frame, written
    /// back to back with the others on the session's stream. Small enough that no frame nears
    /// a peer's `max_frame`, large enough that the 33-byte headers cost nothing. Default
    /// 4 MiB; positive, at most `max_frame`.
    pub max_chunk: usize,
    /// Largest payload of one round (one message, all its chunks) sent to or accepted from a
    /// peer, in bytes. A receiver refuses a payload whose first header announces more before
    /// it buffers any of it, so this bounds what one session's stream from one peer can make
    /// this node hold. Default 4 GiB (a statistics median over 100 000 rows sends about
    /// 317 MB to each peer in one round).
    pub max_round_bytes: u64,
    /// How long a receive waits before reporting the peer as silent. Default 120 000 ms.
    pub recv_timeout_ms: u64,
    /// Deadline for forming the whole mesh, retries included. Default 60 000 ms.
    pub connect_timeout_ms: u64,
    /// A connection with no traffic (keep-alives included) for this long is lost: how soon a
    /// peer that died (and did not restart) is noticed. Default 8 000 ms (eight keep-alives).
    pub idle_timeout_ms: u64,
    /// Keep-alive interval. Default 1 000 ms.
    pub keep_alive_ms: u64,
    /// Receive window of one stream (one session's traffic from one peer). Default 64 MiB.
    pub stream_window: u32,
    /// Receive window of a connection, and the send window. Default 256 MiB.
    pub connection_window: u32,
    /// Sessions one peer may have streaming to us at once. Default 1024.
    pub max_sessions: u32,
    /// How long a closing node waits for its last frames to be acknowledged before it closes
    /// its connections. Default 5 000 ms.
    pub linger_ms: u64,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            max_frame: 256 << 20,
            max_chunk: 4 << 20,
            max_round_bytes: 4 << 30,
            recv_timeout_ms: 120_000,
            connect_timeout_ms: 60_000,
            idle_timeout_ms: 8_000,
            keep_alive_ms: 1_000,
            stream_window: 64 << 20,
            connection_window: 256 << 20,
            max_sessions: 1024,
            linger_ms: 5_000,
        }
    }
}

impl MeshConfig {
    fn validate(&self) -> Result<(), QuicError> {
        let bad = |what: &str| Err(QuicError::Config(what.to_owned()));
        if self.max_frame > u32::MAX as usize {
            return bad("max_frame must fit in 32 bits");
        }
        if self.max_chunk == 0 || self.max_chunk > self.max_frame {
            return bad("max_chunk must be positive and at most max_frame");
        }
        if self.recv_timeout_ms == 0 || self.connect_timeout_ms == 0 || self.idle_timeout_ms == 0 {
            return bad("timeouts must be positive");
        }
        if self.keep_alive_ms == 0 || self.keep_alive_ms >= self.idle_timeout_ms {
            return bad("keep_alive_ms must be positive and below idle_timeout_ms");
        }
        if self.stream_window == 0 || self.connection_window < self.stream_window {
            return bad("windows must be positive, the connection's at least the stream's");
        }
        if self.max_sessions == 0 {
            return bad("max_sessions must be positive");
        }
        Ok(())
    }
}

/// `configs.len()` nodes on 127.0.0.1 with fresh keys and ephemeral ports, connected into a
/// mesh (node `i` with `configs[i]`). For tests and examples.
#[cfg(any(test, feature = "test-utils"))]
pub async fn local_meshes(configs: &[MeshConfig]) -> Result<Vec<QuicMesh>, QuicError> {
    let mut rng = rand::rng();
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut nodes = Vec::with_capacity(configs.len());
    let mut roster = Vec::with_capacity(configs.len());
    for config in configs {
        let node = QuicNode::bind(
            crate::identity::Identity::generate(&mut rng),
            local,
            config.clone(),
        )?;
        roster.push(Peer {
            key: node.public_key(),
            addr: node.local_addr()?,
        });
        nodes.push(node);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, node) in nodes.into_iter().enumerate() {
        let roster = roster.clone();
        tasks.spawn(async move { (i, node.connect(PartyId(i as u16), &roster).await) });
    }
    let mut meshes: Vec<Option<QuicMesh>> = (0..configs.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, mesh) = joined.map_err(|source| QuicError::Task {
            what: "mesh",
            source,
        })?;
        meshes[i] = Some(mesh?);
    }
    Ok(meshes.into_iter().flatten().collect())
}

/// `n` connected nodes on 127.0.0.1 with default settings, each as its endpoint of session 0.
/// Each network keeps its node alive; dropping it closes the node.
#[cfg(any(test, feature = "test-utils"))]
pub async fn local_mesh(n: usize) -> Result<Vec<QuicNetwork>, QuicError> {
    let meshes = local_meshes(&vec![MeshConfig::default(); n]).await?;
    meshes.iter().map(|m| m.session(SessionId(0))).collect()
}
