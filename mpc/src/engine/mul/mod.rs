//! Secure multiplication of two batches, with two selectable protocols:
//!
//! - [`MulProtocol::Grr`] — Gennaro, Rabin, Rabin 1998, §3 (the simplified BGW degree
//!   reduction): each of the first `2t + 1` parties reshares its local product at degree `t`,
//!   and every party recombines with Lagrange coefficients. 1 round; `(2t+1)(n-1)` elements per
//!   product on the wire.
//! - [`MulProtocol::Dn07`] — Damgård, Nielsen 2007, §3-4: the local product is masked with a
//!   preprocessed double sharing `[r]_2t`, opened to a king who sends the masked value to all;
//!   `[xy]_t = (xy - r) + [r]_t`. 2 online rounds (plus the dealing round that made the doubles,
//!   shared by every product of a batch); about `2n` elements per product. Kings rotate over
//!   the batch so no party carries all the load.

mod dn07;
mod grr;

use serde::{Deserialize, Serialize};

use super::{Engine, same_len};
use crate::error::Result;
use crate::field::Field;
use crate::net::Network;
use crate::share::{Shared, rules};

/// The multiplication protocol of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MulProtocol {
    /// Gennaro–Rabin–Rabin resharing: 1 round, `O(n²)` elements.
    Grr,
    /// Damgård–Nielsen with double sharings: 2 online rounds, `O(n)` elements.
    Dn07,
}

impl std::str::FromStr for MulProtocol {
    type Err = crate::error::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let choices = [("grr", MulProtocol::Grr), ("dn07", MulProtocol::Dn07)];
        Self::Err::pick("multiplication protocol", "grr or dn07", &choices, s)
    }
}

impl std::fmt::Display for MulProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MulProtocol::Grr => "grr",
            MulProtocol::Dn07 => "dn07",
        })
    }
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Element-wise product. Scales add (`2f` fractional bits for two fixed-point operands;
    /// see [`Engine::fx_mul`] for the truncating product). The result's bound is checked before
    /// anything is sent.
    pub async fn mul(&mut self, a: &Shared<F>, b: &Shared<F>) -> Result<Shared<F>> {
        same_len("mul", a.len(), b.len())?;
        let meta = rules::mul(a.facts(), b.facts())?;
        let shares = self.mul_raw(&a.shares, &b.shares).await?;
        self.verify_if_full().await?;
        Shared::from_facts(shares, meta)
    }

    /// Oblivious selection: `c ? a : b` element-wise, for a boolean `c`. One multiplication.
    pub async fn select(
        &mut self,
        c: &Shared<F>,
        a: &Shared<F>,
        b: &Shared<F>,
    ) -> Result<Shared<F>> {
        if !c.boolean {
            return Err(crate::error::MpcError::InvalidArgument {
                op: "select",
                reason: "the condition is not a boolean batch".into(),
            });
        }
        let diff = a.sub(b)?;
        let picked = self.mul(c, &diff).await?;
        let shares = picked.add(b)?.into_shares();
        Shared::from_facts(shares, rules::select(a.facts(), b.facts()))
    }

    /// Sums of products: for each chunk of `width` elements, `Σ a_j · b_j`. The local products
    /// are summed before the single degree reduction, so a sum of any length costs what one
    /// multiplication costs (rounds and traffic), and the batch `len / width` of them.
    pub async fn dot(&mut self, a: &Shared<F>, b: &Shared<F>, width: usize) -> Result<Shared<F>> {
        same_len("dot", a.len(), b.len())?;
        if width == 0 || a.len() % width != 0 {
            return Err(crate::error::MpcError::InvalidArgument {
                op: "dot",
                reason: format!("batch of {} does not split into sums of {width}", a.len()),
            });
        }
        let meta = rules::dot(a.facts(), b.facts(), width)?;
        let sums = a.len() / width;
        let local = || {
            a.shares
                .chunks_exact(width)
                .zip(b.shares.chunks_exact(width))
                .map(|(x, y)| x.iter().zip(y).map(|(&u, &v)| u * v).sum())
                .collect()
        };
        let shares = self.reduce(sums, local).await?;
        self.record_products(&a.shares, &b.shares, width, &shares);
        self.verify_if_full().await?;
        Shared::from_facts(shares, meta)
    }

    /// Products of raw shares with the session's protocol.
    pub(crate) async fn mul_raw(&mut self, x: &[F], y: &[F]) -> Result<Vec<F>> {
        same_len("mul", x.len(), y.len())?;
        let out = self
            .reduce(x.len(), || x.iter().zip(y).map(|(&a, &b)| a * b).collect())
            .await?;
        self.record_products(x, y, 1, &out);
        Ok(out)
    }

    /// Degree reduction of `len` local degree-`2t` values with the session's protocol (not
    /// recorded for the malicious check: callers record).
    pub(super) async fn reduce(
        &mut self,
        len: usize,
        local: impl FnOnce() -> Vec<F> + Send,
    ) -> Result<Vec<F>> {
        self.multiplications += len as u64;
        match self.config.mul {
            MulProtocol::Grr => self.reduce_grr(len, local).await,
            MulProtocol::Dn07 => self.reduce_dn07(len, local).await,
        }
    }
}
