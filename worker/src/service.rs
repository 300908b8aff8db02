//! The worker's request handling, apart from IO: a [`Request`] from an authenticated peer in, a
//! [`Response`] out. The QUIC server authenticates the peer (its key is in the roster), reads a
//! frame, calls [`Service::handle`] and writes the answer; everything that decides lives here and
//! is tested without a socket.
//!
//! Who may do what: any registered client uploads datasets it owns (the owner is the
//! authenticated identity, never a name the request claims); only the client that began an
//! upload may send its chunks and finish it; only a dataset's owner may read its shares back.

use coordinator::api::{DatasetInfo, ErrorKind, Request, Response, UploadHeader};
use protocols::dataset::Schema;
use protocols::policy::Policy;

use crate::store::{DatasetRecord, ShareStore, StoreError};

/// The most rows a dataset may have.
pub const MAX_ROWS: u64 = 100_000_000;

/// A worker's request handler.
pub struct Service {
    name: String,
    store: ShareStore,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn store_error(e: StoreError) -> Response {
    let kind = match &e {
        StoreError::Exists(_) => ErrorKind::Conflict,
        StoreError::NoDataset(_) | StoreError::NoUpload(_) => ErrorKind::NotFound,
        StoreError::BadChunk { .. } => ErrorKind::BadRequest,
        StoreError::Db(_) | StoreError::Corrupt(_) => ErrorKind::Internal,
    };
    Response::error(kind, e.to_string())
}

impl Service {
    /// A handler named `name` (the worker's id, for messages) over `store`.
    pub fn new(name: impl Into<String>, store: ShareStore) -> Self {
        Service {
            name: name.into(),
            store,
        }
    }

    /// The share store.
    pub fn store(&self) -> &ShareStore {
        &self.store
    }

    /// Handles one request from the authenticated client `from`.
    pub fn handle(&self, from: &str, request: Request) -> Response {
        match request {
            Request::Ping => Response::Pong { name: self.name.clone() },
            Request::UploadBegin(header) => self.begin(from, header),
            Request::UploadChunk { upload, column, chunk, shares } => {
                self.owned_upload(from, &upload).and_then(|_| self.store.put_chunk(&upload, column, chunk, &shares).map_err(store_error))
                    .map_or_else(|e| e, |_| Response::Ok)
            }
            Request::UploadPrepare { upload } => self
                .owned_upload(from, &upload)
                .and_then(|_| self.store.prepare(&upload).map_err(store_error))
                .map_or_else(|e| e, |_| Response::Ok),
            Request::UploadCommit { upload } => self
                .owned_upload(from, &upload)
                .and_then(|_| self.store.commit(&upload).map_err(store_error))
                .map_or_else(|e| e, |record| {
                    tracing::info!(worker = %self.name, dataset = %record.key(), rows = record.rows, "dataset committed");
                    Response::Ok
                }),
            Request::UploadAbort { upload } => match self.owned_upload(from, &upload) {
                Ok(_) => self.store.abort(&upload).map_or_else(store_error, |_| Response::Ok),
                // Aborting what does not exist (any more) is fine: abort is idempotent.
                Err(Response::Error { kind: ErrorKind::NotFound, .. }) => Response::Ok,
                Err(e) => e,
            },
            Request::ListDatasets => match self.store.list() {
                Ok(list) => Response::Datasets(
                    list.into_iter()
                        .map(|r| DatasetInfo { owner: r.owner, name: r.name, rows: r.rows, columns: r.columns, schema: r.schema })
                        .collect(),
                ),
                Err(e) => store_error(e),
            },
            Request::RunJob { .. }
            | Request::FinishJob { .. }
            | Request::SignEntry(_)
            | Request::AppendEntries(_)
            | Request::FetchOutputs { .. } => {
                Response::error(ErrorKind::BadRequest, "jobs and the ledger are served by the node, not the store service")
            }
            Request::SubmitJob { .. }
            | Request::GetJob { .. }
            | Request::WaitJob { .. }
            | Request::ListJobs
            | Request::RecordDataset(_)
            | Request::LedgerEntries { .. } => Response::error(ErrorKind::BadRequest, "jobs and the ledger are the coordinator's: send this to the coordinator"),
            Request::ReadShares { dataset, column } => {
                let key = format!("{from}/{dataset}");
                match self.store.read_column(&key, column) {
                    Ok(shares) => Response::Shares(mpc::net::codec::encode(&shares).to_vec()),
                    Err(e) => store_error(e),
                }
            }
        }
    }

    fn begin(&self, from: &str, h: UploadHeader) -> Response {
        let bad = |m: String| Response::error(ErrorKind::BadRequest, m);
        if !valid_name(&h.dataset) {
            return bad(format!(
                "dataset name '{}' must be 1-128 letters, digits, '-', '_' or '.'",
                h.dataset
            ));
        }
        if !valid_name(&h.upload) {
            return bad(format!("upload id '{}' is not valid", h.upload));
        }
        let schema = match Schema::from_toml(&h.schema, "upload schema") {
            Ok(s) => s,
            Err(e) => return bad(e.to_string()),
        };
        if schema.columns.len() != h.columns as usize {
            return bad(format!(
                "the schema has {} columns, the upload declares {}",
                schema.columns.len(),
                h.columns
            ));
        }
        if !h.policy.is_empty() {
            if let Err(e) = Policy::from_toml(&h.policy) {
                return bad(format!("policy: {e}"));
            }
        }
        if h.rows == 0 || h.rows > MAX_ROWS {
            return bad(format!(
                "{} rows: a dataset has 1 to {MAX_ROWS} rows",
                h.rows
            ));
        }
        let record = DatasetRecord {
            owner: from.to_string(),
            name: h.dataset,
            schema: h.schema,
            policy: h.policy,
            rows: h.rows,
            columns: h.columns,
            upload: h.upload,
            replace: h.replace,
            prepared: false,
        };
        match self.store.begin(&record) {
            Ok(()) => {
                tracing::info!(worker = %self.name, dataset = %record.key(), upload = %record.upload, rows = record.rows, "upload begun");
                Response::Ok
            }
            Err(e) => store_error(e),
        }
    }

