//! The network as protocols see it: numbered parties exchanging byte messages, each tagged
//! with the round it belongs to.
//!
//! A [`Network`] is one party's endpoint of one session (one job, one simulation run): the
//! session id is fixed when it is built, so protocol code never names it. Messages between
//! two parties arrive in the order they were sent. [`Network::send`] only queues and never
//! waits for the peer — two parties may both send a large batch before either receives, and
//! neither may deadlock. [`Network::recv`] waits for the next message from one peer and checks
//! that it carries the expected round tag; a transport bounds that wait and reports a peer
//! that left or went silent by its id.
//!
//! Implementations: [`memory::MemoryNetwork`] (n parties in one process), the QUIC transport
//! (a cluster) and the simulator's network (virtual time). [`metered::Metered`] wraps any of
//! them and counts bytes, messages and rounds per party.

pub mod cheat;
pub mod codec;
pub mod memory;
pub mod metered;

use bytes::Bytes;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::party::PartyId;

/// A communication round's tag: the engine numbers its rounds `0, 1, 2, ...` within a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Round(pub u32);

/// Identifies a session (a job or a run) among the many a transport may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(pub u64);

/// Why a network operation failed. Every variant names the peer involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The peer closed its side or crashed.
    #[error("party {0} left the session")]
    PeerGone(PartyId),
    /// Nothing arrived from the peer within the transport's deadline.
    #[error("party {peer} sent nothing for round {} within {} ms", round.0, millis)]
    Timeout {
        /// The silent peer.
        peer: PartyId,
        /// The round waited for.
        round: Round,
        /// The deadline in milliseconds.
        millis: u64,
    },
    /// The peer's next message belongs to another round: the parties' programs diverged.
    #[error("party {peer} sent round {} while round {} was expected", got.0, expected.0)]
    RoundMismatch {
        /// The sender.
        peer: PartyId,
        /// The round the receiver is in.
        expected: Round,
        /// The round the message carries.
        got: Round,
    },
    /// The message exceeds the transport's maximum frame size.
    #[error("message of {size} bytes to or from party {peer} exceeds the limit of {limit} bytes")]
    Oversize {
        /// The peer.
        peer: PartyId,
        /// Size of the message.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A party id outside the session, or oneself.
    #[error("no such peer {peer} in a session of {n} parties")]
    NoSuchPeer {
        /// The id.
        peer: PartyId,
        /// Parties in the session.
        n: usize,
    },
    /// Any other transport failure.
    #[error("network failure with party {peer}: {reason}")]
    Transport {
        /// The peer.
        peer: PartyId,
        /// What happened.
        reason: String,
    },
}

/// One party's endpoint of a session.
pub trait Network: Send {
    /// This party's id.
    fn me(&self) -> PartyId;
    /// Number of parties in the session.
    fn parties(&self) -> usize;
    /// Queues `payload` for `to`, tagged with `round`. Never waits for the peer.
    fn send(&mut self, to: PartyId, round: Round, payload: Bytes) -> Result<(), NetError>;
    /// The next message from `from`, which must carry `round`.
    fn recv(
        &mut self,
        from: PartyId,
        round: Round,
    ) -> impl Future<Output = Result<Bytes, NetError>> + Send;
}

/// What one party sent and received during a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Communication rounds this party took part in (distinct round tags it sent or received).
    pub rounds: u64,
}

impl NetStats {
    /// The difference `self - earlier`, for the cost of one phase.
    pub fn since(&self, earlier: &NetStats) -> NetStats {
        NetStats {
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            bytes_received: self.bytes_received - earlier.bytes_received,
            messages_sent: self.messages_sent - earlier.messages_sent,
            messages_received: self.messages_received - earlier.messages_received,
            rounds: self.rounds - earlier.rounds,
        }
    }
}
