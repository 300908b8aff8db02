//! The public schedule of a reciprocal, division or square root (see [`super::div_sqrt`]): working
//! precision, iteration count, the bound of every value that is truncated (and so opened under
//! a mask), and the preprocessing the whole operation consumes. Everything here is a function of
//! public bounds and scales only, so every party derives the same plan, and the bounds are all
//! checked before anything is sent.
//!
//! Notation: the divisor (or radicand) `b` has bound `k` bits and `f_in` fractional bits; it is
//! normalized to `c = |b| * v` in `[2^(k-1), 2^k]` (a fixed-point number in `[1/2, 1]` with `k`
//! fractional bits); the iterations run with `p` fractional bits; the result has `f_out`.

use super::bits::{prefix_or_mults, shallow_decompose_mults};
use super::preprocess::Needs;
use crate::error::{MpcError, Result};
use crate::share::{MAX_BITS, Meta, STAT_SECURITY, check_bits};

/// Fractional bits given to the result when the operand that sets its scale is an integer
/// (`frac == 0`): the engine's default fixed-point scale.
pub const INTEGER_FRAC: u32 = 16;

/// The widest radicand a square root accepts, in bits: its normalization needs
/// `2k + RSQRT_SHIFT + 1 <= MAX_BITS`.
pub const MAX_ROOT_BITS: u32 = (MAX_BITS - RSQRT_SHIFT - 1) / 2;

/// Extra fractional bits the running result carries through the iterations, so that their
/// probabilistic truncations add up to well under one unit in the result's last place.
pub(crate) const GUARD: u32 = 6;

/// The least working precision accepted (a relative error of about `2^-20`).
pub(crate) const MIN_PRECISION: u32 = 24;

/// AppRcr (Catrina, Saxena 2010): `w0 = 2.9142 - 2c` approximates `1/c` on `[1/2, 1]`.
pub(crate) const RCP_ALPHA: f64 = 2.9142;
/// `max |1 - c * w0|` over `c` in `[1/2, 1]` (0.0858, reached at `c = 1`); rounding the
/// constant to `k` fractional bits adds up to `2^-(k+1)`.
pub(crate) const RCP_ERR: f64 = 0.0859;
/// `y0 = 1.78966 - (13/16) c` approximates `1/sqrt(c)` on `[1/2, 1]` (a minimax fit of ours for
/// `max |1 - c y0^2|`, with a slope exact in 4 extra fractional bits).
pub(crate) const RSQRT_ALPHA: f64 = 1.78966;
/// The slope's numerator over `2^RSQRT_SHIFT`.
pub(crate) const RSQRT_SLOPE: u128 = 13;
/// The slope's denominator, as a power of two.
pub(crate) const RSQRT_SHIFT: u32 = 4;
/// `max |1 - c * y0^2|` over `c` in `[1/2, 1]` (computed 0.04516); rounding the constant to
/// `k + 4` fractional bits adds up to `2^-(k+3)`.
pub(crate) const RSQRT_ERR: f64 = 0.0452;

/// Which function a plan computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `1 / b`.
    Reciprocal,
    /// `a / b`.
    Quotient,
    /// `sqrt(|b|)`.
    Root,
}

/// One batch brought from one scale to another: divided by `2^shift` with probabilistic
/// truncation when `shift > 0` (one masked opening, sized from `bits`), multiplied by
/// `2^-shift` exactly otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rescale {
    /// The value's bound: it lies in `[-2^bits, 2^bits)`.
    pub(crate) bits: u32,
    /// The power of two to divide by (negative: multiply).
    pub(crate) shift: i64,
}

impl Rescale {
    /// Bits of the truncation's `k` (the value's two's-complement width, at least `shift + 1`).
    pub(crate) fn width(&self) -> u32 {
        (self.bits + 1).max(self.shift.max(0) as u32 + 1)
    }
    /// Bits of the statistical mask `r''` (Catrina, Saxena 2010, TruncPr: `k + kappa - m`).
    pub(crate) fn mask_bits(&self) -> u32 {
        self.width() + STAT_SECURITY - self.shift.max(0) as u32
    }
}

/// The schedule of one operation (see the module doc).
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// The operation's name, for errors.
    pub(crate) op: &'static str,
    pub(crate) kind: Kind,
    /// The divisor's (radicand's) bound, at least 1.
    pub(crate) k: u32,
    pub(crate) f_in: u32,
    pub(crate) f_out: u32,
    /// Working precision of the iterations, in fractional bits.
    pub(crate) p: u32,
    /// Goldschmidt iterations.
    pub(crate) steps: u32,
    /// Quotients: the power of two that turns `numerator * sgn(b) v * w0 / 2^(2k)` into the
    /// result with [`GUARD`] extra bits.
    pub(crate) lift: u32,
    /// Roots: the exponent offset of the scale `2^((j + 1 + 2 f_out - f_in)/2 + GUARD)`.
    pub(crate) root_offset: u32,
    /// The result's bound.
    pub(crate) out_bits: u32,
    /// The truncation rounds, in order; each inner list is opened together.
    pub(crate) rescales: Vec<Vec<Rescale>>,
    /// Products per element.
    pub(crate) mults: usize,
}

