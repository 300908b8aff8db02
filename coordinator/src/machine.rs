//! A job's dispatch as a pure state machine, in the way `quinn-proto` sits under `quinn`: the
//! coordinator's node feeds it what happened (a worker's answer, the clock's tick, the outcome
//! of a ledger round) and carries out the [`Action`] it returns (run an attempt in a mesh
//! epoch, cancel the workers still running, end the job with a state and a report, catch the
//! ledger up). It never touches a socket, a file or a clock: time comes in as milliseconds in
//! the inputs, so every rule is tested below without a network.
//!
//! The rules it composes:
//! - an attempt ([`Attempt`]) ends when every worker answered, at once when one says a peer is
//!   gone ([`crate::attempt::ends_attempt`]), [`crate::attempt::FAILURE_GRACE`] after the first
//!   other failure, or at the job's deadline, when each worker that has not answered is named
//!   as silent (and only those: the others answered);
//! - a dispatch ([`Dispatch`]) retries an attempt that lost a peer in a new mesh epoch, at most
//!   [`crate::attempt::MAX_ATTEMPTS`] times, then judges the answers ([`crate::attempt::judge`])
//!   and says whether the job's staged updates are committed or aborted;
//! - a ledger round ([`crate::quorum::Quorum`]) is final at `t + 1` signatures; a round that
//!   fell short is followed by a catch-up from the workers' replicas (their refusal may mean
//!   the coordinator's ledger lost its tail) and proposed again only if the catch-up found
//!   entries ([`after_short_round`]).

use crate::api::{ErrorKind, JobReport, JobState};
use crate::attempt::{self, Next, WorkerAnswer};

/// What the node is to do next for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `RunJob` in `session` and mesh epoch `mesh` to every worker; `new_epoch` says the
    /// node moves its epoch on first (the previous attempt lost a peer).
    RunAttempt {
        /// The attempt's session (job id and attempt number).
        session: u64,
        /// The mesh epoch it runs in.
        mesh: u64,
        /// Whether this attempt moved the epoch on.
        new_epoch: bool,
    },
    /// The job ended: record `state` (and `report`) in the queue and on the ledger; its staged
    /// updates (if any, or if it failed) are decided by `commit` in `session`.
    End {
        /// The job's end.
        state: JobState,
        /// The workers' agreed report, when done.
        report: Option<JobReport>,
        /// The session of the last attempt (the two-phase decision names it).
        session: u64,
        /// Commit the staged updates (done) or abort them.
        commit: bool,
        /// Whether a two-phase decision must be sent to the workers.
        decide: bool,
    },
}

/// Where an attempt stands after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait for more answers, until `wake_ms` at the latest (then feed [`Attempt::tick`]).
    Wait {
        /// When the attempt must be looked at again.
        wake_ms: u64,
    },
    /// The attempt is over: cancel the workers still running, and hand the answers to
    /// [`Dispatch::attempt_ended`].
    Over(Vec<WorkerAnswer>),
}

/// One attempt of a job on every worker.
#[derive(Clone, Debug)]
pub struct Attempt {
    workers: Vec<u16>,
    answered: Vec<u16>,
    answers: Vec<WorkerAnswer>,
    deadline_ms: u64,
    limit_ms: u64,
    grace_until: Option<u64>,
}

impl Attempt {
    /// An attempt sent to `workers` at `now_ms`, bounded by `limit_ms`.
    pub fn new(workers: &[u16], now_ms: u64, limit_ms: u64) -> Self {
        Attempt {
            workers: workers.to_vec(),
            answered: Vec::new(),
            answers: Vec::new(),
            deadline_ms: now_ms.saturating_add(limit_ms),
            limit_ms,
            grace_until: None,
        }
    }

    /// Worker `worker`'s answer, at `now_ms`.
    pub fn answer(&mut self, worker: u16, answer: WorkerAnswer, now_ms: u64) -> Step {
        let ends = attempt::ends_attempt(&answer);
        if answer.is_err() && self.grace_until.is_none() {
            let grace = attempt::FAILURE_GRACE.as_millis() as u64;
            self.grace_until = Some(now_ms.saturating_add(grace));
        }
        self.answered.push(worker);
        self.answers.push(answer);
        if ends || self.workers.iter().all(|w| self.answered.contains(w)) {
            return self.over();
        }
        self.tick(now_ms)
    }

