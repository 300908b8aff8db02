//! Sessions over the mesh: [`QuicNetwork`], the writer task that owns each outgoing stream,
//! the reader task that parses each incoming one, and the registry that routes incoming
//! streams to their session.
//!
//! One unidirectional stream per (session, sender, receiver), opened lazily by the sender's
//! writer task on its first message, finished when the session's endpoint is dropped. An
//! incoming stream is routed by the session id of its first frame; if the session is not open
//! here yet, its frames wait in the session's queue until [`super::QuicMesh::session`] takes
//! it. A finished stream or a lost connection becomes [`NetError::PeerGone`] in every affected
//! queue, after the frames that arrived before it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use quinn::{Connection, ReadError, ReadExactError, RecvStream, VarInt};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::QuicError;
use super::frame::{FrameError, FrameHeader, HEADER_LEN};
use super::mesh::MeshInner;
use crate::net::{NetError, Network, Round, SessionId};
use crate::party::PartyId;

/// What a reader hands to a session: a frame, or why no more will come from that peer.
type Inbound = Result<(Round, Bytes), NetError>;
/// What a session hands to a writer.
type Outbound = (Round, Bytes);

/// Application error code when the receiver stops a stream: its session is closed here.
const STOP_SESSION_CLOSED: u32 = 1;
/// Application error code when the receiver stops a stream: a frame broke the rules.
const STOP_PROTOCOL: u32 = 2;
/// Closed session ids remembered, so that late streams for them are discarded, not queued.
const MAX_TOMBSTONES: usize = 1 << 16;
/// Initial buffer for a payload; it grows with the bytes that actually arrive.
const INITIAL_PAYLOAD: usize = 1 << 20;

/// Routes incoming streams to sessions, and remembers which peers are gone.
pub(super) struct Registry {
    n: usize,
    max_frame: usize,
    state: Mutex<State>,
}

struct State {
    sessions: HashMap<SessionId, Slot>,
    tombstones: VecDeque<SessionId>,
    gone: Vec<bool>,
}

enum Slot {
    Open { inboxes: Vec<Inbox>, taken: bool },
    Closed,
}

struct Inbox {
    tx: UnboundedSender<Inbound>,
    rx: Option<UnboundedReceiver<Inbound>>,
    streamed: bool,
}

enum Route {
    Deliver(UnboundedSender<Inbound>),
    Duplicate(UnboundedSender<Inbound>),
    Closed,
}

