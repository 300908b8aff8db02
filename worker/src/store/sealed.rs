//! Uploads their owner committed that are not yet current (issue 13: "a dataset becomes
//! current on the workers only once its ledger entry exists"). A client's `UploadCommit`
//! *seals* its prepared upload: the worker promises to publish exactly that upload under
//! `owner/name` once its replica holds the owner's `DatasetCommitted` entry for it (same rows
//! and schema, appended after the seal), and nothing before. Until then the dataset is not
//! listed, read or used by a job ([`ShareStore::get`] says why), so a client that dies between
//! committing on the workers and recording the dataset leaves nothing half-visible: its sealed
//! upload stays a prepared one, and expires as such.
//!
//! One sealed upload per dataset: a newer seal of `owner/name` replaces the older (which stays
//! prepared). What this module does not do: read the ledger (the service matches entries to
//! seals and calls [`ShareStore::commit`], which drops the seal).

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{DatasetRecord, ShareStore, StoreError, db};

/// Sealed uploads: `owner/name` → (staging key, the first ledger height whose entry counts).
pub(super) const SEALED: TableDefinition<&str, (&str, u64)> = TableDefinition::new("sealed");

/// A sealed upload: the dataset's key, the upload, and the first ledger height at which its
/// entry counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// `owner/name`.
    pub key: String,
    /// The staged record of the upload.
    pub record: DatasetRecord,
    /// Entries below this height were on the replica before the seal: they record an older
    /// version.
    pub from_height: u64,
}

impl ShareStore {
    /// Seals prepared upload `upload` (see the module doc) when the replica's next entry is at
    /// `from_height`; refuses an unprepared upload, and one that would overwrite a current
    /// dataset without `replace`.
    pub fn seal(&self, upload: &str, from_height: u64) -> Result<DatasetRecord, StoreError> {
        let record = self.staged(upload)?;
        if !record.prepared {
            return Err(StoreError::BadChunk {
                upload: upload.into(),
                reason: "commit before prepare".into(),
            });
        }
        if !record.replace && self.current(&record.key())?.is_some() {
            return Err(StoreError::Exists(record.key()));
        }
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut sealed = txn.open_table(SEALED).map_err(db)?;
            sealed
                .insert(record.key().as_str(), (upload, from_height))
                .map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(record)
    }

