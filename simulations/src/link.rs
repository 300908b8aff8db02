//! Link models: how long a message takes from one party to another.
//!
//! A [`LinkModel`] describes one directed link: a fixed one-way latency plus a seeded
//! [`Jitter`], a bandwidth (the serialization delay of a message is `size / bandwidth`, and a
//! link is busy while it transmits, so messages sent back to back queue behind each other),
//! and a loss rate. The engine needs reliable, ordered delivery, so loss is modelled the way
//! a reliable transport experiences it: a lost transmission is retransmitted after a
//! retransmission timeout (`rto`), and the message arrives that much later. Messages on one
//! link keep their order (a late message holds back the ones behind it, as on a stream).
//!
//! [`LinkTable`] holds the default model and per-pair overrides. [`LinkClock`] is the mutable
//! state of one directed link during a run (busy-until, last arrival, its own RNG), so a
//! seed fixes every delay whatever order the links are used in.
//!
//! What this module does not do: faults (crashes, partitions, slow parties: see
//! [`crate::faults`]) or the event queue (see [`crate::sim_net`]). Times are virtual
//! nanoseconds (`u64`).

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Virtual nanoseconds per millisecond.
pub const NS_PER_MS: u64 = 1_000_000;
/// Virtual nanoseconds per second.
pub const NS_PER_S: u64 = 1_000_000_000;

/// Converts milliseconds (possibly fractional) to whole virtual nanoseconds, rounding to the
/// nearest; negative and non-finite values give zero.
pub fn ms_to_ns(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * NS_PER_MS as f64).round() as u64
    } else {
        0
    }
}

/// Seconds as a float, for reports.
pub fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / NS_PER_S as f64
}

/// Random extra latency drawn per message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Jitter {
    /// No jitter (the default).
    #[default]
    None,
    /// Uniform in `[0, max_ms]`.
    Uniform {
        /// Largest extra delay in milliseconds.
        max_ms: f64,
    },
    /// Exponential with the given mean (a long tail, as on a congested path).
    Exponential {
        /// Mean extra delay in milliseconds.
        mean_ms: f64,
    },
}

impl Jitter {
    fn draw(&self, rng: &mut ChaCha8Rng) -> u64 {
        match *self {
            Jitter::None => 0,
            Jitter::Uniform { max_ms } => ms_to_ns(rng.random::<f64>() * max_ms),
            Jitter::Exponential { mean_ms } => {
                // Inverse transform; 1 - u is in (0, 1], so the log is finite.
                let u: f64 = rng.random();
                ms_to_ns(-(1.0 - u).ln() * mean_ms)
            }
        }
    }
}

/// One directed link's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkModel {
    /// Fixed one-way latency in virtual nanoseconds.
    pub latency_ns: u64,
    /// Extra random latency per message.
    pub jitter: Jitter,
    /// Bytes per second; `None` for an unlimited link (no serialization delay).
    pub bandwidth: Option<u64>,
    /// Probability that one transmission of a message is lost, in `[0, 1)`.
    pub loss: f64,
    /// Retransmission timeout: the extra delay of each lost transmission, in nanoseconds.
    pub rto_ns: u64,
}

/// The most retransmissions of one message; past it the message is delivered anyway, so a
/// loss rate near 1 cannot stall a run forever.
pub const MAX_RETRANSMISSIONS: u32 = 32;

impl LinkModel {
    /// A link with a fixed latency, no jitter, unlimited bandwidth and no loss.
    pub fn ideal(latency_ns: u64) -> Self {
        LinkModel {
            latency_ns,
            jitter: Jitter::None,
            bandwidth: None,
            loss: 0.0,
            rto_ns: 200 * NS_PER_MS,
        }
    }

    /// The `lan` preset: 0.2 ms one way, 10 Gbit/s.
    pub fn lan() -> Self {
        LinkModel {
            bandwidth: Some(10_000_000_000 / 8),
            ..Self::ideal(200_000)
        }
    }

    /// The `wan` preset: 50 ms one way, 100 Mbit/s.
    pub fn wan() -> Self {
        LinkModel {
            bandwidth: Some(100_000_000 / 8),
            ..Self::ideal(50 * NS_PER_MS)
        }
    }

    /// Time to put `bytes` on the wire.
    pub fn serialization_ns(&self, bytes: usize) -> u64 {
        match self.bandwidth {
            // Ceiling, in u128 so that a large message on a slow link cannot overflow.
            Some(bw) if bw > 0 => ((bytes as u128 * NS_PER_S as u128).div_ceil(bw as u128)) as u64,
            _ => 0,
        }
    }
}

/// How bandwidth is shared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BandwidthScope {
    /// Every ordered pair of parties has its own link of the given bandwidth (the default).
    #[default]
    Link,
    /// A party's messages to all peers share one uplink of the given bandwidth (the link
    /// model of the pair still gives the latency); closer to one network card per machine.
    Sender,
}

