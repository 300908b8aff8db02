//! Forming the mesh's connections: the lower id dials the higher one, the higher admits.
//!
//! A dial attempt is never abandoned while it may still succeed: quinn retransmits the
//! handshake while the peer starts, and an attempt the dialer dropped might already have been
//! admitted on the other side, leaving the two ends with different connections. An attempt
//! that fails cleanly (the peer reset, refused for lack of a server, or the handshake timed
//! out) is retried with backoff (20 ms doubling to 1 s) until the mesh's deadline; a refusal
//! (wrong key, wrong hello) ends the dial at once. The accepting side admits a connection only
//! after TLS has pinned the key to a roster party and the hello ([`super::frame::Hello`])
//! agrees with it. Once the mesh is formed the accept loop admits nobody (a restarted node
//! needs a new mesh) but keeps refusing and logging intruders. Nothing here touches sessions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::{
    Connection, ConnectionError, Endpoint, ReadExactError, TransportErrorCode, VarInt, WriteError,
};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::frame::{ACK_LEN, HELLO_LEN, Hello, VERSION, decode_ack, encode_ack};
use super::{Peer, QuicError, tls};
use crate::identity::{Identity, PublicKey};
use crate::party::{MAX_PARTIES, PartyId};

/// Application close code: the connection was refused after the handshake.
pub(super) const CLOSE_REFUSED: u32 = 1;
/// Longest pause between two dials of one peer.
const MAX_BACKOFF: Duration = Duration::from_millis(1000);
/// How long an accepted connection may take to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_millis(5000);

/// The key a connection's peer proved during the handshake.
fn connection_key(conn: &Connection) -> Option<PublicKey> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    tls::peer_key(certs.first()?)
}

/// Checks that the roster has 2 to `MAX_PARTIES` entries, names this node at `me`, and lists
/// no key twice.
pub(super) fn check_roster(
    identity: &Identity,
    me: PartyId,
    roster: &[Peer],
) -> Result<(), QuicError> {
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
pub(super) async fn gather(
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
                let (peer, conn) = joined.map_err(|source| QuicError::Task {
                    what: "dial",
                    source,
                })??;
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
        // TLS alert 120, no_application_protocol: the peer speaks another wire version.
        ConnectionError::ConnectionClosed(ref close)
            if close.error_code == TransportErrorCode::crypto(120) =>
        {
            Failure::Fatal(format!(
                "the peer does not speak mesh wire version {VERSION} (ALPN {}): {e}",
                String::from_utf8_lossy(tls::ALPN)
            ))
        }
        // The peer is between two meshes: its old one refuses newcomers until it notices
        // a departure and forms again, and a formation it gave up closes its endpoint.
        ConnectionError::ApplicationClosed(ref close)
            if close.error_code == VarInt::from_u32(CLOSE_REFUSED)
                && [&b"mesh already formed"[..], b"mesh not formed"]
                    .contains(&&close.reason[..]) =>
        {
            Failure::Retry(e.to_string())
        }
        other => Failure::Fatal(other.to_string()),
    }
}

pub(super) async fn dial(
    endpoint: Endpoint,
    client: quinn::ClientConfig,
    hello: Hello,
    target: Peer,
    deadline: Instant,
) -> Result<(PartyId, Connection), QuicError> {
    let peer = hello.to;
    let mut backoff = Duration::from_millis(20);
    let mut last = String::from("no attempt was made");
    while Instant::now() < deadline {
        let outcome =
            tokio::time::timeout_at(deadline, attempt(&endpoint, &client, hello, target.addr));
        match outcome.await {
            Ok(Ok(conn)) => return Ok((peer, conn)),
            Ok(Err(Failure::Fatal(reason))) => {
                tracing::warn!(%peer, addr = %target.addr, "dialing party {peer} refused: {reason}");
                let key = target.key.fingerprint();
                return Err(QuicError::Refused { peer, key, reason });
            }
            Ok(Err(Failure::Retry(reason))) => last = reason,
            Err(_) => last = "no answer before the mesh's deadline".into(),
        }
        tracing::debug!(%peer, "dialing party {peer} again: {last}");
        tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
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
pub(super) struct Admission {
    pub(super) me: PartyId,
    pub(super) roster: Vec<Peer>,
    /// The formed mesh's links, once formed: a roster party that dials again after that has
    /// left its old mesh (it restarted, or gave up on it), so its old link is closed and
    /// [`super::QuicMesh::departed`] names it before the next session.
    pub(super) formed: std::sync::OnceLock<Vec<Option<Connection>>>,
}

pub(super) async fn accept_loop(
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
                        tracing::warn!(%peer, %remote, "refused a connection from party {peer}: the mesh is already formed; closing its old link");
                        let old = admission
                            .formed
                            .get()
                            .and_then(|links| links[peer.index()].as_ref());
                        if let Some(old) = old {
                            old.close(VarInt::from_u32(CLOSE_REFUSED), b"the party dialed again");
                        }
                        conn.close(VarInt::from_u32(CLOSE_REFUSED), b"mesh already formed");
                    }
                }
                // Key refusals were logged by the TLS verifier with the key's fingerprint.
                Err(reason) => tracing::info!(%remote, "refused an incoming connection: {reason}"),
            }
        });
    }
}

