//! Forming the mesh: one quinn endpoint per node ([`QuicNode`]), one connection per pair of
//! parties, the lower id dialing the higher ([`QuicMesh`]).
//!
//! The dialer retries with exponential backoff (20 ms doubling to 1 s, each attempt bounded)
//! while its peer starts, until the mesh's deadline; a refusal (wrong key, wrong hello) ends
//! the dial at once. The accepting side admits a connection only after TLS has pinned the
//! key to a roster party and the hello agrees with it; after the mesh is formed, it admits
//! none (a restarted node needs a new mesh) but keeps refusing and logging intruders.
//!
//! Closing: when the [`QuicMesh`] and all its sessions are dropped (or on
//! [`QuicMesh::shutdown`]), writers finish their streams, the node waits up to
//! [`MeshConfig::linger_ms`] for the peers to acknowledge the last frames, then closes the
//! endpoint, which every peer sees as [`crate::net::NetError::PeerGone`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, TransportErrorCode};
use quinn::{
    ConnectionError, Endpoint, IdleTimeout, ReadExactError, TransportConfig, VarInt, WriteError,
};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::frame::{ACK_LEN, HELLO_LEN, Hello, decode_ack, encode_ack};
use super::stream::{QuicNetwork, Registry, serve_connection};
use super::{MeshConfig, Peer, QuicError, tls};
use crate::identity::{Identity, PublicKey};
use crate::net::SessionId;
use crate::party::{MAX_PARTIES, PartyId};

/// Application close code: the node is closing.
const CLOSE_DONE: u32 = 0;
/// Application close code: the connection was refused after the handshake.
const CLOSE_REFUSED: u32 = 1;
/// Longest pause between two dials of one peer.
const MAX_BACKOFF: Duration = Duration::from_millis(1000);
/// Bound on one dial attempt (handshake and hello) at first; it doubles up to [`MAX_ATTEMPT`].
const FIRST_ATTEMPT: Duration = Duration::from_millis(2000);
const MAX_ATTEMPT: Duration = Duration::from_millis(8000);

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

/// The key a connection's peer proved during the handshake.
fn connection_key(conn: &Connection) -> Option<PublicKey> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    tls::peer_key(certs.first()?)
}

/// A node's endpoint, bound but not yet part of a mesh.
pub struct QuicNode {
    endpoint: Endpoint,
    identity: Identity,
    config: MeshConfig,
}

