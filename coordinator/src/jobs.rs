//! The coordinator's durable job queue (redb, `<data dir>/jobs.redb`): every job's lifecycle
//! (queued, running, done, refused, failed with the reason), written before the coordinator
//! answers, so a restart loses none. At startup a job left running is queued again; its next
//! attempt gets a fresh mesh session.
//!
//! Also durable here: the two-phase decisions on jobs' dataset updates that some worker has
//! not acknowledged yet ([`Finish`]), re-sent until every worker has.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::api::{JobInfo, JobState};

const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
const FINISH: TableDefinition<u64, &[u8]> = TableDefinition::new("finish");

/// A store failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum JobStoreError {
    /// The data directory could not be created.
    #[error("job store: {}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database failed (disk, corruption).
    #[error("job store: {0}")]
    Db(#[from] redb::Error),
    /// A stored record does not decode.
    #[error("job store: a corrupt record: {0}")]
    Corrupt(#[source] postcard::Error),
}

fn db(e: impl Into<redb::Error>) -> JobStoreError {
    JobStoreError::Db(e.into())
}

/// A decision on a job attempt's staged dataset updates, and the workers that applied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finish {
    /// The attempt's mesh session.
    pub session: u64,
    /// Commit (the job is done) or abort.
    pub commit: bool,
    /// Workers that acknowledged.
    pub acked: Vec<u16>,
}

/// The queue.
pub struct JobStore {
    db: Database,
}

impl JobStore {
    /// Opens (or creates) `dir/jobs.redb`, and queues again every job left running.
    pub fn open(dir: &Path) -> Result<Self, JobStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| JobStoreError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let database = Database::create(dir.join("jobs.redb")).map_err(db)?;
        let store = JobStore { db: database };
        let txn = store.db.begin_write().map_err(db)?;
        txn.open_table(JOBS).map_err(db)?;
        txn.open_table(FINISH).map_err(db)?;
        txn.commit().map_err(db)?;
        for mut job in store.list()? {
            if job.state == JobState::Running {
                tracing::info!(
                    job = job.id,
                    "job was running at the last stop: queued again"
                );
                job.state = JobState::Queued;
                store.put(&job)?;
            }
        }
        Ok(store)
    }

    /// Records a new job (queued, or awaiting consent): assigns the next id and stores it
    /// (durably) before returning it.
    pub fn submit(&self, mut job: JobInfo) -> Result<JobInfo, JobStoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(db)?;
            let next = jobs.last().map_err(db)?.map_or(1, |(k, _)| k.value() + 1);
            job.id = next;
            jobs.insert(next, encode(&job).as_slice()).map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(job)
    }

    /// Writes a job's new state.
    pub fn put(&self, job: &JobInfo) -> Result<(), JobStoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(db)?;
            jobs.insert(job.id, encode(job).as_slice()).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// One job.
    pub fn get(&self, id: u64) -> Result<Option<JobInfo>, JobStoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let jobs = txn.open_table(JOBS).map_err(db)?;
        jobs.get(id)
            .map_err(db)?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// Every job, by id.
    pub fn list(&self) -> Result<Vec<JobInfo>, JobStoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let jobs = txn.open_table(JOBS).map_err(db)?;
        let mut out = Vec::new();
        for entry in jobs.iter().map_err(db)? {
            let (_, v) = entry.map_err(db)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// At most `limit` jobs with ids from `from` on, by id (one page of a listing).
    pub fn page(&self, from: u64, limit: usize) -> Result<Vec<JobInfo>, JobStoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let jobs = txn.open_table(JOBS).map_err(db)?;
        let mut out = Vec::new();
        for entry in jobs.range(from..).map_err(db)?.take(limit) {
            let (_, v) = entry.map_err(db)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// How many jobs wait in the queue.
    pub fn queued(&self) -> Result<usize, JobStoreError> {
        Ok(self
            .list()?
            .iter()
            .filter(|j| j.state == JobState::Queued)
            .count())
    }

    /// The oldest queued job.
    pub fn next_queued(&self) -> Result<Option<JobInfo>, JobStoreError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|j| j.state == JobState::Queued))
    }

    /// Records (or updates) the decision on job `job`'s updates.
    pub fn put_finish(&self, job: u64, finish: &Finish) -> Result<(), JobStoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut t = txn.open_table(FINISH).map_err(db)?;
            t.insert(job, encode(finish).as_slice()).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// Forgets the decision on job `job` (every worker applied it).
    pub fn drop_finish(&self, job: u64) -> Result<(), JobStoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut t = txn.open_table(FINISH).map_err(db)?;
            t.remove(job).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// Decisions some worker has not acknowledged.
    pub fn pending_finishes(&self) -> Result<Vec<(u64, Finish)>, JobStoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(FINISH).map_err(db)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            out.push((k.value(), decode(v.value())?));
        }
        Ok(out)
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("job records always encode")
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, JobStoreError> {
    postcard::from_bytes(bytes).map_err(JobStoreError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: &str) -> JobInfo {
        JobInfo {
            id: 0,
            submitter: "acme".into(),
            kind: kind.into(),
            spec: String::new(),
            protocol: mpc::MulProtocol::Grr,
            security: mpc::SecurityLevel::SemiHonest,
            nonce: crate::ledger::Hash256::ZERO,
            signatures: Vec::new(),
            awaiting: Vec::new(),
            state: JobState::Queued,
            submitted_ms: 1,
            finished_ms: None,
            attempts: 0,
            report: None,
            outcome_height: None,
            submitted_height: None,
        }
    }

    #[test]
    fn jobs_survive_a_reopen_and_running_ones_are_queued_again() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = JobStore::open(dir.path()).unwrap();
            let a = store.submit(job("statistics")).unwrap();
            let mut b = store.submit(job("auction")).unwrap();
            assert_eq!((a.id, b.id), (1, 2));
            b.state = JobState::Running;
            store.put(&b).unwrap();
            let mut a = store.get(1).unwrap().unwrap();
            a.state = JobState::Done;
            store.put(&a).unwrap();
            store
                .put_finish(
                    2,
                    &Finish {
                        session: 7,
                        commit: false,
                        acked: vec![0],
                    },
                )
                .unwrap();
        }
        let store = JobStore::open(dir.path()).unwrap();
        assert_eq!(store.get(1).unwrap().unwrap().state, JobState::Done);
        assert_eq!(store.get(2).unwrap().unwrap().state, JobState::Queued);
        assert_eq!(store.next_queued().unwrap().unwrap().id, 2);
        assert_eq!(store.pending_finishes().unwrap()[0].1.acked, vec![0]);
        assert_eq!(store.submit(job("x")).unwrap().id, 3);
        store.drop_finish(2).unwrap();
        assert!(store.pending_finishes().unwrap().is_empty());
    }

    #[test]
    fn listings_come_in_pages_and_the_queue_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        for _ in 0..5 {
            store.submit(job("statistics")).unwrap();
        }
        let mut done = store.get(2).unwrap().unwrap();
        done.state = JobState::Done;
        store.put(&done).unwrap();
        assert_eq!(store.queued().unwrap(), 4);
        let ids = |from, limit| -> Vec<u64> {
            store
                .page(from, limit)
                .unwrap()
                .iter()
                .map(|j| j.id)
                .collect()
        };
        assert_eq!(ids(0, 2), [1, 2]);
        assert_eq!(ids(3, 2), [3, 4]);
        assert_eq!(ids(5, 2), [5]);
        assert!(ids(6, 2).is_empty());
    }
}
