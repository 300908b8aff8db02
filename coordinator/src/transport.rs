//! The control plane on QUIC: a server endpoint that accepts only keys it is told about, a
//! client that accepts only the server key it expects, and one [`Request`]/[`Response`] per
//! bidirectional stream. The TLS (self-signed certificates pinned to Ed25519 keys, TLS 1.3,
//! mutual authentication) is the mesh's, under another ALPN so a control connection can never
//! be mistaken for a mesh one.
//!
//! Every wait has a bound: connecting, and each call, time out with an error naming the peer.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mpc::identity::{Identity, PublicKey};
use mpc::quic::tls::{self, TlsError};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, TransportConfig, VarInt};

use crate::api::{FrameError, Request, Response, read_frame, write_frame};

/// The control plane's ALPN.
pub const API_ALPN: &[u8] = b"quorate-api/1";
/// How long connecting may take: a handshake on a live peer takes milliseconds, and quinn
/// retransmits its first packets within this bound (a peer still binding its port is
/// reached); a dead peer is named after it (issue 20: a job sent to a dead worker fails within
/// a few seconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Keep-alive interval on control connections: a call may wait long (a job), the connection
/// under it stays alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// A control connection silent this long (three keep-alives missed) is lost: the peer died,
/// and a call waiting on it fails naming the peer instead of waiting out its own bound (issue
/// 20). A peer that restarted resets its stale connections at once instead ([`server_endpoint`]).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call may take (an upload chunk of a few MiB, a commit with fsync).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Control-plane failures; each names the peer (or, setting up, the address).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TLS configuration could not be built.
    #[error("control endpoint: TLS setup: {0}")]
    Tls(#[from] TlsError),
    /// The UDP socket could not be bound, or the endpoint on it started.
    #[error("control endpoint: binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// No tokio runtime is running to drive the endpoint.
    #[error("control endpoint: no async runtime (tokio) is running")]
    NoRuntime,
    /// The peer could not be reached or refused the handshake.
    #[error("cannot reach {peer} at {addr}: {reason}")]
    Connect {
        /// Who.
        peer: String,
        /// Where.
        addr: SocketAddr,
        /// Why.
        reason: Failure,
    },
    /// A call failed on the way.
    #[error("{peer}: {reason}")]
    Call {
        /// Who.
        peer: String,
        /// Why.
        reason: Failure,
    },
}

/// Why connecting to a peer, or one call to it, failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// quinn refused to start the connection (an address or configuration it cannot use).
    #[error("{0}")]
    Start(#[from] quinn::ConnectError),
    /// The connection failed or was closed (handshake refused, peer gone, idle timeout).
    #[error("{0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing the raw request failed.
    #[error("{0}")]
    Write(#[from] std::io::Error),
    /// The request or the answer did not frame.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// No answer within the bound.
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

fn transport() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.stream_receive_window(VarInt::from_u32(16 << 20))
        .receive_window(VarInt::from_u32(64 << 20))
        .send_window(64 << 20)
        .max_concurrent_bidi_streams(VarInt::from_u32(64))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(
            IDLE_TIMEOUT
                .try_into()
                .expect("3 s is a valid idle timeout"),
        ));
    Arc::new(t)
}

/// A server configuration presenting `identity` and accepting the clients in `allowed`.
pub fn server_config(
    identity: &Identity,
    allowed: &HashSet<PublicKey>,
) -> Result<quinn::ServerConfig, TransportError> {
    let mut tls = tls::server_config(identity, allowed.iter().copied())?;
    tls.alpn_protocols = vec![API_ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(TlsError::from)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(transport());
    Ok(server)
}

/// A control-plane server endpoint on `addr`. Its stateless-reset and connection-ID keys are
/// derived from `identity` ([`mpc::quic::endpoint_config`]), so a node that crashed and
/// restarted on the same address answers its predecessor's connections with resets their
/// peers accept: a coordinator waiting on a restarted worker hears of it within a keep-alive,
/// not after the idle timeout.
pub fn server_endpoint(
    identity: &Identity,
    addr: SocketAddr,
    allowed: &HashSet<PublicKey>,
) -> Result<Endpoint, TransportError> {
    let setup = |source| TransportError::Bind { addr, source };
    let socket = std::net::UdpSocket::bind(addr).map_err(setup)?;
    let runtime = quinn::default_runtime().ok_or(TransportError::NoRuntime)?;
    let config = mpc::quic::endpoint_config(identity, "control quic");
    Endpoint::new(
        config,
        Some(server_config(identity, allowed)?),
        socket,
        runtime,
    )
    .map_err(setup)
}

/// The key the peer of an established connection authenticated with.
pub fn peer_key(conn: &Connection) -> Option<PublicKey> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    tls::peer_key(certs.first()?)
}