    /// Every sealed upload whose staged record is still here.
    pub fn sealed(&self) -> Result<Vec<Sealed>, StoreError> {
        let seals: Vec<(String, String, u64)> = {
            let txn = self.db.begin_read().map_err(db)?;
            let table = txn.open_table(SEALED).map_err(db)?;
            let mut out = Vec::new();
            for row in table.iter().map_err(db)? {
                let (k, v) = row.map_err(db)?;
                let (upload, from) = v.value();
                out.push((k.value().to_string(), upload.to_string(), from));
            }
            out
        };
        let mut out = Vec::new();
        for (key, upload, from_height) in seals {
            match self.staged(&upload) {
                Ok(record) => out.push(Sealed {
                    key,
                    record,
                    from_height,
                }),
                // Expired or superseded meanwhile: nothing left to publish.
                Err(StoreError::NoUpload(_)) => self.unseal(&key, &upload)?,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The sealed upload of `key`, if any.
    pub fn sealed_of(&self, key: &str) -> Result<Option<Sealed>, StoreError> {
        Ok(self.sealed()?.into_iter().find(|s| s.key == key))
    }

    /// Drops the seal of `key` if it is `upload`'s.
    fn unseal(&self, key: &str, upload: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut sealed = txn.open_table(SEALED).map_err(db)?;
            unseal_in(&mut sealed, key, upload)?;
        }
        txn.commit().map_err(db)
    }
}

/// Drops the seal of `key` in `table` if it is `upload`'s (inside a caller's transaction).
pub(super) fn unseal_in(
    table: &mut redb::Table<&str, (&str, u64)>,
    key: &str,
    upload: &str,
) -> Result<(), StoreError> {
    let mine = table
        .get(key)
        .map_err(db)?
        .is_some_and(|v| v.value().0 == upload);
    if mine {
        table.remove(key).map_err(db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpc::Fr;
    use mpc::field::Field;

    fn staged(store: &ShareStore, upload: &str, rows: u64, replace: bool, prepare: bool) {
        let record = DatasetRecord {
            owner: "acme".into(),
            name: "payroll".into(),
            schema: "[[columns]]\nname = \"salary\"\ntype = \"integer\"\n".into(),
            policy: String::new(),
            rows,
            columns: 1,
            upload: upload.into(),
            replace,
            prepared: false,
        };
        store.begin(&record).unwrap();
        let column: Vec<Fr> = (0..rows as i128).map(Fr::from_i128).collect();
        let bytes = mpc::net::codec::encode(&column);
        store.put_chunk(upload, 0, 0, &bytes).unwrap();
        if prepare {
            store.prepare(upload).unwrap();
        }
    }

    #[test]
    fn a_sealed_upload_is_not_current_until_committed_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = ShareStore::open(dir.path()).unwrap();
            staged(&store, "acme/u1", 3, false, false);
            let unprepared = store.seal("acme/u1", 4).unwrap_err();
            assert!(unprepared.to_string().contains("commit before prepare"));
            store.prepare("acme/u1").unwrap();
            store.seal("acme/u1", 4).unwrap();
        }
        let store = ShareStore::open(dir.path()).unwrap();
        let sealed = store.sealed_of("acme/payroll").unwrap().expect("kept");
        assert_eq!((sealed.record.rows, sealed.from_height), (3, 4));
        assert!(store.list().unwrap().is_empty());
        let refused = store.get("acme/payroll").unwrap_err();
        assert!(matches!(refused, StoreError::NotRecorded(_)), "{refused}");
        store.commit("acme/u1").unwrap();
        assert!(
            store.sealed().unwrap().is_empty(),
            "the commit drops the seal"
        );
        assert_eq!(store.get("acme/payroll").unwrap().rows, 3);
        // A newer version (with `replace`) sealed: the current one stays current meanwhile.
        staged(&store, "acme/u2", 5, true, true);
        store.seal("acme/u2", 9).unwrap();
        assert_eq!(store.get("acme/payroll").unwrap().rows, 3);
        store.commit("acme/u2").unwrap();
        assert_eq!(store.get("acme/payroll").unwrap().rows, 5);
    }

    #[test]
    fn a_seal_whose_upload_was_dropped_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(dir.path()).unwrap();
        staged(&store, "acme/u1", 2, false, true);
        store.seal("acme/u1", 0).unwrap();
        // Expired (or superseded): aborted as a prepared upload.
        store.abort("acme/u1").unwrap();
        assert!(store.sealed().unwrap().is_empty());
        assert!(matches!(
            store.get("acme/payroll"),
            Err(StoreError::NoDataset(_))
        ));
    }

    /// Two appends of one `DatasetCommitted` entry at once publish its upload twice: one
    /// commit wins, the other finds nothing staged, and the shares stay (the first chaos
    /// campaign on this change lost them: the second commit took the first's version for an
    /// old one and dropped its chunks).
    #[test]
    fn two_publishes_of_one_upload_at_once_keep_its_shares() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(ShareStore::open(dir.path()).unwrap());
        for i in 0..16 {
            let upload = format!("acme/u{i}");
            staged(&store, &upload, 3, i > 0, true);
            let both: Vec<_> = (0..2)
                .map(|_| {
                    let (store, upload) = (store.clone(), upload.clone());
                    std::thread::spawn(move || store.commit(&upload).is_ok())
                })
                .collect();
            let won = both
                .into_iter()
                .map(|h| h.join().unwrap() as u32)
                .sum::<u32>();
            assert_eq!(won, 1, "round {i}");
            assert_eq!(store.read_column("acme/payroll", 0).unwrap().len(), 3);
        }
    }
}