    /// The clock: past the grace after a failure, or past the job's deadline, the attempt is
    /// over; at the deadline each worker that has not answered is named as silent (and only
    /// those).
    pub fn tick(&mut self, now_ms: u64) -> Step {
        if now_ms >= self.deadline_ms {
            let silent: Vec<u16> = (self.workers.iter().copied())
                .filter(|w| !self.answered.contains(w))
                .collect();
            for id in silent {
                let message = format!("no answer within {} s", self.limit_ms / 1000);
                self.answers.push(Err((id, ErrorKind::Timeout, message)));
            }
            return self.over();
        }
        match self.grace_until {
            Some(until) if now_ms >= until => self.over(),
            Some(until) => Step::Wait {
                wake_ms: until.min(self.deadline_ms),
            },
            None => Step::Wait {
                wake_ms: self.deadline_ms,
            },
        }
    }

    fn over(&mut self) -> Step {
        let mut answers = std::mem::take(&mut self.answers);
        answers.sort_by_key(|a| match a {
            Ok(_) => 0,
            Err((id, _, _)) => *id,
        });
        Step::Over(answers)
    }
}

/// A job's dispatch: its attempts, then its end.
#[derive(Clone, Debug)]
pub struct Dispatch {
    job: u64,
    attempts: u32,
    in_dispatch: u32,
    mesh: u64,
    session: u64,
}

impl Dispatch {
    /// Job `job`, after `attempts` attempts in earlier dispatches, in mesh epoch `mesh`.
    pub fn new(job: u64, attempts: u32, mesh: u64) -> Self {
        Dispatch {
            job,
            attempts,
            in_dispatch: 0,
            mesh,
            session: 0,
        }
    }

    /// The attempts made, over every dispatch (the job's record keeps it).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The first attempt.
    pub fn start(&mut self) -> Action {
        self.run(false)
    }

    fn run(&mut self, new_epoch: bool) -> Action {
        self.attempts += 1;
        self.in_dispatch += 1;
        if new_epoch {
            self.mesh = self.mesh.wrapping_add(1);
        }
        self.session = (self.job << 16) | u64::from(self.attempts & 0xffff);
        Action::RunAttempt {
            session: self.session,
            mesh: self.mesh,
            new_epoch,
        }
    }

    /// An attempt is over with `answers`: try again in a new epoch, or end the job.
    pub fn attempt_ended(&mut self, answers: Vec<WorkerAnswer>) -> Action {
        if attempt::next(&answers, self.in_dispatch) == Next::Retry {
            return self.run(true);
        }
        let (state, report) = attempt::judge(answers);
        let commit = state == JobState::Done;
        let decide = !commit || report.as_ref().is_some_and(|r| !r.updates.is_empty());
        Action::End {
            state,
            report,
            session: self.session,
            commit,
            decide,
        }
    }
}

/// After a ledger round fell short, what the node does once it tried to catch its ledger up
/// from the workers' replicas (`caught_up` entries appended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterShort {
    /// The ledger was behind: propose the entry again on the new head.
    ProposeAgain,
    /// Nothing to catch up: the round's failure stands.
    GiveUp,
}

