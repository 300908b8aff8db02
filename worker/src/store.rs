//! The worker's share store: datasets as secret shares in an embedded transactional store
//! (redb), uploaded in two phases so that a dataset is visible only once every worker has it.
//!
//! An upload is *staged* under its staging key (`begin`, then `put_chunk` for each column chunk),
//! then *prepared* (all chunks present and durable: the worker can promise to commit), then
//! *committed* (published under `owner/name` in one transaction, replacing an older version
//! only when the upload said so) or *aborted* (every staged byte removed). Each step is one redb
//! transaction, durable when it returns, so a crash at any point leaves either the old dataset
//! or the new one, never a mix; staged uploads left by a crash are listed for the node to abort.
//!
//! A staging key is unique: [`ShareStore::begin`] refuses a key that is staged or holds a
//! committed version's chunks. The service keys a client's uploads `owner/upload-id`, so no
//! client can name another's; job updates use `job:…` keys (no `/`). One owner's uploads of one
//! dataset name are serialized: a second begins only with `replace`, and then supersedes the
//! first (dropped, its client's next step finds nothing); none begins while a job's update of
//! that dataset is staged. A commit without `replace` never overwrites a committed dataset.
//!
//! Shares are stored as contiguous 32-byte field elements, in chunks of up to
//! [`CHUNK_ROWS`] rows per column. What this module does not do: check a client's identity or a
//! policy (the node's server does), or interpret shares.

use std::path::{Path, PathBuf};

mod checked;
mod sealed;
pub use sealed::Sealed;

use mpc::Fr;
use mpc::field::Field;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// Upload ids of job updates start with this (no client upload id can: `:` is not allowed).
pub const UPDATE_PREFIX: &str = "job:";

/// Rows per stored chunk of a column.
pub const CHUNK_ROWS: u32 = 65_536;

/// Committed datasets: `owner/name` → record.
const DATASETS: TableDefinition<&str, &[u8]> = TableDefinition::new("datasets");
/// Uploads in progress: staging key → staged record.
const STAGED: TableDefinition<&str, &[u8]> = TableDefinition::new("staged");
/// Share chunks: (staging key, column, chunk) → 32-byte elements.
const CHUNKS: TableDefinition<(&str, u32, u32), &[u8]> = TableDefinition::new("chunks");
/// Job id → this worker's record of the job's result ([`crate::jobs::StoredJob`], postcard).
const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");

/// What the store knows of a dataset, apart from its shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// The owner's identity name.
    pub owner: String,
    /// The dataset's name.
    pub name: String,
    /// The schema, as TOML.
    pub schema: String,
    /// The policy, as TOML (empty: the default policy).
    pub policy: String,
    /// Number of rows.
    pub rows: u64,
    /// Number of columns.
    pub columns: u32,
    /// The staging key of the upload that wrote this version (its chunks are stored under it).
    pub upload: String,
    /// Whether the upload may replace an existing dataset of the same name.
    pub replace: bool,
    /// Set once every chunk is present and durable.
    pub prepared: bool,
}

impl DatasetRecord {
    /// `owner/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
    /// Chunks per column.
    pub fn chunks(&self) -> u32 {
        (self.rows as u32).div_ceil(CHUNK_ROWS)
    }
}

