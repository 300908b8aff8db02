//! DN07 multiplication (Damgård, Nielsen 2007, §4, with the king of Beerliová-Trubíniová and
//! Hirt's presentation): with a double sharing `([r]_t, [r]_2t)`, each party masks its local
//! product `d_i = x_i y_i - [r]_2t,i`; the king of the element collects `2t + 1` of these,
//! reconstructs `d = xy - r` (which reveals nothing: `r` is uniform) and sends it to everyone;
//! `[xy]_t = d + [r]_t`. Element `e`'s king is party `e mod n`, and only the `2t + 1` parties
//! following the king (cyclically, the king first) send it their shares. Two rounds.

use crate::engine::Engine;
use crate::error::Result;
use crate::field::Field;
use crate::net::{Network, codec};
use crate::party::PartyId;

impl<N: Network, F: Field> Engine<N, F> {
    /// The `2t + 1` parties whose shares king `k` reconstructs from.
    fn king_set(&self, king: PartyId) -> Vec<PartyId> {
        let n = self.params.n();
        (0..=2 * self.params.t())
            .map(|j| PartyId(((king.index() + j) % n) as u16))
            .collect()
    }

    /// Reduces `len` degree-`2t` values (local products or sums of them) to degree-`t`
    /// sharings.
    pub(super) async fn reduce_dn07(
        &mut self,
        len: usize,
        local: impl FnOnce() -> Vec<F>,
    ) -> Result<Vec<F>> {
        let n = self.params.n();
        let t = self.params.t();
        let short = len.saturating_sub(self.pooled_doubles());
        if short > 0 {
            self.deal_round(short, 0, &[]).await?;
        }
        let (rt, r2t) = self.take_doubles(len);
        let mut masked = local();
        for (m, r) in masked.iter_mut().zip(&r2t) {
            *m -= *r;
        }
        let count = |k: usize| if len > k { (len - k).div_ceil(n) } else { 0 };

        // Round 1: shares to the kings.
        let r1 = self.next_round();
        for king in self.params.parties() {
            if king != self.me && self.king_set(king).contains(&self.me) {
                let payload =
                    codec::encode_iter(strided(&masked, king.index(), n), count(king.index()));
                self.net.send(king, r1, payload)?;
            }
        }
        let set = self.king_set(self.me);
        let mine = count(self.me.index());
        let mut shares = Vec::with_capacity(set.len());
        for &p in &set {
            if p == self.me {
                shares.push(strided(&masked, self.me.index(), n).collect());
            } else {
                shares.push(self.recv_elems(p, r1, mine).await?);
            }
        }
        let refs: Vec<&[F]> = shares.iter().map(|v| v.as_slice()).collect();
        let opened = self.interp.reconstruct(&set, &refs, 2 * t, false)?;

        // Round 2: the kings' openings to everyone.
        let r2 = self.next_round();
        let payload = codec::encode(&opened);
        for p in self.others() {
            self.net.send(p, r2, payload.clone())?;
        }
        let mut out = rt;
        for king in self.params.parties() {
            let values = if king == self.me {
                opened.clone()
            } else {
                self.recv_elems(king, r2, count(king.index())).await?
            };
            for (j, v) in values.into_iter().enumerate() {
                out[king.index() + j * n] += v;
            }
        }
        Ok(out)
    }
}

/// Every `n`-th element of `v`, starting at `k`.
fn strided<F: Copy>(v: &[F], k: usize, n: usize) -> impl Iterator<Item = F> + '_ {
    v.iter().skip(k).step_by(n).copied()
}
