//! Sessions over the mesh: [`QuicNetwork`], one party's endpoint of one session, and the
//! writer task that owns each outgoing stream. The incoming side (readers and the registry
//! that routes streams to sessions) is [`super::stream`]; the mesh a session keeps alive is
//! [`super::links::MeshInner`].
//!
//! One unidirectional stream per (session, sender, receiver), opened lazily by the sender's
//! writer task on its first message, finished when the session's endpoint is dropped. The
//! writer cuts each payload into chunks ([`super::frame::chunks`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quinn::Connection;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::QuicError;
use super::frame;
use super::links::MeshInner;
use super::stream::Inbound;
use crate::net::{NetError, Network, Round, SessionId};
use crate::party::PartyId;

/// What a session hands to a writer.
type Outbound = (Round, Bytes);

/// Owns the stream of one session to one peer: opens it on the first message, writes frames
/// in order, finishes it when the session is dropped and waits (up to `linger`) for the peer
/// to acknowledge everything. `_drain` tells the mesh when the last writer is done.
async fn write_stream(
    conn: Connection,
    peer: PartyId,
    session: SessionId,
    mut queue: UnboundedReceiver<Outbound>,
    _drain: mpsc::Sender<()>,
    linger: Duration,
    max_chunk: u32,
) {
    let mut stream = None;
    while let Some((round, payload)) = queue.recv().await {
        let out = match &mut stream {
            Some(out) => out,
            None => match conn.open_uni().await {
                Ok(out) => stream.insert(out),
                Err(e) => {
                    tracing::debug!(%peer, session = session.0, "cannot open a stream to party {peer}: {e}");
                    return;
                }
            },
        };
        // Headers and slices of the payload, written in one call: the payload is not copied.
        let total = payload.len() as u64;
        let frames = frame::chunks(session, round, total, max_chunk);
        let mut pieces =
            Vec::with_capacity(2 * total.div_ceil(u64::from(max_chunk)).max(1) as usize);
        for header in frames {
            let start = header.offset as usize;
            pieces.push(Bytes::copy_from_slice(&header.encode()));
            pieces.push(payload.slice(start..start + header.len as usize));
        }
        if let Err(e) = out.write_all_chunks(&mut pieces).await {
            tracing::debug!(%peer, session = session.0, "writing to party {peer} failed: {e}");
            return;
        }
    }
    if let Some(mut out) = stream {
        if out.finish().is_ok() {
            let _ = tokio::time::timeout(linger, out.stopped()).await;
        }
    }
}

/// One party's endpoint of one session over the mesh. Keeps the mesh alive while it exists.
pub struct QuicNetwork {
    me: PartyId,
    session: SessionId,
    outbox: Vec<Option<UnboundedSender<Outbound>>>,
    inbox: Vec<UnboundedReceiver<Inbound>>,
    failed: Vec<Option<NetError>>,
    timeout: Duration,
    mesh: Arc<MeshInner>,
}

impl QuicNetwork {
    pub(super) fn open(mesh: Arc<MeshInner>, session: SessionId) -> Result<QuicNetwork, QuicError> {
        let inbox = mesh.registry.open_session(session)?;
        let drain = mesh
            .drain_guard()
            .ok_or_else(|| QuicError::Config("the mesh is shutting down".into()))?;
        let linger = Duration::from_millis(mesh.config.linger_ms);
        // Validated at bind: positive and at most `max_frame`, which fits in 32 bits.
        let max_chunk = u32::try_from(mesh.config.max_chunk).unwrap_or(u32::MAX);
        let outbox = mesh
            .links
            .iter()
            .enumerate()
            .map(|(p, link)| {
                link.as_ref().map(|conn| {
                    let (tx, rx) = unbounded_channel();
                    mesh.runtime.spawn(write_stream(
                        conn.clone(),
                        PartyId(p as u16),
                        session,
                        rx,
                        drain.clone(),
                        linger,
                        max_chunk,
                    ));
                    tx
                })
            })
            .collect();
        Ok(QuicNetwork {
            me: mesh.me,
            session,
            outbox,
            failed: vec![None; inbox.len()],
            inbox,
            timeout: Duration::from_millis(mesh.config.recv_timeout_ms),
            mesh,
        })
    }

    /// Sets how long a receive waits before reporting [`NetError::Timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The session this endpoint belongs to.
    pub fn session_id(&self) -> SessionId {
        self.session
    }

    fn check_peer(&self, peer: PartyId) -> Result<usize, NetError> {
        let i = peer.index();
        if i < self.outbox.len() && peer != self.me {
            Ok(i)
        } else {
            Err(NetError::NoSuchPeer {
                peer,
                n: self.outbox.len(),
            })
        }
    }
}

impl Drop for QuicNetwork {
    fn drop(&mut self) {
        self.mesh.registry.close_session(self.session);
    }
}

impl Network for QuicNetwork {
    fn me(&self) -> PartyId {
        self.me
    }

    fn parties(&self) -> usize {
        self.outbox.len()
    }

    fn send(&mut self, to: PartyId, round: Round, payload: Bytes) -> Result<(), NetError> {
        let i = self.check_peer(to)?;
        let limit = self.mesh.config.max_round_bytes;
        if payload.len() as u64 > limit {
            return Err(NetError::Oversize {
                peer: to,
                size: payload.len(),
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            });
        }
        let writer = self.outbox[i].as_ref().ok_or(NetError::NoSuchPeer {
            peer: to,
            n: self.outbox.len(),
        })?;
        // The writer ends only when the connection or its stream failed.
        writer
            .send((round, payload))
            .map_err(|_| NetError::PeerGone(to))
    }

    async fn recv(&mut self, from: PartyId, round: Round) -> Result<Bytes, NetError> {
        let i = self.check_peer(from)?;
        if let Some(e) = &self.failed[i] {
            return Err(e.clone());
        }
        let next = match tokio::time::timeout(self.timeout, self.inbox[i].recv()).await {
            Err(_) => {
                return Err(NetError::Timeout {
                    peer: from,
                    round,
                    millis: self.timeout.as_millis() as u64,
                });
            }
            Ok(next) => next.unwrap_or(Err(NetError::PeerGone(from))),
        };
        match next {
            Ok((got, _)) if got != round => Err(NetError::RoundMismatch {
                peer: from,
                expected: round,
                got,
            }),
            Ok((_, payload)) => Ok(payload),
            Err(e) => {
                self.failed[i] = Some(e.clone());
                Err(e)
            }
        }
    }
}
