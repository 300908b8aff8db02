//! The data a simulated job reads: generated from the seed (a statistics table by rows, owners
//! and column distributions; auction bids by bidders × grid prices; limit orders by firms;
//! settlement obligations by firms × obligations) or read from CSV files, as the owners would
//! upload them.
//!
//! Every generated or read table passes the same upload check a client runs before sharing
//! ([`JobSpec::check_upload`]), so a scenario cannot feed a job data the real cluster would
//! refuse. Owner names sort in owner order (`owner01`, `bidder0001`, `firm001`), which is the
//! order a worker lists datasets in.
//!
//! What this module does not do: share, run or check results (see [`super`]).

use std::path::{Path, PathBuf};

use protocols::catalog::JobSpec;
use protocols::dataset::{ColumnSpec, ColumnType, Schema, Table, read_csv_file};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::invalid::JobDataError;

/// One owner's dataset, in the clear.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The owner's identity name.
    pub owner: String,
    /// The dataset's name.
    pub name: String,
    /// Its schema and values.
    pub table: Table,
}

/// The `[job.data]` table: where the job's inputs come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSpec {
    /// A table for statistics: `rows` rows spread evenly over `owners` owners.
    Table {
        /// The dataset's name (the query's `FROM`).
        dataset: String,
        /// Number of owners (at least 1).
        owners: usize,
        /// Rows in all.
        rows: usize,
        /// The columns and their distributions.
        columns: Vec<ColumnGen>,
    },
    /// Sealed bids for an `auction` job: half buyers, half sellers, each a quantity (1 to
    /// `max_quantity`) spread linearly between two random grid prices (the sugar-beet shape).
    Auction {
        /// Number of bidders.
        bidders: usize,
        /// Largest quantity of one bidder. Default: 10,000.
        #[serde(default = "default_quantity")]
        max_quantity: i128,
    },
    /// Limit orders for an `orders` job: buyers' limits skew high, sellers' low.
    Orders {
        /// Number of firms.
        firms: usize,
        /// Orders in all.
        orders: usize,
    },
    /// A settlement round's balances and obligations, for the job's firms: each obligation's
    /// payer, payee and amount (1 to 100,000) drawn at random; balances below
    /// `balance_factor` times the mean gross a firm pays, so a few firms are short.
    Settlement {
        /// Obligations in all.
        obligations: usize,
        /// Default: 1.6.
        #[serde(default = "default_balance_factor")]
        balance_factor: f64,
    },
    /// CSV files, one per owner's dataset.
    Csv {
        /// The files.
        files: Vec<CsvFile>,
    },
}

fn default_quantity() -> i128 {
    10_000
}
fn default_balance_factor() -> f64 {
    1.6
}

/// One CSV file of a `csv` data table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvFile {
    /// The owner's identity name.
    pub owner: String,
    /// The dataset's name.
    pub dataset: String,
    /// The CSV, relative to the scenario file.
    pub path: PathBuf,
    /// A schema TOML (as `quorate upload --schema`), relative to the scenario file. Default:
    /// inferred from the CSV.
    #[serde(default)]
    pub schema: Option<PathBuf>,
}

/// A generated column: its type and its distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnGen {
    /// The column's name.
    pub name: String,
    /// `integer` (default), `fixed` or `categorical`.
    #[serde(rename = "type", default)]
    pub ty: GenType,
    /// Bound of the encoded integers in bits. Default: 32 (integer), 40 (fixed).
    #[serde(default)]
    pub bits: Option<u32>,
    /// Fractional bits of a fixed-point column. Default: 16.
    #[serde(default)]
    pub frac: Option<u32>,
    /// A categorical column's values.
    #[serde(default)]
    pub domain: Vec<String>,
    /// A categorical column's weights, one per value. Default: uniform.
    #[serde(default)]
    pub weights: Vec<f64>,
    /// Smallest value (uniform, or a normal's clamp). Default: 0.
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest value (uniform, or a normal's clamp). Default: 1000.
    #[serde(default)]
    pub max: Option<f64>,
    /// Mean of a normal distribution (none: uniform in `[min, max]`).
    #[serde(default)]
    pub mean: Option<f64>,
    /// Standard deviation of the normal distribution. Default: a sixth of `max - min`.
    #[serde(default)]
    pub sd: Option<f64>,
}

/// The type of a generated column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenType {
    /// Integers.
    #[default]
    Integer,
    /// Fixed point.
    Fixed,
    /// One of a domain.
    Categorical,
}

