//! Agreement on public claims: [`Engine::agree_all`] tells every party which of a list of
//! yes/no claims *every* party makes, with the same answer at every honest party or an abort.
//!
//! Used for the workers' record of owners' inputs already checked (`protocols::catalog`): an
//! input check may be skipped only when every worker, honest ones included, has seen that
//! exact input pass it before. One party's "yes" alone never skips anything, so a cheating
//! worker that claims a check it never saw changes nothing; one that claims "no" only makes the
//! check run again.
//!
//! # Consistency under a cheating party
//!
//! If a party told different honest parties different claims, they would decide differently
//! and run different programs. So the claims go out in one round, and in a second round every
//! party sends every other a SHA-256 digest of the whole list of claims it received (its own
//! included); a digest that differs from one's own view aborts the session with
//! [`MpcError::IntegrityCheckFailed`]. Two honest parties exchange their digests directly, so
//! if their views differ in any party's claim, both see it (echo broadcast with abort:
//! Goldwasser and Lindell, "Secure multi-party computation without agreement", J. Cryptology
//! 2005, §3, the one-echo-round broadcast with abort). A party that lies in its digest only
//! causes an abort.
//!
//! Cost: two rounds, `ceil(k / 8)` bytes and 32 bytes to each other party for `k` claims.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::Engine;
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;

impl<N: Network, F: Field> Engine<N, F> {
    /// For each of `claims` (this party's), whether every party of the session makes it; the
    /// same answer at every honest party, or [`MpcError::IntegrityCheckFailed`] when a party
    /// sent different claims to different parties (see the module doc). Every party must call
    /// it with the same number of claims (a different count is a malformed message).
    pub async fn agree_all(&mut self, claims: &[bool]) -> Result<Vec<bool>> {
        let me = self.me.index();
        let n = self.params.n();
        let packed = pack(claims);
        let round = self.next_round();
        for p in self.others() {
            self.net.send(p, round, Bytes::copy_from_slice(&packed))?;
        }
        let mut views = vec![Vec::new(); n];
        views[me] = packed;
        for p in self.others() {
            let bytes = self.net.recv(p, round).await?;
            if bytes.len() != views[me].len() {
                return Err(MpcError::Malformed {
                    from: p,
                    reason: format!(
                        "claims of {} bytes where {} claims take {}",
                        bytes.len(),
                        claims.len(),
                        views[me].len()
                    ),
                });
            }
            views[p.index()] = bytes.to_vec();
        }
        let digest = digest_of(&views);
        let echo = self.next_round();
        for p in self.others() {
            self.net.send(p, echo, Bytes::copy_from_slice(&digest))?;
        }
        let mut differs = false;
        for p in self.others() {
            let bytes = self.net.recv(p, echo).await?;
            differs |= bytes[..] != digest[..];
        }
        if differs {
            return Err(MpcError::IntegrityCheckFailed {
                check: "agreement on claims (a party sent different claims to different parties)",
                parties: Vec::new(),
            });
        }
        Ok((0..claims.len())
            .map(|k| views.iter().all(|v| v[k / 8] >> (k % 8) & 1 == 1))
            .collect())
    }
}

/// The claims as bits, eight to a byte.
fn pack(claims: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; claims.len().div_ceil(8)];
    for (k, &c) in claims.iter().enumerate() {
        out[k / 8] |= u8::from(c) << (k % 8);
    }
    out
}

/// A digest of every party's claims, in party order.
fn digest_of(views: &[Vec<u8>]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"quorate claims agreement v1");
    for view in views {
        hash.update((view.len() as u64).to_le_bytes());
        hash.update(view);
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_pack_eight_to_a_byte() {
        assert_eq!(pack(&[]), Vec::<u8>::new());
        assert_eq!(pack(&[true, false, true]), vec![0b101]);
        assert_eq!(pack(&[false; 9]), vec![0, 0]);
        let all = pack(&[true; 9]);
        assert_eq!(all, vec![0xff, 1]);
    }
}
