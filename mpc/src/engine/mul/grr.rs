//! GRR multiplication (Gennaro, Rabin, Rabin 1998, §3): the product of two degree-`t` sharings
//! is a degree-`2t` sharing; each of the first `2t + 1` parties shares its local product at
//! degree `t`, and each party combines the sub-shares it received with the Lagrange
//! coefficients of those `2t + 1` points at zero. One round.

use crate::engine::Engine;
use crate::error::Result;
use crate::field::Field;
use crate::field::lincomb::Combination;
use crate::net::Network;
use crate::party::PartyId;
use crate::shamir;

impl<N: Network, F: Field> Engine<N, F> {
    /// Reduces `len` degree-`2t` values (local products or sums of them, computed by `local`
    /// only where needed: on the `2t + 1` dealers) to degree-`t` sharings.
    pub(super) async fn reduce_grr(
        &mut self,
        len: usize,
        local: impl FnOnce() -> Vec<F>,
    ) -> Result<Vec<F>> {
        let (n, t) = (self.params.n(), self.params.t());
        let round = self.next_round();
        let dealers: Vec<PartyId> = (0..=2 * t as u16).map(PartyId).collect();
        let mut own = Vec::new();
        if dealers.contains(&self.me) {
            let local = local();
            let mut per_party = shamir::deal(&local, t, n, &mut self.rng);
            for p in self.others() {
                let v = std::mem::take(&mut per_party[p.index()]);
                self.send_elems(p, round, &v)?;
            }
            own = std::mem::take(&mut per_party[self.me.index()]);
        }
        // Every dealer's sub-shares, then one pass of the small-integer Lagrange combination
        // written over the first dealer's vector.
        let mut subs = Vec::with_capacity(dealers.len());
        for &d in &dealers {
            subs.push(if d == self.me {
                std::mem::take(&mut own)
            } else {
                self.recv_elems(d, round, len).await?
            });
        }
        let lambda = self.interp.coefficients(&dealers, 0);
        Ok(Combination::new(lambda).apply_owned(subs))
    }
}
