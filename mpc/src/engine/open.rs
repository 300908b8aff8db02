//! Openings: reconstruct a batch to every party, or to one recipient only.
//!
//! Every party sends its shares directly to every receiver (one round, `n(n-1)` messages for
//! an opening to all). A receiver interpolates from the first `degree + 1` parties and, with
//! [`EngineConfig::check_openings`](super::EngineConfig), checks that the others' shares lie
//! on the same polynomial.
//!
//! Under the malicious level a share off the polynomial fails the session with the integrity
//! check "opening consistency", naming the parties off the polynomial when `n >= d + 2t + 1`
//! for a degree-`d` opening (`n >= 3t + 1` at degree `t`): a receiver decodes the first element
//! it found inconsistent and names exactly the shares it received off the honest polynomial
//! (`decode.rs`, with the argument; below that bound nobody can be named). An honest party
//! sends one payload to every receiver, so a cheater that does too is named by every honest
//! party. The names are not agreed on: the sends are
//! point-to-point, so a cheater that equivocates is named only by the receivers it sent a bad
//! share to; an honest party is never named.

use super::Engine;
use super::decode::off_polynomial;
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::field::encode::{decode_each, decode_fixed, decode_int};
use crate::net::Network;
use crate::party::PartyId;
use crate::share::Shared;

impl<N: Network, F: Field> Engine<N, F> {
    /// Opens a batch to every party. One round (under the malicious level, after the check of
    /// every product so far, [`Engine::verify`]).
    pub async fn open(&mut self, x: &Shared<F>) -> Result<Vec<F>> {
        self.verify().await?;
        let t = self.params.t();
        self.open_raw(&x.shares, t).await
    }

    /// Opens values hidden by a statistical mask (a comparison's, a decomposition's, a
    /// truncation's): under the malicious level, after the check of every product so far
    /// ([`Engine::verify`]; a no-op when semi-honest or nothing is pending). An additive error
    /// in an earlier product, carried through a later product with a secret factor `y`, shifts
    /// the masked value by `δ·y`: not a shift the adversary knows, and not one that a mask of
    /// `k + 40` bits hides, so the opening would show `y`. Checked first, the opened value is
    /// the honest `x + mask`.
    pub(crate) async fn open_masked(&mut self, masked: &[F]) -> Result<Vec<F>> {
        self.verify().await?;
        self.open_raw(masked, self.params.t()).await
    }

    /// Opens a batch of integers to every party.
    pub async fn open_ints(&mut self, x: &Shared<F>) -> Result<Vec<i128>> {
        let opened = self.open(x).await?;
        decode_each(&opened, decode_int)
    }

    /// Opens a batch of fixed-point values to every party.
    pub async fn open_fixed(&mut self, x: &Shared<F>) -> Result<Vec<f64>> {
        let frac = x.frac;
        let opened = self.open(x).await?;
        decode_each(&opened, |v| decode_fixed(v, frac))
    }

    /// Opens a batch to `recipient` only: it gets `Some(values)`, everyone else `None`.
    /// One round, `n - 1` messages (under the malicious level, after [`Engine::verify`]).
    pub async fn open_to(&mut self, x: &Shared<F>, recipient: PartyId) -> Result<Option<Vec<F>>> {
        self.params.check(recipient)?;
        self.verify().await?;
        let round = self.next_round();
        if recipient != self.me {
            self.send_elems(recipient, round, &x.shares)?;
            return Ok(None);
        }
        let parties: Vec<PartyId> = self.params.parties().collect();
        let mut received = Vec::with_capacity(parties.len());
        for &p in &parties {
            if p == self.me {
                received.push(x.shares.clone());
            } else {
                received.push(self.recv_elems(p, round, x.len()).await?);
            }
        }
        let t = self.params.t();
        self.reconstruct_named(&parties, &received, t).map(Some)
    }

    /// Opens raw shares of a degree-`degree` sharing to every party. One round.
    pub(crate) async fn open_raw(&mut self, shares: &[F], degree: usize) -> Result<Vec<F>> {
        let (parties, received) = self.exchange(shares).await?;
        self.reconstruct_named(&parties, &received, degree)
    }

    /// [`Engine::open_raw`] that returns inconsistent shares as
    /// [`MpcError::InconsistentShares`](crate::MpcError::InconsistentShares), with the element's index, under every level.
    pub(crate) async fn open_unmapped(&mut self, shares: &[F], degree: usize) -> Result<Vec<F>> {
        let (parties, received) = self.exchange(shares).await?;
        let refs: Vec<&[F]> = received.iter().map(|v| v.as_slice()).collect();
        let check = self.config.check_openings;
        self.interp.reconstruct(&parties, &refs, degree, check)
    }

    /// Reconstructs `received` (party `parties[k]`'s shares at `k`); under the malicious level
    /// inconsistent shares fail with the integrity check "opening consistency", naming the
    /// parties off the polynomial at the inconsistent element where that is possible (module
    /// doc).
    fn reconstruct_named(
        &mut self,
        parties: &[PartyId],
        received: &[Vec<F>],
        degree: usize,
    ) -> Result<Vec<F>> {
        let refs: Vec<&[F]> = received.iter().map(|v| v.as_slice()).collect();
        let check = self.config.check_openings;
        match self.interp.reconstruct(parties, &refs, degree, check) {
            Err(MpcError::InconsistentShares { index, .. }) if self.malicious() => {
                let column: Vec<F> = received.iter().map(|v| v[index]).collect();
                Err(MpcError::IntegrityCheckFailed {
                    check: "opening consistency",
                    parties: off_polynomial(parties, &column, degree, self.params.t()),
                })
            }
            other => other,
        }
    }

    /// Sends `shares` to every other party and receives theirs: the parties, and each one's
    /// shares (this party's own included), in party order. One round.
    async fn exchange(&mut self, shares: &[F]) -> Result<(Vec<PartyId>, Vec<Vec<F>>)> {
        let round = self.next_round();
        let payload = crate::net::codec::encode(shares);
        // Bytes clones share one buffer.
        for p in self.others() {
            self.net.send(p, round, payload.clone())?;
        }
        let parties: Vec<PartyId> = self.params.parties().collect();
        let mut received: Vec<Vec<F>> = Vec::with_capacity(parties.len());
        for &p in &parties {
            if p == self.me {
                received.push(shares.to_vec());
            } else {
                received.push(self.recv_elems(p, round, shares.len()).await?);
            }
        }
        Ok((parties, received))
    }
}
