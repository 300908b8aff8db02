//! A ledger entry's signature round as a pure state machine, in the way `quinn-proto` sits
//! under `quinn`: what each worker said goes in, one reply at a time, in whatever order they
//! arrive, and the clock's tick as milliseconds; the [`SignStep`]s the node is to carry out come
//! out (ask a worker to sign, send a worker the entries its replica lacks, the round's
//! [`Decision`]). The coordinator's node only moves messages
//! (`coordinator/src/node/ledger_rounds.rs`), so every rule is tested below without a socket,
//! a task or a timer.
//!
//! - The entry is final at `t + 1` valid signatures ([`Decision::Final`]): the round ends there
//!   and a slower worker is not waited for (its signature is not needed: the entry carries
//!   `t + 1`); a reply after that changes nothing.
//! - A signature counts only if it is from the worker asked and verifies under that worker's
//!   roster key over this entry; otherwise it is that worker's failure, named (one bad signer
//!   does not spoil an entry the others sign).
//! - A worker whose replica is behind (it answers `Behind` at its height) is sent the entries
//!   above that height, then asked again, once; still behind after that is its failure.
//! - A refusal (the worker will not sign this body: it signed another at this height — the
//!   equivocation guard —, the body does not match its own view, a replayed round) counts
//!   against the quorum and is named.
//! - The round fails as soon as the workers still to answer could no longer make up the quorum
//!   ([`Decision::Short`]), without waiting for the rest, and at its deadline, naming every
//!   worker that has not answered as silent. It says whether refusals alone made it fail: then
//!   asking again will not help, whereas unreachable workers may come back. (What follows a
//!   short round — a catch-up of the coordinator's own ledger, then a new proposal — is
//!   [`crate::machine::after_short_round`].)
//!
//! What this module does not do: open a connection, page the entries it asks to send, or read
//! a clock (the node feeds [`Quorum::tick`] the time).

use crate::keys::PublicKey;
use crate::ledger::{Entry, WorkerSignature};

/// What one worker said, as the node saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// It signed (checked here: the signer and the signature).
    Signed(WorkerSignature),
    /// Its replica ends at `height` (`None`: it holds nothing): it needs the entries above.
    Behind {
        /// The replica's head height.
        height: Option<u64>,
    },
    /// The entries it lacked were delivered ([`SignStep::SendEntries`] done).
    CaughtUp,
    /// It refused the entry (its reason, naming the worker).
    Refused(String),
    /// It could not be reached, failed or answered nonsense (naming the worker).
    Failed(String),
}

/// What the node is to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignStep {
    /// Ask worker `0` to sign the entry (`SignEntry`); feed its answer to [`Quorum::reply`].
    Ask(u16),
    /// Send `worker` the coordinator's entries from height `from` on (`AppendEntries`, in
    /// pages), then feed [`Reply::CaughtUp`] or [`Reply::Failed`].
    SendEntries {
        /// The worker behind.
        worker: u16,
        /// The first height it lacks.
        from: u64,
    },
    /// The round is over.
    Decided(Decision),
}

/// How a round ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
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

/// Where one worker stands in the round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Asked to sign, no answer yet.
    Asked,
    /// Behind: being sent the entries it lacks.
    CatchingUp,
    /// Caught up and asked again (a second `Behind` is its failure).
    AskedAgain,
    /// Signed, refused or failed: its part is over.
    Answered,
}

/// A signature round over one entry.
#[derive(Clone, Debug)]
pub struct Quorum {
    height: u64,
    message: Vec<u8>,
    needed: usize,
    deadline_ms: u64,
    workers: Vec<(u16, PublicKey, Stage)>,
    signatures: Vec<WorkerSignature>,
    refusals: Vec<String>,
    refused: usize,
    failed: usize,
    decided: bool,
}

impl Quorum {
    /// A round over `entry` among `workers` (id and roster key), `needed` (`t + 1`) signatures
    /// to gather, started at `now_ms` and over at `now_ms + limit_ms`; with the first steps:
    /// ask every worker.
    pub fn new(
        entry: &Entry,
        needed: usize,
        workers: &[(u16, PublicKey)],
        now_ms: u64,
        limit_ms: u64,
    ) -> (Self, Vec<SignStep>) {
        let round = Quorum {
            height: entry.height,
            message: entry.signed_message(),
            needed,
            deadline_ms: now_ms.saturating_add(limit_ms),
            workers: workers
                .iter()
                .map(|&(id, key)| (id, key, Stage::Asked))
                .collect(),
            signatures: Vec::new(),
            refusals: Vec::new(),
            refused: 0,
            failed: 0,
            decided: false,
        };
        let asks = workers.iter().map(|&(id, _)| SignStep::Ask(id)).collect();
        (round, asks)
    }

