//! The coordinator's ledger side: proposing an entry, gathering `t + 1` worker signatures for
//! it (the round's rules are [`crate::quorum`]'s), catching the ledger up from the workers'
//! replicas when a round falls short ([`crate::machine::after_short_round`]), and sending
//! appended entries to every replica. IO only: what to decide is in the pure modules.

use super::*;

/// A connection to every worker: `Err` names the worker that could not be reached.
pub(super) async fn connect_workers(state: &State) -> Vec<(u16, Result<ApiClient, String>)> {
    let workers = state.roster.read().expect("roster lock").workers.clone();
    let tries = workers.into_iter().map(|w| {
        let identity = state.identity.clone();
        async move {
            let name = format!("worker {}", w.id);
            let c = ApiClient::connect(&identity, w.address, w.key, &name)
                .await
                .map_err(|e| e.to_string());
            (w.id, c)
        }
    });
    futures_join_all(tries).await
}

/// Awaits every future, in order (a tiny `join_all`, to avoid a dependency for one function).
pub(super) async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a worker call panicked"));
    }
    out
}

/// Appends `body` to the ledger with `t + 1` worker signatures (see the module doc). Creates
/// the genesis entry first when there is none.
pub(super) async fn append(state: &Arc<State>, body: EntryBody) -> Result<Entry, Unsigned> {
    let mut guard = state.ledger.lock().await;
    if guard.is_none() {
        *guard = Some(genesis(state).await.map_err(Unsigned::from)?);
    }
    let ledger = guard.as_mut().expect("just created");
    let pending = Pending::in_dir(&state.data_dir);
    loop {
        // A candidate some workers may have signed is proposed again, unchanged, first.
        let (mut entry, again) = pending.proposal(Some(&ledger.head()), || {
            ledger.candidate(now_ms().max(ledger.head().time), body.clone())
        });
        let mine = !again || entry.body == body;
        propose(&pending, &entry, again).map_err(Unsigned::from)?;
        entry.signatures = match settle(&pending, gather(state, &entry, ledger.entries()).await) {
            Ok(signatures) => signatures,
            // Short: the workers' replicas may hold entries this ledger lost (a cut tail):
            // catch up from them, then propose on the new head.
            Err(e) => match after_short_round(catch_up_ledger(state, ledger).await) {
                AfterShort::GiveUp => return Err(e),
                AfterShort::ProposeAgain => continue,
            },
        };
        ledger
            .append(entry.clone())
            .map_err(|e| Unsigned::from(e.to_string()))?;
        let _ = pending.clear();
        tokio::spawn(publish(state.clone(), vec![entry.clone()]));
        if mine {
            return Ok(entry);
        }
    }
}

/// Stores a fresh candidate as pending before any worker sees it.
pub(super) fn propose(pending: &Pending, entry: &Entry, again: bool) -> Result<(), String> {
    if again {
        tracing::info!(
            height = entry.height,
            "proposing the pending ledger entry again"
        );
        return Ok(());
    }
    pending.save(entry).map_err(|e| {
        format!(
            "storing the candidate entry at height {}: {e}",
            entry.height
        )
    })
}

/// A gathering's signatures; a candidate refused on its content stops being pending.
pub(super) fn settle(
    pending: &Pending,
    gathered: Result<Vec<WorkerSignature>, Unsigned>,
) -> Result<Vec<WorkerSignature>, Unsigned> {
    gathered.inspect_err(|g| {
        if g.refused {
            let _ = pending.clear();
        }
    })
}

/// Why an entry did not reach the ledger.
#[derive(Debug)]
pub(super) struct Unsigned {
    pub(super) message: String,
    /// Workers refused it (rather than being unreachable): asking again will not help.
    pub(super) refused: bool,
}

impl From<String> for Unsigned {
    fn from(message: String) -> Self {
        Unsigned {
            message,
            refused: false,
        }
    }
}

