//! [`Metered`]: wraps any [`Network`] and counts what one party sends and receives, so every
//! transport reports the same figures.

use super::{NetError, NetStats, Network, Round};
use crate::party::PartyId;
use bytes::Bytes;

/// A network that counts bytes, messages and rounds.
pub struct Metered<N> {
    inner: N,
    stats: NetStats,
    last_round: Option<Round>,
}

impl<N: Network> Metered<N> {
    /// Starts counting from zero.
    pub fn new(inner: N) -> Self {
        Metered {
            inner,
            stats: NetStats::default(),
            last_round: None,
        }
    }
    /// The counts so far.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }
    /// The wrapped network.
    pub fn into_inner(self) -> N {
        self.inner
    }
    /// The wrapped network.
    pub fn inner(&self) -> &N {
        &self.inner
    }
    fn touch(&mut self, round: Round) {
        if self.last_round != Some(round) {
            self.last_round = Some(round);
            self.stats.rounds += 1;
        }
    }
}

impl<N: Network> Network for Metered<N> {
    fn me(&self) -> PartyId {
        self.inner.me()
    }
    fn parties(&self) -> usize {
        self.inner.parties()
    }
    fn send(&mut self, to: PartyId, round: Round, payload: Bytes) -> Result<(), NetError> {
        self.touch(round);
        self.stats.bytes_sent += payload.len() as u64;
        self.stats.messages_sent += 1;
        self.inner.send(to, round, payload)
    }
    async fn recv(&mut self, from: PartyId, round: Round) -> Result<Bytes, NetError> {
        self.touch(round);
        let payload = self.inner.recv(from, round).await?;
        self.stats.bytes_received += payload.len() as u64;
        self.stats.messages_received += 1;
        Ok(payload)
    }
}
