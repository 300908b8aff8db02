//! A worker's side of the ledger: it signs an entry only if that entry extends the head it
//! holds, so two entries at one height can never both gather a quorum from honest workers.
//!
//! [`sign_if_extends`] checks the candidate's height (`head + 1`), its `prev` (the head's
//! hash), its time (not before the head's) and its body (a dataset's owner signature, a job
//! outcome's shape), then signs `SIGNATURE_DOMAIN || hash`. [`sign_genesis`] signs the first
//! entry if it records exactly the roster the worker was configured with.
//!
//! What this module does not do: decide whether a job outcome's commitments are the ones the
//! worker computed — the worker compares them with its own result before calling here — or
//! remember the head; the worker advances its head once the signed entry is appended.

use super::entry::{
    Entry, Hash256, Head, Roster, RosterProblem, WorkerId, WorkerSignature, signed_message,
};
use super::verify::{Reason, check_extends, genesis_shape};
use crate::keys::Identity;

/// A worker declined to sign an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("worker {worker} refuses to sign the entry at height {height}: {reason}")]
pub struct Refusal {
    /// The worker.
    pub worker: WorkerId,
    /// The candidate's height field.
    pub height: u64,
    /// Why.
    pub reason: Reason,
}

/// Signs `candidate` as `worker` if it extends `head` (see the module doc).
pub fn sign_if_extends(
    identity: &Identity,
    worker: WorkerId,
    head: &Head,
    candidate: &Entry,
) -> Result<WorkerSignature, Refusal> {
    let hash = check_extends(head, candidate).map_err(|reason| Refusal {
        worker,
        height: candidate.height,
        reason,
    })?;
    Ok(sign(identity, worker, &hash))
}

/// Signs the genesis entry as `worker` if it records exactly `roster`, the roster the worker
/// was configured with, and `worker` is in it with this identity's key.
pub fn sign_genesis(
    identity: &Identity,
    worker: WorkerId,
    roster: &Roster,
    candidate: &Entry,
) -> Result<WorkerSignature, Refusal> {
    let refuse = |reason| Refusal {
        worker,
        height: candidate.height,
        reason,
    };
    genesis_shape(candidate, roster).map_err(refuse)?;
    match roster.worker(worker) {
        Some(w) if w.key == identity.public_key() => {}
        _ => {
            return Err(refuse(Reason::InvalidRoster(RosterProblem::NotListed(
                worker,
            ))));
        }
    }
    Ok(sign(identity, worker, &candidate.hash()))
}

fn sign(identity: &Identity, worker: WorkerId, hash: &Hash256) -> WorkerSignature {
    WorkerSignature {
        worker,
        signature: identity.sign(&signed_message(hash)),
    }
}
