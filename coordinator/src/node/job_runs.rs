//! The coordinator's job side: the job loop, one job's run (its submission entry, its
//! attempts as [`crate::machine::Dispatch`] asks for them, its end and outcome entry) and the
//! two-phase decisions on staged updates. IO only: what to decide is in [`crate::machine`] and
//! [`crate::attempt`].

use super::*;

/// The job loop: one job at a time, oldest first.
pub(super) async fn dispatch(state: Arc<State>) {
    loop {
        let next = match state.jobs.next_queued() {
            Ok(next) => next,
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        };
        match next {
            Some(job) => {
                let _busy = state.busy.lock().await;
                run_job(&state, job).await
            }
            None => {
                let _ = tokio::time::timeout(RETRY_EVERY, state.wake.notified()).await;
            }
        }
    }
}

/// Runs one job to its end: ledger entry for its submission, fan-out to every worker,
/// comparison of the reports, the decision on its updates, ledger entry for its outcome.
pub(super) async fn run_job(state: &Arc<State>, mut job: JobInfo) {
    if let Some((height, status)) = recorded_outcome(state, job.id).await {
        // Ended on the ledger already (a restart lost the record): never run again.
        tracing::warn!(
            job = job.id,
            height,
            "job already ended on the ledger: not run again"
        );
        job.outcome_height = Some(height);
        job.state = match status {
            JobStatus::Done => JobState::Done,
            JobStatus::Failed { reason } => JobState::Failed(reason),
            JobStatus::Refused { reason } => JobState::Refused(reason),
        };
        job.finished_ms.get_or_insert_with(now_ms);
        if let Err(e) = put_job(state, &job) {
            tracing::error!(job = job.id, "{e}");
        }
        return;
    }
    if job.submitted_height.is_none() {
        let body = EntryBody::JobSubmitted(JobSubmitted {
            job: job.id,
            request: JobRequest {
                spec: job.spec.clone(),
                protocol: job.protocol,
                security: job.security,
                nonce: job.nonce,
            },
            signatures: job.signatures.clone(),
        });
        match append(state, body).await {
            Ok(entry) => job.submitted_height = Some(entry.height),
            Err(e) if e.refused => {
                // The workers will not record it (a signature, a replayed round): it ends
                // here, off the ledger, with their reasons.
                let reason = e
                    .message
                    .split_once(": ")
                    .map_or(e.message.clone(), |(_, r)| r.to_string());
                end_job(state, job, JobState::Refused(reason), None).await;
                return;
            }
            Err(e) => {
                // No quorum to record it: the job cannot run either. Retry later.
                tracing::warn!(job = job.id, "job waits: ledger: {e}");
                tokio::time::sleep(RETRY_EVERY).await;
                return;
            }
        }
    }
    let Some(Action::End {
        state: end,
        report,
        session,
        commit,
        decide,
    }) = run_dispatch(state, &mut job).await
    else {
        return;
    };
    // Two-phase decision on staged updates: durable before anyone hears it.
    if decide {
        let finish = Finish {
            session,
            commit,
            acked: Vec::new(),
        };
        if let Err(e) = state.jobs.put_finish(job.id, &finish) {
            tracing::error!(job = job.id, "{e}");
        }
    }
    end_job(state, job, end, report).await;
    finish_pending(state).await;
}

/// Drives `job`'s dispatch ([`crate::machine::Dispatch`]): runs the attempts it asks for, in
/// the mesh epochs it names, until it ends the job ([`Action::End`]); `None` if the job's
/// record could not be stored.
pub(super) async fn run_dispatch(state: &Arc<State>, job: &mut JobInfo) -> Option<Action> {
    let mut dispatch = Dispatch::new(job.id, job.attempts, state.epoch.current());
    let mut action = dispatch.start();
    loop {
        let (session, mesh) = match action {
            Action::RunAttempt {
                session,
                mesh,
                new_epoch,
            } => {
                if new_epoch {
                    state.epoch.advance();
                    tracing::info!(
                        job = job.id,
                        mesh,
                        "a worker left the mesh: trying again in a new one"
                    );
                }
                (session, mesh)
            }
            end @ Action::End { .. } => return Some(end),
        };
        job.attempts = dispatch.attempts();
        job.state = JobState::Running;
        if let Err(e) = put_job(state, job) {
            tracing::error!(job = job.id, "{e}");
            return None;
        }
        tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, mesh, "job dispatched");
        let request = Request::RunJob {
            job: job.id,
            session,
            mesh,
            spec: job.spec.clone(),
            protocol: job.protocol,
            security: job.security,
        };
        let answers = run_attempt(state, &request).await;
        action = dispatch.attempt_ended(answers);
    }
}

