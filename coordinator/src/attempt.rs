//! A job's attempts and the mesh epoch they run in: when to stop waiting for an attempt, and
//! when to try again (issue 20: a restarted worker rejoins at once).
//!
//! The workers' mesh admits no one once formed, so a worker that restarted can only come back
//! in a new mesh that every worker forms together. The coordinator decides when: each
//! [`Request::RunJob`](crate::api::Request) carries the current [`MeshEpoch`], a worker
//! whose mesh belongs to another epoch forms a new one (`worker::mesh`), and an attempt that
//! fails for want of a peer ([`ErrorKind::Unavailable`]: a worker left the mesh, or its
//! connection was lost) moves the epoch on and is tried again at once, up to
//! [`MAX_ATTEMPTS`] times in one dispatch. The first such answer ends the attempt: the other
//! workers may be waiting for the departed one, and the next attempt cancels them on each
//! worker (`worker::attempts`). A refusal or a failure of the job itself is never retried.
//!
//! Pure: no IO, no clock; `coordinator::node` drives it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::api::{ErrorKind, JobReport};

/// The most attempts one dispatch of a job makes when peers are unavailable.
pub const MAX_ATTEMPTS: u32 = 3;

/// A worker's failure: its id, the class, the message.
pub type WorkerError = (u16, ErrorKind, String);

/// One worker's answer to an attempt.
pub type WorkerAnswer = Result<JobReport, WorkerError>;

/// The mesh epoch the coordinator's attempts run in.
#[derive(Debug)]
pub struct MeshEpoch(AtomicU64);

impl MeshEpoch {
    /// Starts at `first` (drawn at random by the caller, so that a restarted coordinator's
    /// first job forms a fresh mesh and no orphaned session of its predecessor survives).
    pub fn new(first: u64) -> Self {
        MeshEpoch(AtomicU64::new(first))
    }

    /// The epoch attempts run in now.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves every worker to a new mesh at the next attempt; returns the new epoch.
    pub fn advance(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst).wrapping_add(1)
    }
}

/// Whether this answer ends the attempt before the others arrive: a peer is gone, so the
/// workers still computing may be waiting for it.
pub fn ends_attempt(answer: &WorkerAnswer) -> bool {
    matches!(answer, Err((_, ErrorKind::Unavailable, _)))
}

/// What to do after attempt number `attempt` (1-based within this dispatch) got `answers`.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Judge the answers: the job ends with them.
    Judge,
    /// A peer was unavailable and no worker refused: move the mesh epoch on and try again.
    Retry,
}

/// The rule: retry while a peer was unavailable, no worker refused, and attempts remain.
pub fn next(answers: &[WorkerAnswer], attempt: u32) -> Next {
    let refused = answers
        .iter()
        .any(|a| matches!(a, Err((_, ErrorKind::Refused, _))));
    if !refused && attempt < MAX_ATTEMPTS && answers.iter().any(ends_attempt) {
        Next::Retry
    } else {
        Next::Judge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone(id: u16, party: u16) -> WorkerAnswer {
        Err((
            id,
            ErrorKind::Unavailable,
            format!("job 1: party {party} left the mesh"),
        ))
    }

    #[test]
    fn a_departed_peer_is_retried_in_a_new_epoch_a_bounded_number_of_times() {
        let answers = vec![gone(0, 2), gone(1, 2)];
        assert!(ends_attempt(&answers[0]));
        assert_eq!(next(&answers, 1), Next::Retry);
        assert_eq!(next(&answers, MAX_ATTEMPTS - 1), Next::Retry);
        assert_eq!(next(&answers, MAX_ATTEMPTS), Next::Judge);
        let epoch = MeshEpoch::new(u64::MAX);
        assert_eq!(epoch.advance(), 0, "the epoch wraps");
        assert_eq!(epoch.current(), 0);
        assert_eq!(epoch.advance(), 1);
    }

    #[test]
    fn a_failure_of_the_job_itself_or_a_refusal_is_not_retried() {
        let bad = Err((0, ErrorKind::BadRequest, "job 1: overflow".to_string()));
        assert!(!ends_attempt(&bad));
        assert_eq!(next(&[bad], 1), Next::Judge);
        let refused = Err((1, ErrorKind::Refused, "job 1: policy".to_string()));
        assert_eq!(next(&[refused, gone(0, 2)], 1), Next::Judge);
    }
}
