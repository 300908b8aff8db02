//! Why a scenario's job cannot be simulated: its `[job]` table does not give one job
//! ([`JobFileError`]), its data cannot be generated or read ([`JobDataError`]), or the job
//! cannot be run in the clear to give the reference the simulation is checked against
//! ([`JobWorkloadError`]). [`crate::SimError::Job`] carries them with the scenario's name.
//!
//! What this module does not do: say why a simulated run's outputs differ from the clear job's
//! (those are outcomes in the report, see [`super::check`]).

use std::path::PathBuf;

use protocols::catalog::{SpecError, UploadError};
use protocols::dataset::DatasetError;
use protocols::matching::GridError;

/// Why a scenario's `[job]` does not give one job the simulator can check.
#[derive(Debug, thiserror::Error)]
pub enum JobFileError {
    /// `spec_file` could not be read.
    #[error("job.spec_file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// `spec_file` is not a job specification.
    #[error("job.spec_file {}: {source}", path.display())]
    Spec {
        /// The file.
        path: PathBuf,
        /// Why the specification is refused.
        source: SpecError,
    },
    /// None, or more than one, of `sql`, `spec` and `spec_file`.
    #[error("job: give exactly one of sql, spec and spec_file")]
    NotOne,
    /// A statistics job with differential privacy.
    #[error(
        "job: epsilon is refused: differential privacy noise differs between the engine and the \
         clear job by design, and the simulator checks every output against the clear job"
    )]
    Epsilon,
}

/// Why the `[job.data]` table gives no data for the job.
#[derive(Debug, thiserror::Error)]
pub enum JobDataError {
    /// A generated categorical column without values.
    #[error("column '{column}': a categorical column needs a domain")]
    NoDomain {
        /// The column.
        column: String,
    },
    /// A generated categorical column with a weight list of another length than its domain.
    #[error("column '{column}': {weights} weights for {values} values")]
    Weights {
        /// The column.
        column: String,
        /// Weights given.
        weights: usize,
        /// Values in its domain.
        values: usize,
    },
    /// A generated table of no owner or no column.
    #[error("a generated table needs at least one owner and one column")]
    EmptyTable,
    /// Bids or orders generated for a job without a price grid.
    #[error("this data generator needs an auction or orders job, not {0}")]
    NoGrid(&'static str),
    /// The job's price grid is invalid (the message starts with `grid:`).
    #[error(transparent)]
    Grid(#[from] GridError),
    /// Balances and obligations generated for another job than a settlement round.
    #[error("the settlement generator needs a settlement job, not {0}")]
    NotSettlement(&'static str),
    /// A generated settlement round of fewer than two firms.
    #[error("a generated settlement round needs at least two firms")]
    TooFewFirms,
    /// A CSV file's schema could not be read.
    #[error("{}: {source}", path.display())]
    SchemaFile {
        /// The schema file.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// A CSV file or its schema is refused (the message names the file, and the line and
    /// column of a bad value).
    #[error(transparent)]
    Csv(#[from] DatasetError),
    /// A table the job would refuse as an upload.
    #[error("{owner}/{dataset}: {source}")]
    Upload {
        /// The table's owner.
        owner: String,
        /// The dataset's name.
        dataset: String,
        /// Why the job refuses it.
        source: UploadError,
    },
}

/// Why a job scenario cannot be prepared: no job, no data, or no reference from the clear job.
#[derive(Debug, thiserror::Error)]
pub enum JobWorkloadError {
    /// The `[job]` table does not give one job.
    #[error(transparent)]
    File(#[from] JobFileError),
    /// The `[job.data]` table gives no data.
    #[error(transparent)]
    Data(#[from] JobDataError),
    /// The data are no dataset at all.
    #[error("job.data gives no dataset")]
    NoDataset,
    /// A table does not encode as the clear backend's values.
    #[error("job.data: {0}")]
    Encode(#[source] mpc::MpcError),
    /// The clear job waited on a message (the clear backend never waits: a bug).
    #[error("the clear job waited on something: it must never wait")]
    ClearWaited,
    /// The job fails in the clear (an unknown column, an unsupported query, ...).
    #[error("the job fails in the clear: {0}")]
    Clear(#[source] protocols::catalog::JobError),
    /// A clear output that is not an integer.
    #[error("{what}: a clear output is not an integer")]
    NotInteger {
        /// The output (`bidder0001's allocation`).
        what: String,
    },
}