/// Feeds the answers of an attempt's calls, as they come, and the clock to the attempt's
/// state machine ([`crate::machine::Attempt`]) until it is over; cancels the calls still
/// running then (the next attempt or job cancels them on the workers too).
pub(super) async fn gather_answers(
    mut runs: tokio::task::JoinSet<(u16, WorkerAnswer)>,
    callers: std::collections::HashMap<tokio::task::Id, u16>,
    mut attempt: Attempt,
) -> Vec<WorkerAnswer> {
    let mut wake = attempt.tick(now_ms());
    loop {
        let step = match wake {
            Step::Over(answers) => {
                runs.abort_all();
                return answers;
            }
            Step::Wait { wake_ms } => {
                let sleep = Duration::from_millis(wake_ms.saturating_sub(now_ms()));
                tokio::select! {
                    joined = runs.join_next_with_id() => {
                        let (id, answer) = match joined {
                            Some(Ok((_, answer))) => answer,
                            Some(Err(e)) => {
                                let id = callers.get(&e.id()).copied().unwrap_or(u16::MAX);
                                (id, Err((id, ErrorKind::Internal, e.to_string())))
                            }
                            // Every call ended: the attempt's clock says the rest.
                            None => {
                                wake = attempt.tick(u64::MAX);
                                continue;
                            }
                        };
                        attempt.answer(id, answer, now_ms())
                    }
                    _ = tokio::time::sleep(sleep) => attempt.tick(now_ms()),
                }
            }
        };
        wake = step;
    }
}

/// One attempt: `request` to every worker, their answers. An unreachable worker fails the
/// attempt before anyone starts; an answer that a peer is gone ends it at once.
pub(super) async fn run_attempt(state: &Arc<State>, request: &Request) -> Vec<WorkerAnswer> {
    let (limit, page_bytes) = (state.job_timeout, state.page_bytes);
    let chain = chain(state).await;
    let clients = connect_workers(state).await;
    let unreachable: Vec<WorkerAnswer> = clients
        .iter()
        .filter_map(|(id, c)| {
            c.as_ref()
                .err()
                .map(|e| Err((*id, ErrorKind::Internal, e.to_string())))
        })
        .collect();
    if !unreachable.is_empty() {
        for (_, client) in clients {
            if let Ok(client) = client {
                tokio::spawn(client.close());
            }
        }
        return unreachable;
    }
    let mut runs = tokio::task::JoinSet::new();
    let mut callers = std::collections::HashMap::new();
    let ids: Vec<u16> = clients.iter().map(|(id, _)| *id).collect();
    // The call's own bound is a little past the job's: the attempt's deadline names the
    // silent workers first.
    let call_limit = limit + Duration::from_secs(5);
    for (id, client) in clients {
        let (request, chain) = (request.clone(), chain.clone());
        let client = client.expect("checked above");
        let task = runs.spawn(async move {
            let r = call_caught_up(&client, id, &request, &chain, page_bytes, call_limit).await;
            tokio::spawn(client.close());
            let answer = match r {
                Ok(Response::JobReport(report)) => Ok(report),
                Ok(Response::Error { kind, message }) => Err((id, kind, message)),
                Ok(other) => Err((id, ErrorKind::Internal, format!("unexpected {other:?}"))),
                // The call was lost on the way: the worker may have died mid-job.
                Err(e) => Err((id, ErrorKind::Unavailable, e.to_string())),
            };
            (id, answer)
        });
        callers.insert(task.id(), id);
    }
    let attempt = Attempt::new(&ids, now_ms(), limit.as_millis() as u64);
    gather_answers(runs, callers, attempt).await
}

/// Stores a job's new record and tells the clients waiting for it.
pub(super) fn put_job(state: &State, job: &JobInfo) -> Result<(), crate::jobs::JobStoreError> {
    state.jobs.put(job)?;
    state.changed.notify_waiters();
    Ok(())
}

/// The coordinator's ledger entries (none before genesis).
pub(super) async fn chain(state: &State) -> Arc<Vec<Entry>> {
    let ledger = state.ledger.lock().await;
    Arc::new(
        ledger
            .as_ref()
            .map_or_else(Vec::new, |l| l.entries().to_vec()),
    )
}

/// The height and status of job `job`'s outcome entry on the coordinator's ledger.
pub(super) async fn recorded_outcome(state: &State, job: u64) -> Option<(u64, JobStatus)> {
    let ledger = state.ledger.lock().await;
    ledger
        .as_ref()?
        .entries()
        .iter()
        .find_map(|e| match &e.body {
            EntryBody::JobOutcome(o) if o.job == job => Some((e.height, o.status.clone())),
            _ => None,
        })
}

/// Records a job's end in the queue and on the ledger.
pub(super) async fn end_job(
    state: &Arc<State>,
    mut job: JobInfo,
    end: JobState,
    report: Option<JobReport>,
) {
    match &end {
        JobState::Done => tracing::info!(job = job.id, "job done"),
        JobState::Refused(why) => tracing::warn!(job = job.id, "job refused: {why}"),
        JobState::Failed(why) => tracing::warn!(job = job.id, "job failed: {why}"),
        _ => {}
    }
    job.state = end;
    job.report = report;
    job.finished_ms = Some(now_ms());
    if let Err(e) = put_job(state, &job) {
        tracing::error!(job = job.id, "{e}");
        return;
    }
    record_outcome(state, job).await;
}

