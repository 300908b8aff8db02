//! Engine workloads: one batched engine operation, repeated sequentially, on seeded inputs,
//! with the plaintext computation every result is checked against.
//!
//! The program every party runs has three phases, each counted apart by the simulated
//! network: `input` (party 0 shares `x`, party 1 shares `y`, party 2 shares the selection bits
//! `c` for `select`), `compute` (`repetitions` times the operation on the whole batch, one
//! after the other, so the rounds add up) and `output` (every result opened in one round).
//!
//! Adding an operation (say `fx_div`, `fx_sqrt` once the engine has them) is one variant of
//! [`Op`], one arm in `Op::run` and one in `Op::expected`. Jobs of the `protocols` crate
//! will be a second kind of workload beside this one, driven by the same executor.
//!
//! What this module does not do: timing, networks or reports.

use std::fmt;
use std::str::FromStr;

use mpc::net::Network;
use mpc::{Engine, EngineStats, PartyId, Shared};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::sim_net::SimNetwork;

/// A batched engine operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `x · y`.
    Mul,
    /// `[x < y]`.
    Lt,
    /// `[x <= y]`.
    Le,
    /// `[x > y]`.
    Gt,
    /// `[x >= y]`.
    Ge,
    /// `[x == y]`.
    Eq,
    /// `c ? x : y` for secret bits `c`.
    Select,
    /// Fixed-point `x · y` with truncation.
    #[serde(alias = "fx_mul")]
    Fxmul,
    /// Fixed-point `x / y` (Goldschmidt after normalization).
    #[serde(alias = "fx_div")]
    Div,
    /// Fixed-point `sqrt(|x|)`.
    #[serde(alias = "fx_sqrt")]
    Sqrt,
}

impl Op {
    /// Every operation, in a stable order.
    pub const ALL: [Op; 10] = [
        Op::Mul,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::Eq,
        Op::Select,
        Op::Fxmul,
        Op::Div,
        Op::Sqrt,
    ];

    /// The name used in scenarios, reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Op::Mul => "mul",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Eq => "eq",
            Op::Select => "select",
            Op::Fxmul => "fxmul",
            Op::Div => "div",
            Op::Sqrt => "sqrt",
        }
    }

    fn is_fixed(self) -> bool {
        matches!(self, Op::Fxmul | Op::Div | Op::Sqrt)
    }

    /// Runs the operation on one batch.
    async fn run<N: Network>(
        self,
        e: &mut Engine<N>,
        x: &Shared<mpc::Fr>,
        y: &Shared<mpc::Fr>,
        c: &Shared<mpc::Fr>,
    ) -> mpc::Result<Shared<mpc::Fr>> {
        match self {
            Op::Mul => e.mul(x, y).await,
            Op::Lt => e.lt(x, y).await,
            Op::Le => e.le(x, y).await,
            Op::Gt => e.gt(x, y).await,
            Op::Ge => e.ge(x, y).await,
            Op::Eq => e.eq(x, y).await,
            Op::Select => e.select(c, x, y).await,
            Op::Fxmul => e.fx_mul(x, y).await,
            Op::Div => e.fx_div(x, y).await,
            Op::Sqrt => e.fx_sqrt(x).await,
        }
    }

    /// The plaintext result of element `(x, y, c)`, and the tolerance of the secure one
    /// (probabilistic truncation may round up by one unit in the last place).
    fn expected(self, x: i128, y: i128, c: i128, frac: u32) -> (i128, i128) {
        match self {
            Op::Mul => (x * y, 0),
            Op::Lt => ((x < y) as i128, 0),
            Op::Le => ((x <= y) as i128, 0),
            Op::Gt => ((x > y) as i128, 0),
            Op::Ge => ((x >= y) as i128, 0),
            Op::Eq => ((x == y) as i128, 0),
            Op::Select => (if c == 1 { x } else { y }, 0),
            Op::Fxmul => ((x * y).div_euclid(1 << frac), 1),
            // The engine reads a zero divisor as one unit in the last place.
            Op::Div => {
                let q = (x << frac).div_euclid(if y == 0 { 1 } else { y });
                (q, 3 + q.abs() / (1 << 20))
            }
            Op::Sqrt => {
                let r = ((x.unsigned_abs() << frac) as f64).sqrt().floor() as i128;
                (r, 3 + r / (1 << 20))
            }
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = UnknownOp;
    fn from_str(s: &str) -> Result<Self, UnknownOp> {
        let s = s.to_ascii_lowercase().replace('_', "");
        Op::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or(UnknownOp(s))
    }
}

/// An operation name outside [`Op::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation '{0}' (expected one of {known})", known = Op::ALL.iter().map(|o| o.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownOp(pub String);

/// An opened result that is not the plaintext computation's ([`Workload::verify`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Another number of results than the workload computes.
    #[error("expected {want} results, got {got}")]
    Count {
        /// Results the workload computes.
        want: usize,
        /// Results opened.
        got: usize,
    },
    /// One element differs beyond the operation's tolerance.
    #[error(
        "{op} element {element} of repetition {repetition}: got {got}, plaintext gives {expected}"
    )]
    Value {
        /// The operation.
        op: Op,
        /// The element in its batch.
        element: usize,
        /// The repetition.
        repetition: usize,
        /// The opened value.
        got: i128,
        /// The plaintext value.
        expected: i128,
    },
}

