//! Matching: who trades with whom, at what price, and which records two firms share, computed
//! on secret-shared bids, orders and identifiers.
//!
//! Three job kinds, each written once against [`Backend`](crate::Backend):
//! - [`auction`]: a sealed-bid double auction (call market). Every bidder uploads a demand and
//!   a supply curve over a public price grid; the workers reveal only the clearing price and
//!   the traded volume, and each bidder privately receives its allocation.
//! - [`orders`]: limit-order matching for one asset at one uniform price on a public tick
//!   grid; each firm privately receives the fills of its own orders.
//! - [`records`]: record matching on hashed identifiers (Dodis–Yampolskiy PRF tags): the number
//!   of identifiers common to every dataset, and sums over the common rows.
//!
//! The auction and the order book share one clearing rule ([`clearing`]) and one rationing
//! rule (price priority, then pro rata with a documented remainder rule).
//!
//! Uploads are validated by the client ([`JobSpec::check_upload`](crate::catalog::JobSpec::check_upload))
//! before it shares a dataset; under the malicious level the workers check the same market
//! rules on the shares too ([`rules`]), so a client that skips the check makes the job abort,
//! naming its dataset. What this module does not do: check policies (the worker does), or
//! open any network connection.

pub mod auction;
pub mod clearing;
pub mod orders;
pub mod records;
mod rules;
mod unary;
mod upload;

use std::fmt;

use mpc::MpcError;
use serde::{Deserialize, Serialize};

use crate::backend::Secret;

pub use auction::{AuctionResult, run_auction};
pub use clearing::Clearing;
pub use orders::{OrdersResult, run_orders};
pub use records::{RecordMatchResult, run_record_match};
pub use upload::{Curve, GridError, TableError};

pub use crate::outcome::VersionRule;

/// The widest quantity column an auction or an order book accepts, in bits: exact pro-rata
/// rationing divides sums of quantities in fixed point, which needs room above them
/// ([`clearing`]). Uploads with wider quantity columns are refused by
/// [`JobSpec::check_upload`](crate::catalog::JobSpec::check_upload).
pub const MAX_QUANTITY_BITS: u32 = 32;

/// The most prices a grid may have.
pub const MAX_GRID: usize = 1_000_000;

/// A public price grid: the candidate clearing prices, in increasing order. In TOML, either a
/// range `grid = { min = 100, max = 4099, step = 1 }` (every `min + i·step <= max`) or an
/// explicit list `grid = [100, 105, 120]` (strictly increasing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Grid {
    /// Explicit prices, strictly increasing. (Listed first: serde would read a three-element
    /// list as a range's `[min, max, step]` otherwise.)
    List(Vec<i64>),
    /// `min, min + step, ...` up to `max` (inclusive when `max - min` is a multiple of `step`).
    Range(GridRange),
}

/// The range form of a [`Grid`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridRange {
    /// The lowest price.
    pub min: i64,
    /// The highest price allowed.
    pub max: i64,
    /// The tick (at least 1).
    pub step: i64,
}

impl Grid {
    /// The prices, increasing; an error says what is wrong with the grid.
    pub fn prices(&self) -> Result<Vec<i128>, GridError> {
        let prices: Vec<i128> = match self {
            Grid::Range(GridRange { min, max, step }) => {
                if *step < 1 {
                    return Err(GridError::Step(*step));
                }
                if min > max {
                    return Err(GridError::Inverted {
                        min: *min,
                        max: *max,
                    });
                }
                let count = ((*max as i128 - *min as i128) / *step as i128) as usize + 1;
                if count > MAX_GRID {
                    return Err(GridError::TooMany(count));
                }
                (0..count)
                    .map(|i| *min as i128 + i as i128 * *step as i128)
                    .collect()
            }
            Grid::List(list) => {
                if list.is_empty() {
                    return Err(GridError::Empty);
                }
                if list.len() > MAX_GRID {
                    return Err(GridError::TooMany(list.len()));
                }
                if let Some(w) = list.windows(2).find(|w| w[0] >= w[1]) {
                    return Err(GridError::NotIncreasing(w[0], w[1]));
                }
                list.iter().map(|&p| p as i128).collect()
            }
        };
        Ok(prices)
    }
}

/// Everything that can stop a matching job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchingError {
    /// The job's specification is invalid (nothing ran).
    #[error("job: {0}")]
    Spec(String),
    /// The job's price grid is invalid (nothing ran).
    #[error("job: {0}")]
    Grid(#[from] GridError),
    /// The inputs do not fit the job (nothing ran).
    #[error("inputs: {0}")]
    Input(String),
    /// An input lacks a column the job reads (nothing ran).
    #[error("inputs: {0}")]
    Column(#[from] crate::outcome::NoColumn),
    /// An input table does not fit the job's kind (nothing ran).
    #[error("inputs: {0}")]
    Table(#[from] TableError),
    /// The computation failed at a step.
    #[error("{step}: {source}")]
    Mpc {
        /// The step (`crossing`, `rationing`, ...).
        step: &'static str,
        /// The engine's error.
        source: MpcError,
    },
}

/// Wraps an engine error with the step it happened in.
pub(crate) fn in_step(step: &'static str) -> impl Fn(MpcError) -> MatchingError + Copy {
    move |source| MatchingError::Mpc { step, source }
}

/// Concatenates batches for one batched call, an error naming the step.
pub(crate) fn concat(parts: &[&Secret], step: &'static str) -> Result<Secret, MatchingError> {
    Secret::concat(parts).map_err(in_step(step))
}

/// A row of an owner's table in error messages: shown 1-based as the data rows (the CSV's line
/// is one more, for the header); holds the 0-based index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row(pub usize);

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {} (CSV line {})", self.0 + 1, self.0 + 2)
    }
}

/// The element-wise sum of equal-length batches (linear), its bound grown by
/// `ceil(log2(count))` bits rather than one bit per addition.
pub(crate) fn sum_batches(parts: &[&Secret], step: &'static str) -> Result<Secret, MatchingError> {
    use mpc::Field;
    let Some(first) = parts.first() else {
        return Err(MatchingError::Input("nothing to add up".into()));
    };
    let len = first.len();
    let mut acc = vec![mpc::Fr::zero(); len];
    let mut bits = 0;
    for p in parts {
        if p.len() != len || p.frac() != first.frac() {
            return Err(MatchingError::Input(format!(
                "batches of {} and {} elements (scales {} and {}) cannot be added",
                len,
                p.len(),
                first.frac(),
                p.frac()
            )));
        }
        bits = bits.max(p.bits());
        for (a, &v) in acc.iter_mut().zip(p.shares()) {
            *a += v;
        }
    }
    let grown = if parts.len() <= 1 {
        0
    } else {
        usize::BITS - (parts.len() - 1).leading_zeros()
    };
    Secret::from_facts(
        acc,
        mpc::share::Meta {
            bits: bits + grown,
            frac: first.frac(),
            boolean: false,
        },
    )
    .map_err(in_step(step))
}