    /// The staged upload, if `from` began it.
    fn owned_upload(&self, from: &str, upload: &str) -> Result<DatasetRecord, Response> {
        if upload.starts_with(crate::jobs::UPDATE_PREFIX) {
            return Err(Response::error(
                ErrorKind::Forbidden,
                format!("'{upload}' is a job's dataset update: only the coordinator finishes it"),
            ));
        }
        let staged = self.store.staged_uploads().map_err(store_error)?;
        let record = staged
            .into_iter()
            .find(|r| r.upload == upload)
            .ok_or_else(|| {
                Response::error(
                    ErrorKind::NotFound,
                    format!("no upload '{upload}' in progress"),
                )
            })?;
        if record.owner != from {
            return Err(Response::error(
                ErrorKind::Forbidden,
                format!("upload '{upload}' belongs to another client"),
            ));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpc::{Field, Fr, Params};
    use rand::SeedableRng;

    const SCHEMA: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n";

    fn header(upload: &str, rows: u64) -> UploadHeader {
        UploadHeader {
            upload: upload.into(),
            dataset: "payroll".into(),
            schema: SCHEMA.into(),
            policy: String::new(),
            rows,
            columns: 1,
            replace: false,
        }
    }

    #[test]
    fn three_workers_store_shares_that_reconstruct() {
        let params = Params::new(3, 1).unwrap();
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let services: Vec<Service> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| Service::new(format!("w{i}"), ShareStore::open(d.path()).unwrap()))
            .collect();
        let values: Vec<i128> = (0..100).map(|i| i * 37 - 1000).collect();
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
        let shares = mpc::engine::share_ints::<Fr, _>(&values, 31, params, &mut rng).unwrap();
        for (w, s) in services.iter().enumerate() {
            assert_eq!(
                s.handle("acme", Request::UploadBegin(header("u1", 100))),
                Response::Ok
            );
            let chunk = Request::UploadChunk {
                upload: "u1".into(),
                column: 0,
                chunk: 0,
                shares: mpc::net::codec::encode(&shares[w]).to_vec(),
            };
            // Another client cannot write into acme's upload.
            assert!(matches!(
                s.handle("mallory", chunk.clone()),
                Response::Error {
                    kind: ErrorKind::Forbidden,
                    ..
                }
            ));
            assert_eq!(s.handle("acme", chunk), Response::Ok);
            assert_eq!(
                s.handle(
                    "acme",
                    Request::UploadPrepare {
                        upload: "u1".into()
                    }
                ),
                Response::Ok
            );
        }
        for s in &services {
            assert_eq!(
                s.handle(
                    "acme",
                    Request::UploadCommit {
                        upload: "u1".into()
                    }
                ),
                Response::Ok
            );
        }
        let read: Vec<Vec<Fr>> = services
            .iter()
            .map(|s| {
                match s.handle(
                    "acme",
                    Request::ReadShares {
                        dataset: "payroll".into(),
                        column: 0,
                    },
                ) {
                    Response::Shares(b) => {
                        mpc::net::codec::decode(&b, 100, mpc::PartyId(0)).unwrap()
                    }
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        for (i, &v) in values.iter().enumerate() {
            let pts: Vec<_> = (0..3)
                .map(|w| (mpc::PartyId(w as u16), read[w][i]))
                .collect();
            assert_eq!(
                mpc::shamir::reconstruct(&pts, 1).unwrap().to_i128(),
                Some(v)
            );
        }
        // Only the owner reads its shares back.
        assert!(matches!(
            services[0].handle(
                "mallory",
                Request::ReadShares {
                    dataset: "payroll".into(),
                    column: 0
                }
            ),
            Response::Error {
                kind: ErrorKind::NotFound,
                ..
            }
        ));
    }

    #[test]
    fn bad_headers_are_refused_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let s = Service::new("w0", ShareStore::open(dir.path()).unwrap());
        let mut h = header("u1", 10);
        h.dataset = "../etc".into();
        assert!(matches!(
            s.handle("acme", Request::UploadBegin(h)),
            Response::Error {
                kind: ErrorKind::BadRequest,
                ..
            }
        ));
        let mut h = header("u1", 10);
        h.columns = 2;
        match s.handle("acme", Request::UploadBegin(h)) {
            Response::Error { message, .. } => assert!(message.contains("declares 2"), "{message}"),
            other => panic!("{other:?}"),
        }
        let mut h = header("u1", 10);
        h.policy = "min_ownerz = 2".into();
        assert!(matches!(
            s.handle("acme", Request::UploadBegin(h)),
            Response::Error { .. }
        ));
        assert!(s.store().list().unwrap().is_empty());
        assert_eq!(
            s.handle(
                "acme",
                Request::UploadAbort {
                    upload: "nope".into()
                }
            ),
            Response::Ok
        );
    }
}