impl Plan {
    /// The plan for `kind` on a divisor or radicand of bound `k` and scale `f_in`, with (for a
    /// quotient) a numerator of bound and scale `num`. Refuses, naming the operation, any plan
    /// whose values would exceed [`MAX_BITS`].
    pub(crate) fn new(
        op: &'static str,
        kind: Kind,
        k: u32,
        f_in: u32,
        num: Option<(u32, u32)>,
    ) -> Result<Plan> {
        let k = k.max(1);
        check_bits(op, k)?;
        let (nb, nf) = if kind == Kind::Quotient {
            num.unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        let f_out = match kind {
            Kind::Quotient if nf > 0 => nf,
            Kind::Reciprocal | Kind::Root if f_in > 0 => f_in,
            _ => INTEGER_FRAC,
        };
        let mut plan = Plan {
            op,
            kind,
            k,
            f_in,
            f_out,
            p: 0,
            steps: 0,
            lift: 0,
            root_offset: 0,
            out_bits: 0,
            rescales: Vec::new(),
            mults: 0,
        };
        // Products of the normalization: the bit decomposition, two prefix-ORs (one per sign),
        // b*s (and a*s) alongside them, then the products forming c and the scale.
        let norm_mults = shallow_decompose_mults(k)
            + 2 * prefix_or_mults(k as usize)
            + match kind {
                Kind::Reciprocal => 1 + 4,
                Kind::Quotient => 2 + 5,
                Kind::Root => 1 + 4,
            };
        plan.mults = norm_mults;
        match kind {
            Kind::Reciprocal | Kind::Quotient => plan.quotient(nb, f_out - nf)?,
            Kind::Root => plan.root()?,
        }
        Ok(plan)
    }

    /// Goldschmidt division (`y <- y (1 + e)`, `e <- e^2`) with `y` held at the result's scale
    /// plus [`GUARD`] bits.
    fn quotient(&mut self, num_bits: u32, num_lift: u32) -> Result<()> {
        let k = self.k;
        // |Q| = |N| 2^(num_lift + f_in) / |b| <= |N| 2^(num_lift + f_in): b is a nonzero integer
        // (a zero divisor is normalized as if it were 1).
        let bits_q = num_bits + num_lift + self.f_in + 1;
        let scale_bits = match self.kind {
            Kind::Reciprocal => k + 1,
            _ => num_bits + k + 1,
        };
        // y overshoots Q by at most 1 + RCP_ERR, plus truncation noise: one more bit.
        let track = bits_q + GUARD + 1;
        let cap = MAX_BITS.saturating_sub(track + 1).min((MAX_BITS + 2) / 2);
        self.p = self.precision(bits_q + 3, cap, track + MIN_PRECISION + 1)?;
        let p = self.p;
        check_bits(self.op, 2 * k + 1)?;
        check_bits(self.op, scale_bits + k + 1)?;
        let err = RCP_ERR + (-((k + 1) as f64)).exp2();
        self.steps = 1;
        while ((1u64 << self.steps) as f64) * (1.0 / err).log2() < (p + 1) as f64 {
            self.steps += 1;
        }
        self.lift = num_lift + self.f_in + GUARD;
        self.out_bits = check_bits(self.op, bits_q + 1)?;
        // e0 = 1 - c w0 lies in [-0.062, 0.086] at 2k fractional bits, within 1/2 even for the
        // smallest k (the rounded constant); y0 = N sgn(b) v w0.
        self.rescales.push(vec![
            Rescale {
                bits: 2 * k - 1,
                shift: 2 * k as i64 - p as i64,
            },
            Rescale {
                bits: scale_bits + k + 1,
                shift: 2 * k as i64 - self.lift as i64,
            },
        ]);
        self.mults += 2;
        for i in 0..self.steps {
            let last = i + 1 == self.steps;
            // y (1 + e) with 1 + e < 2^(p+1); e^2 < 2^(2p-2) since |e| < 2^(p-1).
            let mut round = vec![Rescale {
                bits: track + p + 1,
                shift: (p + if last { GUARD } else { 0 }) as i64,
            }];
            if !last {
                round.push(Rescale {
                    bits: 2 * p - 2,
                    shift: p as i64,
                });
            }
            self.mults += round.len();
            self.rescales.push(round);
        }
        Ok(())
    }

    /// Goldschmidt square root (`r = 3/2 - g h`, `g <- g r`, `h <- h r`), with the scaled root
    /// `G = g * hs` tracked alongside at the result's scale plus [`GUARD`] bits.
    fn root(&mut self) -> Result<()> {
        let k = self.k;
        // sqrt(|x|) < sqrt(2^k 2^-f_in) 2^f_out = 2^((k + 2 f_out - f_in) / 2), reached at -2^k.
        let half = (k + 2 * self.f_out - self.f_in).div_ceil(2);
        let bits_s = half + 1;
        let scale_bits = half + GUARD + 1;
        let track = bits_s + GUARD + 1;
        let cap = MAX_BITS
            .saturating_sub(track + 1)
            .min((MAX_BITS - 2) / 2)
            .min(MAX_BITS.saturating_sub(scale_bits + 1));
        self.p = self.precision(bits_s + 4, cap, track.max(scale_bits) + MIN_PRECISION + 1)?;
        let p = self.p;
        check_bits(self.op, 2 * k + RSQRT_SHIFT + 1)?;
        let mut delta = RSQRT_ERR + (-((k + 3) as f64)).exp2();
        self.steps = 0;
        while self.steps == 0 || delta / 2.0 > (-((p + 1) as f64)).exp2() {
            delta = 0.75 * delta * delta + 0.25 * delta * delta * delta;
            self.steps += 1;
        }
        self.root_offset = 2 * self.f_out - self.f_in + 2 * GUARD;
        self.out_bits = check_bits(self.op, bits_s + 1)?;
        // g0 = c y0 (y0 < 1.4 with k + 4 fractional bits) and h0 = y0 / 2, both to p bits.
        self.rescales.push(vec![
            Rescale {
                bits: 2 * k + RSQRT_SHIFT + 1,
                shift: (2 * k + RSQRT_SHIFT) as i64 - p as i64,
            },
            Rescale {
                bits: k + RSQRT_SHIFT + 1,
                shift: (k + RSQRT_SHIFT + 1) as i64 - p as i64,
            },
        ]);
        self.mults += 1;
        for i in 0..self.steps {
            let last = i + 1 == self.steps;
            // g < 1.1 and h < 0.8 (at p bits); the first round also forms G = g0 hs.
            let mut round = vec![Rescale {
                bits: 2 * p + 1,
                shift: p as i64,
            }];
            if i == 0 {
                round.push(Rescale {
                    bits: p + 1 + scale_bits,
                    shift: p as i64,
                });
            }
            self.mults += round.len();
            self.rescales.push(round);
            // r = 3/2 - g h lies in [0.97, 1.03].
            let mut round = vec![Rescale {
                bits: track + p + 1,
                shift: (p + if last { GUARD } else { 0 }) as i64,
            }];
            if !last {
                round.push(Rescale {
                    bits: 2 * p + 2,
                    shift: p as i64,
                });
                round.push(Rescale {
                    bits: 2 * p + 1,
                    shift: p as i64,
                });
            }
            self.mults += round.len();
            self.rescales.push(round);
        }
        Ok(())
    }

    /// `full` capped at `cap`; refused when even [`MIN_PRECISION`] does not fit (`needed` is the
    /// bound that would then be exceeded).
    fn precision(&self, full: u32, cap: u32, needed: u32) -> Result<u32> {
        if cap < MIN_PRECISION {
            return Err(MpcError::BoundExceeded {
                op: self.op,
                bits: needed,
                limit: MAX_BITS,
            });
        }
        Ok(full.clamp(MIN_PRECISION, cap))
    }

    /// The plan of `a / b` for operands with facts `a` and `b`.
    pub(crate) fn division(a: Meta, b: Meta) -> Result<Plan> {
        Plan::new(
            "fx_div",
            Kind::Quotient,
            b.bits,
            b.frac,
            Some((a.bits, a.frac)),
        )
    }

    /// The result's public facts.
    pub(crate) fn facts(&self) -> Meta {
        Meta {
            bits: self.out_bits,
            frac: self.f_out,
            boolean: false,
        }
    }

    /// What the whole operation on `len` elements consumes: one dealing round covers it all.
    pub(crate) fn needs(&self, len: usize) -> Needs {
        let mut bits = (self.k as usize + 1) * len;
        let mut ints = vec![STAT_SECURITY + 1; len];
        for r in self.rescales.iter().flatten().filter(|r| r.shift > 0) {
            bits += r.shift as usize * len;
            ints.extend(std::iter::repeat_n(r.mask_bits(), len));
        }
        Needs {
            mults: self.mults * len,
            bits,
            ints,
        }
    }
}

/// The public facts (bound and scale) of `a / b` for operands with facts `a` and `b`, or the
/// refusal [`crate::Engine::fx_div`] gives: the one rule every backend follows, so a clear
/// reference accepts exactly what the engine accepts.
pub fn quotient_facts(a: Meta, b: Meta) -> Result<Meta> {
    Ok(Plan::division(a, b)?.facts())
}

/// The public facts of `sqrt(x)` for a radicand with facts `x`, or the refusal
/// [`crate::Engine::fx_sqrt`] gives (see [`quotient_facts`]).
pub fn root_facts(x: Meta) -> Result<Meta> {
    Ok(Plan::new("fx_sqrt", Kind::Root, x.bits, x.frac, None)?.facts())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_steps_follow_the_bounds() {
        let p = Plan::new("fx_reciprocal", Kind::Reciprocal, 40, 16, None).unwrap();
        assert_eq!((p.f_out, p.p, p.steps), (16, 36, 4));
        assert_eq!(p.out_bits, 34);
        let q = Plan::new("fx_div", Kind::Quotient, 64, 16, Some((64, 16))).unwrap();
        assert_eq!((q.f_out, q.p, q.steps), (16, 84, 5));
        // An integer numerator gets INTEGER_FRAC fractional bits.
        let q = Plan::new("fx_div", Kind::Quotient, 20, 0, Some((30, 0))).unwrap();
        assert_eq!((q.f_out, q.lift), (INTEGER_FRAC, INTEGER_FRAC + GUARD));
        let r = Plan::new("fx_sqrt", Kind::Root, 64, 16, None).unwrap();
        assert_eq!((r.f_out, r.p, r.steps), (16, 45, 4));
    }

    #[test]
    fn oversized_bounds_are_refused() {
        let e = Plan::new("fx_reciprocal", Kind::Reciprocal, 120, 16, None).unwrap_err();
        assert!(
            matches!(
                e,
                MpcError::BoundExceeded {
                    op: "fx_reciprocal",
                    ..
                }
            ),
            "{e}"
        );
        let e = Plan::new("fx_sqrt", Kind::Root, 99, 16, None).unwrap_err();
        assert!(
            matches!(e, MpcError::BoundExceeded { op: "fx_sqrt", .. }),
            "{e}"
        );
        let e = Plan::new("fx_div", Kind::Quotient, 64, 16, Some((80, 16))).unwrap_err();
        assert!(
            matches!(e, MpcError::BoundExceeded { op: "fx_div", .. }),
            "{e}"
        );
    }

    #[test]
    fn documented_bound_limits() {
        let ok = |kind, k, num| Plan::new("t", kind, k, 16, Some((num, 16))).is_ok();
        assert!(ok(Kind::Reciprocal, 99, 0) && !ok(Kind::Reciprocal, 100, 0));
        assert!(ok(Kind::Root, 97, 0) && !ok(Kind::Root, 98, 0));
        assert!(ok(Kind::Quotient, 64, 70) && !ok(Kind::Quotient, 64, 71));
        assert!(ok(Kind::Quotient, 90, 18) && !ok(Kind::Quotient, 90, 19));
    }

    #[test]
    fn every_opened_value_fits_the_field() {
        for kind in [Kind::Reciprocal, Kind::Quotient, Kind::Root] {
            for k in [1, 8, 33, 64, 90] {
                for f in [0, 8, 16, 30] {
                    let Ok(plan) = Plan::new("t", kind, k, f, Some((k, f))) else {
                        continue;
                    };
                    for r in plan.rescales.iter().flatten() {
                        assert!(r.bits <= MAX_BITS, "{kind:?} k={k} f={f}: {r:?}");
                        // value + 2^(w-1) + 2^m r'' + r' with r'' summed over up to 512 dealers.
                        assert!(
                            r.width() + STAT_SECURITY + 9 + 1 < 252,
                            "{kind:?} k={k} f={f}: {r:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn public_facts_are_the_plans() {
        let m = |bits, frac| Meta {
            bits,
            frac,
            boolean: false,
        };
        assert_eq!(MAX_ROOT_BITS, 97);
        assert!(root_facts(m(MAX_ROOT_BITS, 0)).is_ok());
        let err = root_facts(m(MAX_ROOT_BITS + 1, 0)).unwrap_err();
        assert!(err.to_string().contains("fx_sqrt"), "{err}");
        let r = Plan::new("fx_sqrt", Kind::Root, 64, 16, None).unwrap();
        assert_eq!(root_facts(m(64, 16)).unwrap(), m(r.out_bits, r.f_out));
        // An integer numerator: the quotient gets INTEGER_FRAC fractional bits.
        let q = quotient_facts(m(30, 0), m(20, 0)).unwrap();
        assert_eq!(q.frac, INTEGER_FRAC);
        assert_eq!(q.bits, 30 + INTEGER_FRAC + 1 + 1);
        let err = quotient_facts(m(100, 16), m(64, 16)).unwrap_err();
        assert!(err.to_string().contains("fx_div"), "{err}");
    }
}
