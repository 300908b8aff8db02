//! The fault schedule of a run: crashes, partitions and slow parties, fixed before the run
//! starts so that a seed replays it exactly.
//!
//! - **Crash**: a party stops at a virtual instant, or when it first touches a given round
//!   (sends or waits for a message of that round), whichever comes first. Messages it sent
//!   before still arrive; then its connections close, and a peer that waits on it gets
//!   [`mpc::net::NetError::PeerGone`] naming it, one link latency after the crash (the close
//!   travels like a message).
//! - **Partition**: for `[from, until)`, links between parties of different groups are cut
//!   (a party listed in no group stays connected to everyone). A message on the wire during
//!   the cut (its transmission starts before `until` and it would arrive after `from`) is
//!   either **held** ([`PartitionMode::Hold`], the default: the transport retransmits it after
//!   the heal, so it arrives one link latency after `until`; the run just takes longer) or
//!   **dropped** ([`PartitionMode::Drop`]: the connection is lost for good, the message never
//!   arrives, and the receiver that waits for it times out at its virtual deadline, naming the
//!   sender).
//! - **Slow party**: its compute costs (see [`crate::sim_net::ComputeModel`]) are multiplied,
//!   and every message it sends leaves later by a fixed extra delay.
//!
//! What this module does not do: apply the faults (the simulated network does, see
//! [`crate::sim_net`]) or parse them (see [`crate::scenario`]). It only answers questions
//! about the schedule.

use mpc::MpcError;
use mpc::net::NetError;
use serde::{Deserialize, Serialize};

/// What happens to messages caught in a partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionMode {
    /// Held and delivered after the heal (the default).
    #[default]
    Hold,
    /// Lost: the receiver times out.
    Drop,
}

/// A crash of one party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crash {
    /// The party.
    pub party: u16,
    /// The virtual instant of the crash, in nanoseconds.
    pub at_ns: Option<u64>,
    /// The first round the party never takes part in.
    pub at_round: Option<u32>,
}

/// A partition between groups of parties for an interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Groups of parties; links between different groups are cut.
    pub groups: Vec<Vec<u16>>,
    /// Start of the cut, virtual nanoseconds.
    pub from_ns: u64,
    /// End of the cut (the heal), virtual nanoseconds.
    pub until_ns: u64,
    /// What happens to messages caught in it.
    pub mode: PartitionMode,
}

impl Partition {
    fn group_of(&self, p: u16) -> Option<usize> {
        self.groups.iter().position(|g| g.contains(&p))
    }

    /// True when the partition separates `a` and `b`.
    pub fn separates(&self, a: u16, b: u16) -> bool {
        matches!((self.group_of(a), self.group_of(b)), (Some(x), Some(y)) if x != y)
    }
}

/// A slow party.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slow {
    /// The party.
    pub party: u16,
    /// Multiplies the party's compute costs (1.0 = normal speed).
    pub cpu_multiplier: f64,
    /// Extra delay before each message the party sends leaves it, nanoseconds.
    pub extra_delay_ns: u64,
}

/// One scheduled fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// A crash.
    Crash(Crash),
    /// A partition.
    Partition(Partition),
    /// A slow party.
    Slow(Slow),
}

/// What a partition does to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Not affected.
    Clear,
    /// Delivered no earlier than this instant plus the link latency.
    HeldUntil(u64),
    /// Never delivered.
    Dropped,
}

/// The faults of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The faults, in the order they were declared.
    pub faults: Vec<Fault>,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        FaultPlan::default()
    }

    /// The crash scheduled for `party`, if any (the first declared).
    pub fn crash_of(&self, party: u16) -> Option<Crash> {
        self.faults.iter().find_map(|f| match f {
            Fault::Crash(c) if c.party == party => Some(*c),
            _ => None,
        })
    }

    /// `(cpu_multiplier, extra_delay_ns)` of `party`; several declarations combine.
    pub fn slowness(&self, party: u16) -> (f64, u64) {
        self.faults.iter().fold((1.0, 0), |(m, d), f| match f {
            Fault::Slow(s) if s.party == party => (m * s.cpu_multiplier, d + s.extra_delay_ns),
            _ => (m, d),
        })
    }

    /// What the partitions do to a message from `from` to `to` whose transmission starts at
    /// `start_ns` and that would arrive at `arrival_ns`. A drop wins over a hold; of several
    /// holds the latest heal counts.
    pub fn cut(&self, from: u16, to: u16, start_ns: u64, arrival_ns: u64) -> Cut {
        let mut cut = Cut::Clear;
        for f in &self.faults {
            let Fault::Partition(p) = f else { continue };
            if !p.separates(from, to) || start_ns >= p.until_ns || arrival_ns <= p.from_ns {
                continue;
            }
            match (p.mode, cut) {
                (PartitionMode::Drop, _) => return Cut::Dropped,
                (PartitionMode::Hold, Cut::HeldUntil(t)) if t >= p.until_ns => {}
                (PartitionMode::Hold, _) => cut = Cut::HeldUntil(p.until_ns),
            }
        }
        cut
    }
}

/// The peer an error blames, if any.
pub fn blamed(error: &MpcError) -> Option<u16> {
    match error {
        MpcError::Net(
            NetError::PeerGone(p)
            | NetError::Timeout { peer: p, .. }
            | NetError::RoundMismatch { peer: p, .. }
            | NetError::Oversize { peer: p, .. }
            | NetError::Transport { peer: p, .. },
        ) => Some(p.0),
        MpcError::Malformed { from, .. } => Some(from.0),
        MpcError::InconsistentShares { party, .. } => Some(party.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(mode: PartitionMode) -> FaultPlan {
        FaultPlan {
            faults: vec![
                Fault::Partition(Partition {
                    groups: vec![vec![0, 1], vec![2]],
                    from_ns: 100,
                    until_ns: 200,
                    mode,
                }),
                Fault::Slow(Slow {
                    party: 1,
                    cpu_multiplier: 2.0,
                    extra_delay_ns: 5,
                }),
                Fault::Crash(Crash {
                    party: 2,
                    at_ns: None,
                    at_round: Some(3),
                }),
            ],
        }
    }

    #[test]
    fn partitions_cut_only_across_groups_and_only_during_the_interval() {
        let p = plan(PartitionMode::Hold);
        assert_eq!(p.cut(0, 1, 150, 160), Cut::Clear);
        assert_eq!(p.cut(0, 2, 150, 160), Cut::HeldUntil(200));
        assert_eq!(p.cut(2, 0, 50, 120), Cut::HeldUntil(200));
        assert_eq!(p.cut(2, 0, 50, 90), Cut::Clear);
        assert_eq!(p.cut(2, 0, 200, 300), Cut::Clear);
        assert_eq!(plan(PartitionMode::Drop).cut(1, 2, 150, 160), Cut::Dropped);
    }

    #[test]
    fn lookups() {
        let p = plan(PartitionMode::Hold);
        assert_eq!(p.slowness(1), (2.0, 5));
        assert_eq!(p.slowness(0), (1.0, 0));
        assert_eq!(p.crash_of(2).unwrap().at_round, Some(3));
        assert!(p.crash_of(0).is_none());
    }
}
