//! Verifying a chain offline, against the roster the verifier trusts.
//!
//! [`verify`] checks, entry by entry, and stops at the first fault, naming its height:
//! - the genesis entry (height 0, zero `prev`) records exactly the trusted roster, which is
//!   well formed (`1 <= t`, `2t < n`, distinct ids and keys);
//! - every later entry has the next height, links to the hash of the one before, has a time no
//!   earlier than it, and is not a second genesis;
//! - every entry, genesis included, carries signatures from at least `t + 1` distinct roster
//!   workers, and every signature it carries is valid (an unknown signer, a repeated one or a
//!   bad signature is a fault even when enough others are good);
//! - a dataset entry carries its owner's valid signature; a submitted job carries its
//!   clients' valid signatures over its request ([`JobSubmitted::check`](super::JobSubmitted::check)); a job outcome is well formed
//!   ([`JobOutcome::check`]: public openings match their commitments).
//!
//! Genesis needs a quorum too: otherwise its time (and anything else not compared with the
//! trusted roster) could be changed unnoticed, and the fault would surface as a broken link
//! at height 1 instead of at 0.
//!
//! [`verify_opening`] is a recipient's check of a private output against the ledger.
//!
//! What this module does not do: read files ([`super::file`]) or judge whether a job outcome
//! is the right result (each worker checks that before it signs).

use mpc::Opening;

use super::entry::{
    Entry, EntryBody, Hash256, Head, JobOutcome, OutcomeProblem, Roster, RosterProblem, WorkerId,
};
use super::job::RequestProblem;

/// Why an entry is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The chain has no entries at all.
    #[error("the chain is empty: no genesis entry")]
    Empty,
    /// The entry's height is not its position.
    #[error("its height field says {found}")]
    Height {
        /// The height written in the entry.
        found: u64,
    },
    /// `prev` is not the hash of the entry before.
    #[error("prev is {found} but the entry before hashes to {expected}")]
    BrokenLink {
        /// The previous entry's hash.
        expected: Hash256,
        /// What the entry links to.
        found: Hash256,
    },
    /// Time went backwards.
    #[error("its time {time} ms is before the previous entry's {prev} ms")]
    TimeWentBack {
        /// The previous entry's time.
        prev: u64,
        /// This entry's time.
        time: u64,
    },
    /// The first entry is not a genesis entry, or a later one is.
    #[error("{0}")]
    Kind(&'static str),
    /// The genesis roster is not the trusted one.
    #[error("the genesis roster differs from the trusted roster")]
    RosterMismatch,
    /// The roster is malformed.
    #[error("invalid roster: {0}")]
    InvalidRoster(RosterProblem),
    /// A signature comes from a worker id not in the roster.
    #[error("signed by worker {0}, which is not in the roster")]
    UnknownSigner(WorkerId),
    /// A worker signed twice.
    #[error("worker {0} signed more than once")]
    DuplicateSigner(WorkerId),
    /// A signature does not verify under the worker's roster key.
    #[error("worker {0}'s signature does not verify")]
    BadSignature(WorkerId),
    /// Too few workers signed.
    #[error("{valid} valid worker signatures, {needed} needed (t + 1)")]
    TooFewSignatures {
        /// Valid signatures from distinct workers.
        valid: usize,
        /// `t + 1`.
        needed: usize,
    },
    /// A dataset entry's owner signature does not verify.
    #[error("the owner's signature on dataset {0:?} does not verify")]
    BadOwnerSignature(String),
    /// A submitted job's client signatures do not verify.
    #[error("job request: {0}")]
    BadJobRequest(RequestProblem),
    /// A job outcome is malformed.
    #[error("malformed job outcome: {0}")]
    BadOutcome(OutcomeProblem),
}

/// The first fault of a chain: the height of the entry at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger entry at height {height}: {reason}")]
pub struct VerifyError {
    /// The position of the faulty entry (its expected height).
    pub height: u64,
    /// What is wrong with it.
    pub reason: Reason,
}

/// A chain that passed [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    roster: Roster,
    hashes: Vec<Hash256>,
    head: Head,
}

