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
//! worker (`worker::attempts`). A refusal or a failure of the job itself is never retried; it
//! ends the attempt [`FAILURE_GRACE`] after the first such answer at the latest.
//!
//! Once no retry is due, [`judge`] makes the job's end from the answers, naming the workers
//! that failed ([`name_workers`]).
//!
//! Pure: no IO, no clock; `coordinator::node` drives it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::api::{ErrorKind, JobReport, JobState};

/// The most attempts one dispatch of a job makes when peers are unavailable.
pub const MAX_ATTEMPTS: u32 = 3;
/// After a worker's first failure, how long the other answers are awaited before the attempt
/// ends without them: a worker that failed before joining the job's session leaves the others
/// waiting for it until their receive timeout (120 s), while workers failing for one reason
/// answer within moments of each other and are named together. The workers still running are
/// cancelled by the next attempt or job (`worker::attempts`).
pub const FAILURE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

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

/// The job's end from every worker's answer: done when all agree; otherwise refused (a
/// worker's policy check) or failed, naming the workers (those with the same reason together).
pub fn judge(results: Vec<Result<JobReport, WorkerError>>) -> (JobState, Option<JobReport>) {
    let mut refusals = Vec::new();
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for r in results {
        match r {
            Ok(report) => reports.push(report),
            Err(e @ (_, ErrorKind::Refused, _)) => refusals.push(e),
            Err(e) => failures.push(e),
        }
    }
    if !refusals.is_empty() {
        return (JobState::Refused(name_workers(refusals)), None);
    }
    if !failures.is_empty() {
        return (JobState::Failed(name_workers(failures)), None);
    }
    match reports.split_first() {
        Some((first, rest)) if rest.iter().all(|r| r == first) => {
            (JobState::Done, Some(first.clone()))
        }
        Some(_) => (
            JobState::Failed("the workers' reports disagree".into()),
            None,
        ),
        None => (JobState::Failed("no worker answered".into()), None),
    }
}

/// The party a worker's failure blames: `... party P left the session` (or `the mesh`).
fn blamed_party(message: &str) -> Option<u16> {
    let (_, rest) = message.rsplit_once("party ")?;
    rest.strip_suffix(" left the session")
        .or_else(|| rest.strip_suffix(" left the mesh"))?
        .parse()
        .ok()
}

