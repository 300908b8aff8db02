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
use mpc::field::encode::{floor_div, floor_shift, from_bigint, is_negative, to_bigint};
use mpc::net::Network;
use mpc::share::rules;
use mpc::{Engine, Fr, MpcError, OwnerInput, PartyId, Result, Shared};
use num_bigint::{BigInt, Sign};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

/// A batch of secret values: shares on the engine, plain values in the clear.
pub type Secret = Shared<Fr>;

/// The interactive operations protocols use. Every operation takes a batch.
pub trait Backend: Send {
    /// Public integers as a batch.
    fn constant(&self, values: &[i128]) -> Result<Secret>;
    /// Element-wise product (scales add).
    fn mul(&mut self, a: &Secret, b: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// Sums of products over consecutive chunks of `width` elements: `len / width` results,
    /// each costing what one multiplication costs on the engine.
    fn dot(
        &mut self,
        a: &Secret,
        b: &Secret,
        width: usize,
    ) -> impl Future<Output = Result<Secret>> + Send;
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
    /// `a / b` in fixed point, with `a`'s fractional bits ([`INTEGER_FRAC`] when `a` is an
    /// integer). A zero divisor is read as one unit in its last place, as the engine does (it
    /// cannot signal a zero without leaking it). Refused, before anything runs, when the bounds
    /// leave the engine's range: see [`division_bits`].
    fn fx_div(&mut self, a: &Secret, b: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// `sqrt(|x|)` in fixed point, with `x`'s fractional bits ([`INTEGER_FRAC`] for an integer
    /// `x`). `x`'s bound may be up to [`MAX_ROOT_BITS`] bits.
    fn fx_sqrt(&mut self, x: &Secret) -> impl Future<Output = Result<Secret>> + Send;
    /// The bits of `u = x + 2^k` for `x` with bound `k = x.bits()`: `k + 1` boolean batches of
    /// `x.len()` elements, least significant first (`x = Σ 2^i u_i - 2^k`; see
    /// [`mpc::Engine::bit_decompose`] for the protocol and its cost: `k` products per element,
    /// `k` multiplication rounds after one masked opening).
    fn bit_decompose(&mut self, x: &Secret) -> impl Future<Output = Result<Vec<Secret>>> + Send;
    /// Whether [`Backend::select_ranks`] and [`Backend::one_hot`] run here: on the engine, a
    /// session with PRSS randomness, under either security level
    /// ([`mpc::Engine::binary_selection_available`]); always in the clear.
    fn binary_selection(&self) -> bool;
    /// For each rank `k` of `ranks` (`0 <= k < 2^ranks.bits()`), the value of rank `k` (0-based,
    /// ascending) among the elements of `x` flagged by the boolean `members`, or `2^w - 1`
    /// (`w = x.bits()`) when fewer than `k + 1` are flagged: the radix selection in the binary
    /// domain ([`mpc::Engine::select_ranks`] for the protocol and its cost).
    fn select_ranks(
        &mut self,
        x: &Secret,
        members: &Secret,
        ranks: &Secret,
    ) -> impl Future<Output = Result<Secret>> + Send;
    /// `[g = j]` for `j = 0..groups`, group-major (`groups` boolean runs of `g.len()`): the
    /// one-hot of a `GROUP BY` column in the binary domain, an element outside `[0, groups)`
    /// in no group ([`mpc::Engine::one_hot`] for the protocol and its cost). Runs where
    /// [`Backend::binary_selection`] does.
    fn one_hot(&mut self, g: &Secret, groups: usize)
    -> impl Future<Output = Result<Secret>> + Send;
    /// `len` secret bits, uniformly random and known to no party (drawn jointly on the engine,
    /// from the backend's seeded RNG in the clear).
    fn random_bits(&mut self, len: usize) -> impl Future<Output = Result<Secret>> + Send;
    /// `len` secret masking integers in `[0, 2^(bits + MASK_SLACK))`, unknown to every party,
    /// for statistical masking: added to a value of `bits - 40` bits, one hides it up to
    /// statistical distance `2^-40`. Not uniform on the engine (a sum of integers dealt by
    /// `t + 1` parties, one round, far cheaper than `bits` random bits); uniform below
    /// `2^bits` in the clear. The facts are the same everywhere: `bits + MASK_SLACK` bits.
    fn random_masks(
        &mut self,
        len: usize,
        bits: u32,
    ) -> impl Future<Output = Result<Secret>> + Send;
    /// Opens integers (or scaled fixed-point integers) to everyone.
    fn open(&mut self, a: &Secret) -> impl Future<Output = Result<Vec<i128>>> + Send;
    /// Opens to one party: `Some` there, `None` elsewhere (`Clear` always answers `Some`).
    fn open_to(
        &mut self,
        a: &Secret,
        to: PartyId,
    ) -> impl Future<Output = Result<Option<Vec<i128>>>> + Send;
    /// Equality tags for every element, opened to everyone: the Dodis–Yampolskiy PRF
    /// `(1/(k+x))·G` (compressed Ristretto points) under a key `k` drawn fresh, jointly and
    /// secretly, for this call ([`mpc::engine::prf`]). Two tags are equal exactly when the
    /// elements are; tags of different calls are unlinkable. `Clear` draws its key from its
    /// seeded RNG.
    fn prf_tags(&mut self, x: &Secret) -> impl Future<Output = Result<Vec<[u8; 32]>>> + Send;
    /// Whether owners' inputs are checked (the engine under the malicious level; [`Clear`]
    /// when built [`Clear::checking_inputs`]): then jobs run [`Backend::check_inputs`] and
    /// their input rules before anything depends on the inputs.
    fn checks_inputs(&self) -> bool;
    /// Checks owners' inputs when [`Backend::checks_inputs`]: shares consistent, every value
    /// within its column's declared bits ([`mpc::Engine::check_inputs`]); fails with
    /// [`MpcError::InputCheckFailed`] naming the first input that breaks a rule.
    fn check_inputs(
        &mut self,
        inputs: &[OwnerInput<'_, Fr>],
    ) -> impl Future<Output = Result<()>> + Send;
    /// For each of this party's `claims`, whether every party makes it, with the same answer
    /// at every honest party or an abort ([`mpc::Engine::agree_all`]): how the workers decide
    /// which owners' inputs they have all seen pass [`Backend::check_inputs`] before. [`Clear`]
    /// is one party: its claims are the answer.
    fn agree_all(&mut self, claims: &[bool]) -> impl Future<Output = Result<Vec<bool>>> + Send;
    /// For each consecutive group of `x` (lengths `groups`), whether every element is zero,
    /// revealing nothing else ([`mpc::Engine::all_zero`]).
    fn all_zero(
        &mut self,
        x: &Secret,
        groups: &[usize],
    ) -> impl Future<Output = Result<Vec<bool>>> + Send;
}

/// Bits a masking integer may exceed its nominal size by ([`Backend::random_masks`]): sums of
/// up to 256 dealers' integers.
pub const MASK_SLACK: u32 = 8;

fn mask_facts(bits: u32) -> Result<mpc::share::Meta> {
    let bits = bits + MASK_SLACK;
    if bits > mpc::share::MAX_BITS {
        return Err(exceeded("random_masks", bits));
    }
    Ok(mpc::share::Meta {
        bits,
        frac: 0,
        boolean: false,
    })
}

fn decode_all(values: &[Fr]) -> Result<Vec<i128>> {
    mpc::field::encode::decode_each(values, mpc::field::encode::decode_int)
}

impl<N: Network> Backend for Engine<N, Fr> {
    fn constant(&self, values: &[i128]) -> Result<Secret> {
        Engine::constant(self, values)
    }
    async fn mul(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::mul(self, a, b).await
    }
    async fn dot(&mut self, a: &Secret, b: &Secret, width: usize) -> Result<Secret> {
        Engine::dot(self, a, b, width).await
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
    async fn fx_div(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        Engine::fx_div(self, a, b).await
    }
    async fn fx_sqrt(&mut self, x: &Secret) -> Result<Secret> {
        Engine::fx_sqrt(self, x).await
    }
    async fn bit_decompose(&mut self, x: &Secret) -> Result<Vec<Secret>> {
        Engine::bit_decompose(self, x).await
    }
    fn binary_selection(&self) -> bool {
        self.binary_selection_available()
    }
    async fn select_ranks(
        &mut self,
        x: &Secret,
        members: &Secret,
        ranks: &Secret,
    ) -> Result<Secret> {
        Engine::select_ranks(self, x, members, ranks).await
    }
    async fn one_hot(&mut self, g: &Secret, groups: usize) -> Result<Secret> {
        Engine::one_hot(self, g, groups).await
    }
    async fn random_bits(&mut self, len: usize) -> Result<Secret> {
        Engine::random_bits(self, len).await
    }
    async fn random_masks(&mut self, len: usize, bits: u32) -> Result<Secret> {
        let meta = mask_facts(bits)?;
        if self.params().t() + 1 > 1 << MASK_SLACK {
            return Err(MpcError::InvalidArgument {
                op: "random_masks",
                reason: format!("more than {} dealers", 1 << MASK_SLACK),
            });
        }
        Engine::random_masks(self, len, bits)
            .await
            .map(|m| m.assume_bits(meta.bits))
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
    async fn prf_tags(&mut self, x: &Secret) -> Result<Vec<[u8; 32]>> {
        Engine::prf_tags_fresh_key(self, x).await
    }
    fn checks_inputs(&self) -> bool {
        self.config().security == mpc::SecurityLevel::Malicious
    }
    async fn check_inputs(&mut self, inputs: &[OwnerInput<'_, Fr>]) -> Result<()> {
        Engine::check_inputs(self, inputs).await
    }
    async fn agree_all(&mut self, claims: &[bool]) -> Result<Vec<bool>> {
        Engine::agree_all(self, claims).await
    }
    async fn all_zero(&mut self, x: &Secret, groups: &[usize]) -> Result<Vec<bool>> {
        Engine::all_zero(self, x, groups).await
    }
}

/// The computation in the clear: a [`Secret`]'s "shares" are the plain values. Its random
/// bits come from a ChaCha RNG seeded by the caller ([`Clear::seeded`]; `Clear::default()` is
/// seed 0), so a run replays exactly.
#[derive(Clone, Debug)]
pub struct Clear {
    rng: ChaCha12Rng,
    checks_inputs: bool,
}

impl Default for Clear {
    fn default() -> Self {
        Clear::seeded(0)
    }
}

impl Clear {
    /// A clear backend whose random bits are drawn from `seed`.
    pub fn seeded(seed: u64) -> Self {
        Clear {
            rng: ChaCha12Rng::seed_from_u64(seed),
            checks_inputs: false,
        }
    }

    /// This backend, checking owners' inputs and jobs' input rules as the engine does under
    /// the malicious level (in the clear: the reference for those checks).
    pub fn checking_inputs(mut self) -> Self {
        self.checks_inputs = true;
        self
    }
}

pub use mpc::engine::{INTEGER_FRAC, MAX_ROOT_BITS};

fn exceeded(op: &'static str, bits: u32) -> MpcError {
    MpcError::BoundExceeded {
        op,
        bits,
        limit: mpc::share::MAX_BITS,
    }
}

/// The public facts of `a / b` (see [`Backend::fx_div`]), or the refusal: the engine's own
/// division plan ([`mpc::engine::quotient_facts`]: Catrina, Saxena 2010 normalization and
/// Goldschmidt iterations), so the clear backend refuses exactly what the engine refuses.
pub fn division_bits(a: &Secret, b: &Secret) -> Result<mpc::share::Meta> {
    same_len("fx_div", a, b)?;
    mpc::engine::quotient_facts(a.facts(), b.facts())
}

/// The public facts of `sqrt(x)` (see [`Backend::fx_sqrt`]), or the refusal: the engine's own
/// root plan ([`mpc::engine::root_facts`]).
pub fn root_bits(x: &Secret) -> Result<mpc::share::Meta> {
    mpc::engine::root_facts(x.facts())
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

/// The engine's comparisons and truncations need one bit of room above their operand's bound,
/// and every value within the bound: checked here on the plain values.
fn check_room(op: &'static str, a: &Secret) -> Result<()> {
    if a.bits() + 1 > mpc::share::MAX_BITS {
        return Err(MpcError::BoundExceeded {
            op,
            bits: a.bits() + 1,
            limit: mpc::share::MAX_BITS,
        });
    }
    check_within(op, a)
}

/// Refuses a batch holding a value outside its declared bound `[-2^bits, 2^bits)`.
///
/// The engine's masked openings (comparisons, truncations, divisions, roots, bit
/// decompositions) are correct only for values within the bound their operand declares; a
/// value outside it is silently computed wrong there (a comparison flips, a truncation wraps).
/// The clear backend computes such a value exactly, so without this check a planner that
/// under-declares a bound (an `assume_bits` that does not hold for some inputs) would pass
/// every test that compares the engine against `Clear` on small values and fail on real ones.
fn check_within(op: &'static str, a: &Secret) -> Result<()> {
    let limit = BigInt::from(1u8) << a.bits();
    for (index, &v) in a.shares().iter().enumerate() {
        let v = to_bigint(v);
        if v >= limit || v < -&limit {
            return Err(MpcError::InvalidArgument {
                op,
                reason: format!(
                    "element {index} is outside its declared bound of {} bits ({} bits): \
                     the engine would compute it wrong; the caller's bound is too tight",
                    a.bits(),
                    v.magnitude().bits()
                ),
            });
        }
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
    async fn dot(&mut self, a: &Secret, b: &Secret, width: usize) -> Result<Secret> {
        same_len("dot", a, b)?;
        if width == 0 || a.len() % width != 0 {
            return Err(MpcError::InvalidArgument {
                op: "dot",
                reason: format!("batch of {} does not split into sums of {width}", a.len()),
            });
        }
        let meta = rules::dot(a.facts(), b.facts(), width)?;
        let sums = a
            .shares()
            .chunks_exact(width)
            .zip(b.shares().chunks_exact(width))
            .map(|(x, y)| x.iter().zip(y).map(|(&u, &v)| u * v).sum())
            .collect();
        Shared::from_facts(sums, meta)
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
    /// Exactly `floor(a 2^(lift + f_b) / b)` on the scaled integers, a zero `b` read as 1.
    async fn fx_div(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        let meta = division_bits(a, b)?;
        check_within("fx_div", a)?;
        check_within("fx_div", b)?;
        let shift = meta.frac - a.frac() + b.frac();
        let values = a
            .shares()
            .iter()
            .zip(b.shares())
            .map(|(&x, &y)| {
                let (x, mut y) = (to_bigint(x) << shift, to_bigint(y));
                if y.sign() == Sign::NoSign {
                    y = BigInt::from(1u8);
                }
                let q = if y.sign() == Sign::Minus {
                    floor_div(&-x, &-y)
                } else {
                    floor_div(&x, &y)
                };
                from_bigint::<Fr>(&q)
            })
            .collect();
        Shared::from_facts(values, meta)
    }
    /// Exactly `floor(sqrt(|x| 2^(2 f_out - f_in)))` on the scaled integer.
    async fn fx_sqrt(&mut self, x: &Secret) -> Result<Secret> {
        let meta = root_bits(x)?;
        check_within("fx_sqrt", x)?;
        let shift = 2 * meta.frac - x.frac();
        let values = x
            .shares()
            .iter()
            .map(|&v| {
                let m = (to_bigint(v).magnitude().clone()) << shift;
                from_bigint::<Fr>(&BigInt::from(m.sqrt()))
            })
            .collect();
        Shared::from_facts(values, meta)
    }
    /// Exactly the bits of `(x + 2^k) mod 2^(k+1)`: for values within the bound, the engine's
    /// result.
    async fn bit_decompose(&mut self, x: &Secret) -> Result<Vec<Secret>> {
        let k = x.bits();
        check_room("bit_decompose", x)?;
        let modulus = BigInt::from(1u8) << (k + 1);
        let us: Vec<BigInt> = x
            .shares()
            .iter()
            .map(|&v| {
                let u = (to_bigint(v) + (BigInt::from(1u8) << k)) % &modulus;
                if u.sign() == Sign::Minus {
                    u + &modulus
                } else {
                    u
                }
            })
            .collect();
        Ok((0..=k as u64)
            .map(|i| {
                Shared::from_bit_shares(
                    us.iter()
                        .map(|u| if u.bit(i) { Fr::one() } else { Fr::zero() })
                        .collect(),
                )
            })
            .collect())
    }
    fn binary_selection(&self) -> bool {
        true
    }
    /// The sorted flagged values, indexed: the engine's result for ranks within their bound.
    async fn select_ranks(
        &mut self,
        x: &Secret,
        members: &Secret,
        ranks: &Secret,
    ) -> Result<Secret> {
        if x.len() != members.len() || !members.is_boolean() {
            return Err(MpcError::InvalidArgument {
                op: "select_ranks",
                reason: "one boolean members flag per element is needed".into(),
            });
        }
        let values = decode_all(x.shares())?;
        let flags = decode_all(members.shares())?;
        let mut chosen: Vec<i128> = values
            .iter()
            .zip(&flags)
            .filter(|&(_, &f)| f == 1)
            .map(|(&v, _)| v)
            .collect();
        chosen.sort_unstable();
        let top = (1i128 << x.bits()) - 1;
        let out = decode_all(ranks.shares())?
            .iter()
            .map(|&k| {
                let v = usize::try_from(k).ok().and_then(|k| chosen.get(k).copied());
                Fr::from_i128(v.unwrap_or(top))
            })
            .collect();
        Shared::from_shares(out, x.bits())
    }
    /// `[g = j]` on the plain values; a value outside `g`'s declared bound refused, as the
    /// engine's decomposition would compute it wrong.
    async fn one_hot(&mut self, g: &Secret, groups: usize) -> Result<Secret> {
        let k = usize::BITS - groups.saturating_sub(1).leading_zeros();
        let bits = g.bits().max(k) + 1;
        if bits > mpc::share::MAX_BITS {
            return Err(exceeded("one_hot", bits));
        }
        check_within("one_hot", g)?;
        let values = decode_all(g.shares())?;
        Ok(Shared::from_bit_shares(
            (0..groups as i128)
                .flat_map(|j| values.iter().map(move |&v| Fr::from_i128((v == j) as i128)))
                .collect(),
        ))
    }
    async fn random_bits(&mut self, len: usize) -> Result<Secret> {
        let bits = (0..len)
            .map(|_| {
                if self.rng.random::<bool>() {
                    Fr::one()
                } else {
                    Fr::zero()
                }
            })
            .collect();
        Ok(Shared::from_bit_shares(bits))
    }
    async fn random_masks(&mut self, len: usize, bits: u32) -> Result<Secret> {
        let meta = mask_facts(bits)?;
        let values = (0..len)
            .map(|_| {
                let (mut v, mut done) = (Fr::zero(), 0);
                while done < bits {
                    let take = (bits - done).min(64);
                    let word = self.rng.random::<u64>() >> (64 - take);
                    v += Fr::from_u128(word as u128) * Fr::pow2(done);
                    done += take;
                }
                v
            })
            .collect();
        Shared::from_facts(values, meta)
    }
    async fn open(&mut self, a: &Secret) -> Result<Vec<i128>> {
        decode_all(a.shares())
    }
    async fn open_to(&mut self, a: &Secret, _to: PartyId) -> Result<Option<Vec<i128>>> {
        decode_all(a.shares()).map(Some)
    }
    async fn prf_tags(&mut self, x: &Secret) -> Result<Vec<[u8; 32]>> {
        let key = Fr::random(&mut self.rng);
        x.shares()
            .iter()
            .enumerate()
            .map(|(index, &v)| {
                mpc::engine::prf::dy_tag(v, key).ok_or_else(|| MpcError::InvalidArgument {
                    op: "prf_tags",
                    reason: format!("element {index} equals minus the key: draw a new key"),
                })
            })
            .collect()
    }
    fn checks_inputs(&self) -> bool {
        self.checks_inputs
    }
    async fn check_inputs(&mut self, inputs: &[OwnerInput<'_, Fr>]) -> Result<()> {
        if !self.checks_inputs {
            return Ok(());
        }
        for input in inputs {
            for c in input.columns {
                let bound = BigInt::from(1) << c.bits();
                let fits = |&v: &Fr| match c.is_boolean() {
                    true => v.is_zero() || v == Fr::one(),
                    false => {
                        let v = to_bigint(v);
                        -&bound <= v && v < bound
                    }
                };
                if !c.shares().iter().all(fits) {
                    return Err(MpcError::InputCheckFailed {
                        input: input.name.to_string(),
                        rule: mpc::engine::RULE_RANGE.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
    async fn agree_all(&mut self, claims: &[bool]) -> Result<Vec<bool>> {
        Ok(claims.to_vec())
    }
    async fn all_zero(&mut self, x: &Secret, groups: &[usize]) -> Result<Vec<bool>> {
        let total: usize = groups.iter().sum();
        if total != x.len() {
            return Err(MpcError::LengthMismatch {
                op: "all_zero",
                left: x.len(),
                right: total,
            });
        }
        let mut at = 0;
        Ok(groups
            .iter()
            .map(|&len| {
                at += len;
                x.shares()[at - len..at].iter().all(|v| v.is_zero())
            })
            .collect())
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
    /// Element-wise fixed-point divisions.
    pub divisions: u64,
    /// Element-wise fixed-point square roots.
    pub roots: u64,
    /// Random bits drawn.
    pub random_bits: u64,
    /// Elements bit-decomposed (their products, random bits and openings count above too).
    pub decomposed: u64,
    /// Masking integers drawn.
    pub masks: u64,
    /// Elements given a PRF tag.
    pub tags: u64,
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
    async fn dot(&mut self, a: &Secret, b: &Secret, width: usize) -> Result<Secret> {
        self.tally(
            |c| &mut c.multiplications,
            a.len().checked_div(width).unwrap_or(0),
        );
        self.inner.dot(a, b, width).await
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
    async fn fx_div(&mut self, a: &Secret, b: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.divisions, a.len());
        self.inner.fx_div(a, b).await
    }
    async fn fx_sqrt(&mut self, x: &Secret) -> Result<Secret> {
        self.tally(|c| &mut c.roots, x.len());
        self.inner.fx_sqrt(x).await
    }
    async fn bit_decompose(&mut self, x: &Secret) -> Result<Vec<Secret>> {
        let (len, k) = (x.len() as u64, x.bits() as u64);
        self.tally(|c| &mut c.decomposed, x.len());
        self.counts.multiplications += len * k;
        self.counts.random_bits += len * (k + 1);
        self.counts.opened += len;
        self.inner.bit_decompose(x).await
    }
    fn binary_selection(&self) -> bool {
        self.inner.binary_selection()
    }
    /// Counted as one decomposition per element (in the binary domain: no field products) and
    /// one opening per element; the binary ANDs are not counted here.
    async fn select_ranks(
        &mut self,
        x: &Secret,
        members: &Secret,
        ranks: &Secret,
    ) -> Result<Secret> {
        self.tally(|c| &mut c.decomposed, x.len());
        self.counts.opened += x.len() as u64;
        self.inner.select_ranks(x, members, ranks).await
    }
    /// Counted as [`Backend::select_ranks`] is: one decomposition and one opening per element.
    async fn one_hot(&mut self, g: &Secret, groups: usize) -> Result<Secret> {
        self.tally(|c| &mut c.decomposed, g.len());
        self.counts.opened += g.len() as u64;
        self.inner.one_hot(g, groups).await
    }
    async fn random_bits(&mut self, len: usize) -> Result<Secret> {
        self.tally(|c| &mut c.random_bits, len);
        self.inner.random_bits(len).await
    }
    async fn random_masks(&mut self, len: usize, bits: u32) -> Result<Secret> {
        self.tally(|c| &mut c.masks, len);
        self.inner.random_masks(len, bits).await
    }
    async fn open(&mut self, a: &Secret) -> Result<Vec<i128>> {
        self.tally(|c| &mut c.opened, a.len());
        self.inner.open(a).await
    }
    async fn open_to(&mut self, a: &Secret, to: PartyId) -> Result<Option<Vec<i128>>> {
        self.tally(|c| &mut c.opened, a.len());
        self.inner.open_to(a, to).await
    }
    async fn prf_tags(&mut self, x: &Secret) -> Result<Vec<[u8; 32]>> {
        self.tally(|c| &mut c.tags, x.len());
        self.inner.prf_tags(x).await
    }
    fn checks_inputs(&self) -> bool {
        self.inner.checks_inputs()
    }
    async fn check_inputs(&mut self, inputs: &[OwnerInput<'_, Fr>]) -> Result<()> {
        self.inner.check_inputs(inputs).await
    }
    async fn agree_all(&mut self, claims: &[bool]) -> Result<Vec<bool>> {
        self.inner.agree_all(claims).await
    }
    async fn all_zero(&mut self, x: &Secret, groups: &[usize]) -> Result<Vec<bool>> {
        self.tally(|c| &mut c.opened, groups.len());
        self.inner.all_zero(x, groups).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn clear_bit_decomposition_and_its_counts() {
        let x = fixed(&[-8, -1, 0, 1, 7, -5], 3, 0);
        let mut c = Counting::new(Clear::default());
        let bits = c.bit_decompose(&x).await.unwrap();
        assert_eq!(bits.len(), 4);
        let mut opened = Vec::new();
        for b in &bits {
            assert!(b.is_boolean());
            opened.push(c.inner.open(b).await.unwrap());
        }
        // u = x + 8, least significant bit first.
        for (e, u) in [0i128, 7, 8, 9, 15, 3].into_iter().enumerate() {
            let got: i128 = (0..4).map(|i| opened[i][e] << i).sum();
            assert_eq!(got, u, "element {e}");
        }
        assert_eq!(
            (c.counts.decomposed, c.counts.multiplications),
            (6, 18),
            "3 products per element"
        );
        assert_eq!(
            (c.counts.random_bits, c.counts.opened, c.counts.batches),
            (24, 6, 1)
        );
        // The engine's limit: a bound of 200 bits leaves no room.
        assert!(
            Clear::default()
                .bit_decompose(&fixed(&[1], 200, 0))
                .await
                .is_err()
        );
    }

    fn fixed(values: &[i128], bits: u32, frac: u32) -> Secret {
        Shared::from_fixed_shares(
            values.iter().map(|&v| Fr::from_i128(v)).collect(),
            bits,
            frac,
        )
        .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn clear_masks_are_uniform_below_their_size_with_the_engines_facts() {
        let mut c = Counting::new(Clear::seeded(5));
        for bits in [1u32, 41, 64, 100] {
            let m = c.random_masks(2000, bits).await.unwrap();
            assert_eq!(
                (m.bits(), m.frac(), m.is_boolean()),
                (bits + MASK_SLACK, 0, false)
            );
            let values = c.open(&m).await.unwrap();
            assert!(
                values.iter().all(|&v| (0..1i128 << bits).contains(&v)),
                "{bits}"
            );
            // The top bit is set about half the time.
            let top = values.iter().filter(|&&v| v >> (bits - 1) == 1).count();
            assert!((800..1200).contains(&top), "{bits}: {top}");
        }
        assert_eq!(c.counts.masks, 8000);
        assert!(c.random_masks(1, mpc::share::MAX_BITS).await.is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn clear_division_and_root_floor_exactly() {
        let mut c = Clear::default();
        // Integers: 7/2 = 3.5, -7/2 = -3.5, 1/3, 5/0 (read as 5/1).
        let q = c
            .fx_div(&fixed(&[7, -7, 1, 5], 10, 0), &fixed(&[2, 2, 3, 0], 4, 0))
            .await
            .unwrap();
        assert_eq!(q.frac(), INTEGER_FRAC);
        let expect = [7 << 15, -7 << 15, 65536 / 3, 5 << 16];
        assert_eq!(c.open(&q).await.unwrap(), expect);
        // -1/3 floors towards minus infinity.
        let q = c
            .fx_div(&fixed(&[-1], 4, 0), &fixed(&[3], 4, 0))
            .await
            .unwrap();
        assert_eq!(c.open(&q).await.unwrap(), [-(65536 / 3) - 1]);
        // Fixed point: 1.5 (frac 8) / 0.5 (frac 4) = 3 with 8 fractional bits.
        let q = c
            .fx_div(&fixed(&[384], 12, 8), &fixed(&[8], 6, 4))
            .await
            .unwrap();
        assert_eq!((q.frac(), c.open(&q).await.unwrap()), (8, vec![768]));
        // Roots: sqrt(2) with 16 fractional bits; sqrt(2.25) from frac 8; sqrt(|-4|).
        let r = c.fx_sqrt(&fixed(&[2, -4], 8, 0)).await.unwrap();
        assert_eq!(c.open(&r).await.unwrap(), [92681, 2 << 16]);
        let r = c.fx_sqrt(&fixed(&[576], 12, 8)).await.unwrap();
        assert_eq!(c.open(&r).await.unwrap(), [384]);
        // Bounds the engine refuses are refused here too.
        assert!(c.fx_sqrt(&fixed(&[1], 98, 0)).await.is_err());
        assert!(
            c.fx_div(&fixed(&[1], 100, 0), &fixed(&[1], 50, 0))
                .await
                .is_err()
        );
    }
}