impl std::fmt::Display for Unsigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Appends to `ledger` the quorum-signed entries above its head that the workers' replicas
/// hold ([`crate::ledger::catchup`]); returns how many.
pub(super) async fn catch_up_ledger(state: &Arc<State>, ledger: &mut Ledger) -> usize {
    let workers = state.roster.read().expect("roster lock").workers.clone();
    let ids: Vec<u16> = workers.iter().map(|w| w.id).collect();
    let fetch = |id: u16, from: u64| {
        let w = workers.iter().find(|w| w.id == id).cloned();
        let identity = state.identity.clone();
        async move {
            let w = w.ok_or("not in the roster")?;
            let client = ApiClient::connect(&identity, w.address, w.key, &format!("worker {id}"))
                .await
                .map_err(|e| e.to_string())?;
            let answer = client.call(&Request::LedgerEntries { from }).await;
            client.close().await;
            match answer.map_err(|e| e.to_string())? {
                Response::Entries(entries) => Ok(entries),
                other => Err(format!("{other:?}")),
            }
        }
    };
    let done = crate::ledger::catchup::catch_up(ledger, &ids, fetch).await;
    if done.appended > 0 {
        tracing::warn!(
            appended = done.appended,
            height = ledger.head().height,
            "the ledger was behind the workers' replicas: caught up"
        );
    }
    if !done.skipped.is_empty() {
        tracing::info!("catching up the ledger skipped {}", done.skipped.join("; "));
    }
    done.appended
}

/// The genesis entry, signed by a quorum, written to disk.
pub(super) async fn genesis(state: &Arc<State>) -> Result<Ledger, String> {
    let roster = state.roster.read().expect("roster lock").ledger_roster();
    let pending = Pending::in_dir(&state.data_dir);
    let (mut entry, again) = pending.proposal(None, || Entry::genesis(now_ms(), roster.clone()));
    if again && entry.body != EntryBody::Genesis(roster.clone()) {
        // A genesis of an older roster was never appended: start from this one.
        let _ = pending.clear();
        return Err("a pending genesis of another roster was dropped".into());
    }
    propose(&pending, &entry, again)?;
    entry.signatures = settle(&pending, gather(state, &entry, &[]).await).map_err(|e| e.message)?;
    let ledger = Ledger::create(&state.data_dir, entry.clone()).map_err(|e| e.to_string())?;
    let _ = pending.clear();
    tracing::info!(
        "ledger created (genesis signed by {} workers)",
        entry.signatures.len()
    );
    tokio::spawn(publish(state.clone(), vec![entry]));
    Ok(ledger)
}

/// Asks every worker to sign `entry`; a worker whose replica is behind gets the entries it
/// lacks from `chain` first. Succeeds with at least `t + 1` signatures.
pub(super) async fn gather(
    state: &Arc<State>,
    entry: &Entry,
    chain: &[Entry],
) -> Result<Vec<WorkerSignature>, Unsigned> {
    let page_bytes = state.page_bytes;
    let (quorum, workers) = {
        let roster = state.roster.read().expect("roster lock");
        (roster.threshold as usize + 1, roster.workers.clone())
    };
    let n = workers.len();
    let (answers, mut results) = tokio::sync::mpsc::channel(workers.len());
    for w in workers {
        let (entry, chain, identity, answers) = (
            entry.clone(),
            chain.to_vec(),
            state.identity.clone(),
            answers.clone(),
        );
        let id = w.id;
        tokio::spawn(async move {
            let ask = async {
                let client =
                    ApiClient::connect(&identity, w.address, w.key, &format!("worker {id}"))
                        .await
                        .map_err(|e| (false, e.to_string()))?;
                let r = ask_signature(&client, id, &entry, &chain, page_bytes).await;
                // The close drains in the background: the answer does not wait for it.
                tokio::spawn(client.close());
                r
            };
            let result = tokio::time::timeout(SIGN_TIMEOUT, ask)
                .await
                .unwrap_or_else(|_| {
                    Err((
                        false,
                        format!(
                            "worker {id}: no signature within {} s",
                            SIGN_TIMEOUT.as_secs()
                        ),
                    ))
                });
            let _ = answers.send(result).await;
        });
    }
    drop(answers);
    // The round's rules are the pure state machine's (`crate::quorum`): final at t + 1, short
    // as soon as the rest cannot make it; this loop only feeds it the answers.
    let mut round = Quorum::new(entry, quorum, n);
    while let Some(r) = results.recv().await {
        let answer = match r {
            Ok(s) => Answer::Signed(s),
            Err((true, why)) => Answer::Refused(why),
            Err((false, why)) => Answer::Failed(why),
        };
        match round.answer(answer) {
            Decision::Pending => {}
            Decision::Final(signatures) => {
                if !round.refusals().is_empty() {
                    tracing::warn!(
                        height = entry.height,
                        "entry signed without some workers: {}",
                        round.refusals().join("; ")
                    );
                }
                return Ok(signatures);
            }
            Decision::Short { message, refused } => return Err(Unsigned { message, refused }),
        }
    }
    Err(Unsigned::from(format!(
        "the signature round at height {} ended without a decision",
        entry.height
    )))
}

