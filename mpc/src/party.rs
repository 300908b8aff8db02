//! Parties: who is who in a session.
//!
//! Parties are numbered `0..n`; party `i` holds the share at evaluation point `i + 1`. The
//! `(n, t)` setting they form is [`crate::params`]. This module names no other module of the
//! crate, so errors ([`crate::error`]) and transports ([`crate::net`]) can name a party.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most parties the engine accepts.
pub const MAX_PARTIES: usize = 1024;

/// A party's index, `0..n`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartyId(pub u16);

impl PartyId {
    /// The index as a `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
    /// The Shamir evaluation point of this party, `index + 1`.
    pub fn point(self) -> u64 {
        self.0 as u64 + 1
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.0)
    }
}