impl ColumnGen {
    fn spec(&self) -> Result<ColumnSpec, JobDataError> {
        let ty = match self.ty {
            GenType::Integer => ColumnType::Integer {
                bits: self.bits.unwrap_or(32),
            },
            GenType::Fixed => ColumnType::Fixed {
                frac: self.frac.unwrap_or(16),
                bits: self.bits.unwrap_or(40),
            },
            GenType::Categorical if self.domain.is_empty() => {
                return Err(JobDataError::NoDomain {
                    column: self.name.clone(),
                });
            }
            GenType::Categorical => ColumnType::Categorical {
                domain: self.domain.clone(),
            },
        };
        if !self.weights.is_empty() && self.weights.len() != self.domain.len() {
            return Err(JobDataError::Weights {
                column: self.name.clone(),
                weights: self.weights.len(),
                values: self.domain.len(),
            });
        }
        Ok(ColumnSpec {
            name: self.name.clone(),
            ty,
        })
    }

    fn draw(&self, spec: &ColumnType, rng: &mut ChaCha8Rng) -> i128 {
        if let ColumnType::Categorical { domain } = spec {
            return if self.weights.is_empty() {
                rng.random_range(0..domain.len()) as i128
            } else {
                let total: f64 = self.weights.iter().sum();
                let mut u = rng.random::<f64>() * total;
                for (i, w) in self.weights.iter().enumerate() {
                    if u < *w {
                        return i as i128;
                    }
                    u -= w;
                }
                domain.len() as i128 - 1
            };
        }
        let (lo, hi) = (self.min.unwrap_or(0.0), self.max.unwrap_or(1000.0));
        let x = match self.mean {
            Some(mean) => {
                // Box–Muller; 1 - u is in (0, 1], so the log is finite.
                let (u, v): (f64, f64) = (rng.random(), rng.random());
                let z = (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                (mean + z * self.sd.unwrap_or((hi - lo) / 6.0)).clamp(lo, hi)
            }
            None => lo + rng.random::<f64>() * (hi - lo),
        };
        let bound = (1i128 << spec.bits()) - 1;
        ((x * (1u64 << spec.frac()) as f64).round() as i128).clamp(-bound, bound)
    }
}

fn grid_of(spec: &JobSpec) -> Result<(String, Vec<i128>), JobDataError> {
    match spec {
        JobSpec::Auction { dataset, grid, .. } | JobSpec::Orders { dataset, grid, .. } => {
            Ok((dataset.clone(), grid.prices()?))
        }
        other => Err(JobDataError::NoGrid(other.kind())),
    }
}

impl DataSpec {
    /// A short description for reports (`auction bidders=1200`).
    pub fn label(&self) -> String {
        match self {
            DataSpec::Table {
                owners,
                rows,
                columns,
                ..
            } => format!("rows={rows} owners={owners} columns={}", columns.len()),
            DataSpec::Auction { bidders, .. } => format!("bidders={bidders}"),
            DataSpec::Orders { firms, orders } => format!("orders={orders} firms={firms}"),
            DataSpec::Settlement { obligations, .. } => format!("obligations={obligations}"),
            DataSpec::Csv { files } => format!("csv_files={}", files.len()),
        }
    }

    /// The datasets, generated from `seed` or read (paths relative to `base`), each checked as
    /// an upload for `spec`, in the order a worker lists them (by name in the job's input
    /// order, then by owner).
    pub fn datasets(
        &self,
        spec: &JobSpec,
        seed: u64,
        base: &Path,
    ) -> Result<Vec<Dataset>, JobDataError> {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[31] = 0x44; // 'D': job data
        let mut rng = ChaCha8Rng::from_seed(key);
        let mut out = match self {
            DataSpec::Table {
                dataset,
                owners,
                rows,
                columns,
            } => table(dataset, *owners, *rows, columns, &mut rng)?,
            DataSpec::Auction {
                bidders,
                max_quantity,
            } => auction(spec, *bidders, *max_quantity, &mut rng)?,
            DataSpec::Orders { firms, orders } => book(spec, *firms, *orders, &mut rng)?,
            DataSpec::Settlement {
                obligations,
                balance_factor,
            } => settlement(spec, *obligations, *balance_factor, &mut rng)?,
            DataSpec::Csv { files } => files
                .iter()
                .map(|f| read(f, base))
                .collect::<Result<_, _>>()?,
        };
        for d in &out {
            spec.check_upload(&d.name, &d.table)
                .map_err(|source| JobDataError::Upload {
                    owner: d.owner.clone(),
                    dataset: d.name.clone(),
                    source,
                })?;
        }
        let order = spec.input_names().unwrap_or_default();
        let position = |name: &str| order.iter().position(|n| n == name).unwrap_or(0);
        out.sort_by(|a, b| (position(&a.name), &a.owner).cmp(&(position(&b.name), &b.owner)));
        Ok(out)
    }
}

fn read(f: &CsvFile, base: &Path) -> Result<Dataset, JobDataError> {
    let schema = match &f.schema {
        Some(p) => {
            let path = base.join(p);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(source) => return Err(JobDataError::SchemaFile { path, source }),
            };
            Some(Schema::from_toml(&text, &path.display().to_string())?)
        }
        None => None,
    };
    let table = read_csv_file(&base.join(&f.path), schema.as_ref())?;
    Ok(Dataset {
        owner: f.owner.clone(),
        name: f.dataset.clone(),
        table,
    })
}

