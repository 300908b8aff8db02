//! The coordinator catching up its ledger from the workers' replicas.
//!
//! The coordinator's file can end behind the workers' replicas: a crash that lost the tail of
//! the file after the entry was signed and published (issue 20: a ledger cut exactly between
//! two entries still verifies, so nothing noticed, and every worker then refused to sign the
//! next entry at a height it already held — the queue stalled forever). So at start, and
//! whenever a signing round fails, the coordinator asks every worker for the entries above its
//! head and appends those that extend it. It trusts no worker for this: [`Ledger::append`]
//! checks that each entry extends the head and carries `t + 1` valid worker signatures under
//! the roster, so a replica can only supply entries a quorum signed; one that offers anything
//! else (a fork, a forged entry) is skipped with its reason, and the next replica is tried.
//!
//! Not here: the network. The caller passes a function that fetches a worker's entries from a
//! height, so the logic is tested without sockets.

use std::future::Future;

use super::{Entry, Ledger, LedgerError};

/// What catching up did: entries appended, and each replica that offered something unusable.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Entries appended to the coordinator's ledger.
    pub appended: usize,
    /// `worker id: reason` for each replica that could not be read or offered a bad entry.
    pub skipped: Vec<String>,
}

/// Appends to `ledger` the entries of `offered` (a replica's, from some height on) that
/// extend it, in order, verified against the ledger's roster. Entries at or below the head
/// must be the ones the ledger holds. Returns how many were appended, or why the offer was
/// refused (after appending what came before the bad entry).
pub fn adopt(ledger: &mut Ledger, offered: Vec<Entry>) -> Result<usize, AdoptError> {
    let mut appended = 0;
    for entry in offered {
        let head = ledger.head();
        if entry.height <= head.height {
            let held = &ledger.entries()[entry.height as usize];
            if held.hash() != entry.hash() {
                return Err(AdoptError::Fork {
                    height: entry.height,
                });
            }
            continue;
        }
        let height = entry.height;
        ledger
            .append(entry)
            .map_err(|source| AdoptError::Refused { height, source })?;
        appended += 1;
    }
    Ok(appended)
}

/// Why a replica's offered entries were not adopted ([`adopt`]); each names the height.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// An entry the ledger holds differs from the replica's: a fork.
    #[error("its entry at height {height} differs from the coordinator's")]
    Fork {
        /// The height.
        height: u64,
    },
    /// An entry above the head does not extend the ledger.
    #[error("its entry at height {height}: {source}")]
    Refused {
        /// The height.
        height: u64,
        /// Why the ledger refused it.
        source: LedgerError,
    },
}

/// Asks each of `workers` (through `fetch(worker, from_height)`) for the entries above the
/// ledger's head and adopts them ([`adopt`]). Every worker is asked: one may be further ahead
/// than another.
pub async fn catch_up<F, Fut, E>(ledger: &mut Ledger, workers: &[u16], fetch: F) -> CatchUp
where
    F: Fn(u16, u64) -> Fut,
    Fut: Future<Output = Result<Vec<Entry>, E>>,
    E: std::fmt::Display,
{
    let mut done = CatchUp::default();
    for &w in workers {
        let from = ledger.head().height + 1;
        let adopted = match fetch(w, from).await {
            Ok(entries) => adopt(ledger, entries).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match adopted {
            Ok(n) => done.appended += n,
            Err(reason) => done.skipped.push(format!("worker {w}: {reason}")),
        }
    }
    done
}
