//! What every job kind takes and gives back, whatever it computes: the contract between the
//! protocols and the worker that runs them.
//!
//! A job reads one or more owners' datasets ([`OwnedTable`]: the owner's name, the schema and
//! one secret batch per column) and returns an [`Outcome`]:
//! - `public`: values opened to everyone, kind-specific (a clearing price, a query result); the
//!   ledger records a digest of them;
//! - `private`: secret batches for one recipient each (a bidder's allocation, a firm's fills),
//!   which stay shared: each worker keeps its shares, the ledger records a Pedersen commitment
//!   to every element computed from the shares, and only the recipient fetches the shares and
//!   reconstructs;
//! - `updates`: new versions of input datasets (settlement's balances), which each worker
//!   stages and makes current only when every worker has staged them (two-phase), so that an
//!   interrupted job leaves every dataset as it was.
//!
//! On [`Clear`](crate::Clear) a [`Secret`] holds plain values, so a test reads private outputs
//! and updates directly.

use crate::backend::Secret;
use crate::dataset::{Schema, Table};

/// One owner's dataset as a protocol sees it.
#[derive(Clone, Debug)]
pub struct OwnedTable {
    /// The owner's identity name (also the recipient name of outputs meant for this owner).
    pub owner: String,
    /// The dataset's name.
    pub name: String,
    /// Its schema (the same on every worker).
    pub schema: Schema,
    /// One batch per schema column, `rows` long.
    pub columns: Vec<Secret>,
    /// Number of rows (public).
    pub rows: usize,
    /// The columns this party has seen pass the owners' input check in an earlier job over
    /// this very version of the dataset (`checked[c]`; a missing entry is `false`). Under the
    /// malicious level a job skips the check of a column only when every party claims it
    /// ([`crate::Backend::agree_all`]); a worker fills it from its store, anything else leaves
    /// it empty.
    pub checked: Vec<bool>,
    /// The job-independent market rules this party has seen pass on this very version in an
    /// earlier job under the malicious level; skipped, like `checked`, only when every party
    /// claims them ([`VersionRule`]). Empty outside a worker.
    pub rules_checked: Vec<VersionRule>,
}

/// A group of market rules that depends only on the dataset version, not on the job: checked
/// once per version under the malicious level (the module doc of `matching::rules`, which
/// checks them). The discriminant is the stable id a worker stores it under. It lives here, with
/// the table that carries it, so that this contract does not depend on the matching protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VersionRule {
    /// A bid curve: demand never rises, supply never falls, no quantity is negative.
    BidCurves = 0,
    /// An order book's terms: every side is buy or sell, every quantity at least 1.
    OrderTerms = 1,
}

impl VersionRule {
    /// Every rule, in id order.
    pub const ALL: [VersionRule; 2] = [VersionRule::BidCurves, VersionRule::OrderTerms];

    /// The id a worker stores the rule under (below [`VersionRule::IDS`]).
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The rule of a stored id, if any.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Ids are below this (room for rules to come; the store reserves as many).
    pub const IDS: u32 = 16;
}

impl OwnedTable {
    /// A plain table as the [`Clear`](crate::Clear) backend reads it: the reference a test or
    /// the demo computes against.
    pub fn clear(owner: &str, name: &str, table: &Table) -> Result<Self, mpc::MpcError> {
        use mpc::Field;
        let columns = table
            .schema
            .columns
            .iter()
            .zip(&table.columns)
            .map(|(spec, values)| {
                Secret::from_facts(
                    values.iter().map(|&v| mpc::Fr::from_i128(v)).collect(),
                    mpc::share::Meta {
                        bits: spec.ty.bits(),
                        frac: spec.ty.frac(),
                        boolean: false,
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(OwnedTable {
            owner: owner.into(),
            name: name.into(),
            schema: table.schema.clone(),
            columns,
            rows: table.rows(),
            checked: Vec::new(),
            rules_checked: Vec::new(),
        })
    }

    /// The batch of the column called `name`, or an error naming the dataset and the column.
    pub fn column(&self, name: &str) -> Result<&Secret, NoColumn> {
        self.schema
            .column(name)
            .map(|(i, _)| &self.columns[i])
            .ok_or_else(|| NoColumn {
                dataset: format!("{}/{}", self.owner, self.name),
                column: name.to_owned(),
                columns: self.schema.columns.iter().map(|c| c.name.clone()).collect(),
            })
    }
}

/// A job reads a column its input dataset does not have ([`OwnedTable::column`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dataset} has no column {column:?} (columns: {})", columns.join(", "))]
pub struct NoColumn {
    /// `owner/name`.
    pub dataset: String,
    /// The column asked for.
    pub column: String,
    /// The columns it has.
    pub columns: Vec<String>,
}

/// A secret output for one recipient: `values[i]` is labelled `labels[i]`.
#[derive(Clone, Debug)]
pub struct PrivateOutput {
    /// The recipient's identity name.
    pub recipient: String,
    /// What the values are (`"allocation"`, `"fills"`, `"balance"`).
    pub name: String,
    /// One public label per value (`"price 120"`, `"order 3"`); may be empty for one value.
    pub labels: Vec<String>,
    /// The values: shares on the engine, plain values in the clear. Their facts (bits, frac)
    /// say how the recipient decodes them.
    pub values: Secret,
}

/// A new version of an input dataset: the same owner, name, schema and rows, new columns.
#[derive(Clone, Debug)]
pub struct TableUpdate {
    /// The dataset's owner.
    pub owner: String,
    /// The dataset's name.
    pub name: String,
    /// Every column of the new version, in schema order.
    pub columns: Vec<Secret>,
}

/// What a job computed, as one party holds it.
#[derive(Clone, Debug)]
pub struct Outcome<P> {
    /// Opened to everyone.
    pub public: P,
    /// Secret outputs, one recipient each.
    pub private: Vec<PrivateOutput>,
    /// New versions of input datasets.
    pub updates: Vec<TableUpdate>,
}

impl<P> Outcome<P> {
    /// An outcome with public values only.
    pub fn public(public: P) -> Self {
        Outcome {
            public,
            private: Vec::new(),
            updates: Vec::new(),
        }
    }
    /// The same outcome with its public part mapped.
    pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> Outcome<Q> {
        Outcome {
            public: f(self.public),
            private: self.private,
            updates: self.updates,
        }
    }
}