/// What can go wrong in the store. Each names the dataset or upload.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk, corruption).
    #[error("share store: {0}")]
    Db(#[from] redb::Error),
    /// The data directory could not be created.
    #[error("share store: {}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store file does not open or does not pass its check: the worker cannot start on it.
    #[error("share store: {} is damaged ({source}); {}", path.display(), DAMAGED_REMEDY)]
    Damaged {
        /// The store file.
        path: PathBuf,
        /// What the check found.
        source: Box<StoreError>,
    },
    /// The database panicked while reading the store file (redb does on some damage).
    #[error(
        "share store: {} is damaged (the database failed while reading it: {panic}); {}",
        path.display(),
        DAMAGED_REMEDY
    )]
    DamagedPanic {
        /// The store file.
        path: PathBuf,
        /// The panic's message.
        panic: String,
    },
    /// A dataset of that name exists and the upload did not ask to replace it.
    #[error("dataset '{0}' already exists (upload with --replace to replace it)")]
    Exists(String),
    /// No such dataset.
    #[error("no dataset '{0}'")]
    NoDataset(String),
    /// No such upload in progress.
    #[error("no upload '{0}' in progress")]
    NoUpload(String),
    /// The staging key is taken (staged, or holding a committed version).
    #[error("upload '{0}' exists already: choose a fresh upload id")]
    UploadExists(String),
    /// Another upload of the same dataset is staged.
    #[error("dataset '{dataset}' is busy: {reason}")]
    Busy {
        /// `owner/name`.
        dataset: String,
        /// What holds it.
        reason: String,
    },
    /// A chunk does not fit the upload's shape.
    #[error("upload '{upload}': {reason}")]
    BadChunk {
        /// The upload.
        upload: String,
        /// What is wrong.
        reason: String,
    },
    /// Its owner committed it, but its ledger entry has not reached this worker ([`Sealed`]).
    #[error(
        "dataset '{0}' is not current yet: it is committed, but its ledger entry has not reached this worker's replica"
    )]
    NotRecorded(String),
    /// A stored record or chunk does not decode.
    #[error("share store: corrupt entry '{0}'")]
    Corrupt(String),
}

/// What to do with a damaged store file.
const DAMAGED_REMEDY: &str = "the worker cannot start on it. Move the file aside (keep it for diagnosis) and restore this worker's data directory from a backup; without one, start with an empty store and have the owners upload their datasets again";

fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

/// The worker's share store.
pub struct ShareStore {
    db: Database,
}

