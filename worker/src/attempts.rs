//! The job attempt a worker is running, so that a newer one cancels it.
//!
//! The coordinator runs one job at a time. An attempt still running on a worker when another
//! starts is an orphan: its coordinator restarted (or gave up on it) and dispatched again in a
//! new mesh session, and nobody waits for its report. Left alone it would keep computing beside
//! the new attempt, and its session could never complete (issue 20). So starting an attempt
//! aborts every other one still running here; the aborted one answers (if anyone still listens)
//! that a newer attempt replaced it.
//!
//! Newer means a higher session: the coordinator numbers sessions `job << 16 | attempt`, so
//! they only grow (a restarted coordinator continues from the attempts it stored). An attempt
//! that arrives late — the coordinator gave up on it and sent the next one, which got here
//! first — is refused, and neither cancels the newer attempt nor runs beside it (chaos seed 3:
//! a late attempt cancelled its successor, and the other workers waited 120 s for this one).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use coordinator::api::{ErrorKind, Response};
use tokio::task::AbortHandle;

/// The attempts running on this worker, by mesh session.
#[derive(Default)]
pub struct Attempts {
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    /// The highest session started here.
    latest: u64,
    /// The attempts running, by session: the job and the task.
    tasks: HashMap<u64, (u64, AbortHandle)>,
}

impl Attempts {
    /// Runs `attempt` (job `job` in mesh session `session`) as its own task, after aborting
    /// every other attempt running here.
    pub async fn run(
        &self,
        job: u64,
        session: u64,
        attempt: impl Future<Output = Response> + Send + 'static,
    ) -> Response {
        let task = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if session < running.latest {
                tracing::warn!(
                    job,
                    session,
                    latest = running.latest,
                    "refused a late attempt: a newer one started here"
                );
                return Response::error(
                    ErrorKind::Internal,
                    format!(
                        "job {job}: the attempt in session {session} came after a newer one (session {}): not run",
                        running.latest
                    ),
                );
            }
            running.latest = session;
            let task = tokio::spawn(attempt);
            for (old_session, (old_job, handle)) in running.tasks.drain() {
                tracing::warn!(
                    job = old_job,
                    session = old_session,
                    "cancelling an orphaned attempt: job {job} started in session {session}"
                );
                handle.abort();
            }
            running.tasks.insert(session, (job, task.abort_handle()));
            task
        };
        let outcome = task.await;
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tasks
            .remove(&session);
        match outcome {
            Ok(response) => response,
            Err(e) if e.is_cancelled() => Response::error(
                ErrorKind::Internal,
                format!(
                    "job {job}: the attempt in session {session} was cancelled: a newer attempt started on this worker"
                ),
            ),
            Err(e) => Response::error(
                ErrorKind::Internal,
                format!("job {job}: the attempt failed: {e}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_newer_attempt_cancels_the_orphan() {
        let attempts = Arc::new(Attempts::default());
        let first = {
            let attempts = attempts.clone();
            tokio::spawn(async move {
                attempts
                    .run(1, 10, async {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Response::Ok
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = attempts.run(1, 11, async { Response::Ok }).await;
        assert_eq!(second, Response::Ok);
        let orphan = tokio::time::timeout(Duration::from_secs(5), first)
            .await
            .expect("the orphan ends at once")
            .unwrap();
        match orphan {
            Response::Error { message, .. } => {
                assert!(message.contains("session 10 was cancelled"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(attempts.running.lock().unwrap().tasks.is_empty());
    }

    #[tokio::test]
    async fn a_late_attempt_neither_cancels_the_newer_one_nor_runs() {
        let attempts = Arc::new(Attempts::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let newer = {
            let attempts = attempts.clone();
            tokio::spawn(async move {
                attempts
                    .run(4, 12, async {
                        let _ = rx.await;
                        Response::Ok
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let late = {
            let ran = ran.clone();
            attempts
                .run(4, 11, async move {
                    ran.store(true, std::sync::atomic::Ordering::SeqCst);
                    Response::Ok
                })
                .await
        };
        match late {
            Response::Error { message, .. } => {
                assert!(
                    message.contains("session 11 came after a newer one (session 12)"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        tx.send(()).unwrap();
        assert_eq!(
            newer.await.unwrap(),
            Response::Ok,
            "the newer attempt completed"
        );
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "the late attempt ran"
        );
        // Also after the newer one has ended.
        let again = attempts.run(4, 11, async { Response::Ok }).await;
        assert!(matches!(again, Response::Error { .. }), "{again:?}");
    }

    #[tokio::test]
    async fn a_panicking_attempt_fails_the_job_not_the_worker() {
        let attempts = Attempts::default();
        let r = attempts
            .run(7, 1, async {
                if true {
                    panic!("a bug in a protocol");
                }
                Response::Ok
            })
            .await;
        match r {
            Response::Error { message, .. } => assert!(message.contains("job 7"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
