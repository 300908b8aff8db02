//! The coordinator's side of "one entry per height": the candidate it is gathering
//! signatures for, kept in `<data dir>/ledger/pending` until it is appended.
//!
//! A worker signs at most one entry per height (it remembers what it signed, across
//! restarts), so a candidate that some workers signed but that never reached the ledger — the
//! quorum was not reached, or the coordinator stopped — must be proposed again *unchanged*:
//! another candidate at that height would be refused by the workers that signed the first,
//! and could leave too few to sign anything. [`Pending::proposal`] says what to propose next:
//! the pending candidate while it still extends the head, else a fresh one. The coordinator
//! drops a pending candidate that workers refused on its content ([`Pending::clear`]), so a
//! bad request (a dataset record no worker holds) cannot block the ledger.
//!
//! Also here: [`page`], the bounded slices in which entries travel (`LedgerEntries`, a
//! replica's catch-up), so that a ledger larger than one frame is still served.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::entry::{Entry, Head};
use super::file::LEDGER_DIR;

/// The file, in the ledger folder, holding the pending candidate.
pub const PENDING_FILE: &str = "pending";
/// The default bound on one page of entries: 8 MiB (a frame holds 64 MiB; an entry at most
/// 16 MiB, so a page always holds at least one).
pub const DEFAULT_PAGE_BYTES: usize = 8 << 20;

/// The pending candidate's file.
pub struct Pending {
    path: PathBuf,
}

impl Pending {
    /// The pending candidate of the ledger under `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Pending {
            path: data_dir.join(LEDGER_DIR).join(PENDING_FILE),
        }
    }

    /// The stored candidate, if any (an unreadable one is reported and treated as none: it
    /// was never appended, and workers that signed it refuse another only at its height).
    pub fn load(&self) -> Option<Entry> {
        let bytes = fs::read(&self.path).ok()?;
        match postcard::from_bytes(&bytes) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(
                    "{}: unreadable pending entry ignored: {e}",
                    self.path.display()
                );
                None
            }
        }
    }

    /// What to propose next after `head` (`None`: before genesis): the pending candidate if it
    /// is the next link, else `fresh()`. The flag says whether it is the pending one.
    pub fn proposal(&self, head: Option<&Head>, fresh: impl FnOnce() -> Entry) -> (Entry, bool) {
        if let Some(p) = self.load() {
            let next = match head {
                None => p.height == 0,
                Some(h) => p.height == h.height + 1 && p.prev == h.hash && p.time >= h.time,
            };
            if next {
                return (p, true);
            }
        }
        (fresh(), false)
    }

    /// Stores `entry` as the pending candidate, durably (before any worker is asked).
    pub fn save(&self, entry: &Entry) -> std::io::Result<()> {
        let dir = self.path.parent().expect("a file in a folder");
        fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut file = crate::files::create_private(&tmp)?;
            file.write_all(&postcard::to_allocvec(entry).expect("entries encode"))?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        fs::File::open(dir)?.sync_all()
    }

    /// Forgets the pending candidate (appended, or refused on its content).
    pub fn clear(&self) -> std::io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The entries from `from` on that fit in `max_bytes` of encoding — at least one, if any.
pub fn page(entries: &[Entry], from: u64, max_bytes: usize) -> &[Entry] {
    let rest = entries.get(from as usize..).unwrap_or(&[]);
    let mut bytes = 0;
    let mut n = 0;
    for e in rest {
        bytes += postcard::to_allocvec(e).map_or(0, |b| b.len());
        if n > 0 && bytes > max_bytes {
            break;
        }
        n += 1;
    }
    &rest[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{EntryBody, Hash256, JobSubmitted};

    fn entry(height: u64, prev: Hash256) -> Entry {
        Entry::next(
            &Head {
                height: height - 1,
                hash: prev,
                time: 5,
            },
            10,
            EntryBody::JobSubmitted(JobSubmitted {
                job: height,
                request: crate::ledger::JobRequest {
                    spec: String::new(),
                    protocol: mpc::MulProtocol::Grr,
                    security: mpc::SecurityLevel::SemiHonest,
                    nonce: Hash256::ZERO,
                },
                signatures: Vec::new(),
            }),
        )
    }

    #[test]
    fn a_pending_candidate_is_proposed_again_while_it_extends_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let pending = Pending::in_dir(dir.path());
        let head = Head {
            height: 3,
            hash: Hash256([1; 32]),
            time: 5,
        };
        let stored = entry(4, head.hash);
        pending.save(&stored).unwrap();
        let (p, again) = pending.proposal(Some(&head), || unreachable!());
        assert!(again);
        assert_eq!(p, stored);
        // Once the head moved on, a fresh candidate.
        let moved = Head { height: 4, ..head };
        let (_, again) = pending.proposal(Some(&moved), || entry(5, Hash256::ZERO));
        assert!(!again);
        pending.clear().unwrap();
        pending.clear().unwrap();
        assert!(pending.load().is_none());
    }

    #[test]
    fn pages_are_bounded_but_never_empty() {
        let entries: Vec<Entry> = (1..=5).map(|h| entry(h, Hash256::ZERO)).collect();
        let one = postcard::to_allocvec(&entries[0]).unwrap().len();
        assert_eq!(page(&entries, 0, 1).len(), 1);
        assert_eq!(page(&entries, 1, 2 * one).len(), 2);
        assert_eq!(page(&entries, 3, usize::MAX).len(), 2);
        assert!(page(&entries, 5, usize::MAX).is_empty());
        assert!(page(&entries, 9, usize::MAX).is_empty());
    }
}