impl Registry {
    pub(super) fn new(n: usize, max_frame: usize) -> Registry {
        Registry {
            n,
            max_frame,
            state: Mutex::new(State {
                sessions: HashMap::new(),
                tombstones: VecDeque::new(),
                gone: vec![false; n],
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_slot(&self, gone: &[bool]) -> Slot {
        let inboxes = (0..self.n)
            .map(|p| {
                let (tx, rx) = unbounded_channel();
                if gone[p] {
                    let _ = tx.send(Err(NetError::PeerGone(PartyId(p as u16))));
                }
                Inbox {
                    tx,
                    rx: Some(rx),
                    streamed: false,
                }
            })
            .collect();
        Slot::Open {
            inboxes,
            taken: false,
        }
    }

    /// Takes the receiving queues of `session`, one per party (the own one unused).
    fn open_session(
        &self,
        session: SessionId,
    ) -> Result<Vec<UnboundedReceiver<Inbound>>, QuicError> {
        let mut state = self.lock();
        let State { sessions, gone, .. } = &mut *state;
        let slot = sessions
            .entry(session)
            .or_insert_with(|| self.new_slot(gone));
        match slot {
            Slot::Open {
                inboxes,
                taken: taken @ false,
            } => {
                *taken = true;
                Ok(inboxes
                    .iter_mut()
                    .map(|i| i.rx.take().expect("untaken slot has receivers"))
                    .collect())
            }
            _ => Err(QuicError::SessionInUse(session)),
        }
    }

    fn close_session(&self, session: SessionId) {
        let mut state = self.lock();
        state.sessions.insert(session, Slot::Closed);
        state.tombstones.push_back(session);
        if state.tombstones.len() > MAX_TOMBSTONES {
            if let Some(old) = state.tombstones.pop_front() {
                state.sessions.remove(&old);
            }
        }
    }

    /// Where a new stream from `peer` for `session` goes.
    fn route(&self, session: SessionId, peer: PartyId) -> Route {
        let mut state = self.lock();
        let State { sessions, gone, .. } = &mut *state;
        match sessions
            .entry(session)
            .or_insert_with(|| self.new_slot(gone))
        {
            Slot::Closed => Route::Closed,
            Slot::Open { inboxes, .. } => {
                let inbox = &mut inboxes[peer.index()];
                if std::mem::replace(&mut inbox.streamed, true) {
                    Route::Duplicate(inbox.tx.clone())
                } else {
                    Route::Deliver(inbox.tx.clone())
                }
            }
        }
    }

    /// The connection to `peer` is lost: every session hears it, now and when opened later.
    pub(super) fn peer_gone(&self, peer: PartyId) {
        let mut state = self.lock();
        state.gone[peer.index()] = true;
        for slot in state.sessions.values() {
            if let Slot::Open { inboxes, .. } = slot {
                let _ = inboxes[peer.index()].tx.send(Err(NetError::PeerGone(peer)));
            }
        }
    }
}

/// Accepts the streams `peer` opens on `conn` until the connection ends, then reports the
/// peer gone.
pub(super) async fn serve_connection(registry: Arc<Registry>, peer: PartyId, conn: Connection) {
    loop {
        match conn.accept_uni().await {
            Ok(stream) => {
                tokio::spawn(read_stream(registry.clone(), peer, stream));
            }
            Err(e) => {
                tracing::debug!(%peer, "connection to party {peer} ended: {e}");
                registry.peer_gone(peer);
                return;
            }
        }
    }
}

fn read_failure(peer: PartyId, e: ReadError) -> NetError {
    match e {
        ReadError::ConnectionLost(_) => NetError::PeerGone(peer),
        ReadError::Reset(code) => NetError::Transport {
            peer,
            reason: format!("stream reset by the peer (code {code})"),
        },
        other => NetError::Transport {
            peer,
            reason: other.to_string(),
        },
    }
}

fn frame_failure(peer: PartyId, e: FrameError) -> NetError {
    match e {
        FrameError::Oversize { size, limit } => NetError::Oversize { peer, size, limit },
        other => NetError::Transport {
            peer,
            reason: other.to_string(),
        },
    }
}

/// The next header, or `None` at a clean end of stream.
async fn read_header(
    peer: PartyId,
    stream: &mut RecvStream,
) -> Result<Option<FrameHeader>, NetError> {
    let mut bytes = [0u8; HEADER_LEN];
    match stream.read_exact(&mut bytes).await {
        Ok(()) => FrameHeader::decode(&bytes)
            .map(Some)
            .map_err(|e| frame_failure(peer, e)),
        Err(ReadExactError::FinishedEarly(0)) => Ok(None),
        Err(ReadExactError::FinishedEarly(n)) => Err(NetError::Transport {
            peer,
            reason: format!("stream ended inside a frame header ({n} of {HEADER_LEN} bytes)"),
        }),
        Err(ReadExactError::ReadError(e)) => Err(read_failure(peer, e)),
    }
}

/// Reads a payload of `len` bytes (already checked against the limit) as it arrives.
async fn read_payload(
    peer: PartyId,
    stream: &mut RecvStream,
    len: usize,
) -> Result<Vec<u8>, NetError> {
    let mut payload = Vec::with_capacity(len.min(INITIAL_PAYLOAD));
    while payload.len() < len {
        match stream.read_chunk(len - payload.len(), true).await {
            Ok(Some(chunk)) => payload.extend_from_slice(&chunk.bytes),
            Ok(None) => {
                return Err(NetError::Transport {
                    peer,
                    reason: format!("stream ended {} bytes into a frame of {len}", payload.len()),
                });
            }
            Err(e) => return Err(read_failure(peer, e)),
        }
    }
    Ok(payload)
}

/// Parses one incoming stream and feeds its session's queue for `peer`.
async fn read_stream(registry: Arc<Registry>, peer: PartyId, mut stream: RecvStream) {
    let first = match read_header(peer, &mut stream).await {
        Ok(Some(header)) => header,
        Ok(None) => return,
        Err(e) => {
            // Without a valid first header the stream belongs to no session.
            tracing::warn!(%peer, "discarding a stream from party {peer}: {e}");
            let _ = stream.stop(VarInt::from_u32(STOP_PROTOCOL));
            return;
        }
    };
    let session = first.session;
    let tx = match registry.route(session, peer) {
        Route::Deliver(tx) => tx,
        Route::Closed => {
            let _ = stream.stop(VarInt::from_u32(STOP_SESSION_CLOSED));
            return;
        }
        Route::Duplicate(tx) => {
            let _ = tx.send(Err(NetError::Transport {
                peer,
                reason: format!("a second stream for session {}", session.0),
            }));
            let _ = stream.stop(VarInt::from_u32(STOP_PROTOCOL));
            return;
        }
    };
    let mut header = first;
    loop {
        let len = match header.check(session, registry.max_frame) {
            Ok(len) => len,
            Err(e) => {
                let _ = tx.send(Err(frame_failure(peer, e)));
                let _ = stream.stop(VarInt::from_u32(STOP_PROTOCOL));
                return;
            }
        };
        let item = read_payload(peer, &mut stream, len)
            .await
            .map(|payload| (header.round, Bytes::from(payload)));
        let failed = item.is_err();
        if tx.send(item).is_err() {
            let _ = stream.stop(VarInt::from_u32(STOP_SESSION_CLOSED));
            return;
        }
        if failed {
            return;
        }
        header = match read_header(peer, &mut stream).await {
            Ok(Some(next)) => next,
            Ok(None) => {
                // The peer dropped its end of the session.
                let _ = tx.send(Err(NetError::PeerGone(peer)));
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
    }
}

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
        let header = FrameHeader {
            session,
            round,
            len: payload.len() as u32,
        };
        let mut chunks = [Bytes::copy_from_slice(&header.encode()), payload];
        if let Err(e) = out.write_all_chunks(&mut chunks).await {
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
        let limit = self.mesh.config.max_frame;
        if payload.len() > limit {
            return Err(NetError::Oversize {
                peer: to,
                size: payload.len(),
                limit,
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