/// `worker 2: reason` or `workers 0, 1: reason`, one clause per distinct reason. A worker's
/// own `job N: ` prefix is dropped (the job is known). A failure that only says another
/// failed worker left the session is a consequence, not a cause: it is left out while a cause
/// remains (a dead worker is named alone, not with the healthy ones that stopped after it).
pub fn name_workers(errors: Vec<WorkerError>) -> String {
    let failed: Vec<u16> = errors.iter().map(|e| e.0).collect();
    let secondary = |m: &str| blamed_party(m).is_some_and(|p| failed.contains(&p));
    let errors = if errors.iter().all(|e| secondary(&e.2)) {
        errors
    } else {
        errors.into_iter().filter(|e| !secondary(&e.2)).collect()
    };
    let mut groups: Vec<(Vec<u16>, String)> = Vec::new();
    for (id, _, message) in errors {
        let message = match message.split_once(": ") {
            Some((head, rest)) if head.starts_with("job ") => rest.to_string(),
            _ => message,
        };
        match groups.iter_mut().find(|(_, m)| *m == message) {
            Some((ids, _)) => ids.push(id),
            None => groups.push((vec![id], message)),
        }
    }
    groups
        .into_iter()
        .map(|(ids, message)| {
            let list: Vec<String> = ids.iter().map(u16::to_string).collect();
            let who = if ids.len() == 1 { "worker" } else { "workers" };
            format!("{who} {}: {message}", list.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The workers a job's end names ([`name_workers`]' `worker 2: ...; workers 0, 1: ...`), in
/// the order named: a worker checks a failure it is asked to sign against what it saw.
pub fn named_workers(reason: &str) -> Vec<u16> {
    let mut named = Vec::new();
    for clause in reason.split("; ") {
        let Some((who, _)) = clause.split_once(": ") else {
            continue;
        };
        let Some(ids) = (who.strip_prefix("workers ")).or_else(|| who.strip_prefix("worker "))
        else {
            continue;
        };
        named.extend(ids.split(", ").filter_map(|id| id.parse::<u16>().ok()));
    }
    named
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

    #[test]
    fn the_workers_a_failure_names_are_read_back() {
        let text = name_workers(vec![
            (2, ErrorKind::Timeout, "no answer within 600 s".into()),
            (0, ErrorKind::Internal, "job 4: overflow".into()),
            (1, ErrorKind::Internal, "job 4: overflow".into()),
        ]);
        assert_eq!(named_workers(&text), [2, 0, 1]);
        assert!(named_workers("the workers' reports disagree").is_empty());
        assert!(named_workers("workers x: y; worker: z").is_empty());
    }

    #[test]
    fn workers_with_one_reason_are_named_together() {
        let text = name_workers(vec![
            (
                0,
                ErrorKind::Refused,
                "job 4: refused: acme's policy".into(),
            ),
            (2, ErrorKind::Internal, "cannot connect".into()),
            (
                1,
                ErrorKind::Refused,
                "job 4: refused: acme's policy".into(),
            ),
        ]);
        assert_eq!(
            text,
            "workers 0, 1: refused: acme's policy; worker 2: cannot connect"
        );
    }

    #[test]
    fn a_dead_worker_is_named_alone_not_the_healthy_ones_that_stopped_after_it() {
        let text = name_workers(vec![
            (
                0,
                ErrorKind::BadRequest,
                "job 9: WHERE: party 2 left the session".into(),
            ),
            (
                1,
                ErrorKind::BadRequest,
                "job 9: WHERE: party 0 left the session".into(),
            ),
            (2, ErrorKind::Internal, "connection lost".into()),
        ]);
        assert_eq!(text, "worker 2: connection lost");
        // A party that left without failing itself stays blamed.
        let text = name_workers(vec![(
            0,
            ErrorKind::BadRequest,
            "job 9: party 2 left the session".into(),
        )]);
        assert_eq!(text, "worker 0: party 2 left the session");
        // Nor when the healthy ones found it gone from the mesh before the job started.
        let text = name_workers(vec![
            (
                0,
                ErrorKind::Unavailable,
                "job 9: party 2 left the mesh".into(),
            ),
            (2, ErrorKind::Unavailable, "connection lost".into()),
        ]);
        assert_eq!(text, "worker 2: connection lost");
    }

    /// An opening's cheater named by the honest workers (`mpc`'s `engine/decode.rs`, with
    /// n >= 3t + 1) stays named in the job's failure, the text the ledger records; the
    /// cheater's own complaint that a peer stopped is a consequence and is left out.
    #[test]
    fn a_named_cheater_stays_in_the_failure_text() {
        let named =
            "integrity check failed: opening consistency (party 3 sent a share off the polynomial)";
        let mut errors: Vec<WorkerError> = (0..3)
            .map(|w| (w, ErrorKind::Internal, format!("job 9: {named}")))
            .collect();
        errors.push((
            3,
            ErrorKind::BadRequest,
            "job 9: party 0 left the session".into(),
        ));
        let (state, _) = judge(errors.into_iter().map(Err).collect());
        assert_eq!(state, JobState::Failed(format!("workers 0, 1, 2: {named}")));
    }

    #[test]
    fn a_refusal_outranks_a_failure_and_disagreeing_reports_fail() {
        let report = |p: &str| JobReport {
            public: p.into(),
            outputs: Vec::new(),
            updates: Vec::new(),
            spent: Vec::new(),
        };
        let (state, _) = judge(vec![
            Err((0, ErrorKind::Internal, "down".into())),
            Err((1, ErrorKind::Refused, "policy".into())),
        ]);
        assert_eq!(state, JobState::Refused("worker 1: policy".into()));
        let (state, _) = judge(vec![Ok(report("a")), Ok(report("b"))]);
        assert!(matches!(state, JobState::Failed(m) if m.contains("disagree")));
        let (state, r) = judge(vec![Ok(report("a")), Ok(report("a"))]);
        assert_eq!((state, r), (JobState::Done, Some(report("a"))));
    }
}
