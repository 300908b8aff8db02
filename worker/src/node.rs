//! The worker process: it serves the control plane (uploads, listings, read-backs) to the
//! roster's clients and coordinator, joins the QUIC mesh of workers for jobs, and shuts down
//! cleanly when told.
//!
//! The node only does IO: every request is routed and authorized by the
//! [`Service`](crate::service::Service), from the [`Caller`](coordinator::roster::Caller) the
//! connection's key makes; a connection whose key the roster does not hold is closed.
//!
//! Startup aborts uploads that were staged but never prepared (their client saw the failure);
//! a *prepared* upload is kept until its client commits or aborts it, as two-phase commit
//! requires, or until it expires (`upload_expiry_s`). The roster file is re-read when it changes, so a client registered with
//! `quorate identity new` is accepted without a restart.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use coordinator::api::{ErrorKind, Response};
use coordinator::roster::ClusterRoster;
use coordinator::transport;
use mpc::identity::Identity;
use mpc::quic::Peer;

use crate::config::WorkerConfig;
use crate::mesh::MeshSlot;
use crate::service::{Handled, JobCall, Service};
use crate::store::ShareStore;

/// How often unfinished uploads are checked for expiry.
const EXPIRY_SWEEP: Duration = Duration::from_secs(30);

/// Why a worker could not start or stopped; each names the file, folder or id at fault.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration file could not be loaded.
    #[error("worker: {0}")]
    Config(#[from] coordinator::roster::ConfigError),
    /// The roster file could not be loaded.
    #[error("worker: {0}")]
    Roster(#[from] coordinator::roster::RosterError),
    /// The configured id is not a worker of the roster.
    #[error("worker: worker id {id} is not in the roster ({workers} workers)")]
    NotInRoster {
        /// The configured id.
        id: u16,
        /// Workers the roster lists.
        workers: usize,
    },
    /// The key file could not be read.
    #[error("worker: {}: {source}", path.display())]
    Identity {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: mpc::identity::IdentityError,
    },
    /// The key file holds another key than the roster lists for this worker.
    #[error("worker: {} holds key {}, but the roster lists worker {id} with key {}", path.display(), held.fingerprint(), listed.fingerprint())]
    WrongKey {
        /// The key file.
        path: PathBuf,
        /// The key it holds.
        held: mpc::identity::PublicKey,
        /// This worker's id.
        id: u16,
        /// The key the roster lists.
        listed: mpc::identity::PublicKey,
    },
    /// The data folder could not be made private.
    #[error("worker: {}: {source}", path.display())]
    DataDir {
        /// The folder or file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The share store could not be opened or recovered.
    #[error("worker: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The ledger replica could not be opened.
    #[error("worker: ledger replica in {}: {source}", dir.display())]
    Replica {
        /// The data folder.
        dir: PathBuf,
        /// Why.
        source: crate::replica::ReplicaError,
    },
    /// The control-plane endpoint could not be set up.
    #[error("worker: {0}")]
    Endpoint(#[from] transport::TransportError),
}

/// Runs the worker configured in `config_path` until `shutdown` resolves.
pub async fn run(config_path: &Path, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let config = WorkerConfig::load(config_path)?;
    let roster = ClusterRoster::load(&config.roster)?;
    let me = roster
        .workers
        .get(config.id as usize)
        .ok_or(NodeError::NotInRoster {
            id: config.id,
            workers: roster.workers.len(),
        })?
        .clone();
    let identity = Identity::read_file(&config.identity).map_err(|source| NodeError::Identity {
        path: config.identity.clone(),
        source,
    })?;
    if identity.public_key() != me.key {
        return Err(NodeError::WrongKey {
            path: config.identity.clone(),
            held: identity.public_key(),
            id: me.id,
            listed: me.key,
        });
    }
    // Shares, outputs and the ledger replica: readable by this user only.
    let private = |path: PathBuf| move |source| NodeError::DataDir { path, source };
    coordinator::files::private_dir(&config.data_dir).map_err(private(config.data_dir.clone()))?;
    let store = ShareStore::open(&config.data_dir)?;
    let shares = config.data_dir.join("shares.redb");
    coordinator::files::restrict(&shares).map_err(private(shares.clone()))?;
    let replica =
        crate::replica::Replica::open(config.data_dir.clone(), me.id, identity.clone(), &roster)
            .map_err(|source| NodeError::Replica {
                dir: config.data_dir.clone(),
                source,
            })?;
    let roster = Arc::new(RwLock::new(roster));
    let service = Arc::new(
        Service::new(format!("worker {}", me.id), store)
            .with_ledger(replica, roster.clone())
            .with_upload_expiry(Duration::from_secs(config.upload_expiry_s)),
    );
    let aborted = service.recover()?;
    if aborted > 0 {
        tracing::info!(
            worker = me.id,
            aborted,
            "aborted uploads left unprepared by a restart"
        );
    }

    let endpoint = transport::server_endpoint(
        &identity,
        me.address,
        &roster.read().expect("roster lock").control_keys(),
    )?;
    tracing::info!(worker = me.id, control = %me.address, mesh = %me.mesh, "worker started");

    // The mesh forms in the background: uploads do not need it, jobs do.
    let peers: Vec<Peer> = roster
        .read()
        .expect("roster lock")
        .workers
        .iter()
        .map(|w| Peer {
            key: w.key,
            addr: w.mesh,
        })
        .collect();
    let mesh = Arc::new(MeshSlot::new(
        mpc::PartyId(me.id),
        identity.clone(),
        me.mesh,
        config.mesh.clone(),
        peers,
    ));
    let my_id = me.id;
    mesh.form_at_startup();

    let params = roster.read().expect("roster lock").params();
    let limits = config.limits;
    let attempts = Arc::new(crate::attempts::Attempts::default());
    let reload = {
        let roster = roster.clone();
        tokio::spawn(transport::watch_roster(
            config.roster.clone(),
            identity.clone(),
            endpoint.clone(),
            ClusterRoster::control_keys,
            move |fresh| *roster.write().expect("roster lock") = fresh,
        ))
    };
    let expiry = {
        let service = service.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(EXPIRY_SWEEP).await;
                let service = service.clone();
                let swept = tokio::task::spawn_blocking(move || {
                    service.expire_uploads(std::time::Instant::now())
                })
                .await;
                match swept {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(
                        worker = my_id,
                        expired = n,
                        "unfinished uploads expired and dropped"
                    ),
                    Ok(Err(e)) => tracing::warn!(worker = my_id, "upload expiry: {e}"),
                    Err(e) => tracing::warn!(worker = my_id, "upload expiry: {e}"),
                }
            }
        })
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let (service, roster, mesh) = (service.clone(), roster.clone(), mesh.clone());
                let attempts = attempts.clone();
                tokio::spawn(async move {
                    let conn = match incoming.await {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!("control connection refused or failed: {e}");
                            return;
                        }
                    };
                    let Some(key) = transport::peer_key(&conn) else { return };
                    // Who the caller is comes from its key alone.
                    let Some(caller) = roster.read().expect("roster lock").caller(&key) else {
                        conn.close(quinn::VarInt::from_u32(1), b"unknown key");
                        return;
                    };
                    tracing::debug!(peer = %caller, "control connection");
                    transport::serve_connection(conn, move |request| {
                        let (service, caller, mesh, attempts) = (service.clone(), caller.clone(), mesh.clone(), attempts.clone());
                        async move {
                            let routed = {
                                let service = service.clone();
                                tokio::task::spawn_blocking(move || service.handle(&caller, request)).await
                            };
                            match routed {
                                Ok(Handled::Done(response)) => response,
                                Ok(Handled::RunJob(call)) => {
                                    // Only the coordinator's runs get here; a newer attempt of a job
                                    // cancels an older one still running (crate::attempts).
                                    let (job, session) = (call.job, call.session);
                                    let attempt = async move { run_job(&service, &mesh, params, &limits, call).await };
                                    attempts.run(job, session, attempt).await
                                }
                                Err(e) => Response::error(ErrorKind::Internal, format!("handler failed: {e}")),
                            }
                        }
                    })
                    .await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!(worker = me.id, "shutting down");
    reload.abort();
    expiry.abort();
    endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
    mesh.shutdown().await;
    Ok(())
}

/// Runs one job as this worker, in mesh session `call.session` (the service allowed it).
async fn run_job(
    service: &Service,
    mesh: &MeshSlot,
    params: mpc::Params,
    limits: &protocols::stats::cost::Limits,
    call: JobCall,
) -> Response {
    let JobCall {
        job,
        session,
        mesh: epoch,
        spec,
        protocol,
        security,
    } = call;
    let session_id = session;
    let session = match mesh.session(epoch, session_id).await {
        Ok(s) => s,
        // No mesh for this epoch: the coordinator tries again in a new one.
        Err(e) => return Response::error(ErrorKind::Unavailable, format!("job {job}: {e}")),
    };
    let seed: [u8; 32] = rand::random();
    let config = mpc::EngineConfig {
        mul: protocol,
        check_openings: true,
        security,
        ..Default::default()
    };
    let mut engine = match mpc::Engine::new(session, params, config, seed) {
        Ok(e) => e,
        Err(e) => return Response::error(ErrorKind::Internal, format!("job {job}: {e}")),
    };
    reset_peak_memory();
    tracing::info!(job, kind = spec.kind(), "job started");
    let started = std::time::Instant::now();
    // The privacy budget spent so far, from this worker's own replica, and the jobs whose
    // reserved spends it now counts (crate::admission_budget).
    use coordinator::ledger::budget;
    let (spending, ended) = service
        .replica()
        .map(|r| r.admit(|chain| (budget::spending(chain), budget::ended(chain))))
        .unwrap_or_default();
    let admission = crate::executor::Admission {
        job,
        spending: &spending,
        ended: &ended,
        reservations: service.reservations(),
    };
    let execution =
        crate::executor::execute_admitted(&mut engine, service.store(), &spec, limits, &admission);
    let computed = match crate::memory::capped(limits.max_job_memory_mib, execution).await {
        Ok((output, spent)) => {
            crate::jobs::keep_outputs(&mut engine, service.store(), job, session_id, output, spent)
                .await
        }
        Err(e) => Err(e),
    };
    if let Some(hold) = hold_report() {
        // Fault injection for end-to-end tests: everything is computed and staged, the
        // coordinator has not heard yet.
        tracing::info!(
            job,
            "holding the report for {} ms (QUORATE_TEST_HOLD_REPORT_MS)",
            hold.as_millis()
        );
        tokio::time::sleep(hold).await;
    }
    match computed {
        Ok(report) => {
            let stats = engine.stats();
            tracing::info!(
                job,
                rounds = stats.rounds,
                bytes_sent = stats.net.bytes_sent,
                peak_rss_mb = peak_memory_kb().map_or(0, |kb| kb / 1024),
                compute_ms = started.elapsed().as_millis() as u64,
                "job done"
            );
            Response::JobReport(report)
        }
        Err(e) => {
            service.reservations().release(job);
            tracing::warn!(job, "job failed: {e}");
            let kind = match e {
                crate::executor::ExecError::Refused(_) => ErrorKind::Refused,
                // A peer left the mesh during the job: the job itself may be fine.
                _ if !mesh.departed().await.is_empty() => ErrorKind::Unavailable,
                _ => ErrorKind::BadRequest,
            };
            Response::error(kind, format!("job {job}: {e}"))
        }
    }
}

/// Resets the process's peak resident set (`VmHWM`) on Linux, so that the peak read when a job
/// ends is the job's (or the largest of jobs running at once); elsewhere nothing.
fn reset_peak_memory() {
    // "5" resets the peak RSS (proc(5), /proc/pid/clear_refs); failure only loses the figure.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set since the last reset, in KiB (`None` off Linux).
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The test hook `QUORATE_TEST_HOLD_REPORT_MS`: how long to wait between computing a job and
/// reporting it, so a test can kill a worker while every worker holds a staged result. Only
/// debug builds (what `cargo test` runs) read it; a release binary has no such hook.
#[cfg(not(debug_assertions))]
fn hold_report() -> Option<Duration> {
    None
}

/// The test hook `QUORATE_TEST_HOLD_REPORT_MS` (debug builds only, see above).
#[cfg(debug_assertions)]
fn hold_report() -> Option<Duration> {
    std::env::var("QUORATE_TEST_HOLD_REPORT_MS")
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}
