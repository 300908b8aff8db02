//! The control plane's wire protocol: every message between a client, the coordinator and a
//! worker (apart from the MPC traffic of a job, which the QUIC mesh carries) is a [`Request`] or
//! a [`Response`], one of each per QUIC stream.
//!
//! A frame is `[u32 length, little-endian][u16 version][postcard body]`. The length counts the
//! version and the body and is checked against [`MAX_FRAME`] before anything is allocated; a
//! frame of another version is refused with an error that names both versions. Decoding is pure
//! (`decode_frame`), and the async helpers only move bytes.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version this build speaks.
pub const API_VERSION: u16 = 2;
/// The most jobs one `ListJobs` answer holds.
pub const JOBS_PAGE: usize = 256;
/// The largest frame accepted: 64 MiB (an upload sends shares in chunks well below it).
pub const MAX_FRAME: usize = 64 << 20;

/// A request to a worker or the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Liveness and version check.
    Ping,
    /// Starts an upload of the sender's dataset (workers).
    UploadBegin(UploadHeader),
    /// One chunk of one column of this worker's shares (workers).
    UploadChunk {
        /// The upload.
        upload: String,
        /// Column index.
        column: u32,
        /// Chunk index (rows `chunk * CHUNK_ROWS ..`).
        chunk: u32,
        /// Contiguous 32-byte shares.
        shares: Vec<u8>,
    },
    /// Phase one: every chunk is durable here (workers).
    UploadPrepare {
        /// The upload.
        upload: String,
    },
    /// Phase two: publish (workers).
    UploadCommit {
        /// The upload.
        upload: String,
    },
    /// Drop a staged upload (workers).
    UploadAbort {
        /// The upload.
        upload: String,
    },
    /// The committed datasets (workers).
    ListDatasets,
    /// This worker's shares of one column of one of the sender's own datasets (workers).
    ReadShares {
        /// The dataset's name (the owner is the sender).
        dataset: String,
        /// Column index.
        column: u32,
    },
    /// Run a job with the other workers (coordinator to workers; every worker gets the same
    /// request and they meet in mesh session `session`). The worker keeps its shares of the
    /// private outputs and stages the dataset updates; it answers with a [`JobReport`].
    RunJob {
        /// The job's id.
        job: u64,
        /// The mesh session: unique per attempt, so a job retried after a coordinator
        /// restart never meets a stale session.
        session: u64,
        /// The mesh epoch the workers meet in: a worker whose mesh belongs to another epoch
        /// forms a new one (`worker::mesh`). The coordinator moves to a new epoch after an
        /// attempt fails for want of a peer, so every worker re-forms together.
        mesh: u64,
        /// The job's specification (TOML, `protocols::catalog::JobSpec`).
        spec: String,
        /// The multiplication protocol the workers use.
        protocol: mpc::MulProtocol,
        /// The security level of the workers' engine session.
        security: mpc::SecurityLevel,
    },
    /// Phase two of a job's dataset updates (coordinator to workers): make the versions staged
    /// by attempt `session` current (`commit`) or drop them.
    FinishJob {
        /// The job.
        job: u64,
        /// The attempt whose updates are meant.
        session: u64,
        /// Commit or abort.
        commit: bool,
    },
    /// Sign a candidate ledger entry if it extends this worker's replica (coordinator to
    /// workers). Answered with [`Response::Signature`], or [`Response::Behind`] when the
    /// replica lacks entries the candidate builds on.
    SignEntry(crate::ledger::Entry),
    /// Fully signed entries to append to this worker's replica, in order (coordinator to
    /// workers). Entries the replica already holds are skipped.
    AppendEntries(Vec<crate::ledger::Entry>),
    /// This worker's shares of the sender's private outputs of a job (clients to workers).
    FetchOutputs {
        /// The job.
        job: u64,
    },
    /// Ask for a job, signed (clients to the coordinator); answered with
    /// [`Response::Submitted`]. For a settlement round every firm of the round sends the same
    /// request, signed by itself: the first queues the job and each later one adds its
    /// consent (the answer names the same job); the job runs once every firm has signed.
    SubmitJob {
        /// The request: spec, protocol, nonce.
        request: crate::ledger::JobRequest,
        /// The sender's signature over it.
        signature: crate::ledger::ClientSignature,
    },
    /// One job's state (clients to the coordinator).
    GetJob {
        /// The job.
        job: u64,
    },
    /// One job's state once it has ended (and its outcome is on the ledger), or after
    /// `limit_ms` (at most [`MAX_WAIT_MS`]) in its current state (clients to the
    /// coordinator): the client is told when its job ends rather than asking again and again.
    WaitJob {
        /// The job.
        job: u64,
        /// How long the coordinator may hold the answer.
        limit_ms: u64,
    },
    /// One page of the jobs' states: at most [`JOBS_PAGE`] jobs with ids from `from` on
    /// (clients to the coordinator; ask again from after the last until a page is empty).
    ListJobs {
        /// The first job id wanted.
        from: u64,
    },
    /// Record a committed dataset on the ledger, signed by its owner (clients to the
    /// coordinator, after an upload). Every signing worker checks it holds the dataset.
    RecordDataset(crate::ledger::DatasetCommitted),
    /// Ledger entries from height `from` (anyone registered, to the coordinator).
    LedgerEntries {
        /// The first height wanted.
        from: u64,
    },
}