/// One worker's signature over `entry`, sending it the entries of `chain` it lacks first (in
/// pages of at most `page_bytes`). An error says whether the worker refused (`true`) and why.
pub(super) async fn ask_signature(
    client: &ApiClient,
    id: u16,
    entry: &Entry,
    chain: &[Entry],
    page_bytes: usize,
) -> Result<WorkerSignature, (bool, String)> {
    let request = Request::SignEntry(entry.clone());
    match call_caught_up(
        client,
        id,
        &request,
        chain,
        page_bytes,
        transport::CALL_TIMEOUT,
    )
    .await
    {
        Ok(Response::Signature(s)) if s.worker == id => Ok(s),
        Ok(Response::Error {
            kind: ErrorKind::Forbidden,
            message,
        }) => Err((true, format!("worker {id}: {message}"))),
        Ok(Response::Error { message, .. }) => Err((false, format!("worker {id}: {message}"))),
        Ok(other) => Err((false, format!("worker {id}: unexpected {other:?}"))),
        Err(e) => Err((false, e)),
    }
}

/// Sends `request` to worker `id` (answered within `limit`); if its replica is behind, sends
/// it the entries of `chain` it lacks (in pages of at most `page_bytes`) and asks once more.
pub(super) async fn call_caught_up(
    client: &ApiClient,
    id: u16,
    request: &Request,
    chain: &[Entry],
    page_bytes: usize,
    limit: Duration,
) -> Result<Response, String> {
    let mut caught_up = false;
    loop {
        match client.call_within(request, limit).await {
            Ok(Response::Behind { height }) if !caught_up => {
                let mut from = height.map_or(0, |h| h + 1);
                loop {
                    let missing = crate::ledger::page(chain, from, page_bytes);
                    if missing.is_empty() {
                        break;
                    }
                    from += missing.len() as u64;
                    match client.call(&Request::AppendEntries(missing.to_vec())).await {
                        Ok(Response::Ok) => {}
                        Ok(Response::Error { message, .. }) => {
                            return Err(format!("worker {id}: catching up: {message}"));
                        }
                        Ok(other) => return Err(format!("worker {id}: {other:?}")),
                        Err(e) => return Err(e.to_string()),
                    }
                }
                caught_up = true;
            }
            Ok(r) => return Ok(r),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Sends appended entries to every worker's replica (best effort: a worker that misses them
/// catches up at the next signature round).
pub(super) async fn publish(state: Arc<State>, entries: Vec<Entry>) {
    let clients = connect_workers(&state).await;
    let sends = clients.into_iter().map(|(id, client)| {
        let entries = entries.clone();
        async move {
            let Ok(client) = client else { return };
            match client.call(&Request::AppendEntries(entries)).await {
                Ok(Response::Ok) => {}
                Ok(other) => tracing::debug!(worker = id, "replica append: {other:?}"),
                Err(e) => tracing::debug!(worker = id, "replica append: {e}"),
            }
            client.close().await;
        }
    });
    futures_join_all(sends).await;
}