/// The rule of [`AfterShort`]: a round that fell short is proposed again only if the
/// catch-up it triggers found entries (so a refusal of the entry itself is not repeated).
pub fn after_short_round(caught_up: usize) -> AfterShort {
    if caught_up > 0 {
        AfterShort::ProposeAgain
    } else {
        AfterShort::GiveUp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{JobReport, ReportedOutput};

    fn report() -> JobReport {
        JobReport {
            public: "{\"count\":3}".into(),
            outputs: vec![ReportedOutput {
                recipient: "analyst".into(),
                name: "sum".into(),
                labels: Vec::new(),
                commitments: Vec::new(),
            }],
            updates: Vec::new(),
            spent: Vec::new(),
        }
    }

    fn gone(id: u16, party: u16) -> WorkerAnswer {
        Err((
            id,
            ErrorKind::Unavailable,
            format!("job 7: party {party} left the mesh"),
        ))
    }

    /// Runs one attempt of a dispatch where every worker answers with `answer(worker)`.
    fn attempt_with(workers: &[u16], answer: impl Fn(u16) -> WorkerAnswer) -> Vec<WorkerAnswer> {
        let mut a = Attempt::new(workers, 0, 10_000);
        for &w in workers {
            if let Step::Over(answers) = a.answer(w, answer(w), 1) {
                return answers;
            }
        }
        panic!("the attempt did not end once every worker answered")
    }

    #[test]
    fn a_lost_peer_is_retried_in_a_new_epoch_at_most_three_times() {
        let mut d = Dispatch::new(7, 0, 40);
        assert_eq!(
            d.start(),
            Action::RunAttempt {
                session: (7 << 16) | 1,
                mesh: 40,
                new_epoch: false
            }
        );
        // Worker 2 died: the first answer naming it ends the attempt at once.
        let mut a = Attempt::new(&[0, 1, 2], 0, 600_000);
        let Step::Over(answers) = a.answer(0, gone(0, 2), 5) else {
            panic!("a departed peer ends the attempt at once")
        };
        assert_eq!(
            d.attempt_ended(answers.clone()),
            Action::RunAttempt {
                session: (7 << 16) | 2,
                mesh: 41,
                new_epoch: true
            }
        );
        assert!(matches!(
            d.attempt_ended(answers.clone()),
            Action::RunAttempt { mesh: 42, .. }
        ));
        // The third attempt is the last: the job fails, naming the departed worker's peer.
        let Action::End {
            state,
            commit,
            decide,
            session,
            ..
        } = d.attempt_ended(answers)
        else {
            panic!("a fourth attempt")
        };
        assert_eq!(d.attempts(), 3);
        assert_eq!(session, (7 << 16) | 3);
        assert!(
            !commit && decide,
            "a failed job's staged updates are aborted"
        );
        let JobState::Failed(why) = state else {
            panic!("{state:?}")
        };
        assert!(why.contains("worker 0"), "{why}");
    }

    #[test]
    fn a_retry_succeeds_and_agreeing_reports_make_the_job_done() {
        let mut d = Dispatch::new(9, 4, 0);
        d.start();
        d.attempt_ended(attempt_with(&[0, 1, 2], |w| gone(w, 2)));
        let answers = attempt_with(&[0, 1, 2], |_| Ok(report()));
        let Action::End {
            state,
            report: r,
            commit,
            decide,
            ..
        } = d.attempt_ended(answers)
        else {
            panic!("not ended")
        };
        assert_eq!(state, JobState::Done);
        assert_eq!(r, Some(report()));
        assert!(commit);
        assert!(!decide, "no updates: no two-phase decision");
        assert_eq!(d.attempts(), 6, "attempts count across dispatches");
    }

    #[test]
    fn a_timeout_fails_the_job_naming_only_the_silent_worker() {
        let mut a = Attempt::new(&[0, 1, 2], 1_000, 600_000);
        assert_eq!(
            a.answer(0, Ok(report()), 2_000),
            Step::Wait { wake_ms: 601_000 }
        );
        assert_eq!(
            a.answer(2, Ok(report()), 3_000),
            Step::Wait { wake_ms: 601_000 }
        );
        assert_eq!(a.tick(600_999), Step::Wait { wake_ms: 601_000 });
        let Step::Over(answers) = a.tick(601_000) else {
            panic!("the deadline ends the attempt")
        };
        let mut d = Dispatch::new(3, 0, 0);
        d.start();
        let Action::End { state, .. } = d.attempt_ended(answers) else {
            panic!("a timeout is not retried")
        };
        assert_eq!(
            state,
            JobState::Failed("worker 1: no answer within 600 s".into())
        );
    }

    #[test]
    fn a_failure_ends_the_attempt_after_the_grace_without_the_silent_workers() {
        let mut a = Attempt::new(&[0, 1, 2], 0, 600_000);
        let failed = Err((1, ErrorKind::Forbidden, "job 3: not on the ledger".into()));
        let grace = attempt::FAILURE_GRACE.as_millis() as u64;
        assert_eq!(
            a.answer(1, failed, 10),
            Step::Wait {
                wake_ms: 10 + grace
            }
        );
        let Step::Over(answers) = a.tick(10 + grace) else {
            panic!("the grace ends the attempt")
        };
        assert_eq!(answers.len(), 1, "the waiting workers are not blamed");
        let mut d = Dispatch::new(3, 0, 0);
        d.start();
        let Action::End { state, .. } = d.attempt_ended(answers) else {
            panic!("a refusal of the job is not retried")
        };
        assert_eq!(
            state,
            JobState::Failed("worker 1: not on the ledger".into())
        );
    }

    #[test]
    fn a_refusal_is_judged_at_once_and_never_retried() {
        let mut d = Dispatch::new(5, 0, 0);
        d.start();
        let refused = Err((
            1,
            ErrorKind::Refused,
            "job 5: dataset payroll: k < 5".into(),
        ));
        let answers = vec![refused, gone(0, 1)];
        let Action::End { state, .. } = d.attempt_ended(answers) else {
            panic!("retried")
        };
        assert_eq!(
            state,
            JobState::Refused("worker 1: dataset payroll: k < 5".into())
        );
    }

    #[test]
    fn a_short_round_catches_up_and_proposes_again_only_if_entries_were_missing() {
        assert_eq!(after_short_round(2), AfterShort::ProposeAgain);
        assert_eq!(after_short_round(0), AfterShort::GiveUp);
    }
}