/// One operation, its batch size and how many times it runs in sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpWorkload {
    /// The operation.
    pub op: Op,
    /// Elements per batch.
    pub batch: usize,
    /// Sequential repetitions of the batch.
    pub repetitions: usize,
    /// Inputs lie in `[-2^bits, 2^bits)` (for fixed point: the scaled integers).
    pub bits: u32,
    /// Fractional bits of fixed-point operations.
    pub frac: u32,
}

/// The plaintext inputs of a run, generated from the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// Party 0's values.
    pub x: Vec<i128>,
    /// Party 1's values.
    pub y: Vec<i128>,
    /// Party 2's selection bits.
    pub c: Vec<i128>,
}

impl OpWorkload {
    /// Seeded inputs; a quarter of the pairs are equal, so `eq` and `le` see both outcomes.
    pub fn inputs(&self, seed: u64) -> Inputs {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[31] = 0x49; // 'I': input data
        let mut rng = ChaCha8Rng::from_seed(key);
        let bound = 1i128 << self.bits;
        let mut x = Vec::with_capacity(self.batch);
        let mut y = Vec::with_capacity(self.batch);
        let mut c = Vec::with_capacity(self.batch);
        for _ in 0..self.batch {
            let a = rng.random_range(-bound..bound);
            let b = if rng.random_range(0..4) == 0 {
                a
            } else {
                rng.random_range(-bound..bound)
            };
            x.push(a);
            y.push(b);
            c.push(rng.random_range(0..2));
        }
        Inputs { x, y, c }
    }

    /// The program each party runs: inputs, `repetitions` operations, one opening of all.
    pub async fn program(
        self,
        mut e: Engine<SimNetwork>,
        inputs: Inputs,
    ) -> mpc::Result<(Vec<i128>, EngineStats)> {
        let me = e.me();
        let len = self.batch;
        let mine = |p: u16, v: &[i128]| (me == PartyId(p)).then_some(v.to_vec());
        e.network().set_phase("input");
        let frac = if self.op.is_fixed() { self.frac } else { 0 };
        let x = e
            .input_ints(PartyId(0), mine(0, &inputs.x).as_deref(), len, self.bits)
            .await?
            .with_frac(frac);
        let y = e
            .input_ints(PartyId(1), mine(1, &inputs.y).as_deref(), len, self.bits)
            .await?
            .with_frac(frac);
        let c = if self.op == Op::Select {
            let bits = e
                .input_ints(PartyId(2), mine(2, &inputs.c).as_deref(), len, 1)
                .await?;
            Shared::from_bit_shares(bits.into_shares())
        } else {
            Shared::from_bit_shares(Vec::new())
        };
        e.network().set_phase("compute");
        let mut results = Vec::with_capacity(self.repetitions);
        for _ in 0..self.repetitions {
            results.push(self.op.run(&mut e, &x, &y, &c).await?);
        }
        e.network().set_phase("output");
        let refs: Vec<&Shared<mpc::Fr>> = results.iter().collect();
        let all = Shared::concat(&refs)?;
        let opened = e.open_ints(&all).await?;
        Ok((opened, e.stats()))
    }

    /// Checks opened results against the plaintext computation; returns the first mismatch.
    pub fn verify(&self, inputs: &Inputs, opened: &[i128]) -> Result<(), Mismatch> {
        let want = self.batch * self.repetitions;
        if opened.len() != want {
            return Err(Mismatch::Count {
                want,
                got: opened.len(),
            });
        }
        for (i, &got) in opened.iter().enumerate() {
            let e = i % self.batch;
            let (expected, tolerance) =
                self.op
                    .expected(inputs.x[e], inputs.y[e], inputs.c[e], self.frac);
            if (got - expected).abs() > tolerance {
                return Err(Mismatch::Value {
                    op: self.op,
                    element: e,
                    repetition: i / self.batch,
                    got,
                    expected,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in Op::ALL {
            assert_eq!(op.name().parse::<Op>().unwrap(), op);
        }
        assert_eq!("fx_mul".parse::<Op>().unwrap(), Op::Fxmul);
        assert_eq!("div".parse::<Op>().unwrap(), Op::Div);
        assert!(
            "frobnicate"
                .parse::<Op>()
                .unwrap_err()
                .to_string()
                .contains("expected one of")
        );
    }

    #[test]
    fn plaintext_and_tolerance() {
        assert_eq!(
            Op::Fxmul.expected(3 << 16, -(1 << 15), 0, 16),
            (-(3 << 15), 1)
        );
        assert_eq!(Op::Select.expected(4, 5, 0, 0).0, 5);
        let w = OpWorkload {
            op: Op::Eq,
            batch: 64,
            repetitions: 1,
            bits: 8,
            frac: 0,
        };
        let inputs = w.inputs(1);
        assert_eq!(inputs, w.inputs(1));
        assert!(inputs.x.iter().zip(&inputs.y).any(|(a, b)| a == b));
    }
}