    /// When the node must call [`Quorum::tick`] at the latest.
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// Takes worker `worker`'s reply and says what to do (see the module doc). A reply from a
    /// worker not in the round, or after its part is over, changes nothing.
    pub fn reply(&mut self, worker: u16, reply: Reply) -> Vec<SignStep> {
        let Some(i) = self.workers.iter().position(|w| w.0 == worker) else {
            return Vec::new();
        };
        let (_, key, stage) = self.workers[i];
        if self.decided || stage == Stage::Answered {
            return Vec::new();
        }
        match (reply, stage) {
            (Reply::Signed(s), _) if self.valid(worker, &key, &s) => {
                self.workers[i].2 = Stage::Answered;
                self.signatures.push(s);
            }
            (Reply::Signed(_), _) => self.fail(
                i,
                format!(
                    "worker {worker}: its signature does not verify over the entry at height {}",
                    self.height
                ),
            ),
            (Reply::Behind { height }, Stage::Asked) => {
                self.workers[i].2 = Stage::CatchingUp;
                let from = height.map_or(0, |h| h + 1);
                return vec![SignStep::SendEntries { worker, from }];
            }
            (Reply::Behind { height }, _) => self.fail(
                i,
                format!(
                    "worker {worker}: its replica is still behind (at {height:?}) after catching up"
                ),
            ),
            (Reply::CaughtUp, Stage::CatchingUp) => {
                self.workers[i].2 = Stage::AskedAgain;
                return vec![SignStep::Ask(worker)];
            }
            (Reply::CaughtUp, _) => return Vec::new(),
            (Reply::Refused(why), _) => {
                self.workers[i].2 = Stage::Answered;
                self.refused += 1;
                self.refusals.push(why);
            }
            (Reply::Failed(why), _) => self.fail(i, why),
        }
        self.decide().into_iter().collect()
    }

