//! Sessions over the mesh: [`QuicNetwork`], the writer task that owns each outgoing stream,
//! the reader task that parses each incoming one, and the registry that routes incoming
//! streams to their session.
//!
//! One unidirectional stream per (session, sender, receiver), opened lazily by the sender's
//! writer task on its first message, finished when the session's endpoint is dropped. The
//! writer cuts each payload into chunks ([`super::frame::chunks`]); the reader checks every
//! header against the stream's position ([`FrameHeader::check`]) and hands its session only
//! whole payloads. An
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
use super::frame::{self, FrameError, FrameHeader, HEADER_LEN, Limits, Position};
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
const INITIAL_PAYLOAD: u64 = 1 << 20;

/// Routes incoming streams to sessions, and remembers which peers are gone.
pub(super) struct Registry {
    n: usize,
    limits: Limits,
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
    pub(super) fn new(n: usize, limits: Limits) -> Registry {
        Registry {
            n,
            limits,
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
    /// A session that has a stream from `peer` hears it from that stream's reader, which
    /// reports the loss after the payloads it still holds (acknowledged by QUIC, so the peer
    /// may have closed after them, but not yet read out): telling it from here could overtake
    /// them.
    pub(super) fn peer_gone(&self, peer: PartyId) {
        let mut state = self.lock();
        state.gone[peer.index()] = true;
        for slot in state.sessions.values() {
            if let Slot::Open { inboxes, .. } = slot {
                let inbox = &inboxes[peer.index()];
                if !inbox.streamed {
                    let _ = inbox.tx.send(Err(NetError::PeerGone(peer)));
                }
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
        FrameError::RoundOversize { total, limit, .. } => NetError::Oversize {
            peer,
            size: usize::try_from(total).unwrap_or(usize::MAX),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        },
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

/// Appends the `len` bytes of a checked frame to `payload`, a payload of `total` bytes, as
/// they arrive. The buffer grows geometrically with what was received (from
/// [`INITIAL_PAYLOAD`] up, to at most twice the bytes already held, never past `total`), so
/// it stays within a factor of two of what the peer actually sent whatever it announced.
async fn read_into(
    peer: PartyId,
    stream: &mut RecvStream,
    payload: &mut Vec<u8>,
    len: usize,
    total: u64,
) -> Result<(), NetError> {
    let end = payload.len() + len;
    while payload.len() < end {
        match stream.read_chunk(end - payload.len(), true).await {
            Ok(Some(chunk)) => {
                let need = payload.len() + chunk.bytes.len();
                if need > payload.capacity() {
                    // `need <= total`: the frame was checked to end within the payload.
                    let grown = (payload.capacity() as u64 * 2)
                        .max(INITIAL_PAYLOAD)
                        .min(total)
                        .max(need as u64) as usize;
                    payload.reserve_exact(grown - payload.len());
                }
                payload.extend_from_slice(&chunk.bytes);
            }
            Ok(None) => {
                return Err(NetError::Transport {
                    peer,
                    reason: format!(
                        "stream ended {} bytes into a payload of {total}",
                        payload.len()
                    ),
                });
            }
            Err(e) => return Err(read_failure(peer, e)),
        }
    }
    Ok(())
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
    let mut at = Position::Boundary;
    let mut payload = Vec::new();
    loop {
        let len = match header.check(session, at, registry.limits) {
            Ok(len) => len,
            Err(e) => {
                let _ = tx.send(Err(frame_failure(peer, e)));
                let _ = stream.stop(VarInt::from_u32(STOP_PROTOCOL));
                return;
            }
        };
        if let Err(e) = read_into(peer, &mut stream, &mut payload, len, header.total).await {
            let _ = tx.send(Err(e));
            return;
        }
        at = header.after();
        if at == Position::Boundary {
            let whole = Bytes::from(std::mem::take(&mut payload));
            if tx.send(Ok((header.round, whole))).is_err() {
                let _ = stream.stop(VarInt::from_u32(STOP_SESSION_CLOSED));
                return;
            }
        }
        header = match read_header(peer, &mut stream).await {
            Ok(Some(next)) => next,
            Ok(None) => {
                let e = match at {
                    // The peer dropped its end of the session.
                    Position::Boundary => NetError::PeerGone(peer),
                    Position::Inside {
                        round,
                        total,
                        offset,
                    } => NetError::Transport {
                        peer,
                        reason: format!(
                            "stream ended {offset} bytes into the {total}-byte payload of round {}",
                            round.0
                        ),
                    },
                };
                let _ = tx.send(Err(e));
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