impl QuicNode {
    /// Opens the UDP socket at `addr` (port 0 for any). Must run inside a tokio runtime.
    /// Incoming connections are refused until [`QuicNode::connect`].
    pub fn bind(
        identity: Identity,
        addr: SocketAddr,
        config: MeshConfig,
    ) -> Result<QuicNode, QuicError> {
        config.validate()?;
        let endpoint = Endpoint::client(addr).map_err(|source| QuicError::Bind { addr, source })?;
        Ok(QuicNode {
            endpoint,
            identity,
            config,
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
        let transport = transport(&self.config)?;
        let others = roster
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me.index())
            .map(|(_, p)| p.key);
        let server_tls = QuicServerConfig::try_from(tls::server_config(&self.identity, others)?)
            .map_err(|e| QuicError::Tls(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(transport.clone());
        self.endpoint.set_server_config(Some(server));

        let deadline = Instant::now() + ms(self.config.connect_timeout_ms);
        let (admitted_tx, mut admitted) = mpsc::unbounded_channel();
        let admission = Arc::new(Admission {
            me,
            roster: roster.to_vec(),
            hello_timeout: FIRST_ATTEMPT,
        });
        let accept_task = runtime.spawn(accept_loop(self.endpoint.clone(), admission, admitted_tx));

        let mut dials = JoinSet::new();
        for peer in (me.0 + 1..n as u16).map(PartyId) {
            let target = roster[peer.index()];
            let tls = QuicClientConfig::try_from(tls::client_config(&self.identity, target.key)?)
                .map_err(|e| QuicError::Tls(e.to_string()))?;
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
            Err(e) => {
                accept_task.abort();
                self.endpoint
                    .close(VarInt::from_u32(CLOSE_REFUSED), b"mesh not formed");
                return Err(e);
            }
        };
        // From here on the accept loop admits nobody: `admitted` is dropped.
        drop(admitted);
        let registry = Arc::new(Registry::new(n, self.config.max_frame));
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

fn local_addr(endpoint: &Endpoint) -> Result<SocketAddr, QuicError> {
    endpoint
        .local_addr()
        .map_err(|e| QuicError::Config(format!("reading the endpoint's address: {e}")))
}

fn check_roster(identity: &Identity, me: PartyId, roster: &[Peer]) -> Result<(), QuicError> {
    let bad = |what: String| Err(QuicError::Roster(what));
    let n = roster.len();
    if !(2..=MAX_PARTIES).contains(&n) {
        return bad(format!("{n} parties; a mesh needs 2 to {MAX_PARTIES}"));
    }
    if me.index() >= n {
        return bad(format!("party {me} is not in a roster of {n}"));
    }
    if roster[me.index()].key != identity.public_key() {
        return bad(format!(
            "entry {me} holds key {}, not this node's {}",
            roster[me.index()].key.fingerprint(),
            identity.public_key().fingerprint()
        ));
    }
    for (i, p) in roster.iter().enumerate() {
        if let Some(j) = roster[..i].iter().position(|q| q.key == p.key) {
            return bad(format!(
                "parties {j} and {i} share key {}",
                p.key.fingerprint()
            ));
        }
    }
    Ok(())
}

/// Waits until every higher party is dialed and every lower party admitted.
async fn gather(
    me: PartyId,
    roster: &[Peer],
    dials: &mut JoinSet<Result<(PartyId, Connection), QuicError>>,
    admitted: &mut mpsc::UnboundedReceiver<(PartyId, Connection)>,
    deadline: Instant,
    timeout_ms: u64,
) -> Result<Vec<Option<Connection>>, QuicError> {
    let mut links: Vec<Option<Connection>> = vec![None; roster.len()];
    let complete = |links: &[Option<Connection>]| {
        links
            .iter()
            .enumerate()
            .all(|(i, l)| i == me.index() || l.is_some())
    };
    while !complete(&links) {
        tokio::select! {
            Some(joined) = dials.join_next(), if !dials.is_empty() => {
                let (peer, conn) = joined.map_err(|e| QuicError::Config(format!("a dial task failed: {e}")))??;
                links[peer.index()] = Some(conn);
            }
            Some((peer, conn)) = admitted.recv() => {
                // A dialer that timed out and retried may arrive twice: the latest hello wins.
                if let Some(old) = links[peer.index()].replace(conn) {
                    old.close(VarInt::from_u32(CLOSE_REFUSED), b"superseded by a newer connection");
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let peer = PartyId((0..roster.len()).find(|&i| i != me.index() && links[i].is_none()).unwrap_or(0) as u16);
                let target = roster[peer.index()];
                return Err(QuicError::Connect { peer, key: target.key.fingerprint(), addr: target.addr, reason: format!("party {peer} did not connect within {timeout_ms} ms") });
            }
        }
    }
    Ok(links)
}

/// What a dial attempt's failure means.
enum Failure {
    /// The peer may not be up yet.
    Retry(String),
    /// The peer answered and refused, or we refused it.
    Fatal(String),
}

fn classify(e: ConnectionError) -> Failure {
    match e {
        ConnectionError::TimedOut | ConnectionError::Reset => Failure::Retry(e.to_string()),
        ConnectionError::ConnectionClosed(ref close)
            if close.error_code == TransportErrorCode::CONNECTION_REFUSED =>
        {
            Failure::Retry(e.to_string())
        }
        other => Failure::Fatal(other.to_string()),
    }
}

async fn dial(
    endpoint: Endpoint,
    client: quinn::ClientConfig,
    hello: Hello,
    target: Peer,
    deadline: Instant,
) -> Result<(PartyId, Connection), QuicError> {
    let peer = hello.to;
    let mut backoff = Duration::from_millis(20);
    let mut attempt_limit = FIRST_ATTEMPT;
    let mut last = String::from("no attempt was made");
    while Instant::now() < deadline {
        let limit = attempt_limit.min(deadline - Instant::now());
        match tokio::time::timeout(limit, attempt(&endpoint, &client, hello, target.addr)).await {
            Ok(Ok(conn)) => return Ok((peer, conn)),
            Ok(Err(Failure::Fatal(reason))) => {
                tracing::warn!(%peer, addr = %target.addr, "dialing party {peer} refused: {reason}");
                return Err(QuicError::Refused {
                    peer,
                    key: target.key.fingerprint(),
                    reason,
                });
            }
            Ok(Err(Failure::Retry(reason))) => last = reason,
            Err(_) => last = format!("no answer within {} ms", limit.as_millis()),
        }
        tracing::debug!(%peer, "dialing party {peer} again: {last}");
        tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt_limit = (attempt_limit * 2).min(MAX_ATTEMPT);
    }
    Err(QuicError::Connect {
        peer,
        key: target.key.fingerprint(),
        addr: target.addr,
        reason: last,
    })
}

/// One dial: handshake, hello, ack.
async fn attempt(
    endpoint: &Endpoint,
    client: &quinn::ClientConfig,
    hello: Hello,
    addr: SocketAddr,
) -> Result<Connection, Failure> {
    let connecting = endpoint
        .connect_with(client.clone(), addr, tls::SERVER_NAME)
        .map_err(|e| Failure::Fatal(e.to_string()))?;
    let conn = connecting.await.map_err(classify)?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(classify)?;
    send.write_all(&hello.encode()).await.map_err(|e| match e {
        WriteError::ConnectionLost(e) => classify(e),
        other => Failure::Fatal(other.to_string()),
    })?;
    let _ = send.finish();
    let mut ack = [0u8; ACK_LEN];
    recv.read_exact(&mut ack).await.map_err(|e| match e {
        ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e)) => classify(e),
        other => Failure::Fatal(format!("reading the hello's answer: {other}")),
    })?;
    match decode_ack(&ack) {
        Ok(0) => Ok(conn),
        Ok(status) => Err(Failure::Fatal(format!(
            "the peer refused our hello (status {status})"
        ))),
        Err(e) => Err(Failure::Fatal(e.to_string())),
    }
}

/// What the accepting side checks.
struct Admission {
    me: PartyId,
    roster: Vec<Peer>,
    hello_timeout: Duration,
}

async fn accept_loop(
    endpoint: Endpoint,
    admission: Arc<Admission>,
    admitted: mpsc::UnboundedSender<(PartyId, Connection)>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let (admission, admitted) = (admission.clone(), admitted.clone());
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match admit(incoming, &admission).await {
                Ok((peer, conn)) => {
                    if admitted.send((peer, conn.clone())).is_err() {
                        tracing::warn!(%peer, %remote, "refused a connection from party {peer}: the mesh is already formed");
                        conn.close(VarInt::from_u32(CLOSE_REFUSED), b"mesh already formed");
                    }
                }
                // Key refusals were logged by the TLS verifier with the key's fingerprint.
                Err(reason) => tracing::info!(%remote, "refused an incoming connection: {reason}"),
            }
        });
    }
}

async fn admit(
    incoming: quinn::Incoming,
    admission: &Admission,
) -> Result<(PartyId, Connection), String> {
    let conn = incoming
        .await
        .map_err(|e| format!("handshake failed: {e}"))?;
    let key = connection_key(&conn).ok_or("the peer proved no Ed25519 key")?;
    let party = admission
        .roster
        .iter()
        .position(|p| p.key == key)
        .map(|i| PartyId(i as u16))
        .ok_or("key not in the roster")?;
    let exchange = async {
        let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let mut bytes = [0u8; HELLO_LEN];
        recv.read_exact(&mut bytes)
            .await
            .map_err(|e| format!("reading the hello: {e}"))?;
        let hello = Hello::decode(&bytes).map_err(|e| e.to_string())?;
        let (me, n) = (admission.me, admission.roster.len());
        let verdict = if hello.from != party {
            Err(format!(
                "the key of party {party} claims to be party {}",
                hello.from
            ))
        } else if hello.to != me || hello.parties as usize != n {
            Err(format!(
                "party {party} dialed party {} of {} parties, this is party {me} of {n}",
                hello.to, hello.parties
            ))
        } else if party >= me {
            Err(format!(
                "party {party} dialed a lower party; the lower id dials"
            ))
        } else {
            Ok(())
        };
        send.write_all(&encode_ack(if verdict.is_ok() { 0 } else { 1 }))
            .await
            .map_err(|e| e.to_string())?;
        let _ = send.finish();
        verdict
    };
    let outcome = match tokio::time::timeout(admission.hello_timeout, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "party {party} sent no hello within {} ms",
            admission.hello_timeout.as_millis()
        )),
    };
    match outcome {
        Ok(()) => Ok((party, conn)),
        Err(reason) => {
            conn.close(VarInt::from_u32(CLOSE_REFUSED), reason.as_bytes());
            Err(reason)
        }
    }
}

/// A node's place in a formed mesh, shared by the mesh handle and its sessions.
pub(super) struct MeshInner {
    pub(super) me: PartyId,
    roster: Vec<Peer>,
    pub(super) links: Vec<Option<Connection>>,
    pub(super) registry: Arc<Registry>,
    pub(super) config: MeshConfig,
    pub(super) runtime: tokio::runtime::Handle,
    /// Cloned into every writer task; closed when the last one ends.
    drain: Mutex<Option<mpsc::Sender<()>>>,
    drained: Mutex<Option<mpsc::Receiver<()>>>,
    endpoint: Endpoint,
    accept_task: JoinHandle<()>,
}

impl MeshInner {
    pub(super) fn drain_guard(&self) -> Option<mpsc::Sender<()>> {
        self.drain.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops new writers and returns what finishes closing: wait for the writers (up to the
    /// linger time), then close the endpoint.
    fn begin_close(&self) -> impl Future<Output = ()> + Send + 'static {
        drop(self.drain.lock().unwrap_or_else(|e| e.into_inner()).take());
        let drained = self
            .drained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let (endpoint, linger) = (self.endpoint.clone(), ms(self.config.linger_ms));
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
