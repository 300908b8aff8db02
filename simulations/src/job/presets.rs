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

fn pair(size: &str) -> Result<(usize, usize), String> {
    let (a, b) = size
        .split_once('x')
        .ok_or_else(|| format!("'{size}': expected AxB"))?;
    let num = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("'{s}' is not a number"))
            .and_then(|v| {
                if v == 0 {
                    Err("a size must be at least 1".into())
                } else {
                    Ok(v)
                }
            })
    };
    Ok((num(a)?, num(b)?))
}

impl FromStr for JobPreset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, size) = s.split_once(':').ok_or_else(|| {
            format!("'{s}': expected KIND:SIZE (auction:1200x4000, stats:100000, settlement:10x300, orders:10x1000)")
        })?;
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
                    .map_err(|_| format!("stats:{size}: expected a number of rows"))?,
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
            other => {
                return Err(format!(
                    "unknown job kind '{other}' (expected auction, stats, settlement or orders)"
                ));
            }
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
        assert!(
            "lottery:3"
                .parse::<JobPreset>()
                .unwrap_err()
                .contains("unknown job kind")
        );
        assert!(
            "auction:12"
                .parse::<JobPreset>()
                .unwrap_err()
                .contains("AxB")
        );
        assert!(
            "auction:0x4"
                .parse::<JobPreset>()
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            "stats"
                .parse::<JobPreset>()
                .unwrap_err()
                .contains("KIND:SIZE")
        );
    }
}