/// Appends the outcome entry of an ended job (retried by the upkeep loop until it succeeds).
pub(super) async fn record_outcome(state: &Arc<State>, mut job: JobInfo) {
    let status = match &job.state {
        JobState::Done => JobStatus::Done,
        JobState::Refused(reason) => JobStatus::Refused {
            reason: reason.clone(),
        },
        JobState::Failed(reason) => JobStatus::Failed {
            reason: reason.clone(),
        },
        JobState::AwaitingConsent | JobState::Queued | JobState::Running => return,
    };
    if job.submitted_height.is_none() {
        // Never on the ledger (refused before it was recorded): no outcome entry either.
        return;
    }
    if let Some((height, _)) = recorded_outcome(state, job.id).await {
        // Recorded before a restart lost the height: once is enough.
        job.outcome_height = Some(height);
        if let Err(e) = put_job(state, &job) {
            tracing::error!(job = job.id, "{e}");
        }
        return;
    }
    let outcome = {
        let roster = state.roster.read().expect("roster lock");
        job_outcome(job.id, status, job.report.as_ref(), &roster)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(job = job.id, "outcome not recordable: {e}");
            return;
        }
    };
    // Already on the ledger (the coordinator stopped before noting it): note it, never append
    // a second outcome, which the workers refuse.
    let recorded = state.ledger.lock().await.as_ref().and_then(|l| {
        l.entries()
            .iter()
            .find(|e| matches!(&e.body, EntryBody::JobOutcome(o) if o.job == job.id))
            .map(|e| e.height)
    });
    if let Some(height) = recorded {
        job.outcome_height = Some(height);
        if let Err(e) = state.jobs.put(&job) {
            tracing::error!(job = job.id, "{e}");
        }
        return;
    }
    match append(state, EntryBody::JobOutcome(outcome)).await {
        Ok(entry) => {
            job.outcome_height = Some(entry.height);
            if let Err(e) = put_job(state, &job) {
                tracing::error!(job = job.id, "{e}");
            }
        }
        Err(e) => tracing::warn!(job = job.id, "outcome not yet on the ledger: {e}"),
    }
}

/// Sends every pending two-phase decision to the workers that have not acknowledged it.
pub(super) async fn finish_pending(state: &Arc<State>) {
    let pending = match state.jobs.pending_finishes() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    if pending.is_empty() {
        return;
    }
    let n = state.roster.read().expect("roster lock").workers.len();
    let chain = chain(state).await;
    let clients = connect_workers(state).await;
    for (job, mut finish) in pending {
        for (id, client) in &clients {
            if finish.acked.contains(id) {
                continue;
            }
            let Ok(client) = client else { continue };
            let request = Request::FinishJob {
                job,
                session: finish.session,
                commit: finish.commit,
            };
            // A worker commits only once the job's outcome is on its replica.
            let limit = transport::CALL_TIMEOUT;
            match call_caught_up(client, *id, &request, &chain, state.page_bytes, limit).await {
                Ok(Response::Ok) => finish.acked.push(*id),
                Ok(other) => tracing::warn!(job, worker = id, "finish: {other:?}"),
                Err(e) => tracing::debug!(job, worker = id, "finish: {e}"),
            }
        }
        let done = finish.acked.len() >= n;
        if done && finish.commit {
            crash_after_commit(state, job);
        }
        let stored = if done {
            state.jobs.drop_finish(job)
        } else {
            state.jobs.put_finish(job, &finish)
        };
        if let Err(e) = stored {
            tracing::error!(job, "{e}");
        }
    }
    for (_, client) in clients {
        if let Ok(c) = client {
            tokio::spawn(c.close());
        }
    }
}

/// The test hook `QUORATE_TEST_CRASH_AFTER_COMMIT`: once every worker has committed a job's
/// updates, the coordinator forgets that the job ended (as a crash before recording it would
/// have left it under the old order of steps) and dies, so that an end-to-end test can check
/// that the restarted cluster applies the job once.
pub(super) fn crash_after_commit(state: &State, job: u64) {
    if std::env::var_os("QUORATE_TEST_CRASH_AFTER_COMMIT").is_none() {
        return;
    }
    if let Ok(Some(mut info)) = state.jobs.get(job) {
        info.state = JobState::Running;
        info.outcome_height = None;
        let _ = state.jobs.put(&info);
    }
    tracing::warn!(
        job,
        "QUORATE_TEST_CRASH_AFTER_COMMIT: dying after the commit, the job's end forgotten"
    );
    std::process::exit(86);
}