/// Serves one connection: each bidirectional stream carries one request, answered by
/// `handle`. Malformed frames are answered with an error and the connection keeps serving.
pub async fn serve_connection<H, F>(conn: Connection, handle: H)
where
    H: Fn(Request) -> F + Clone + Send + 'static,
    F: Future<Output = Response> + Send,
{
    loop {
        let (mut send, mut recv) = match conn.accept_bi().await {
            Ok(streams) => streams,
            Err(_) => return, // closed by the peer or by us
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let response =
                match tokio::time::timeout(CALL_TIMEOUT, read_frame::<Request, _>(&mut recv)).await
                {
                    Ok(Ok(request)) => handle(request).await,
                    Ok(Err(e)) => Response::error(crate::api::ErrorKind::BadRequest, e.to_string()),
                    Err(_) => Response::error(
                        crate::api::ErrorKind::BadRequest,
                        "request not received in time",
                    ),
                };
            if write_frame(&mut send, &response).await.is_ok() {
                let _ = send.finish();
                // Keep the stream until the peer has read the answer (or gives up).
                let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
            }
        });
    }
}

/// A client connection to one control-plane server.
pub struct ApiClient {
    endpoint: Endpoint,
    conn: Connection,
    peer: String,
}

impl ApiClient {
    /// Connects as `identity` to the server at `addr` that must hold `key`; `peer` names it in
    /// errors (e.g. "worker 2").
    pub async fn connect(
        identity: &Identity,
        addr: SocketAddr,
        key: PublicKey,
        peer: &str,
    ) -> Result<Self, TransportError> {
        let fail = |reason: Failure| TransportError::Connect {
            peer: peer.to_string(),
            addr,
            reason,
        };
        let mut tls = tls::client_config(identity, key)?;
        tls.alpn_protocols = vec![API_ALPN.to_vec()];
        let crypto = QuicClientConfig::try_from(tls).map_err(TlsError::from)?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(transport());
        let bind: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let mut endpoint =
            Endpoint::client(bind).map_err(|source| TransportError::Bind { addr: bind, source })?;
        endpoint.set_default_client_config(client);
        let connecting = endpoint
            .connect(addr, "quorate")
            .map_err(|e| fail(e.into()))?;
        let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(fail(e.into())),
            Err(_) => return Err(fail(Failure::Timeout(CONNECT_TIMEOUT))),
        };
        Ok(ApiClient {
            endpoint,
            conn,
            peer: peer.to_string(),
        })
    }

    /// Who this client talks to.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// One request, one response, within [`CALL_TIMEOUT`].
    pub async fn call(&self, request: &Request) -> Result<Response, TransportError> {
        self.call_within(request, CALL_TIMEOUT).await
    }

    /// One request, one response, within `limit` (a job runs longer than a listing).
    pub async fn call_within(
        &self,
        request: &Request,
        limit: Duration,
    ) -> Result<Response, TransportError> {
        let fail = |reason: Failure| TransportError::Call {
            peer: self.peer.clone(),
            reason,
        };
        let exchange = async {
            let (mut send, mut recv) = self.conn.open_bi().await.map_err(|e| fail(e.into()))?;
            write_frame(&mut send, request)
                .await
                .map_err(|e| fail(e.into()))?;
            let _ = send.finish();
            read_frame::<Response, _>(&mut recv)
                .await
                .map_err(|e| fail(e.into()))
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) => Err(fail(Failure::Timeout(limit))),
        }
    }

    /// Sends raw bytes as a request and reads the answer: for tests of a server's framing
    /// (oversized or malformed frames).
    pub async fn call_raw(&self, bytes: &[u8]) -> Result<Response, TransportError> {
        let fail = |reason: Failure| TransportError::Call {
            peer: self.peer.clone(),
            reason,
        };
        let (mut send, mut recv) = self.conn.open_bi().await.map_err(|e| fail(e.into()))?;
        tokio::io::AsyncWriteExt::write_all(&mut send, bytes)
            .await
            .map_err(|e| fail(e.into()))?;
        let _ = send.finish();
        match tokio::time::timeout(CALL_TIMEOUT, read_frame::<Response, _>(&mut recv)).await {
            Ok(r) => r.map_err(|e| fail(e.into())),
            Err(_) => Err(fail(Failure::Timeout(CALL_TIMEOUT))),
        }
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.conn.close(VarInt::from_u32(0), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

/// Re-reads the roster at `path` when the file changes (polled every half second): the keys
/// `accepted` picks from the new roster may connect to `endpoint` from then on, and `apply`
/// stores the roster. A roster that does not load is reported and the old one kept.
pub async fn watch_roster(
    path: std::path::PathBuf,
    identity: Identity,
    endpoint: Endpoint,
    accepted: fn(&crate::roster::ClusterRoster) -> HashSet<PublicKey>,
    apply: impl Fn(crate::roster::ClusterRoster) + Send,
) {
    let modified = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
    };
    let mut seen = modified(&path);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let fresh = match crate::roster::ClusterRoster::load(&path) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("roster not reloaded: {e}");
                continue;
            }
        };
        match server_config(&identity, &accepted(&fresh)) {
            Ok(config) => {
                endpoint.set_server_config(Some(config));
                tracing::info!(clients = fresh.clients.len(), "roster reloaded");
                apply(fresh);
            }
            Err(e) => tracing::warn!("roster reloaded but not applied: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn key(seed: u64) -> Identity {
        Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(seed))
    }

    /// A server on `addr` in its own runtime, answering `Ping` and holding any other call for
    /// an hour; dropping the runtime is a crash (nothing is sent to the peers).
    fn serve(
        identity: &Identity,
        client: PublicKey,
        addr: SocketAddr,
    ) -> (tokio::runtime::Runtime, SocketAddr) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let endpoint = {
            let _inside = rt.enter();
            server_endpoint(identity, addr, &[client].into()).unwrap()
        };
        let local = endpoint.local_addr().unwrap();
        rt.spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    serve_connection(conn, |r: Request| async move {
                        if r != Request::Ping {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Response::Pong { name: "w".into() }
                    })
                    .await;
                });
            }
        });
        (rt, local)
    }

    /// Issue 20: a worker that crashed and restarted on its address resets the connections
    /// its predecessor held (its reset key is derived from its identity), so a call waiting
    /// on one fails at the next keep-alive with a reset, not after the idle timeout.
    #[test]
    fn a_restarted_server_resets_its_predecessors_connections() {
        let (server, client) = (key(1), key(2));
        let (crashed, addr) = serve(&server, client.public_key(), "127.0.0.1:0".parse().unwrap());
        let main = tokio::runtime::Runtime::new().unwrap();
        let api = main.block_on(async {
            let api = ApiClient::connect(&client, addr, server.public_key(), "worker 1")
                .await
                .unwrap();
            let pong = api.call(&Request::Ping).await.unwrap();
            assert!(matches!(pong, Response::Pong { .. }), "{pong:?}");
            api
        });
        let conn = api.conn.clone();
        let waiting = main.spawn(async move { api.call(&Request::ListJobs { from: 0 }).await });
        std::thread::sleep(Duration::from_millis(300));
        crashed.shutdown_timeout(Duration::from_secs(2));
        let _restarted = serve(&server, client.public_key(), addr);
        let failed = main.block_on(waiting).unwrap().unwrap_err().to_string();
        assert!(failed.contains("worker 1"), "{failed}");
        // Reset by the restarted server, not timed out (with a random reset key: `TimedOut`).
        let why = main.block_on(conn.closed());
        assert_eq!(why, quinn::ConnectionError::Reset, "{why}");
    }
}
