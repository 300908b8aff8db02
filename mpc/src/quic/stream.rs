//! Incoming streams: the reader task that parses each one, and the registry that routes them
//! to their session. The sending side, [`super::QuicNetwork`] and its writer tasks, is
//! [`super::session`].
//!
//! One unidirectional stream per (session, sender, receiver), opened lazily by the sender's
//! writer task on its first message, finished when the session's endpoint is dropped. The
//! reader checks every header against the stream's position ([`FrameHeader::check`]) and
//! hands its session only whole payloads. An incoming stream is routed by the session id of its first frame; if the session is not open
//! here yet, its frames wait in the session's queue until [`super::QuicMesh::session`] takes
//! it. A finished stream or a lost connection becomes [`NetError::PeerGone`] in every affected
//! queue, after the frames that arrived before it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use quinn::{Connection, ReadError, ReadExactError, RecvStream, VarInt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::QuicError;
use super::frame::{FrameError, FrameHeader, HEADER_LEN, Limits, Position};
use crate::net::{NetError, Round, SessionId};
use crate::party::PartyId;

/// What a reader hands to a session: a frame, or why no more will come from that peer.
pub(super) type Inbound = Result<(Round, Bytes), NetError>;

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
    pub(super) fn open_session(
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

    pub(super) fn close_session(&self, session: SessionId) {
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