/// Why an incoming connection was not admitted to the mesh; its text is also the close reason
/// the refused peer reads.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// The TLS handshake did not complete.
    #[error("handshake failed: {0}")]
    Handshake(#[source] ConnectionError),
    /// The peer's certificate carried no Ed25519 key.
    #[error("the peer proved no Ed25519 key")]
    NoKey,
    /// The peer's key is nobody in the roster.
    #[error("key not in the roster")]
    Stranger,
    /// The peer opened no stream for its hello.
    #[error("accepting the hello stream: {0}")]
    Stream(#[source] ConnectionError),
    /// The hello could not be read.
    #[error("reading the hello: {0}")]
    Read(#[source] ReadExactError),
    /// The hello's bytes are not a hello of this version.
    #[error("{0}")]
    Hello(#[from] super::frame::FrameError),
    /// The key of one party claims another party's id.
    #[error("the key of party {party} claims to be party {claimed}")]
    Impostor { party: PartyId, claimed: PartyId },
    /// The hello names another mesh.
    #[error("party {party} dialed party {to} of {parties} parties, this is party {me} of {n}")]
    WrongMesh {
        party: PartyId,
        to: PartyId,
        parties: u16,
        me: PartyId,
        n: usize,
    },
    /// A higher party dialed; the lower id dials.
    #[error("party {0} dialed a lower party; the lower id dials")]
    WrongDirection(PartyId),
    /// The acknowledgement could not be sent.
    #[error("{0}")]
    Ack(#[source] WriteError),
    /// No hello within [`HELLO_TIMEOUT`].
    #[error("party {0} sent no hello within {ms} ms", ms = HELLO_TIMEOUT.as_millis())]
    Silent(PartyId),
}

async fn admit(
    incoming: quinn::Incoming,
    admission: &Admission,
) -> Result<(PartyId, Connection), Refusal> {
    let conn = incoming.await.map_err(Refusal::Handshake)?;
    let key = connection_key(&conn).ok_or(Refusal::NoKey)?;
    let party = admission
        .roster
        .iter()
        .position(|p| p.key == key)
        .map(|i| PartyId(i as u16))
        .ok_or(Refusal::Stranger)?;
    let exchange = async {
        let (mut send, mut recv) = conn.accept_bi().await.map_err(Refusal::Stream)?;
        let mut bytes = [0u8; HELLO_LEN];
        recv.read_exact(&mut bytes).await.map_err(Refusal::Read)?;
        let hello = Hello::decode(&bytes)?;
        let (me, n) = (admission.me, admission.roster.len());
        let verdict = if hello.from != party {
            Err(Refusal::Impostor {
                party,
                claimed: hello.from,
            })
        } else if hello.to != me || hello.parties as usize != n {
            Err(Refusal::WrongMesh {
                party,
                to: hello.to,
                parties: hello.parties,
                me,
                n,
            })
        } else if party >= me {
            Err(Refusal::WrongDirection(party))
        } else {
            Ok(())
        };
        send.write_all(&encode_ack(if verdict.is_ok() { 0 } else { 1 }))
            .await
            .map_err(Refusal::Ack)?;
        let _ = send.finish();
        verdict
    };
    let outcome = match tokio::time::timeout(HELLO_TIMEOUT, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Refusal::Silent(party)),
    };
    match outcome {
        Ok(()) => Ok((party, conn)),
        Err(reason) => {
            conn.close(
                VarInt::from_u32(CLOSE_REFUSED),
                reason.to_string().as_bytes(),
            );
            Err(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_wire_version_is_refused_by_name() {
        let close = quinn::ConnectionClose {
            error_code: TransportErrorCode::crypto(120),
            frame_type: None,
            reason: bytes::Bytes::new(),
        };
        match classify(ConnectionError::ConnectionClosed(close)) {
            Failure::Fatal(reason) => {
                assert!(reason.contains("wire version 2"), "{reason}");
                assert!(reason.contains("quorate-mesh/2"), "{reason}");
            }
            Failure::Retry(reason) => panic!("retried: {reason}"),
        }
    }
}