/// A job's result as one worker reports it to the coordinator. Every worker's report must be
/// identical: the public part is opened, the commitments are computed jointly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    /// The public result, as JSON (`protocols::catalog::PublicResult`).
    pub public: String,
    /// The private outputs, with a commitment to every value.
    pub outputs: Vec<ReportedOutput>,
    /// Datasets (`owner/name`) that the job updates, staged here until [`Request::FinishJob`].
    pub updates: Vec<String>,
    /// The differential privacy budget the job spent, per dataset it read
    /// ([`crate::ledger::budget`]); recorded in its outcome entry.
    #[serde(default)]
    pub spent: Vec<crate::ledger::budget::Spent>,
}

/// A private output as the coordinator and the ledger see it: who gets it, and a Pedersen
/// commitment per value, never the values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedOutput {
    /// The recipient's identity name.
    pub recipient: String,
    /// What the values are.
    pub name: String,
    /// One label per value.
    pub labels: Vec<String>,
    /// One commitment per value.
    pub commitments: Vec<mpc::engine::commit::Commitment>,
}

/// One worker's shares of a private output, for its recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputShares {
    /// What the values are.
    pub name: String,
    /// One label per value.
    pub labels: Vec<String>,
    /// Fractional bits of the values' encoding (0 for integers).
    pub frac: u32,
    /// The worker's shares of the values (32 bytes each).
    pub values: Vec<u8>,
    /// The worker's shares of the commitments' blindings (32 bytes each).
    pub blindings: Vec<u8>,
}

/// The longest a [`Request::WaitJob`] is held: 30 s (a client waiting longer asks again).
pub const MAX_WAIT_MS: u64 = 30_000;

/// A job's lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// A settlement round waiting for the signatures of the firms that have not consented.
    AwaitingConsent,
    /// Waiting for its turn.
    Queued,
    /// Running on the workers.
    Running,
    /// Finished; its result is public and its outputs committed on the ledger.
    Done,
    /// A worker refused it before computing (a policy, a missing dataset).
    Refused(String),
    /// It failed while running.
    Failed(String),
}

impl JobState {
    /// Done, refused or failed: nothing more happens to the job.
    pub fn ended(&self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Refused(_) | JobState::Failed(_)
        )
    }
}

/// A job as the coordinator knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Its number.
    pub id: u64,
    /// Who submitted it.
    pub submitter: String,
    /// Its kind.
    pub kind: String,
    /// Its specification (TOML).
    pub spec: String,
    /// The multiplication protocol.
    pub protocol: mpc::MulProtocol,
    /// The security level of the engine session.
    pub security: mpc::SecurityLevel,
    /// The nonce of the signed request.
    pub nonce: crate::ledger::Hash256,
    /// The clients' signatures over the request (the submitter's first).
    pub signatures: Vec<crate::ledger::ClientSignature>,
    /// Firms of a settlement round that have not signed it yet.
    pub awaiting: Vec<String>,
    /// Where it is.
    pub state: JobState,
    /// Unix milliseconds at submission.
    pub submitted_ms: u64,
    /// Unix milliseconds at the end, when ended.
    pub finished_ms: Option<u64>,
    /// Attempts so far (a coordinator restart while it runs starts a new one).
    pub attempts: u32,
    /// The workers' report, once done.
    pub report: Option<JobReport>,
    /// Height of the ledger entry recording its submission, once recorded.
    pub submitted_height: Option<u64>,
    /// Height of the ledger entry recording its outcome, once recorded.
    pub outcome_height: Option<u64>,
}

