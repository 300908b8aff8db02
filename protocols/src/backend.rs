//! [`Backend`]: the batched operations protocols are written against (the idea of swanky's
//! `Fancy`), with three implementations:
//! - the MPC engine ([`mpc::Engine`]), where a [`Secret`] holds one party's shares;
//! - [`Clear`], where a [`Secret`] holds the plain values: the reference every test compares
//!   the engine against, and a fast way to check a protocol's logic;
//! - [`Counting`], a wrapper that counts operations and elements, for planning and benchmarks.
//!
//! Linear operations are the methods of [`Secret`] itself (`add`, `sub`, `scale`, `sum`, ...):
//! they mean the same on shares and on plain values. Only what needs interaction is here, and
//! every implementation derives the public facts of a result (bound, scale, boolean) with the
//! same rules ([`mpc::share::rules`]), so a computation the engine refuses, `Clear` refuses too.

use std::future::Future;

use mpc::field::Field;
use mpc::net::Network;
use mpc::share::rules;
use mpc::{Engine, Fr, MpcError, PartyId, Result, Shared};

/// A batch of secret values: shares on the engine, plain values in the clear.
pub type Secret = Shared<Fr>;

/// The interactive operations protocols use. Every operation takes a batch.
pub trait Backend: Send {
    /// Public integers as a batch.
    fn constant(&self, values: &[i128]) -> Result<Secret>;
    /// Element-wise product (scales add).
    fn mul(&mut self, a: &Secret, b: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// Fixed-point product, truncated back to the larger operand scale.
    fn fx_mul(&mut self, a: &Secret, b: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// `a / 2^m`, rounded down or (on the engine, with probability `(a mod 2^m)/2^m`) up.
    fn trunc(&mut self, a: &Secret, m: u32) -> impl Future<Output = Result<Secret>> + Send;
    /// `c ? a : b` for a boolean `c`.
    fn select(
        &mut self,
        c: &Secret,
        a: &Secret,
        b: &Secret,
    ) -> impl Future<Output = Result<Secret>> + Send;
    /// `[a < b]`.
    fn lt(&mut self, a: &Secret, b: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// `[a <= b]`.
    fn le(&mut self, a: &Secret, b: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// `[a == b]`.
    fn eq(&mut self, a: &Secret, b: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// Opens integers (or scaled fixed-point integers) to everyone.
    fn open(&mut self, a: &Secret) -> impl Future<Output = Result<Vec<i128>>> + Send;
    /// Opens to one party: `Some` there, `None` elsewhere (`Clear` always answers `Some`).
    fn open_to(
        &mut self,
        a: &Secret,
        to: PartyId,
    ) -> impl Future<Output = Result<Option<Vec<i128>>>> + Send;
}

fn decode_all(values: &[Fr]) -> Result<Vec<i128>> {
    values
        .iter()
        .enumerate()
        .map(|(index, v)| {
            v.to_i128().ok_or(MpcError::Encode {
                index,
                source: mpc::EncodeError::NotAnInteger,
            })
        })
        .collect()
}

impl<N: Network> Backend for Engine<N, Fr> {
    fn constant(&self, values: &[i128]) -> Result<Secret> {
        Engine::constant(self, values)
    }
    async fn mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::mul(self, a, b).await
    }
    async fn fx_mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::fx_mul(self, a, b).await
    }
    async fn trunc(&mut self, a: &Secret, m: u32) -> Result<Secret> {
        Engine::trunc_pr(self, a, m).await
    }
    async fn select(&mut self, c: &Secret, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::select(self, c, a, b).await
    }
    async fn lt(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::lt(self, a, b).await
    }
    async fn le(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::le(self, a, b).await
    }
    async fn eq(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::eq(self, a, b).await
    }
    async fn open(&mut self, a: &Secret) -> Result<Vec<i128>> {
        Engine::open_ints(self, a).await
    }
    async fn open_to(&mut self, a: &Secret, to: PartyId) -> Result<Option<Vec<i128>>> {
        match Engine::open_to(self, a, to).await? {
            Some(v) => Ok(Some(decode_all(&v)?)),
            None => Ok(None),
        }
    }
}

/// The computation in the clear: a [`Secret`]'s "shares" are the plain values.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clear;

/// True when the field element, read as a signed integer, is negative.
fn is_negative(x: Fr) -> bool {
    let (pos, neg) = (x.to_canonical_limbs(), (-x).to_canonical_limbs());
    // Exactly one of x, -x is below p/2 (for x != 0); x is negative when -x is the smaller.
    (0..4)
        .rev()
        .map(|i| pos[i].cmp(&neg[i]))
        .find(|o| o.is_ne())
        == Some(std::cmp::Ordering::Greater)
}

/// `floor(x / 2^m)` for a field element read as a signed integer.
fn floor_shift(x: Fr, m: u32) -> Fr {
    let negative = is_negative(x);
    // floor(-y / 2^m) = -ceil(y / 2^m) = -floor((y + 2^m - 1) / 2^m)
    let y = if negative {
        -x + Fr::pow2(m) - Fr::one()
    } else {
        x
    };
    let limbs = y.to_canonical_limbs();
    let mut shifted = [0u64; 4];
    let (words, bits) = ((m / 64) as usize, m % 64);
    for (i, out) in shifted.iter_mut().enumerate() {
        let lo = limbs.get(i + words).copied().unwrap_or(0);
        let hi = limbs.get(i + words + 1).copied().unwrap_or(0);
        *out = if bits == 0 {
            lo
        } else {
            (lo >> bits) | (hi << (64 - bits))
        };
    }
    let value = Fr::from_u128(((shifted[1] as u128) << 64) | shifted[0] as u128)
        + Fr::from_u128(((shifted[3] as u128) << 64) | shifted[2] as u128) * Fr::pow2(128);
    if negative { -value } else { value }
}

fn same_len(op: &'static str, a: &Secret, b: &Secret) -> Result<()> {
    if a.len() == b.len() {
        Ok(())
    } else {
        Err(MpcError::LengthMismatch {
            op,
            left: a.len(),
            right: b.len(),
        })
    }
}

/// The engine's comparisons and truncations need one bit of room above their operand's bound.
fn check_room(op: &'static str, a: &Secret) -> Result<()> {
    if a.bits() + 1 > mpc::share::MAX_BITS {
        return Err(MpcError::BoundExceeded {
            op,
            bits: a.bits() + 1,
            limit: mpc::share::MAX_BITS,
        });
    }
    Ok(())
}

fn compare(op: &'static str, a: &Secret, b: &Secret, f: impl Fn(Fr) -> bool) -> Result<Secret> {
    let d = a.sub(b)?;
    check_room(op, &d)?;
    let values = d
        .shares()
        .iter()
        .map(|&x| if f(x) { Fr::one() } else { Fr::zero() })
        .collect();
    Shared::from_facts(values, rules::comparison())
}

impl Backend for Clear {
    fn constant(&self, values: &[i128]) -> Result<Secret> {
        let bits = values
            .iter()
            .map(|&v| mpc::field::encode::bits_for(v))
            .max()
            .unwrap_or(0);
        let boolean = values.iter().all(|&v| v == 0 || v == 1);
        let meta = mpc::share::Meta {
            bits,
            frac: 0,
            boolean,
        };
        Shared::from_facts(values.iter().map(|&v| Fr::from_i128(v)).collect(), meta)
    }
    async fn mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        same_len("mul", a, b)?;
        let meta = rules::mul(a.facts(), b.facts())?;
        Shared::from_facts(
            a.shares()
                .iter()
                .zip(b.shares())
                .map(|(&x, &y)| x * y)
                .collect(),
            meta,
        )
    }
    async fn fx_mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        let p = self.mul(a, b).await?;
        self.trunc(&p, a.frac().min(b.frac())).await
    }
    async fn trunc(&mut self, a: &Secret, m: u32) -> Result<Secret> {
        check_room("trunc_pr", a)?;
        Shared::from_facts(
            a.shares().iter().map(|&x| floor_shift(x, m)).collect(),
            rules::trunc(a.facts(), m),
        )
    }
    async fn select(&mut self, c: &Secret, a: &Secret, b: &Secret) -> Result<Secret> {
        same_len("select", a, b)?;
        same_len("select", c, a)?;
        if !c.is_boolean() {
            return Err(MpcError::InvalidArgument {
                op: "select",
                reason: "the condition is not a boolean batch".into(),
            });
        }
        a.sub(b)?;
        let values = (0..a.len())
            .map(|i| {
                if c.shares()[i] == Fr::one() {
                    a.shares()[i]
                } else {
                    b.shares()[i]
                }
            })
            .collect();
        Shared::from_facts(values, rules::select(a.facts(), b.facts()))
    }
    async fn lt(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        compare("lt", a, b, is_negative)
    }
    async fn le(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        compare("le", b, a, |d| !is_negative(d))
    }
    async fn eq(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        compare("eq", a, b, |d| d.is_zero())
    }
    async fn open(&mut self, a: &Secret) -> Result<Vec<i128>> {
        decode_all(a.shares())
    }
    async fn open_to(&mut self, a: &Secret, _to: PartyId) -> Result<Option<Vec<i128>>> {
        decode_all(a.shares()).map(Some)
    }
}

/// Operation counts of a run, for planning and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Element-wise products (including those inside fixed-point products and selections).
    pub multiplications: u64,
    /// Element-wise comparisons.
    pub comparisons: u64,
    /// Element-wise truncations.
    pub truncations: u64,
    /// Elements opened (to all or to one party).
    pub opened: u64,
    /// Interactive operations called (each a batch).
    pub batches: u64,
}