impl ShareStore {
    /// Opens (or creates) the store in `dir/shares.redb`, after checking the whole file (every
    /// page's checksum, and every dataset record decodes): a damaged store is refused here,
    /// naming the file and what to do, rather than failing a job later. redb panics on some
    /// damaged files; the panic is caught and reported the same way.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("shares.redb");
        // Silence the panic hook while redb opens the file: its message and backtrace would
        // read as a crash, when the refusal below says what happened.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = std::panic::catch_unwind(|| Self::open_checked(&path));
        std::panic::set_hook(hook);
        match opened {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(e)) => Err(StoreError::Damaged {
                path,
                source: Box::new(e),
            }),
            Err(panic) => Err(StoreError::DamagedPanic {
                path,
                panic: panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into()),
            }),
        }
    }

    fn open_checked(path: &Path) -> Result<Self, StoreError> {
        let mut database = Database::create(path).map_err(db)?;
        if !database.check_integrity().map_err(db)? {
            tracing::warn!(path = %path.display(), "share store repaired by its integrity check");
        }
        let txn = database.begin_write().map_err(db)?;
        txn.open_table(DATASETS).map_err(db)?;
        txn.open_table(STAGED).map_err(db)?;
        txn.open_table(CHUNKS).map_err(db)?;
        txn.open_table(JOBS).map_err(db)?;
        txn.open_table(sealed::SEALED).map_err(db)?;
        txn.open_table(checked::CHECKED).map_err(db)?;
        txn.commit().map_err(db)?;
        let store = ShareStore { db: database };
        store.list()?;
        Ok(store)
    }

    /// Starts an upload under the staging key `record.upload` (see the module doc): refuses a
    /// key in use, a name that exists unless `record.replace`, and a second upload of one
    /// dataset (superseding the first with `replace`; a job's pending update is never
    /// superseded). Returns the staging keys it superseded.
    pub fn begin(&self, record: &DatasetRecord) -> Result<Vec<String>, StoreError> {
        let key = record.upload.as_str();
        let txn = self.db.begin_write().map_err(db)?;
        let mut superseded = Vec::new();
        {
            let datasets = txn.open_table(DATASETS).map_err(db)?;
            if !record.replace && datasets.get(record.key().as_str()).map_err(db)?.is_some() {
                return Err(StoreError::Exists(record.key()));
            }
            let mut staged = txn.open_table(STAGED).map_err(db)?;
            let mut chunks = txn.open_table(CHUNKS).map_err(db)?;
            let mut checks = txn.open_table(checked::CHECKED).map_err(db)?;
            if staged.get(key).map_err(db)?.is_some()
                || chunks.get((key, 0, 0)).map_err(db)?.is_some()
            {
                return Err(StoreError::UploadExists(key.into()));
            }
            let job_update = key.starts_with(UPDATE_PREFIX);
            let mut rivals = Vec::new();
            for entry in staged.iter().map_err(db)? {
                let (k, v) = entry.map_err(db)?;
                let other: DatasetRecord = decode(v.value(), k.value())?;
                if other.owner == record.owner && other.name == record.name {
                    rivals.push(other);
                }
            }
            for other in rivals.into_iter().filter(|_| !job_update) {
                let busy = |reason: String| StoreError::Busy {
                    dataset: record.key(),
                    reason,
                };
                if other.upload.starts_with(UPDATE_PREFIX) {
                    return Err(busy(
                        "a job's update of it awaits its decision; try again shortly".into(),
                    ));
                }
                if !record.replace {
                    return Err(busy(
                        "another upload of it is in progress (wait for it, or upload with --replace to supersede it)"
                            .into(),
                    ));
                }
                remove_chunks(
                    &mut chunks,
                    &mut checks,
                    &other.upload,
                    other.columns,
                    other.chunks(),
                )?;
                staged.remove(other.upload.as_str()).map_err(db)?;
                superseded.push(other.upload);
            }
            let mut fresh = record.clone();
            fresh.prepared = false;
            staged.insert(key, encode(&fresh).as_slice()).map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(superseded)
    }

    /// The staged upload under `upload`, if any.
    pub fn staged_upload(&self, upload: &str) -> Result<Option<DatasetRecord>, StoreError> {
        match self.staged(upload) {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NoUpload(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn staged(&self, upload: &str) -> Result<DatasetRecord, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let staged = txn.open_table(STAGED).map_err(db)?;
        let bytes = staged
            .get(upload)
            .map_err(db)?
            .ok_or_else(|| StoreError::NoUpload(upload.into()))?;
        decode(bytes.value(), upload)
    }

    /// Stores one chunk of one column of a staged upload (replacing a resent chunk).
    pub fn put_chunk(
        &self,
        upload: &str,
        column: u32,
        chunk: u32,
        shares: &[u8],
    ) -> Result<(), StoreError> {
        let record = self.staged(upload)?;
        check_chunk(&record, column, chunk, shares)?;
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut chunks = txn.open_table(CHUNKS).map_err(db)?;
            chunks.insert((upload, column, chunk), shares).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// Checks every chunk is present and marks the upload prepared (durable): after this the
    /// worker can commit whatever happens.
    pub fn prepare(&self, upload: &str) -> Result<DatasetRecord, StoreError> {
        let mut record = self.staged(upload)?;
        let txn = self.db.begin_write().map_err(db)?;
        {
            let chunks = txn.open_table(CHUNKS).map_err(db)?;
            for column in 0..record.columns {
                for chunk in 0..record.chunks() {
                    if chunks.get((upload, column, chunk)).map_err(db)?.is_none() {
                        return Err(StoreError::BadChunk {
                            upload: upload.into(),
                            reason: format!("chunk {chunk} of column {column} is missing"),
                        });
                    }
                }
            }
            record.prepared = true;
            let mut staged = txn.open_table(STAGED).map_err(db)?;
            staged
                .insert(upload, encode(&record).as_slice())
                .map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(record)
    }

    /// Publishes a prepared upload under `owner/name`, dropping the version it replaces (only
    /// if the upload said `replace`).
    pub fn commit(&self, upload: &str) -> Result<DatasetRecord, StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        let record = {
            // Read inside the write transaction: two commits of one upload at once (two
            // publishes of its ledger entry) find it staged once, and the second fails instead
            // of taking the first's version for an old one and dropping its chunks.
            let mut staged = txn.open_table(STAGED).map_err(db)?;
            let record: DatasetRecord = match staged.get(upload).map_err(db)? {
                Some(bytes) => decode(bytes.value(), upload)?,
                None => return Err(StoreError::NoUpload(upload.into())),
            };
            if !record.prepared {
                return Err(StoreError::BadChunk {
                    upload: upload.into(),
                    reason: "commit before prepare".into(),
                });
            }
            staged.remove(upload).map_err(db)?;
            record
        };
        {
            let mut datasets = txn.open_table(DATASETS).map_err(db)?;
            if !record.replace && datasets.get(record.key().as_str()).map_err(db)?.is_some() {
                return Err(StoreError::Exists(record.key()));
            }
            let old = datasets
                .insert(record.key().as_str(), encode(&record).as_slice())
                .map_err(db)?
                .map(|v| decode::<DatasetRecord>(v.value(), &record.key()))
                .transpose()?;
            let mut seals = txn.open_table(sealed::SEALED).map_err(db)?;
            sealed::unseal_in(&mut seals, &record.key(), upload)?;
            if let Some(old) = old.filter(|old| old.upload != record.upload) {
                let mut chunks = txn.open_table(CHUNKS).map_err(db)?;
                let mut checks = txn.open_table(checked::CHECKED).map_err(db)?;
                remove_chunks(
                    &mut chunks,
                    &mut checks,
                    &old.upload,
                    old.columns,
                    old.chunks(),
                )?;
            }
        }
        txn.commit().map_err(db)?;
        Ok(record)
    }

    /// Drops a staged upload and its chunks. Aborting an unknown upload is not an error.
    pub fn abort(&self, upload: &str) -> Result<(), StoreError> {
        let Ok(record) = self.staged(upload) else {
            return Ok(());
        };
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut chunks = txn.open_table(CHUNKS).map_err(db)?;
            let mut checks = txn.open_table(checked::CHECKED).map_err(db)?;
            remove_chunks(
                &mut chunks,
                &mut checks,
                upload,
                record.columns,
                record.chunks(),
            )?;
            let mut staged = txn.open_table(STAGED).map_err(db)?;
            staged.remove(upload).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// Uploads in progress (after a crash, the node aborts those the coordinator forgot).
    pub fn staged_uploads(&self) -> Result<Vec<DatasetRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let staged = txn.open_table(STAGED).map_err(db)?;
        let mut out = Vec::new();
        for entry in staged.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            out.push(decode(v.value(), k.value())?);
        }
        Ok(out)
    }

    /// Stages a new version of the committed dataset `key` with `columns` (this worker's
    /// shares, every column, same rows) as upload `upload`, prepared: it becomes current on
    /// [`ShareStore::commit`], and [`ShareStore::abort`] drops it, leaving the old version.
    pub fn stage_version(
        &self,
        key: &str,
        upload: &str,
        columns: &[Vec<Fr>],
    ) -> Result<DatasetRecord, StoreError> {
        let current = self.get(key)?;
        if columns.len() != current.columns as usize
            || columns.iter().any(|c| c.len() as u64 != current.rows)
        {
            return Err(StoreError::BadChunk {
                upload: upload.into(),
                reason: format!(
                    "a new version of {key} must keep its {} columns of {} rows",
                    current.columns, current.rows
                ),
            });
        }
        let record = DatasetRecord {
            upload: upload.into(),
            replace: true,
            prepared: false,
            ..current
        };
        self.begin(&record)?;
        for (c, column) in columns.iter().enumerate() {
            for (chunk, part) in column.chunks(CHUNK_ROWS as usize).enumerate() {
                let mut bytes = vec![0u8; part.len() * Fr::BYTES];
                for (x, out) in part.iter().zip(bytes.chunks_exact_mut(Fr::BYTES)) {
                    x.write_bytes(out);
                }
                self.put_chunk(upload, c as u32, chunk as u32, &bytes)?;
            }
        }
        self.prepare(upload)
    }

    /// Records this worker's result of job `job` (replacing an earlier attempt's).
    pub fn put_job(&self, job: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(db)?;
            jobs.insert(job, bytes).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// Forgets this worker's record of job `job` (a newer attempt of it started here).
    pub fn delete_job(&self, job: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(db)?;
            jobs.remove(job).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// This worker's record of job `job`, if it ran here.
    pub fn get_job(&self, job: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let jobs = txn.open_table(JOBS).map_err(db)?;
        Ok(jobs.get(job).map_err(db)?.map(|v| v.value().to_vec()))
    }

    /// Committed datasets, in key order.
    pub fn list(&self) -> Result<Vec<DatasetRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let datasets = txn.open_table(DATASETS).map_err(db)?;
        let mut out = Vec::new();
        for entry in datasets.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            out.push(decode(v.value(), k.value())?);
        }
        Ok(out)
    }

    /// The current dataset `owner/name` (a sealed one is refused, saying why).
    pub fn get(&self, key: &str) -> Result<DatasetRecord, StoreError> {
        match self.current(key)? {
            Some(record) => Ok(record),
            None if self.sealed_of(key)?.is_some() => Err(StoreError::NotRecorded(key.into())),
            None => Err(StoreError::NoDataset(key.into())),
        }
    }

    fn current(&self, key: &str) -> Result<Option<DatasetRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let datasets = txn.open_table(DATASETS).map_err(db)?;
        let v = datasets.get(key).map_err(db)?;
        v.map(|v| decode(v.value(), key)).transpose()
    }

    /// This worker's shares of one column of a committed dataset.
    pub fn read_column(&self, key: &str, column: u32) -> Result<Vec<Fr>, StoreError> {
        let record = self.get(key)?;
        if column >= record.columns {
            return Err(StoreError::BadChunk {
                upload: record.upload,
                reason: format!("no column {column}"),
            });
        }
        let txn = self.db.begin_read().map_err(db)?;
        let chunks = txn.open_table(CHUNKS).map_err(db)?;
        let mut out = Vec::with_capacity(record.rows as usize);
        for chunk in 0..record.chunks() {
            let v = chunks
                .get((record.upload.as_str(), column, chunk))
                .map_err(db)?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("{key} column {column} chunk {chunk}"))
                })?;
            for c in v.value().chunks_exact(Fr::BYTES) {
                out.push(
                    Fr::read_bytes(c)
                        .ok_or_else(|| StoreError::Corrupt(format!("{key} column {column}")))?,
                );
            }
        }
        Ok(out)
    }
}