/// What an upload declares before its chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadHeader {
    /// A fresh id chosen by the client.
    pub upload: String,
    /// The dataset's name.
    pub dataset: String,
    /// Schema as TOML.
    pub schema: String,
    /// Policy as TOML (empty for the default).
    pub policy: String,
    /// Rows.
    pub rows: u64,
    /// Columns.
    pub columns: u32,
    /// Replace an existing dataset of the same name.
    pub replace: bool,
}

/// A dataset as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Owner identity.
    pub owner: String,
    /// Name.
    pub name: String,
    /// Rows.
    pub rows: u64,
    /// Columns.
    pub columns: u32,
    /// Schema as TOML.
    pub schema: String,
    /// The differential privacy budget, when the dataset's policy sets one: `(budget, spent)`
    /// in the ledger's units ([`crate::ledger::budget`]), spent as this worker's replica
    /// counts it.
    #[serde(default)]
    pub budget: Option<(u64, u64)>,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Done.
    Ok,
    /// Pong, with the responder's name.
    Pong {
        /// Who answered.
        name: String,
    },
    /// Refused or failed; `message` says why, naming the thing.
    Error {
        /// What kind of failure.
        kind: ErrorKind,
        /// The reason.
        message: String,
    },
    /// Datasets.
    Datasets(Vec<DatasetInfo>),
    /// Shares of a column.
    Shares(Vec<u8>),
    /// A job's result as this worker computed it.
    JobReport(JobReport),
    /// A worker's signature over a ledger entry.
    Signature(crate::ledger::WorkerSignature),
    /// The worker's replica ends at `height`: it needs the entries after it first.
    Behind {
        /// The replica's height (`None`: no genesis yet).
        height: Option<u64>,
    },
    /// This worker's shares of the sender's private outputs.
    Outputs(Vec<OutputShares>),
    /// A job was queued.
    Submitted {
        /// Its number.
        job: u64,
    },
    /// One job.
    Job(Box<JobInfo>),
    /// Every job.
    Jobs(Vec<JobInfo>),
    /// Ledger entries.
    Entries(Vec<crate::ledger::Entry>),
}

/// Broad classes of failure, so a client can react without parsing messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request is malformed or inconsistent.
    BadRequest,
    /// The sender may not do this.
    Forbidden,
    /// The named thing does not exist.
    NotFound,
    /// It exists already.
    Conflict,
    /// The node failed.
    Internal,
    /// A dataset's policy forbids the job (the message names the dataset and the clause).
    Refused,
    /// The operation did not complete in its time bound.
    Timeout,
    /// A peer the operation needs is gone (a worker left the mesh, or could not be
    /// reached); the same request may succeed once it is back.
    Unavailable,
}

impl Response {
    /// An error response.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Response::Error {
            kind,
            message: message.into(),
        }
    }
}