/// Wraps a backend and counts what the protocol asks of it.
#[derive(Debug, Default)]
pub struct Counting<B> {
    /// The wrapped backend.
    pub inner: B,
    /// The counts so far.
    pub counts: OpCounts,
}

impl<B: Backend> Counting<B> {
    /// Starts counting.
    pub fn new(inner: B) -> Self {
        Counting {
            inner,
            counts: OpCounts::default(),
        }
    }
    fn tally(&mut self, field: fn(&mut OpCounts) -> &mut u64, n: usize) {
        *field(&mut self.counts) += n as u64;
        self.counts.batches += 1;
    }
}

impl<B: Backend> Backend for Counting<B> {
    fn constant(&self, values: &[i128]) -> Result<Secret> {
        self.inner.constant(values)
    }
    async fn mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.multiplications, a.len());
        self.inner.mul(a, b).await
    }
    async fn fx_mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.multiplications, a.len());
        self.counts.truncations += a.len() as u64;
        self.inner.fx_mul(a, b).await
    }
    async fn trunc(&mut self, a: &Secret, m: u32) -> Result<Secret> {
        self.tally(|c| &mut c.truncations, a.len());
        self.inner.trunc(a, m).await
    }
    async fn select(&mut self, c: &Secret, a: &Secret, b: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.multiplications, a.len());
        self.inner.select(c, a, b).await
    }
    async fn lt(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.comparisons, a.len());
        self.inner.lt(a, b).await
    }
    async fn le(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.comparisons, a.len());
        self.inner.le(a, b).await
    }
    async fn eq(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.comparisons, a.len());
        self.inner.eq(a, b).await
    }
    async fn open(&mut self, a: &Secret) -> Result<Vec<i128>> {
        self.tally(|c| &mut c.opened, a.len());
        self.inner.open(a).await
    }
    async fn open_to(&mut self, a: &Secret, to: PartyId) -> Result<Option<Vec<i128>>> {
        self.tally(|c| &mut c.opened, a.len());
        self.inner.open_to(a, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_shift_and_sign() {
        for (v, m) in [
            (7i128, 1u32),
            (-7, 1),
            (-8, 3),
            (1 << 100, 60),
            (-(1 << 100) - 1, 60),
            (0, 5),
            (-1, 5),
        ] {
            let got = floor_shift(Fr::from_i128(v), m).to_i128().unwrap();
            assert_eq!(got, v >> m, "v={v} m={m}");
        }
        assert!(is_negative(Fr::from_i128(-1)));
        assert!(!is_negative(Fr::from_i128(0)));
        assert!(!is_negative(Fr::pow2(200)));
        assert!(is_negative(-Fr::pow2(200)));
    }
}
