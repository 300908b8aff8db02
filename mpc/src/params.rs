//! The `(n, t)` setting of a session.
//!
//! Honest majority: no coalition of up to `t` parties learns anything, and `2t < n` so that
//! `2t + 1` parties can reconstruct the degree-`2t` product of two degree-`t` sharings.

use serde::{Deserialize, Serialize};

use crate::error::{MpcError, Result};
use crate::party::{MAX_PARTIES, PartyId};

/// The number of parties `n` and the threshold `t`, with `2t < n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    n: usize,
    t: usize,
}

impl Params {
    /// Validates `2t < n`, `t >= 1` and `n <= MAX_PARTIES`.
    pub fn new(n: usize, t: usize) -> Result<Self> {
        let bad = |reason| Err(MpcError::InvalidParams { n, t, reason });
        if n > MAX_PARTIES {
            return bad("more parties than the engine supports (1024)");
        }
        if t == 0 {
            return bad("t must be at least 1 (t = 0 means any single party sees everything)");
        }
        if 2 * t >= n {
            return bad("honest majority needs 2t < n");
        }
        Ok(Params { n, t })
    }

    /// The largest threshold for `n` parties: `(n - 1) / 2`.
    pub fn max_threshold(n: usize) -> Result<Self> {
        Self::new(n, n.saturating_sub(1) / 2)
    }

    /// Number of parties.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Threshold: the degree of a sharing, and the largest coalition that learns nothing.
    pub fn t(&self) -> usize {
        self.t
    }
    /// All parties, in order.
    pub fn parties(&self) -> impl Iterator<Item = PartyId> + use<> {
        (0..self.n as u16).map(PartyId)
    }
    /// Checks that `p` is one of this setting's parties.
    pub fn check(&self, p: PartyId) -> Result<PartyId> {
        if p.index() < self.n {
            Ok(p)
        } else {
            Err(MpcError::PartyOutOfRange {
                party: p.index(),
                n: self.n,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_majority_is_enforced() {
        assert!(Params::new(3, 1).is_ok());
        assert!(Params::new(31, 15).is_ok());
        let err = Params::new(4, 2).unwrap_err();
        assert!(err.to_string().contains("2t < n"), "{err}");
        assert!(Params::new(3, 0).is_err());
        assert!(Params::new(2000, 3).is_err());
        assert_eq!(Params::max_threshold(7).unwrap().t(), 3);
        assert!(Params::new(3, 1).unwrap().check(PartyId(3)).is_err());
    }
}
