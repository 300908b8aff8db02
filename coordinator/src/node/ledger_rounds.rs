//! The coordinator's ledger side: proposing an entry, gathering `t + 1` worker signatures for
//! it, catching the ledger up from the workers' replicas when a round falls short, and sending
//! appended entries to every replica. IO only: every decision of a signature round (final at
//! `t + 1`, a lagging replica caught up then asked again, refusals and bad signatures counted
//! and named, the deadline naming the silent workers) is the pure [`crate::quorum::Quorum`]'s,
//! and what follows a short round is [`crate::machine::after_short_round`]'s.

use super::*;
use crate::ledger::LedgerError;
use crate::transport::TransportError;

/// Why a step of a ledger round failed. Its text becomes a job report's message or a log
/// line, so each variant names the worker or the height.
#[derive(Debug, thiserror::Error)]
pub(super) enum LedgerRoundError {
    /// A worker could not be reached, or its call failed (the error names the worker).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A worker refused the entries its replica lacked.
    #[error("worker {worker}: catching up: {message}")]
    CatchUpRefused {
        /// The worker.
        worker: u16,
        /// Its refusal.
        message: String,
    },
    /// A worker answered out of turn.
    #[error("worker {worker}: {answer:?}")]
    Unexpected {
        /// The worker.
        worker: u16,
        /// Its answer.
        answer: Box<Response>,
    },
    /// The candidate entry could not be stored as pending.
    #[error("storing the candidate entry at height {height}: {source}")]
    StoreCandidate {
        /// The candidate's height.
        height: u64,
        /// The file system's error.
        source: std::io::Error,
    },
    /// A pending genesis of an older roster was dropped (the next round starts afresh).
    #[error("a pending genesis of another roster was dropped")]
    StaleGenesis,
    /// The genesis entry did not gather its signatures.
    #[error("{0}")]
    Unsigned(Unsigned),
    /// The ledger file could not be created.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A connection to every worker: `Err` names the worker that could not be reached.
pub(super) async fn connect_workers(
    state: &State,
) -> Vec<(u16, Result<ApiClient, TransportError>)> {
    let workers = state.roster.read().expect("roster lock").workers.clone();
    let tries = workers.into_iter().map(|w| {
        let identity = state.identity.clone();
        async move {
            let name = format!("worker {}", w.id);
            let c = ApiClient::connect(&identity, w.address, w.key, &name).await;
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
        *guard = Some(genesis(state).await.map_err(Unsigned::from_error)?);
    }
    let ledger = guard.as_mut().expect("just created");
    let pending = Pending::in_dir(&state.data_dir);
    loop {
        // A candidate some workers may have signed is proposed again, unchanged, first.
        let (mut entry, again) = pending.proposal(Some(&ledger.head()), || {
            ledger.candidate(now_ms().max(ledger.head().time), body.clone())
        });
        let mine = !again || entry.body == body;
        propose(&pending, &entry, again).map_err(Unsigned::from_error)?;
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
pub(super) fn propose(
    pending: &Pending,
    entry: &Entry,
    again: bool,
) -> Result<(), LedgerRoundError> {
    if again {
        tracing::info!(
            height = entry.height,
            "proposing the pending ledger entry again"
        );
        return Ok(());
    }
    pending
        .save(entry)
        .map_err(|source| LedgerRoundError::StoreCandidate {
            height: entry.height,
            source,
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

impl Unsigned {
    /// A round that failed on its own IO (not refused: asking again may help).
    fn from_error(e: LedgerRoundError) -> Self {
        Unsigned::from(e.to_string())
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
pub(super) async fn genesis(state: &Arc<State>) -> Result<Ledger, LedgerRoundError> {
    let roster = state.roster.read().expect("roster lock").ledger_roster();
    let pending = Pending::in_dir(&state.data_dir);
    let (mut entry, again) = pending.proposal(None, || Entry::genesis(now_ms(), roster.clone()));
    if again && entry.body != EntryBody::Genesis(roster.clone()) {
        // A genesis of an older roster was never appended: start from this one.
        let _ = pending.clear();
        return Err(LedgerRoundError::StaleGenesis);
    }
    propose(&pending, &entry, again)?;
    entry.signatures =
        settle(&pending, gather(state, &entry, &[]).await).map_err(LedgerRoundError::Unsigned)?;
    let ledger = Ledger::create(&state.data_dir, entry.clone())?;
    let _ = pending.clear();
    tracing::info!(
        "ledger created (genesis signed by {} workers)",
        entry.signatures.len()
    );
    tokio::spawn(publish(state.clone(), vec![entry]));
    Ok(ledger)
}

/// Asks every worker to sign `entry`; a worker whose replica is behind gets the entries it
/// lacks from `chain` first. Succeeds with at least `t + 1` signatures. Every decision is the
/// round machine's ([`Quorum`]): this loop only carries out its steps (one conversation per
/// worker), feeds it each reply, and the deadline.
pub(super) async fn gather(
    state: &Arc<State>,
    entry: &Entry,
    chain: &[Entry],
) -> Result<Vec<WorkerSignature>, Unsigned> {
    let (quorum, workers) = {
        let roster = state.roster.read().expect("roster lock");
        (roster.threshold as usize + 1, roster.workers.clone())
    };
    let keys: Vec<(u16, crate::keys::PublicKey)> = workers.iter().map(|w| (w.id, w.key)).collect();
    let limit_ms = SIGN_TIMEOUT.as_millis() as u64;
    let (mut round, mut steps) = Quorum::new(entry, quorum, &keys, now_ms(), limit_ms);
    let deadline = tokio::time::Instant::now() + SIGN_TIMEOUT;
    let (replies_to, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let mut conversations = std::collections::BTreeMap::new();
    for w in workers {
        let (commands_to, commands) = tokio::sync::mpsc::unbounded_channel();
        conversations.insert(w.id, commands_to);
        let conversation = Conversation {
            identity: state.identity.clone(),
            entry: entry.clone(),
            chain: chain.to_vec(),
            page_bytes: state.page_bytes,
        };
        tokio::spawn(conversation.run(w, commands, replies_to.clone()));
    }
    drop(replies_to);
    loop {
        for step in std::mem::take(&mut steps) {
            match step {
                SignStep::Ask(id) => {
                    let _ = conversations[&id].send(Command::Ask);
                }
                SignStep::SendEntries { worker, from } => {
                    let _ = conversations[&worker].send(Command::SendEntries { from });
                }
                SignStep::Decided(Decision::Final(signatures)) => {
                    if !round.refusals().is_empty() {
                        tracing::warn!(
                            height = entry.height,
                            "entry signed without some workers: {}",
                            round.refusals().join("; ")
                        );
                    }
                    return Ok(signatures);
                }
                SignStep::Decided(Decision::Short { message, refused }) => {
                    return Err(Unsigned { message, refused });
                }
            }
        }
        steps = tokio::select! {
            Some((id, reply)) = replies.recv() => round.reply(id, reply),
            () = tokio::time::sleep_until(deadline) => round.tick(now_ms().max(round.deadline_ms())),
        };
    }
}

/// What the round asks of one worker's conversation.
enum Command {
    /// Ask it to sign the entry.
    Ask,
    /// Send it the entries from height `from` on.
    SendEntries { from: u64 },
}

/// One worker's side of a signature round: IO only.
struct Conversation {
    identity: Identity,
    entry: Entry,
    chain: Vec<Entry>,
    page_bytes: usize,
}

impl Conversation {
    /// Connects to worker `w`, then carries out each command, sending back what happened,
    /// until the round is over (the commands end).
    async fn run(
        self,
        w: crate::roster::WorkerEntry,
        mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
        replies: tokio::sync::mpsc::UnboundedSender<(u16, Reply)>,
    ) {
        let id = w.id;
        let name = format!("worker {id}");
        let client = match ApiClient::connect(&self.identity, w.address, w.key, &name).await {
            Ok(c) => c,
            Err(e) => {
                let _ = replies.send((id, Reply::Failed(e.to_string())));
                return;
            }
        };
        while let Some(command) = commands.recv().await {
            let reply = match command {
                Command::Ask => self.ask(&client, id).await,
                Command::SendEntries { from } => {
                    match send_entries(&client, id, &self.chain, from, self.page_bytes).await {
                        Ok(()) => Reply::CaughtUp,
                        Err(e) => Reply::Failed(e.to_string()),
                    }
                }
            };
            if replies.send((id, reply)).is_err() {
                break;
            }
        }
        // The close drains in the background: nothing waits for it.
        tokio::spawn(client.close());
    }

    /// Worker `id`'s answer to `SignEntry`, as the round machine reads it.
    async fn ask(&self, client: &ApiClient, id: u16) -> Reply {
        let request = Request::SignEntry(self.entry.clone());
        match client.call_within(&request, transport::CALL_TIMEOUT).await {
            Ok(Response::Signature(s)) => Reply::Signed(s),
            Ok(Response::Behind { height }) => Reply::Behind { height },
            Ok(Response::Error {
                kind: ErrorKind::Forbidden,
                message,
            }) => Reply::Refused(format!("worker {id}: {message}")),
            Ok(Response::Error { message, .. }) => Reply::Failed(format!("worker {id}: {message}")),
            Ok(other) => Reply::Failed(format!("worker {id}: unexpected {other:?}")),
            Err(e) => Reply::Failed(e.to_string()),
        }
    }
}

/// Sends worker `id` the entries of `chain` from height `from` on, in pages of at most
/// `page_bytes`.
pub(super) async fn send_entries(
    client: &ApiClient,
    id: u16,
    chain: &[Entry],
    mut from: u64,
    page_bytes: usize,
) -> Result<(), LedgerRoundError> {
    loop {
        let missing = crate::ledger::page(chain, from, page_bytes);
        if missing.is_empty() {
            return Ok(());
        }
        from += missing.len() as u64;
        match client.call(&Request::AppendEntries(missing.to_vec())).await {
            Ok(Response::Ok) => {}
            Ok(Response::Error { message, .. }) => {
                return Err(LedgerRoundError::CatchUpRefused {
                    worker: id,
                    message,
                });
            }
            Ok(other) => {
                return Err(LedgerRoundError::Unexpected {
                    worker: id,
                    answer: Box::new(other),
                });
            }
            Err(e) => return Err(e.into()),
        }
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
) -> Result<Response, LedgerRoundError> {
    let mut caught_up = false;
    loop {
        match client.call_within(request, limit).await {
            Ok(Response::Behind { height }) if !caught_up => {
                let from = height.map_or(0, |h| h + 1);
                send_entries(client, id, chain, from, page_bytes).await?;
                caught_up = true;
            }
            Ok(r) => return Ok(r),
            Err(e) => return Err(e.into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::{ClusterRoster, CoordinatorEntry};
    use rand::SeedableRng;

    #[test]
    fn a_candidate_that_cannot_be_stored_is_refused_naming_its_height() {
        let key = Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(1)).public_key();
        let roster = ClusterRoster {
            threshold: 1,
            coordinator: CoordinatorEntry {
                address: "127.0.0.1:1".parse().unwrap(),
                key,
            },
            workers: Vec::new(),
            clients: Vec::new(),
        };
        let entry = Entry::genesis(1, roster.ledger_roster());
        // The data folder is a file: nothing can be written under it.
        let file = std::env::temp_dir().join(format!("quorate-propose-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let err = propose(&Pending::in_dir(&file), &entry, false).unwrap_err();
        let _ = std::fs::remove_file(&file);
        assert!(
            matches!(err, LedgerRoundError::StoreCandidate { height: 0, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("storing the candidate entry at height 0: "),
            "{err}"
        );
        // Proposed again, it is already stored: nothing is written.
        assert!(propose(&Pending::in_dir(&file), &entry, true).is_ok());
    }
}
