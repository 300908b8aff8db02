//! Standard jobs by kind and size, for the benchmark matrix (`quorate bench --jobs`): the
//! sugar-beet auction shape, a payroll statistics query, a settlement round and a limit-order
//! book, each named `kind:size` on the command line.
//!
//! - `auction:BIDDERSxPRICES` — sealed bids over a grid of `PRICES` prices from 100 (the
//!   sugar-beet auction is `auction:1200x4000`);
//! - `stats:ROWS` — `SELECT COUNT(*), AVG(salary), STDDEV(salary) FROM payroll` over `ROWS`
//!   rows of ten owners (salaries normal around 52,000);
//! - `settlement:FIRMSxOBLIGATIONS` — a round between `FIRMS` firms;
//! - `orders:FIRMSxORDERS` — a book of `ORDERS` limit orders over 64 ticks.
//!
//! What this module does not do: run anything.

use std::str::FromStr;

use protocols::catalog::JobSpec;
use protocols::matching::{Grid, GridRange};
use protocols::settlement::RoundSpec;

use super::JobScenario;
use super::data::{ColumnGen, DataSpec, GenType};

/// A job of a standard kind and size.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPreset {
    /// Its name on the command line and in reports (`auction:1200x4000`).
    pub label: String,
    /// The job and its data.
    pub job: JobScenario,
}

fn grid(prices: usize, min: i64, step: i64) -> Grid {
    Grid::Range(GridRange {
        min,
        max: min + step * (prices.max(1) as i64 - 1),
        step,
    })
}

/// The payroll statistics job over `rows` rows of ten owners.
pub fn stats(rows: usize) -> JobScenario {
    JobScenario {
        sql: Some("SELECT COUNT(*), AVG(salary), STDDEV(salary) FROM payroll".into()),
        spec: None,
        spec_file: None,
        data: DataSpec::Table {
            dataset: "payroll".into(),
            owners: 10,
            rows,
            columns: vec![ColumnGen {
                name: "salary".into(),
                ty: GenType::Integer,
                bits: Some(32),
                frac: None,
                domain: Vec::new(),
                weights: Vec::new(),
                min: Some(15_000.0),
                max: Some(250_000.0),
                mean: Some(52_000.0),
                sd: Some(12_000.0),
            }],
        },
    }
}

fn pair(size: &str) -> Result<(usize, usize), PresetError> {
    let (a, b) = size
        .split_once('x')
        .ok_or_else(|| PresetError::NotPair(size.to_owned()))?;
    let num = |s: &str| match s.parse::<usize>() {
        Err(_) => Err(PresetError::NotNumber(s.to_owned())),
        Ok(0) => Err(PresetError::Zero),
        Ok(v) => Ok(v),
    };
    Ok((num(a)?, num(b)?))
}

/// Why a job preset (`auction:1200x4000`) does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// No `KIND:SIZE` shape.
    #[error(
        "'{0}': expected KIND:SIZE (auction:1200x4000, stats:100000, settlement:10x300, orders:10x1000)"
    )]
    Shape(String),
    /// A size that is not `AxB`.
    #[error("'{0}': expected AxB")]
    NotPair(String),
    /// A size part that is not a number.
    #[error("'{0}' is not a number")]
    NotNumber(String),
    /// A size of zero.
    #[error("a size must be at least 1")]
    Zero,
    /// A statistics size that is not a number of rows.
    #[error("stats:{0}: expected a number of rows")]
    Rows(String),
    /// A kind outside auction, stats, settlement and orders.
    #[error("unknown job kind '{0}' (expected auction, stats, settlement or orders)")]
    UnknownKind(String),
}

impl FromStr for JobPreset {
    type Err = PresetError;
    fn from_str(s: &str) -> Result<Self, PresetError> {
        let (kind, size) = s
            .split_once(':')
            .ok_or_else(|| PresetError::Shape(s.to_owned()))?;
        let job = match kind {
            "auction" => {
                let (bidders, prices) = pair(size)?;
                JobScenario {
                    sql: None,
                    spec: Some(JobSpec::Auction {
                        dataset: "bids".into(),
                        grid: grid(prices, 100, 1),
                        participants: Vec::new(),
                    }),
                    spec_file: None,
                    data: DataSpec::Auction {
                        bidders,
                        max_quantity: 10_000,
                    },
                }
            }
            "stats" => stats(
                size.parse()
                    .map_err(|_| PresetError::Rows(size.to_owned()))?,
            ),
            "settlement" => {
                let (firms, obligations) = pair(size)?;
                JobScenario {
                    sql: None,
                    spec: Some(JobSpec::Settlement(RoundSpec {
                        round: format!("bench-{firms}x{obligations}"),
                        firms: (1..=firms).map(|f| format!("firm{f:03}")).collect(),
                        accounts: "accounts".into(),
                        obligations: "obligations".into(),
                        hide_iterations: false,
                    })),
                    spec_file: None,
                    data: DataSpec::Settlement {
                        obligations,
                        balance_factor: 1.6,
                    },
                }
            }
            "orders" => {
                let (firms, orders) = pair(size)?;
                JobScenario {
                    sql: None,
                    spec: Some(JobSpec::Orders {
                        dataset: "orders".into(),
                        grid: grid(64, 1000, 5),
                        participants: Vec::new(),
                    }),
                    spec_file: None,
                    data: DataSpec::Orders { firms, orders },
                }
            }
            other => return Err(PresetError::UnknownKind(other.to_owned())),
        };
        Ok(JobPreset {
            label: s.to_string(),
            job,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_refuse_nonsense() {
        let a: JobPreset = "auction:1200x4000".parse().unwrap();
        assert!(matches!(
            a.job.data,
            DataSpec::Auction { bidders: 1200, .. }
        ));
        assert!("stats:100000".parse::<JobPreset>().is_ok());
        assert!("settlement:10x300".parse::<JobPreset>().is_ok());
        assert!("orders:10x1000".parse::<JobPreset>().is_ok());
        let refused = |s: &str| s.parse::<JobPreset>().unwrap_err();
        assert_eq!(
            refused("lottery:3"),
            PresetError::UnknownKind("lottery".into())
        );
        assert!(
            refused("lottery:3")
                .to_string()
                .contains("unknown job kind")
        );
        assert_eq!(refused("auction:12"), PresetError::NotPair("12".into()));
        assert!(refused("auction:12").to_string().contains("AxB"));
        assert_eq!(refused("auction:0x4"), PresetError::Zero);
        assert!(refused("auction:0x4").to_string().contains("at least 1"));
        assert_eq!(refused("stats"), PresetError::Shape("stats".into()));
        assert!(refused("stats").to_string().contains("KIND:SIZE"));
        assert_eq!(refused("stats:many"), PresetError::Rows("many".into()));
    }
}