impl VerifiedChain {
    /// The roster its genesis records.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }
    /// Its last entry.
    pub fn head(&self) -> Head {
        self.head
    }
    /// The hash of the entry at `height`.
    pub fn hash(&self, height: u64) -> Option<Hash256> {
        self.hashes.get(usize::try_from(height).ok()?).copied()
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }
    /// Always false: a verified chain has at least its genesis.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// Verifies a whole chain against the roster the verifier trusts (see the module doc).
pub fn verify(entries: &[Entry], roster: &Roster) -> Result<VerifiedChain, VerifyError> {
    let Some(genesis) = entries.first() else {
        return Err(VerifyError {
            height: 0,
            reason: Reason::Empty,
        });
    };
    let mut head = check_genesis(genesis, roster)?;
    let mut hashes = vec![head.hash];
    for entry in &entries[1..] {
        head = check_next(&head, entry, roster)?;
        hashes.push(head.hash);
    }
    Ok(VerifiedChain {
        roster: roster.clone(),
        hashes,
        head,
    })
}

/// Checks a genesis entry against the trusted roster; returns the head it makes.
pub fn check_genesis(entry: &Entry, roster: &Roster) -> Result<Head, VerifyError> {
    let at = |reason| VerifyError { height: 0, reason };
    genesis_shape(entry, roster).map_err(at)?;
    let head = Head::of(entry);
    check_signatures(entry, &head.hash, roster).map_err(at)?;
    Ok(head)
}

/// Checks that `entry` extends `head` and is fully signed; returns the new head.
pub fn check_next(head: &Head, entry: &Entry, roster: &Roster) -> Result<Head, VerifyError> {
    let at = |reason| VerifyError {
        height: head.height + 1,
        reason,
    };
    let hash = check_extends(head, entry).map_err(at)?;
    check_signatures(entry, &hash, roster).map_err(at)?;
    Ok(Head {
        height: entry.height,
        hash,
        time: entry.time,
    })
}

/// Whether `opening` opens output `output` of a job-outcome entry. False for any other entry
/// or an index out of range. The entry itself should come from a verified chain.
pub fn verify_opening(entry: &Entry, output: usize, opening: &Opening) -> bool {
    match &entry.body {
        EntryBody::JobOutcome(JobOutcome { outputs, .. }) => outputs
            .get(output)
            .is_some_and(|o| o.commitment.verify(opening)),
        _ => false,
    }
}

/// The genesis entry's own fields: height, prev, kind, roster.
pub(crate) fn genesis_shape(entry: &Entry, roster: &Roster) -> Result<(), Reason> {
    if entry.height != 0 {
        return Err(Reason::Height {
            found: entry.height,
        });
    }
    if entry.prev != Hash256::ZERO {
        return Err(Reason::BrokenLink {
            expected: Hash256::ZERO,
            found: entry.prev,
        });
    }
    let EntryBody::Genesis(recorded) = &entry.body else {
        return Err(Reason::Kind("the first entry is not a genesis entry"));
    };
    if recorded != roster {
        return Err(Reason::RosterMismatch);
    }
    roster.validate().map_err(Reason::InvalidRoster)
}

/// Everything but the signatures: `entry` is the next link after `head` and its body is well
/// formed. Returns the entry's hash.
pub(crate) fn check_extends(head: &Head, entry: &Entry) -> Result<Hash256, Reason> {
    if entry.height != head.height + 1 {
        return Err(Reason::Height {
            found: entry.height,
        });
    }
    if entry.prev != head.hash {
        return Err(Reason::BrokenLink {
            expected: head.hash,
            found: entry.prev,
        });
    }
    if entry.time < head.time {
        return Err(Reason::TimeWentBack {
            prev: head.time,
            time: entry.time,
        });
    }
    check_body(&entry.body)?;
    Ok(entry.hash())
}

/// A non-genesis body is well formed.
fn check_body(body: &EntryBody) -> Result<(), Reason> {
    match body {
        EntryBody::Genesis(_) => Err(Reason::Kind("a genesis entry after the first")),
        EntryBody::DatasetCommitted(d) if !d.owner_signature_valid() => {
            Err(Reason::BadOwnerSignature(d.name.clone()))
        }
        EntryBody::JobOutcome(o) => o.check().map_err(Reason::BadOutcome),
        EntryBody::JobSubmitted(j) => j.check().map_err(Reason::BadJobRequest),
        EntryBody::DatasetCommitted(_) => Ok(()),
    }
}

/// Every signature is from a distinct roster worker and valid, and there are `t + 1`.
fn check_signatures(entry: &Entry, hash: &Hash256, roster: &Roster) -> Result<(), Reason> {
    let message = super::entry::signed_message(hash);
    for (i, s) in entry.signatures.iter().enumerate() {
        let worker = roster
            .worker(s.worker)
            .ok_or(Reason::UnknownSigner(s.worker))?;
        if entry.signatures[..i].iter().any(|o| o.worker == s.worker) {
            return Err(Reason::DuplicateSigner(s.worker));
        }
        worker
            .key
            .verify(&message, &s.signature)
            .map_err(|_| Reason::BadSignature(s.worker))?;
    }
    if entry.signatures.len() < roster.quorum() {
        return Err(Reason::TooFewSignatures {
            valid: entry.signatures.len(),
            needed: roster.quorum(),
        });
    }
    Ok(())
}
