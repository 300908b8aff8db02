//! [`Cheating`]: a [`Network`] wrapper that makes its party deviate, for tests and the
//! simulator: it adds an error to chosen field elements of the messages it sends in chosen
//! rounds. Which message kind a round carries (dealt randomness, a product's resharing or king
//! message, an opening, input shares, the check's own messages) follows from the program, so a
//! test sweeps every round of an operation to attack every kind of message.
//!
//! Payloads made of whole field elements (the engine's messages over `Fr`) get the error added
//! to elements, which keeps every element canonical, so the receiver parses the message and has
//! to *detect* the deviation rather than reject a malformed frame; other payloads (PRSS keys
//! and their confirmation digests, GF(2^8) bytes) get it XORed into their bytes. It does not decide anything for
//! the honest parties and never reads their messages.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::{NetError, Network, Round};
use crate::field::{Field, Fr};
use crate::party::PartyId;

/// Which elements of a tampered message get the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// The first element.
    First,
    /// The last element.
    Last,
    /// Every element.
    All,
}

/// What the cheating party does: in which rounds, to whom, to which elements, by how much.
#[derive(Clone, Debug)]
pub struct Cheat {
    /// Rounds whose messages are tampered with (`None`: every round).
    pub rounds: Option<BTreeSet<u32>>,
    /// Only messages to this party (`None`: to everyone).
    pub to: Option<PartyId>,
    /// Which elements.
    pub tamper: Tamper,
    /// The additive error (non-zero).
    pub error: u64,
}

impl Cheat {
    /// Adds 1 to the first element of every message of `round`.
    pub fn in_round(round: u32) -> Cheat {
        Cheat {
            rounds: Some([round].into()),
            to: None,
            tamper: Tamper::First,
            error: 1,
        }
    }
}

/// A party's endpoint that deviates as told; counts the messages it altered.
pub struct Cheating<N> {
    inner: N,
    cheat: Cheat,
    altered: Arc<AtomicU64>,
}

/// `n` in-memory endpoints where only `cheater`'s (if any) deviates, as its plan says; with
/// every endpoint's counter of altered messages (see [`Cheating::new`]).
pub fn memory_mesh(
    n: usize,
    cheater: Option<&(PartyId, Cheat)>,
) -> (
    Vec<Cheating<super::memory::MemoryNetwork>>,
    Vec<Arc<AtomicU64>>,
) {
    let honest = Cheat {
        rounds: Some(BTreeSet::new()),
        to: None,
        tamper: Tamper::First,
        error: 1,
    };
    super::memory::MemoryNetwork::mesh(n)
        .into_iter()
        .enumerate()
        .map(|(i, net)| match cheater {
            Some((p, plan)) if p.index() == i => Cheating::new(net, plan.clone()),
            _ => Cheating::new(net, honest.clone()),
        })
        .unzip()
}

impl<N: Network> Cheating<N> {
    /// Wraps `inner`; the returned counter says how many messages were altered (a test that
    /// altered none has attacked nothing).
    pub fn new(inner: N, cheat: Cheat) -> (Self, Arc<AtomicU64>) {
        let altered = Arc::new(AtomicU64::new(0));
        let wrapper = Cheating {
            inner,
            cheat,
            altered: altered.clone(),
        };
        (wrapper, altered)
    }

    fn targets(&self, to: PartyId, round: Round) -> bool {
        self.cheat
            .rounds
            .as_ref()
            .is_none_or(|r| r.contains(&round.0))
            && self.cheat.to.is_none_or(|p| p == to)
    }

    /// The payload with the error added (to field elements; XORed into the bytes of a payload
    /// that is not a batch of elements, such as PRSS keys), or `None` when it is empty.
    fn tampered(&self, payload: &[u8]) -> Option<Bytes> {
        if payload.is_empty() {
            return None;
        }
        let elems: Option<Vec<Fr>> = match payload.len() % Fr::BYTES {
            0 => payload
                .chunks_exact(Fr::BYTES)
                .map(Fr::read_bytes)
                .collect(),
            _ => None,
        };
        let Some(mut elems) = elems else {
            let mut bytes = payload.to_vec();
            let error = (self.cheat.error as u8).max(1);
            let last = bytes.len() - 1;
            match self.cheat.tamper {
                Tamper::First => bytes[0] ^= error,
                Tamper::Last => bytes[last] ^= error,
                Tamper::All => bytes.iter_mut().for_each(|b| *b ^= error),
            }
            return Some(Bytes::from(bytes));
        };
        let error = Fr::from_u128(self.cheat.error as u128);
        let last = elems.len() - 1;
        match self.cheat.tamper {
            Tamper::First => elems[0] += error,
            Tamper::Last => elems[last] += error,
            Tamper::All => elems.iter_mut().for_each(|e| *e += error),
        }
        Some(super::codec::encode(&elems))
    }
}

impl<N: Network> Network for Cheating<N> {
    fn me(&self) -> PartyId {
        self.inner.me()
    }
    fn parties(&self) -> usize {
        self.inner.parties()
    }
    fn send(&mut self, to: PartyId, round: Round, payload: Bytes) -> Result<(), NetError> {
        let payload = match self.targets(to, round) {
            true => match self.tampered(&payload) {
                Some(bad) => {
                    self.altered.fetch_add(1, Ordering::Relaxed);
                    bad
                }
                None => payload,
            },
            false => payload,
        };
        self.inner.send(to, round, payload)
    }
    async fn recv(&mut self, from: PartyId, round: Round) -> Result<Bytes, NetError> {
        self.inner.recv(from, round).await
    }
}