/// Removes version `upload`'s chunks and, in the same transaction, its input checks.
fn remove_chunks(
    chunks: &mut redb::Table<(&str, u32, u32), &[u8]>,
    checks: &mut redb::Table<(&str, u32), u32>,
    upload: &str,
    columns: u32,
    count: u32,
) -> Result<(), StoreError> {
    checked::forget(checks, upload, columns)?;
    for column in 0..columns {
        for chunk in 0..count {
            chunks.remove((upload, column, chunk)).map_err(db)?;
        }
    }
    Ok(())
}

/// Checks that `shares` fit chunk `chunk` of column `column` of the upload `record` (its
/// shape, and every element a field element) before anything is stored: the pure half of
/// [`ShareStore::put_chunk`], and a fuzz target.
pub fn check_chunk(
    record: &DatasetRecord,
    column: u32,
    chunk: u32,
    shares: &[u8],
) -> Result<(), StoreError> {
    let upload = record.upload.as_str();
    let bad = |reason: String| {
        Err(StoreError::BadChunk {
            upload: upload.into(),
            reason,
        })
    };
    if column >= record.columns {
        return bad(format!("column {column} of {}", record.columns));
    }
    if chunk >= record.chunks() {
        return bad(format!("chunk {chunk} of {}", record.chunks()));
    }
    let expected_rows =
        (record.rows - chunk as u64 * CHUNK_ROWS as u64).min(CHUNK_ROWS as u64) as usize;
    if shares.len() != expected_rows * Fr::BYTES {
        return bad(format!(
            "chunk {chunk} of column {column} has {} bytes, expected {}",
            shares.len(),
            expected_rows * Fr::BYTES
        ));
    }
    if let Some(i) = shares
        .chunks_exact(Fr::BYTES)
        .position(|c| Fr::read_bytes(c).is_none())
    {
        return bad(format!(
            "element {i} of chunk {chunk}, column {column} is not a field element"
        ));
    }
    Ok(())
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("records serialize")
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|_| StoreError::Corrupt(what.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpc::net::codec;

    fn record(upload: &str, rows: u64, replace: bool) -> DatasetRecord {
        DatasetRecord {
            owner: "acme".into(),
            name: "payroll".into(),
            schema: "[[columns]]\nname = \"salary\"\ntype = \"integer\"\n".into(),
            policy: String::new(),
            rows,
            columns: 2,
            upload: upload.into(),
            replace,
            prepared: false,
        }
    }

    fn column(rows: u64, base: i128) -> Vec<Fr> {
        (0..rows as i128).map(|i| Fr::from_i128(base + i)).collect()
    }

    fn upload(
        store: &ShareStore,
        id: &str,
        rows: u64,
        base: i128,
        replace: bool,
    ) -> Result<(), StoreError> {
        store.begin(&record(id, rows, replace))?;
        for c in 0..2u32 {
            let col = column(rows, base + c as i128 * 1000);
            for (k, chunk) in col.chunks(CHUNK_ROWS as usize).enumerate() {
                store.put_chunk(id, c, k as u32, &codec::encode(chunk))?;
            }
        }
        store.prepare(id)?;
        store.commit(id)?;
        Ok(())
    }

    #[test]
    fn upload_commit_read_back_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let rows = CHUNK_ROWS as u64 + 17;
        {
            let store = ShareStore::open(dir.path()).unwrap();
            upload(&store, "u1", rows, 5, false).unwrap();
        }
        let store = ShareStore::open(dir.path()).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(
            store.read_column("acme/payroll", 1).unwrap(),
            column(rows, 1005)
        );
    }

    #[test]
    fn existing_names_need_replace_and_replacing_drops_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(dir.path()).unwrap();
        upload(&store, "u1", 10, 0, false).unwrap();
        let err = upload(&store, "u2", 10, 50, false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        upload(&store, "u3", 12, 50, true).unwrap();
        assert_eq!(
            store.read_column("acme/payroll", 0).unwrap(),
            column(12, 50)
        );
        let txn = store.db.begin_read().unwrap();
        let chunks = txn.open_table(CHUNKS).unwrap();
        assert!(
            chunks.get(("u1", 0, 0)).unwrap().is_none(),
            "old version's chunks are gone"
        );
    }

    /// A version's input checks last exactly as long as its chunks: a replaced version's are
    /// forgotten with them, a key reused later starts unchecked, and a check recorded after
    /// its version was dropped is not kept. They survive a restart.
    #[test]
    fn input_checks_live_and_die_with_their_version() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = ShareStore::open(dir.path()).unwrap();
            upload(&store, "u1", 10, 0, false).unwrap();
            store.mark_checked("u1", &[(1, 32)]).unwrap();
            // Market rules ride along; an id out of the reserved range is ignored.
            store
                .mark_rules_checked("u1", &[1, checked::RULE_IDS])
                .unwrap();
        }
        let store = ShareStore::open(dir.path()).unwrap();
        assert_eq!(store.checked_columns("u1", 2).unwrap(), [None, Some(32)]);
        assert_eq!(store.checked_rules("u1").unwrap(), [1]);
        upload(&store, "u2", 10, 0, true).unwrap();
        assert_eq!(store.checked_columns("u1", 2).unwrap(), [None, None]);
        assert_eq!(store.checked_rules("u1").unwrap(), Vec::<u32>::new());
        store.mark_checked("u1", &[(0, 32)]).unwrap();
        store.mark_rules_checked("u1", &[0]).unwrap();
        assert_eq!(store.checked_columns("u1", 2).unwrap(), [None, None]);
        assert_eq!(store.checked_rules("u1").unwrap(), Vec::<u32>::new());
        // The old key reused by a new upload (its chunks are gone, so begin accepts it).
        upload(&store, "u1", 10, 7, true).unwrap();
        assert_eq!(store.checked_columns("u1", 2).unwrap(), [None, None]);
        // A staged upload aborted: nothing of its key remains.
        store.begin(&record("u4", 10, true)).unwrap();
        store.mark_checked("u4", &[(0, 32)]).unwrap();
        store.mark_rules_checked("u4", &[0]).unwrap();
        store.abort("u4").unwrap();
        assert_eq!(store.checked_columns("u4", 2).unwrap(), [None, None]);
        assert_eq!(store.checked_rules("u4").unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn an_aborted_or_unfinished_upload_leaves_no_dataset() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = ShareStore::open(dir.path()).unwrap();
            store.begin(&record("u1", 10, false)).unwrap();
            store
                .put_chunk("u1", 0, 0, &codec::encode(&column(10, 0)))
                .unwrap();
            let err = store.prepare("u1").unwrap_err();
            assert!(
                err.to_string().contains("chunk 0 of column 1 is missing"),
                "{err}"
            );
        }
        // "Crash": reopen. The upload is staged, not visible; aborting removes every byte.
        let store = ShareStore::open(dir.path()).unwrap();
        assert!(store.list().unwrap().is_empty());
        assert_eq!(store.staged_uploads().unwrap().len(), 1);
        store.abort("u1").unwrap();
        assert!(store.staged_uploads().unwrap().is_empty());
        let txn = store.db.begin_read().unwrap();
        assert_eq!(txn.open_table(CHUNKS).unwrap().iter().unwrap().count(), 0);
    }

    #[test]
    fn malformed_chunks_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(dir.path()).unwrap();
        store.begin(&record("u1", 10, false)).unwrap();
        let err = store
            .put_chunk("u1", 0, 0, &codec::encode(&column(9, 0)))
            .unwrap_err();
        assert!(
            err.to_string().contains("has 288 bytes, expected 320"),
            "{err}"
        );
        let err = store
            .put_chunk("u1", 5, 0, &codec::encode(&column(10, 0)))
            .unwrap_err();
        assert!(err.to_string().contains("column 5 of 2"), "{err}");
        let err = store.put_chunk("u1", 0, 0, &[0xff; 320]).unwrap_err();
        assert!(err.to_string().contains("not a field element"), "{err}");
        assert!(matches!(
            store.put_chunk("nope", 0, 0, &[]),
            Err(StoreError::NoUpload(_))
        ));
        assert!(matches!(
            store.commit("u1"),
            Err(StoreError::BadChunk { .. })
        ));
    }

    /// The hijack of issue 13: a begin on a key that is staged, or that holds a committed
    /// version's chunks, is refused and changes nothing.
    #[test]
    fn a_begin_on_a_key_in_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(dir.path()).unwrap();
        upload(&store, "acme/u1", 10, 0, false).unwrap();
        let mut stolen = record("acme/u1", 10, false);
        stolen.owner = "mallory".into();
        stolen.name = "stolen".into();
        let err = store.begin(&stolen).unwrap_err();
        assert!(matches!(err, StoreError::UploadExists(_)), "{err}");
        store.begin(&record("acme/u2", 10, true)).unwrap();
        let err = store.begin(&stolen_at("acme/u2")).unwrap_err();
        assert!(matches!(err, StoreError::UploadExists(_)), "{err}");
        assert_eq!(
            store.staged_upload("acme/u2").unwrap().unwrap().owner,
            "acme"
        );
        assert_eq!(store.read_column("acme/payroll", 0).unwrap(), column(10, 0));
    }

    fn stolen_at(key: &str) -> DatasetRecord {
        let mut r = record(key, 10, true);
        r.owner = "mallory".into();
        r
    }

    #[test]
    fn uploads_of_one_dataset_are_serialized() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(dir.path()).unwrap();
        store.begin(&record("acme/u1", 10, false)).unwrap();
        let err = store.begin(&record("acme/u2", 10, false)).unwrap_err();
        assert!(
            err.to_string()
                .contains("another upload of it is in progress"),
            "{err}"
        );
        // With replace, the second supersedes the first.
        assert_eq!(
            store.begin(&record("acme/u3", 10, true)).unwrap(),
            vec!["acme/u1".to_string()]
        );
        assert!(store.staged_upload("acme/u1").unwrap().is_none());
        store.abort("acme/u3").unwrap();
        upload(&store, "acme/u4", 10, 0, false).unwrap();
        store.begin(&record("acme/u5", 10, true)).unwrap();
        let mut late = record("acme/u6", 10, false);
        late.name = "other".into();
        store.begin(&late).unwrap();
        // A job's staged update is never superseded, and holds client uploads off.
        store.abort("acme/u5").unwrap();
        store
            .stage_version("acme/payroll", "job:1:1:0", &[column(10, 1), column(10, 2)])
            .unwrap();
        let err = store.begin(&record("acme/u7", 10, true)).unwrap_err();
        assert!(err.to_string().contains("a job's update"), "{err}");
        store.commit("job:1:1:0").unwrap();
        assert_eq!(store.read_column("acme/payroll", 0).unwrap(), column(10, 1));
    }
}
