//! A ledger entry's signature round as a pure state machine: the workers' answers go in, one
//! at a time, in whatever order they arrive; a [`Decision`] comes out after each. The
//! coordinator's node only moves messages (asks every worker, feeds each answer here, acts on
//! the decision), so the rules are tested without a socket.
//!
//! - The entry is final at `t + 1` signatures ([`Decision::Final`]): the round ends there and
//!   a slower worker's signature is not waited for.
//! - The round fails as soon as the workers that have not answered could no longer make up the
//!   quorum ([`Decision::Short`]), without waiting for the rest (a dead worker's connection
//!   attempt, say). It says whether refusals alone made it fail: then asking again will not
//!   help (a worker refused the entry: a bad signature, a replayed round), whereas unreachable
//!   workers may come back.
//!
//! What this module does not do: ask anyone, or time anything out (the node bounds every
//! worker's answer and feeds a timeout in as a failure).

use crate::ledger::{Entry, WorkerSignature};

/// One worker's answer to a signature request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// It signed.
    Signed(WorkerSignature),
    /// It refused the entry (its reason, naming the worker).
    Refused(String),
    /// It could not be reached or did not answer in time (naming the worker).
    Failed(String),
}

/// Where a signature round stands after an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// More answers are needed.
    Pending,
    /// `t + 1` signatures, sorted by worker: the entry is final.
    Final(Vec<WorkerSignature>),
    /// The quorum can no longer be reached.
    Short {
        /// What was missing and why, naming the workers.
        message: String,
        /// Refusals alone stand in the way (asking again will not help).
        refused: bool,
    },
}

/// A signature round over one entry.
#[derive(Clone, Debug)]
pub struct Quorum {
    height: u64,
    needed: usize,
    workers: usize,
    signatures: Vec<WorkerSignature>,
    refusals: Vec<String>,
    refused: usize,
    failed: usize,
}

impl Quorum {
    /// A round over `entry` among `workers` workers, `needed` (`t + 1`) signatures to gather.
    pub fn new(entry: &Entry, needed: usize, workers: usize) -> Self {
        Quorum {
            height: entry.height,
            needed,
            workers,
            signatures: Vec::new(),
            refusals: Vec::new(),
            refused: 0,
            failed: 0,
        }
    }

    /// Takes one answer and decides (see the module doc).
    pub fn answer(&mut self, answer: Answer) -> Decision {
        match answer {
            Answer::Signed(s) => {
                if !self.signatures.iter().any(|o| o.worker == s.worker) {
                    self.signatures.push(s);
                }
            }
            Answer::Refused(why) => {
                self.refused += 1;
                self.refusals.push(why);
            }
            Answer::Failed(why) => {
                self.failed += 1;
                self.refusals.push(why);
            }
        }
        if self.signatures.len() >= self.needed {
            let mut signatures = self.signatures.clone();
            signatures.sort_by_key(|s| s.worker);
            return Decision::Final(signatures);
        }
        let unanswered = self
            .workers
            .saturating_sub(self.signatures.len() + self.refused + self.failed);
        if self.signatures.len() + unanswered < self.needed {
            return Decision::Short {
                message: format!(
                    "the entry at height {} has {} of the {} signatures it needs: {}",
                    self.height,
                    self.signatures.len(),
                    self.needed,
                    self.refusals.join("; ")
                ),
                refused: self.workers.saturating_sub(self.refused) < self.needed,
            };
        }
        Decision::Pending
    }

    /// The answers that were not signatures, so far (for a warning once the entry is final).
    pub fn refusals(&self) -> &[String] {
        &self.refusals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Identity;
    use crate::ledger::{EntryBody, Hash256, Head, JobOutcome, JobStatus};
    use rand::SeedableRng;

    fn entry() -> Entry {
        let head = Head {
            height: 4,
            hash: Hash256::ZERO,
            time: 0,
        };
        Entry::next(
            &head,
            1,
            EntryBody::JobOutcome(JobOutcome {
                job: 1,
                status: JobStatus::Done,
                outputs: Vec::new(),
            }),
        )
    }

    fn signed(worker: u16) -> Answer {
        let id = Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(worker.into()));
        let mut e = entry();
        e.sign_as(worker, &id);
        Answer::Signed(e.signatures[0])
    }

    #[test]
    fn final_at_t_plus_one_whoever_is_slow() {
        // n = 5, t = 2: the third signature makes it final; worker 3 and 4 are not waited for.
        let mut q = Quorum::new(&entry(), 3, 5);
        assert_eq!(q.answer(signed(4)), Decision::Pending);
        assert_eq!(
            q.answer(Answer::Failed("worker 0: down".into())),
            Decision::Pending
        );
        assert_eq!(
            q.answer(signed(4)),
            Decision::Pending,
            "a repeat counts once"
        );
        assert_eq!(q.answer(signed(2)), Decision::Pending);
        let Decision::Final(s) = q.answer(signed(1)) else {
            panic!("not final")
        };
        let workers: Vec<u16> = s.iter().map(|s| s.worker).collect();
        assert_eq!(workers, [1, 2, 4]);
        assert_eq!(q.refusals(), ["worker 0: down".to_string()]);
    }

    #[test]
    fn short_as_soon_as_the_rest_cannot_make_it() {
        // n = 3, t = 1: two refusals end the round before the third worker answers.
        let mut q = Quorum::new(&entry(), 2, 3);
        assert_eq!(
            q.answer(Answer::Refused("worker 0: round replayed".into())),
            Decision::Pending
        );
        let Decision::Short { message, refused } =
            q.answer(Answer::Refused("worker 2: round replayed".into()))
        else {
            panic!("not short")
        };
        assert!(refused, "refusals alone block it");
        assert!(message.contains("height 5 has 0 of the 2"), "{message}");
        assert!(message.contains("worker 2: round replayed"), "{message}");
        // Unreachable workers may come back: not a refusal.
        let mut q = Quorum::new(&entry(), 2, 3);
        q.answer(Answer::Refused("worker 0: no".into()));
        let Decision::Short { refused, .. } = q.answer(Answer::Failed("worker 1: down".into()))
        else {
            panic!("not short")
        };
        assert!(!refused);
    }
}