    /// The clock: at or past the deadline, every worker that has not answered fails as
    /// silent, and the round is decided (short, naming them).
    pub fn tick(&mut self, now_ms: u64) -> Vec<SignStep> {
        if self.decided || now_ms < self.deadline_ms {
            return Vec::new();
        }
        let silent: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].2 != Stage::Answered)
            .collect();
        for i in silent {
            let worker = self.workers[i].0;
            self.fail(
                i,
                format!("worker {worker}: no signature by the round's deadline (silent)"),
            );
        }
        self.decide().into_iter().collect()
    }

    /// The answers that were not signatures, so far (for a warning once the entry is final).
    pub fn refusals(&self) -> &[String] {
        &self.refusals
    }

    fn valid(&self, worker: u16, key: &PublicKey, s: &WorkerSignature) -> bool {
        s.worker == worker && key.verify(&self.message, &s.signature).is_ok()
    }

    fn fail(&mut self, i: usize, why: String) {
        self.workers[i].2 = Stage::Answered;
        self.failed += 1;
        self.refusals.push(why);
    }

    fn decide(&mut self) -> Option<SignStep> {
        if self.signatures.len() >= self.needed {
            self.decided = true;
            let mut signatures = self.signatures.clone();
            signatures.sort_by_key(|s| s.worker);
            return Some(SignStep::Decided(Decision::Final(signatures)));
        }
        let workers = self.workers.len();
        let unanswered = workers.saturating_sub(self.signatures.len() + self.refused + self.failed);
        if self.signatures.len() + unanswered < self.needed {
            self.decided = true;
            return Some(SignStep::Decided(Decision::Short {
                message: format!(
                    "the entry at height {} has {} of the {} signatures it needs: {}",
                    self.height,
                    self.signatures.len(),
                    self.needed,
                    self.refusals.join("; ")
                ),
                refused: workers.saturating_sub(self.refused) < self.needed,
            }));
        }
        None
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

    fn identity(worker: u16) -> Identity {
        Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(worker.into()))
    }

    /// `n` workers 0..n with their keys.
    fn workers(n: u16) -> Vec<(u16, PublicKey)> {
        (0..n).map(|w| (w, identity(w).public_key())).collect()
    }

    fn signed(worker: u16) -> Reply {
        let mut e = entry();
        e.sign_as(worker, &identity(worker));
        Reply::Signed(e.signatures[0])
    }

    fn decided(steps: Vec<SignStep>) -> Decision {
        match steps.as_slice() {
            [SignStep::Decided(d)] => d.clone(),
            other => panic!("not decided: {other:?}"),
        }
    }

    fn short(steps: Vec<SignStep>) -> (String, bool) {
        match decided(steps) {
            Decision::Short { message, refused } => (message, refused),
            d => panic!("not short: {d:?}"),
        }
    }

    #[test]
    fn every_worker_is_asked_and_the_entry_is_final_at_t_plus_one() {
        // n = 5, t = 2: the third signature makes it final; workers 0 and 3 are not waited for.
        let (mut q, steps) = Quorum::new(&entry(), 3, &workers(5), 0, 1000);
        assert_eq!(steps, (0..5).map(SignStep::Ask).collect::<Vec<_>>());
        assert_eq!(q.reply(4, signed(4)), []);
        assert_eq!(q.reply(0, Reply::Failed("worker 0: down".into())), []);
        assert_eq!(q.reply(4, signed(4)), [], "a repeat counts once");
        assert_eq!(q.reply(2, signed(2)), []);
        let Decision::Final(s) = decided(q.reply(1, signed(1))) else {
            panic!("not final")
        };
        let signers: Vec<u16> = s.iter().map(|s| s.worker).collect();
        assert_eq!(signers, [1, 2, 4]);
        assert_eq!(q.refusals(), ["worker 0: down".to_string()]);
        // A late signature is not waited for and decides nothing more.
        assert_eq!(q.reply(3, signed(3)), []);
        assert_eq!(q.tick(5000), [], "a decided round ignores its deadline");
    }

    #[test]
    fn short_as_soon_as_the_rest_cannot_make_it() {
        // n = 3, t = 1: two refusals end the round before the third worker answers.
        let (mut q, _) = Quorum::new(&entry(), 2, &workers(3), 0, 1000);
        assert_eq!(
            q.reply(0, Reply::Refused("worker 0: round replayed".into())),
            []
        );
        let (message, refused) =
            short(q.reply(2, Reply::Refused("worker 2: round replayed".into())));
        assert!(refused, "refusals alone block it");
        assert!(message.contains("height 5 has 0 of the 2"), "{message}");
        assert!(message.contains("worker 2: round replayed"), "{message}");
        // Unreachable workers may come back: not a refusal.
        let (mut q, _) = Quorum::new(&entry(), 2, &workers(3), 0, 1000);
        q.reply(0, Reply::Refused("worker 0: no".into()));
        let (_, refused) = short(q.reply(1, Reply::Failed("worker 1: down".into())));
        assert!(!refused);
    }

    #[test]
    fn a_lagging_replica_is_caught_up_then_asked_again_once() {
        let (mut q, _) = Quorum::new(&entry(), 2, &workers(3), 0, 1000);
        // Worker 1's replica ends at height 2: it gets the entries from 3 on, then the ask.
        assert_eq!(
            q.reply(1, Reply::Behind { height: Some(2) }),
            [SignStep::SendEntries { worker: 1, from: 3 }]
        );
        assert_eq!(q.reply(1, Reply::CaughtUp), [SignStep::Ask(1)]);
        assert_eq!(q.reply(0, signed(0)), []);
        assert!(matches!(decided(q.reply(1, signed(1))), Decision::Final(_)));
        // An empty replica gets everything from genesis; behind again after that is a failure.
        let (mut q, _) = Quorum::new(&entry(), 2, &workers(3), 0, 1000);
        assert_eq!(
            q.reply(2, Reply::Behind { height: None }),
            [SignStep::SendEntries { worker: 2, from: 0 }]
        );
        assert_eq!(q.reply(2, Reply::CaughtUp), [SignStep::Ask(2)]);
        assert_eq!(q.reply(2, Reply::Behind { height: Some(1) }), []);
        assert!(q.refusals()[0].contains("worker 2") && q.refusals()[0].contains("still behind"));
    }

    #[test]
    fn an_equivocation_refusal_counts_against_the_quorum_and_is_named() {
        // Worker 0 signed another body at this height: it refuses; 1 and 2 still make it.
        let (mut q, _) = Quorum::new(&entry(), 2, &workers(3), 0, 1000);
        let why = "worker 0: already signed another entry at height 5";
        assert_eq!(q.reply(0, Reply::Refused(why.into())), []);
        assert_eq!(q.reply(1, signed(1)), []);
        assert!(matches!(decided(q.reply(2, signed(2))), Decision::Final(_)));
        assert_eq!(q.refusals(), [why.to_string()]);
    }

    #[test]
    fn an_invalid_or_misattributed_signature_does_not_count() {
        let (mut q, _) = Quorum::new(&entry(), 2, &workers(3), 0, 1000);
        // Worker 0 returns worker 1's signature as its own, then worker 2 signs another entry.
        assert_eq!(q.reply(0, signed(1)), []);
        let mut other = entry();
        other.time += 1;
        other.sign_as(2, &identity(2));
        let (message, refused) = short(q.reply(2, Reply::Signed(other.signatures[0])));
        assert!(!refused);
        assert!(
            message.contains("worker 0: its signature does not verify")
                && message.contains("worker 2: its signature does not verify"),
            "{message}"
        );
    }

    #[test]
    fn the_deadline_fails_the_round_naming_only_the_silent_workers() {
        // n = 5, t = 2: one signature, one refusal, then silence from workers 1, 3 and 4.
        let (mut q, _) = Quorum::new(&entry(), 3, &workers(5), 100, 1000);
        assert_eq!(q.deadline_ms(), 1100);
        q.reply(0, signed(0));
        q.reply(2, Reply::Refused("worker 2: no".into()));
        q.reply(3, Reply::Behind { height: Some(0) });
        assert_eq!(q.tick(1099), [], "not yet");
        let (message, refused) = short(q.tick(1100));
        assert!(!refused);
        for w in [1, 3, 4] {
            assert!(
                message.contains(&format!("worker {w}: no signature by the round's deadline")),
                "{message}"
            );
        }
        assert!(!message.contains("worker 0: no signature"), "{message}");
        assert!(message.contains("has 1 of the 3"), "{message}");
    }
}
