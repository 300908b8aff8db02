//! The ledger's plain identifiers, named by every other part of it: [`Hash256`] (an entry's
//! hash, a schema's, a job spec's), [`JobId`] and [`WorkerId`]. They live below
//! [`super::entry`] and [`super::job`], which both name them, and name nothing themselves.

use std::fmt;

use sha2::{Digest, Sha256};

/// A worker's number in the roster; the same as its MPC party index.
pub type WorkerId = u16;
/// A job's number, given by the coordinator.
pub type JobId = u64;

/// A SHA-256 digest: an entry's hash, a dataset schema's, a job spec's. Hex for humans.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash256(pub [u8; 32]);
mpc::serde_bytes_hex!(Hash256, 32);

impl Hash256 {
    /// All zeros: the `prev` of the genesis entry.
    pub const ZERO: Hash256 = Hash256([0; 32]);

    /// `SHA-256(domain || bytes)`.
    pub fn of(domain: &[u8], bytes: &[u8]) -> Hash256 {
        let mut h = Sha256::new();
        h.update(domain);
        h.update(bytes);
        Hash256(h.finalize().into())
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({}..)", hex::encode(&self.0[..8]))
    }
}