fn table(
    dataset: &str,
    owners: usize,
    rows: usize,
    columns: &[ColumnGen],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Dataset>, JobDataError> {
    if owners == 0 || columns.is_empty() {
        return Err(JobDataError::EmptyTable);
    }
    let specs: Vec<ColumnSpec> = columns
        .iter()
        .map(ColumnGen::spec)
        .collect::<Result<_, _>>()?;
    let schema = Schema { columns: specs };
    Ok((0..owners)
        .map(|o| {
            let mine = rows / owners + usize::from(o < rows % owners);
            let values = columns
                .iter()
                .zip(&schema.columns)
                .map(|(g, s)| (0..mine).map(|_| g.draw(&s.ty, rng)).collect())
                .collect();
            Dataset {
                owner: format!("owner{:02}", o + 1),
                name: dataset.into(),
                table: Table {
                    schema: schema.clone(),
                    columns: values,
                },
            }
        })
        .collect())
}

fn auction(
    spec: &JobSpec,
    bidders: usize,
    max_quantity: i128,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Dataset>, JobDataError> {
    let (name, grid) = grid_of(spec)?;
    let prices = grid.len();
    let schema = Schema {
        columns: vec![
            ColumnSpec::integer("price", 32),
            ColumnSpec::integer("buy", 32),
            ColumnSpec::integer("sell", 32),
        ],
    };
    Ok((0..bidders)
        .map(|b| {
            let q: i128 = rng.random_range(1..=max_quantity.max(1));
            let (mut lo, mut hi) = (rng.random_range(0..prices), rng.random_range(0..prices));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let rising: Vec<i128> = (0..prices)
                .map(|i| match i {
                    i if i <= lo => 0,
                    i if i >= hi => q,
                    i => q * (i - lo) as i128 / (hi - lo) as i128,
                })
                .collect();
            let (buy, sell) = if b % 2 == 0 {
                (rising.iter().map(|r| q - r).collect(), vec![0; prices])
            } else {
                (vec![0; prices], rising)
            };
            Dataset {
                owner: format!("bidder{:04}", b + 1),
                name: name.clone(),
                table: Table {
                    schema: schema.clone(),
                    columns: vec![grid.clone(), buy, sell],
                },
            }
        })
        .collect())
}

fn book(
    spec: &JobSpec,
    firms: usize,
    orders: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Dataset>, JobDataError> {
    let (name, grid) = grid_of(spec)?;
    Ok(
        protocols::testing::order_books(rng, &grid, orders, firms, 32)
            .into_iter()
            .enumerate()
            .map(|(f, table)| Dataset {
                owner: format!("firm{:03}", f + 1),
                name: name.clone(),
                table,
            })
            .collect(),
    )
}

fn settlement(
    spec: &JobSpec,
    obligations: usize,
    balance_factor: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Dataset>, JobDataError> {
    let JobSpec::Settlement(round) = spec else {
        return Err(JobDataError::NotSettlement(spec.kind()));
    };
    let firms = &round.firms;
    if firms.len() < 2 {
        return Err(JobDataError::TooFewFirms);
    }
    let n = firms.len();
    let mut pays: Vec<Vec<(usize, i128)>> = vec![Vec::new(); n];
    for _ in 0..obligations {
        let payer = rng.random_range(0..n);
        let mut payee = rng.random_range(0..n - 1);
        if payee >= payer {
            payee += 1;
        }
        pays[payer].push((payee, rng.random_range(1..=100_000)));
    }
    let mean_gross = 50_000.0 * (obligations as f64 / n as f64).max(1.0);
    let balance_max = ((balance_factor * mean_gross) as i128).max(1);
    let mut out = Vec::new();
    for (j, firm) in firms.iter().enumerate() {
        out.push(Dataset {
            owner: firm.clone(),
            name: round.accounts.clone(),
            table: Table {
                schema: Schema {
                    columns: vec![ColumnSpec::integer("balance", 63)],
                },
                columns: vec![vec![rng.random_range(0..balance_max)]],
            },
        });
        if pays[j].is_empty() {
            continue; // no dataset: no obligations
        }
        // Payer and payee over the round's whole firm list: every firm's schema is the same.
        out.push(Dataset {
            owner: firm.clone(),
            name: round.obligations.clone(),
            table: Table {
                schema: Schema {
                    columns: vec![
                        ColumnSpec::categorical("payer", firms.clone()),
                        ColumnSpec::categorical("payee", firms.clone()),
                        ColumnSpec::integer("amount", 63),
                    ],
                },
                columns: vec![
                    vec![j as i128; pays[j].len()],
                    pays[j].iter().map(|&(k, _)| k as i128).collect(),
                    pays[j].iter().map(|&(_, a)| a).collect(),
                ],
            },
        });
    }
    Ok(out)
}
