//! The worker process: it serves the control plane (uploads, listings, read-backs) to the
//! roster's clients and coordinator, joins the QUIC mesh of workers for jobs, and shuts down
//! cleanly when told.
//!
//! Startup aborts uploads that were staged but never prepared (their client saw the failure);
//! a *prepared* upload is kept until its client commits or aborts it, as two-phase commit
//! requires. The roster file is re-read when it changes, so a client registered with
//! `quorate identity new` is accepted without a restart.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use coordinator::api::{ErrorKind, Request, Response};
use coordinator::roster::ClusterRoster;
use coordinator::transport;
use mpc::identity::Identity;
use mpc::quic::Peer;

use crate::config::WorkerConfig;
use crate::mesh::MeshSlot;
use crate::service::Service;
use crate::store::ShareStore;

/// Why a worker could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[error("worker: {0}")]
pub struct NodeError(pub String);

fn err(e: impl std::fmt::Display) -> NodeError {
    NodeError(e.to_string())
}

/// Runs the worker configured in `config_path` until `shutdown` resolves.
pub async fn run(config_path: &Path, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let config = WorkerConfig::load(config_path).map_err(NodeError)?;
    let roster = ClusterRoster::load(&config.roster).map_err(err)?;
    let me = roster
        .workers
        .get(config.id as usize)
        .ok_or_else(|| {
            NodeError(format!(
                "worker id {} is not in the roster ({} workers)",
                config.id,
                roster.workers.len()
            ))
        })?
        .clone();
    let identity = Identity::read_file(&config.identity)
        .map_err(|e| NodeError(format!("{}: {e}", config.identity.display())))?;
    if identity.public_key() != me.key {
        return Err(NodeError(format!(
            "{} holds key {}, but the roster lists worker {} with key {}",
            config.identity.display(),
            identity.public_key().fingerprint(),
            me.id,
            me.key.fingerprint()
        )));
    }
    let store = ShareStore::open(&config.data_dir).map_err(err)?;
    for staged in store.staged_uploads().map_err(err)? {
        if !staged.prepared {
            tracing::info!(worker = me.id, upload = %staged.upload, "aborting an upload left unprepared by a restart");
            store.abort(&staged.upload).map_err(err)?;
        }
    }
    let service = Arc::new(Service::new(format!("worker {}", me.id), store));
    let replica = Arc::new(
        crate::jobs::Replica::open(config.data_dir.clone(), &roster).map_err(|e| {
            NodeError(format!(
                "ledger replica in {}: {e}",
                config.data_dir.display()
            ))
        })?,
    );
    let roster = Arc::new(RwLock::new(roster));

    let endpoint = transport::server_endpoint(
        &identity,
        me.address,
        &roster.read().expect("roster lock").control_keys(),
    )
    .map_err(err)?;
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
    {
        let mesh = mesh.clone();
        tokio::spawn(async move {
            if let Err(e) = mesh.ensure().await {
                tracing::warn!(worker = my_id, "{e} (tried again before the next job)");
            }
            mesh.heal().await;
        });
    }

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
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let (service, roster, mesh) = (service.clone(), roster.clone(), mesh.clone());
                let (replica, identity, attempts) = (replica.clone(), identity.clone(), attempts.clone());
                tokio::spawn(async move {
                    let conn = match incoming.await {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!("control connection refused or failed: {e}");
                            return;
                        }
                    };
                    let Some(key) = transport::peer_key(&conn) else { return };
                    let name = {
                        let r = roster.read().expect("roster lock");
                        if key == r.coordinator.key { "coordinator".to_string() } else { r.client_by_key(&key).unwrap_or("").to_string() }
                    };
                    tracing::debug!(peer = %name, "control connection");
                    transport::serve_connection(conn, move |request| {
                        let (service, name, mesh, params) = (service.clone(), name.clone(), mesh.clone(), params);
                        let (replica, identity, roster) = (replica.clone(), identity.clone(), roster.clone());
                        let attempts = attempts.clone();
                        async move {
                            match request {
                                Request::RunJob { job, session, spec, protocol } => {
                                    let call = JobCall { job, session, spec, protocol };
                                    if name != "coordinator" {
                                        // Refused inside, and never allowed to cancel an attempt.
                                        return run_job(&service, &name, &mesh, params, &limits, call).await;
                                    }
                                    let attempt = async move { run_job(&service, &name, &mesh, params, &limits, call).await };
                                    return attempts.run(job, session, attempt).await;
                                }
                                Request::SignEntry(entry) if name == "coordinator" => {
                                    let roster = roster.read().expect("roster lock").clone();
                                    let (replica, identity, service) = (replica.clone(), identity.clone(), service.clone());
                                    return blocking(move || replica.sign(&identity, my_id, &roster, service.store(), &entry)).await;
                                }
                                Request::AppendEntries(entries) if name == "coordinator" => {
                                    let replica = replica.clone();
                                    return blocking(move || replica.append(entries)).await;
                                }
                                Request::FinishJob { job, session, commit } if name == "coordinator" => {
                                    let service = service.clone();
                                    return blocking(move || crate::jobs::finish(service.store(), job, session, commit)).await;
                                }
                                Request::LedgerEntries { from } if name == "coordinator" => {
                                    let replica = replica.clone();
                                    return blocking(move || replica.entries_from(from)).await;
                                }
                                Request::SignEntry(_) | Request::AppendEntries(_) | Request::FinishJob { .. } => {
                                    return Response::error(ErrorKind::Forbidden, "only the coordinator writes the ledger and finishes jobs");
                                }
                                Request::FetchOutputs { job } => {
                                    let (service, name) = (service.clone(), name.clone());
                                    return blocking(move || crate::jobs::fetch(service.store(), &name, job)).await;
                                }
                                _ => {}
                            }
                            // The store is synchronous (redb): keep it off the async workers.
                            tokio::task::spawn_blocking(move || service.handle(&name, request))
                                .await
                                .unwrap_or_else(|e| Response::error(ErrorKind::Internal, format!("handler failed: {e}")))
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
    endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
    mesh.shutdown().await;
    Ok(())
}

/// A job as the coordinator asks for it.
struct JobCall {
    job: u64,
    session: u64,
    spec: String,
    protocol: mpc::MulProtocol,
}

/// Runs one job as this worker, in mesh session `session`, if the coordinator asked.
async fn run_job(
    service: &Service,
    from: &str,
    mesh: &MeshSlot,
    params: mpc::Params,
    limits: &protocols::stats::cost::Limits,
    call: JobCall,
) -> Response {
    let JobCall {
        job,
        session,
        spec,
        protocol,
    } = call;
    if from != "coordinator" {
        return Response::error(ErrorKind::Forbidden, "only the coordinator runs jobs");
    }
    let spec = match protocols::catalog::JobSpec::from_toml(&spec) {
        Ok(s) => s,
        Err(e) => return Response::error(ErrorKind::BadRequest, format!("job {job}: {e}")),
    };
    let session_id = session;
    let session = match mesh.session(session_id).await {
        Ok(s) => s,
        Err(e) => return Response::error(ErrorKind::Internal, format!("job {job}: {e}")),
    };
    let seed: [u8; 32] = rand::random();
    let config = mpc::EngineConfig {
        mul: protocol,
        check_openings: true,
        ..Default::default()
    };
    let mut engine = match mpc::Engine::new(session, params, config, seed) {
        Ok(e) => e,
        Err(e) => return Response::error(ErrorKind::Internal, format!("job {job}: {e}")),
    };
    tracing::info!(job, kind = spec.kind(), "job started");
    let computed =
        match crate::executor::execute_within(&mut engine, service.store(), &spec, limits).await {
            Ok(output) => {
                crate::jobs::settle(&mut engine, service.store(), job, session_id, output).await
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
                "job done"
            );
            Response::JobReport(report)
        }
        Err(e) => {
            tracing::warn!(job, "job failed: {e}");
            let kind = match e {
                crate::executor::ExecError::Refused(_) => ErrorKind::Refused,
                _ => ErrorKind::BadRequest,
            };
            Response::error(kind, format!("job {job}: {e}"))
        }
    }
}

/// The test hook `QUORATE_TEST_HOLD_REPORT_MS`: how long to wait between computing a job and
/// reporting it, so a test can kill a worker while every worker holds a staged result.
fn hold_report() -> Option<Duration> {
    std::env::var("QUORATE_TEST_HOLD_REPORT_MS")
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

/// Runs synchronous store or ledger work off the async threads.
async fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Response::error(ErrorKind::Internal, format!("handler failed: {e}")))
}