/// The links of a session: a default model and per-pair overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkTable {
    /// The model of every link without an override.
    pub default: LinkModel,
    /// Directed overrides, `(from, to) -> model`.
    pub overrides: BTreeMap<(u16, u16), LinkModel>,
    /// How bandwidth is shared.
    pub scope: BandwidthScope,
}

impl LinkTable {
    /// Every link alike.
    pub fn uniform(model: LinkModel) -> Self {
        LinkTable {
            default: model,
            overrides: BTreeMap::new(),
            scope: BandwidthScope::Link,
        }
    }

    /// The model of the directed link `from -> to`.
    pub fn model(&self, from: u16, to: u16) -> &LinkModel {
        self.overrides.get(&(from, to)).unwrap_or(&self.default)
    }
}

/// When a message sent on a link arrives, and what the link looked like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transit {
    /// When the last byte left the sender.
    pub sent_ns: u64,
    /// When the message is available at the receiver.
    pub arrival_ns: u64,
}

/// The state of one directed link during a run.
#[derive(Clone, Debug)]
pub struct LinkClock {
    last_arrival: u64,
    rng: ChaCha8Rng,
}

impl LinkClock {
    /// A fresh link whose RNG is derived from the run's seed and the pair.
    pub fn new(seed: u64, from: u16, to: u16) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..10].copy_from_slice(&from.to_le_bytes());
        key[10..12].copy_from_slice(&to.to_le_bytes());
        key[31] = 0x4c; // 'L': separates link streams from other uses of the seed
        LinkClock {
            last_arrival: 0,
            rng: ChaCha8Rng::from_seed(key),
        }
    }

    /// Sends `bytes` at `now` over `model`, with the transmitter (the link's or the sender's
    /// uplink) free from `*busy_until` on; updates it and returns the transit.
    pub fn transmit(
        &mut self,
        model: &LinkModel,
        now: u64,
        bytes: usize,
        busy_until: &mut u64,
    ) -> Transit {
        let start = now.max(*busy_until);
        let sent = start + model.serialization_ns(bytes);
        *busy_until = sent;
        let mut delay = model.latency_ns + model.jitter.draw(&mut self.rng);
        if model.loss > 0.0 {
            let mut tries = 0;
            while tries < MAX_RETRANSMISSIONS && self.rng.random::<f64>() < model.loss {
                delay += model.rto_ns;
                tries += 1;
            }
        }
        Transit {
            sent_ns: sent,
            arrival_ns: self.order(sent + delay),
        }
    }

    /// Keeps arrivals in send order: nothing overtakes an earlier message on this link.
    pub fn order(&mut self, arrival: u64) -> u64 {
        self.last_arrival = self.last_arrival.max(arrival);
        self.last_arrival
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_serialization_delay() {
        let wan = LinkModel::wan();
        assert_eq!(wan.latency_ns, 50 * NS_PER_MS);
        // 12.5 MB/s: 125 kB take 10 ms.
        assert_eq!(wan.serialization_ns(125_000), 10 * NS_PER_MS);
        assert_eq!(LinkModel::ideal(5).serialization_ns(1 << 30), 0);
        assert_eq!(LinkModel::lan().latency_ns, 200_000);
    }

    #[test]
    fn a_busy_link_queues_and_keeps_order() {
        let model = LinkModel {
            bandwidth: Some(1000),
            ..LinkModel::ideal(NS_PER_MS)
        };
        let mut link = LinkClock::new(1, 0, 1);
        let mut busy = 0;
        let a = link.transmit(&model, 0, 1000, &mut busy);
        let b = link.transmit(&model, 0, 500, &mut busy);
        assert_eq!(a.arrival_ns, NS_PER_S + NS_PER_MS);
        assert_eq!(b.arrival_ns, NS_PER_S + NS_PER_S / 2 + NS_PER_MS);
    }

    #[test]
    fn loss_adds_retransmission_timeouts_deterministically() {
        let model = LinkModel {
            loss: 0.5,
            rto_ns: 7,
            ..LinkModel::ideal(0)
        };
        let draw = |seed| {
            let mut link = LinkClock::new(seed, 0, 1);
            let mut busy = 0;
            (0..100)
                .map(|i| link.transmit(&model, i * 1000, 1, &mut busy).arrival_ns % 1000)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        let delays = draw(3);
        assert!(delays.iter().all(|d| d % 7 == 0));
        assert!(delays.iter().any(|&d| d > 0) && delays.contains(&0));
    }

    #[test]
    fn jitter_is_bounded() {
        let model = LinkModel {
            jitter: Jitter::Uniform { max_ms: 2.0 },
            ..LinkModel::ideal(0)
        };
        let mut link = LinkClock::new(9, 1, 0);
        let mut busy = 0;
        for i in 0..200u64 {
            let t = link.transmit(&model, i * 10 * NS_PER_MS, 0, &mut busy);
            assert!(t.arrival_ns - i * 10 * NS_PER_MS <= 2 * NS_PER_MS);
        }
    }
}