/// Framing failures.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The declared length exceeds [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME} bytes")]
    Oversize(usize),
    /// Fewer than the 4 bytes of the length prefix.
    #[error("truncated frame: {0} bytes, no length prefix")]
    NoLength(usize),
    /// A declared length too short to hold the version.
    #[error("truncated frame: declared {0} bytes, no version")]
    NoVersion(usize),
    /// The frame holds another number of bytes than its prefix declares.
    #[error("truncated frame: declared {declared} bytes, got {got}")]
    Short {
        /// The length prefix.
        declared: usize,
        /// The bytes after it.
        got: usize,
    },
    /// The stream ended (or failed) before the whole frame was read.
    #[error("truncated frame: {0}")]
    Read(#[source] std::io::Error),
    /// Another protocol version.
    #[error("peer speaks protocol version {peer}, this node speaks {API_VERSION}")]
    Version {
        /// The peer's version.
        peer: u16,
    },
    /// The body does not decode (or, sending, does not encode).
    #[error("malformed frame body: {0}")]
    Malformed(#[source] postcard::Error),
    /// Bytes after the message.
    #[error("malformed frame body: {0} trailing bytes")]
    Trailing(usize),
    /// Writing to the stream failed.
    #[error("stream: {0}")]
    Io(#[source] std::io::Error),
}

/// Encodes a message as one frame.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_stdvec(msg).map_err(FrameError::Malformed)?;
    let len = body.len() + 2;
    if len > MAX_FRAME {
        return Err(FrameError::Oversize(len));
    }
    let mut out = Vec::with_capacity(len + 4);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&API_VERSION.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes one whole frame (length prefix included); trailing bytes are an error.
pub fn decode_frame<T: for<'de> Deserialize<'de>>(frame: &[u8]) -> Result<T, FrameError> {
    if frame.len() < 4 {
        return Err(FrameError::NoLength(frame.len()));
    }
    let len = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
    check_len(len)?;
    if frame.len() - 4 != len {
        return Err(FrameError::Short {
            declared: len,
            got: frame.len() - 4,
        });
    }
    decode_payload(&frame[4..])
}

fn check_len(len: usize) -> Result<(), FrameError> {
    if len > MAX_FRAME {
        return Err(FrameError::Oversize(len));
    }
    if len < 2 {
        return Err(FrameError::NoVersion(len));
    }
    Ok(())
}

fn decode_payload<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, FrameError> {
    let version = u16::from_le_bytes(payload[..2].try_into().expect("2 bytes"));
    if version != API_VERSION {
        return Err(FrameError::Version { peer: version });
    }
    let (msg, rest) = postcard::take_from_bytes(&payload[2..]).map_err(FrameError::Malformed)?;
    if !rest.is_empty() {
        return Err(FrameError::Trailing(rest.len()));
    }
    Ok(msg)
}

/// Reads one frame from a stream; the length is checked before the body is allocated.
pub async fn read_frame<T, R>(reader: &mut R) -> Result<T, FrameError>
where
    T: for<'de> Deserialize<'de>,
    R: AsyncRead + Unpin,
{
    let mut len = [0u8; 4];
    reader
        .read_exact(&mut len)
        .await
        .map_err(FrameError::Read)?;
    let len = u32::from_le_bytes(len) as usize;
    check_len(len)?;
    let mut payload = vec![0u8; len];
    reader
        .read_exact(&mut payload)
        .await
        .map_err(FrameError::Read)?;
    decode_payload(&payload)
}

/// Writes one frame to a stream.
pub async fn write_frame<T: Serialize, W: AsyncWrite + Unpin>(
    writer: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    let frame = encode_frame(msg)?;
    writer.write_all(&frame).await.map_err(FrameError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_and_refusals() {
        let req = Request::UploadChunk {
            upload: "u".into(),
            column: 1,
            chunk: 2,
            shares: vec![7; 64],
        };
        let frame = encode_frame(&req).unwrap();
        assert_eq!(decode_frame::<Request>(&frame).unwrap(), req);
        let err = decode_frame::<Request>(&frame[..frame.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let mut other = frame.clone();
        other[4] = 9;
        let err = decode_frame::<Request>(&other).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let mut huge = frame.clone();
        huge[..4].copy_from_slice(&(MAX_FRAME as u32 + 1).to_le_bytes());
        assert!(matches!(
            decode_frame::<Request>(&huge),
            Err(FrameError::Oversize(_))
        ));
    }

    #[tokio::test]
    async fn streams_refuse_oversize_before_allocating() {
        let mut bytes: &[u8] = &[0xff, 0xff, 0xff, 0x7f, 1, 0];
        let err = read_frame::<Request, _>(&mut bytes).await.unwrap_err();
        assert!(matches!(err, FrameError::Oversize(_)), "{err}");
        let frame = encode_frame(&Request::Ping).unwrap();
        let mut reader: &[u8] = &frame;
        assert_eq!(
            read_frame::<Request, _>(&mut reader).await.unwrap(),
            Request::Ping
        );
    }

    proptest! {
        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_frame::<Request>(&bytes);
            let _ = decode_frame::<Response>(&bytes);
        }
    }
}
