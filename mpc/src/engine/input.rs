//! Inputs: a party secret-shares its own values, or an external dealer (a data owner's
//! client) shares them before any session starts; public constants are trivially shared.

use rand::RngCore;

use super::Engine;
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::field::encode::{encode_int, fixed_to_int};
use crate::net::Network;
use crate::params::Params;
use crate::party::PartyId;
use crate::shamir;
use crate::share::{Shared, check_bits};

/// An external dealer's sharing of integers in `[-2^bits, 2^bits)`: one vector per party.
/// This is what a data owner runs on its own machine before sending each worker its vector.
pub fn share_ints<F: Field, R: RngCore + ?Sized>(
    values: &[i128],
    bits: u32,
    params: Params,
    rng: &mut R,
) -> Result<Vec<Vec<F>>> {
    check_bits("share_ints", bits)?;
    let encoded = values
        .iter()
        .enumerate()
        .map(|(index, &v)| encode_int(v, bits).map_err(|source| MpcError::Encode { index, source }))
        .collect::<Result<Vec<F>>>()?;
    Ok(shamir::deal(&encoded, params.t(), params.n(), rng))
}

/// An external dealer's sharing of fixed-point values with `frac` fractional bits.
pub fn share_fixed<F: Field, R: RngCore + ?Sized>(
    values: &[f64],
    bits: u32,
    frac: u32,
    params: Params,
    rng: &mut R,
) -> Result<Vec<Vec<F>>> {
    let ints = values
        .iter()
        .enumerate()
        .map(|(index, &x)| {
            fixed_to_int(x, frac, bits).map_err(|source| MpcError::Encode { index, source })
        })
        .collect::<Result<Vec<i128>>>()?;
    share_ints(&ints, bits, params, rng)
}

impl<N: Network, F: Field> Engine<N, F> {
    /// Party `owner` shares `len` integers in `[-2^bits, 2^bits)`; the owner passes them in
    /// `values`, everyone else passes `None`. One round.
    pub async fn input_ints(
        &mut self,
        owner: PartyId,
        values: Option<&[i128]>,
        len: usize,
        bits: u32,
    ) -> Result<Shared<F>> {
        self.params.check(owner)?;
        check_bits("input_ints", bits)?;
        let round = self.next_round();
        let shares = if owner == self.me {
            let values = values.ok_or_else(|| MpcError::InvalidArgument {
                op: "input_ints",
                reason: "the owner must provide its values".into(),
            })?;
            if values.len() != len {
                return Err(MpcError::LengthMismatch {
                    op: "input_ints",
                    left: len,
                    right: values.len(),
                });
            }
            let mut per_party = share_ints(values, bits, self.params, &mut self.rng)?;
            for p in self.others() {
                let v = std::mem::take(&mut per_party[p.index()]);
                self.send_elems(p, round, &v)?;
            }
            std::mem::take(&mut per_party[self.me.index()])
        } else {
            self.recv_elems(owner, round, len).await?
        };
        Ok(Shared {
            shares,
            bits,
            frac: 0,
            boolean: false,
        })
    }

    /// Party `owner` shares `len` fixed-point values with `frac` fractional bits, whose scaled
    /// integers lie in `[-2^bits, 2^bits)`. One round.
    pub async fn input_fixed(
        &mut self,
        owner: PartyId,
        values: Option<&[f64]>,
        len: usize,
        bits: u32,
        frac: u32,
    ) -> Result<Shared<F>> {
        let ints = match values {
            Some(v) if owner == self.me => Some(
                v.iter()
                    .enumerate()
                    .map(|(index, &x)| {
                        fixed_to_int(x, frac, bits)
                            .map_err(|source| MpcError::Encode { index, source })
                    })
                    .collect::<Result<Vec<i128>>>()?,
            ),
            _ => None,
        };
        let shared = self.input_ints(owner, ints.as_deref(), len, bits).await?;
        Ok(shared.with_frac(frac))
    }

    /// Public integers as a sharing (every share is the value: a degree-0 polynomial).
    pub fn constant(&self, values: &[i128]) -> Result<Shared<F>> {
        let bits = values
            .iter()
            .map(|&v| crate::field::encode::bits_for(v))
            .max()
            .unwrap_or(0);
        Ok(Shared {
            shares: values.iter().map(|&v| F::from_i128(v)).collect(),
            bits: check_bits("constant", bits)?,
            frac: 0,
            boolean: values.iter().all(|&v| v == 0 || v == 1),
        })
    }
}
