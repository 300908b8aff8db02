//! Which columns of which stored versions this worker has seen pass the owners' input check
//! (issue 15: consistent shares, every value within its declared bits), so that later jobs
//! under the malicious level need not check them again.
//!
//! A version is its staging key: the chunks stored under a key never change once committed
//! (`put_chunk` writes only staged uploads, and [`ShareStore::begin`] refuses a key that holds
//! chunks), and every place that removes a key's chunks forgets its checks in the same
//! transaction ([`forget`]), so a key reused later starts unchecked. A record is written only
//! while the version's chunks are still here ([`ShareStore::mark_checked`]), so a version
//! dropped while its job ran leaves nothing behind.
//!
//! The job-independent market rules (`protocols::matching::VersionRule`) are remembered the same
//! way, in the same table, under reserved column keys from [`RULES`] on (a rule's id added; the
//! value is unused), so everything said here holds for them too.
//!
//! A record is this worker's own observation; it skips nothing by itself: a job skips a
//! column's check only when every worker claims it (`protocols::catalog`, agreed with
//! `mpc::Engine::agree_all`). What this module does not do: decide that a check passed (the
//! executor records the columns of a job that succeeded under the malicious level).

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{CHUNKS, ShareStore, StoreError, db};

/// Checked columns: (staging key, column) → the declared bits the values were checked within.
pub(super) const CHECKED: TableDefinition<(&str, u32), u32> = TableDefinition::new("checked");

/// Column keys from here on are rules, not columns ([`RULE_IDS`] of them reserved).
pub(super) const RULES: u32 = 0xffff_0000;
/// Rule ids are below this (`protocols::matching::VersionRule::IDS`).
pub(super) const RULE_IDS: u32 = 16;

impl ShareStore {
    /// The ids of the rules this worker saw pass on version `upload`.
    pub fn checked_rules(&self, upload: &str) -> Result<Vec<u32>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let checked = txn.open_table(CHECKED).map_err(db)?;
        let mut ids = Vec::new();
        for id in 0..RULE_IDS {
            if checked.get((upload, RULES + id)).map_err(db)?.is_some() {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Records that the rules `ids` (each below [`RULE_IDS`]) passed on version `upload`, if its
    /// chunks are still stored.
    pub fn mark_rules_checked(&self, upload: &str, ids: &[u32]) -> Result<(), StoreError> {
        let keys: Vec<(u32, u32)> = ids
            .iter()
            .filter(|&&id| id < RULE_IDS)
            .map(|&id| (RULES + id, 0))
            .collect();
        self.mark_checked(upload, &keys)
    }

    /// For each of the `columns` columns of version `upload`, the bits its values were checked
    /// within, if this worker saw it pass the input check.
    pub fn checked_columns(
        &self,
        upload: &str,
        columns: u32,
    ) -> Result<Vec<Option<u32>>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let checked = txn.open_table(CHECKED).map_err(db)?;
        (0..columns)
            .map(|c| Ok(checked.get((upload, c)).map_err(db)?.map(|v| v.value())))
            .collect()
    }

    /// Records that `columns` (column, declared bits) of version `upload` passed the input
    /// check, if its chunks are still stored (a version dropped meanwhile is not recorded).
    pub fn mark_checked(&self, upload: &str, columns: &[(u32, u32)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let chunks = txn.open_table(CHUNKS).map_err(db)?;
            if chunks.get((upload, 0, 0)).map_err(db)?.is_none() {
                return Ok(());
            }
            let mut checked = txn.open_table(CHECKED).map_err(db)?;
            for &(column, bits) in columns {
                checked.insert((upload, column), bits).map_err(db)?;
            }
        }
        txn.commit().map_err(db)
    }
}

/// Forgets every check of version `upload`, columns and rules (its chunks are being removed).
pub(super) fn forget(
    checked: &mut redb::Table<(&str, u32), u32>,
    upload: &str,
    columns: u32,
) -> Result<(), StoreError> {
    for column in (0..columns).chain(RULES..RULES + RULE_IDS) {
        checked.remove((upload, column)).map_err(db)?;
    }
    Ok(())
}
