//! The client side: connecting to every worker, uploading a dataset in two phases (shares made
//! here, on the owner's machine), listing datasets, reading one's own dataset back.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use coordinator::api::{DatasetInfo, Request, Response, UploadHeader};
use coordinator::transport::ApiClient;
use mpc::identity::Identity;
use mpc::{Field, Fr, PartyId};
use protocols::dataset::Table;
use worker::store::CHUNK_ROWS;

use crate::cluster::Cluster;

/// Connections to every worker of a cluster, as one client.
pub struct Workers {
    clients: Vec<Arc<ApiClient>>,
    /// Who connected: an upload's schema text carries this owner's salt.
    identity: Identity,
    /// What a test makes this client do to its dealt shares ([`Workers::dealing_with`]).
    tamper: Option<Tamper>,
}

/// Alters one column's dealt shares (`shares[i]` is worker `i`'s): a test's cheating owner.
pub type Tamper = Box<dyn Fn(usize, &mut [Vec<Fr>]) + Send + Sync>;

fn refused(worker: &ApiClient, response: Response) -> anyhow::Error {
    match response {
        Response::Error { message, .. } => anyhow!("{} refused: {message}", worker.peer()),
        other => anyhow!("{}: unexpected answer {other:?}", worker.peer()),
    }
}

impl Workers {
    /// Connects to all workers (an unreachable worker is an error naming it).
    pub async fn connect(cluster: &Cluster, identity: &Identity) -> Result<Self> {
        let mut clients = Vec::new();
        for w in &cluster.roster.workers {
            let name = format!("worker {}", w.id);
            // A client registered a moment ago is let in once the worker re-reads the roster
            // (every half second). TLS 1.3 lets the client finish its handshake before the
            // server has checked the client's certificate, so a ping tells whether it did.
            let mut attempt = 0;
            let c = loop {
                let probe = async {
                    let c = ApiClient::connect(identity, w.address, w.key, &name).await?;
                    c.call(&Request::Ping).await?;
                    Ok::<_, coordinator::transport::TransportError>(c)
                };
                match probe.await {
                    Ok(c) => break c,
                    // Refused after the handshake (not unreachable): maybe not reloaded yet.
                    Err(coordinator::transport::TransportError::Call { .. }) if attempt < 5 => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                    }
                    // Unreachable: the worker is down, not this identity unknown.
                    Err(e @ coordinator::transport::TransportError::Connect { .. }) => {
                        return Err(anyhow!(e).context(format!(
                            "{name} does not answer: is it running? (the cluster needs every worker for this)"
                        )));
                    }
                    Err(e) => {
                        return Err(
                            anyhow!(e).context("is this identity in the roster the worker reads?")
                        );
                    }
                }
            };
            clients.push(Arc::new(c));
        }
        Ok(Workers {
            clients,
            identity: identity.clone(),
            tamper: None,
        })
    }

    /// **For tests only** (production code never calls it): every later upload of this client
    /// passes each column's dealt shares through `tamper(column, shares)` before sending them,
    /// so that an end-to-end test can play a cheating owner, one that deals shares off the
    /// polynomial or a value over its column's declared bits, which the workers must catch
    /// themselves (`tests/jobs_e2e.rs`).
    pub fn dealing_with(mut self, tamper: Tamper) -> Self {
        self.tamper = Some(tamper);
        self
    }

    /// Sends `request` to every worker at once; the first failure names its worker.
    async fn all(&self, request: &Request) -> Result<Vec<Response>> {
        let handles: Vec<_> = self
            .clients
            .iter()
            .map(|c| {
                let (c, r) = (c.clone(), request.clone());
                tokio::spawn(async move { c.call(&r).await })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.map_err(|e| anyhow!("{e}"))??);
        }
        Ok(out)
    }

    async fn all_ok(&self, request: &Request) -> Result<()> {
        for (c, r) in self.clients.iter().zip(self.all(request).await?) {
            if r != Response::Ok {
                return Err(refused(c, r));
            }
        }
        Ok(())
    }

    /// Each worker's committed datasets.
    pub async fn list(&self) -> Result<Vec<Vec<DatasetInfo>>> {
        self.clients
            .iter()
            .zip(self.all(&Request::ListDatasets).await?)
            .map(|(c, r)| match r {
                Response::Datasets(d) => Ok(d),
                other => Err(refused(c, other)),
            })
            .collect()
    }

    /// Uploads `table` as dataset `name`: shares every value here, sends each worker its
    /// shares, then prepares and commits on all. On any failure every worker aborts, and the
    /// error names the worker that failed. `progress` is called with (chunks sent, total).
    pub async fn upload(
        &self,
        cluster: &Cluster,
        name: &str,
        table: &Table,
        policy: Option<String>,
        replace: bool,
        progress: impl Fn(u64, u64),
    ) -> Result<String> {
        let params = cluster.roster.params();
        let upload = format!("up-{}", hex::encode(rand::random::<[u8; 8]>()));
        let header = UploadHeader {
            upload: upload.clone(),
            dataset: name.to_string(),
            schema: crate::jobs::schema_text(&self.identity, name, &table.schema),
            policy: policy.unwrap_or_default(),
            rows: table.rows() as u64,
            columns: table.schema.columns.len() as u32,
            replace,
        };
        let result = self.upload_phases(params, &header, table, &progress).await;
        if let Err(e) = result {
            // Best effort: whoever is still reachable drops the staged upload.
            let abort = Request::UploadAbort {
                upload: upload.clone(),
            };
            for c in &self.clients {
                let _ = c.call(&abort).await;
            }
            return Err(e.context(format!(
                "upload of '{name}' failed; every worker dropped what it had staged"
            )));
        }
        Ok(upload)
    }

    async fn upload_phases(
        &self,
        params: mpc::Params,
        header: &UploadHeader,
        table: &Table,
        progress: &impl Fn(u64, u64),
    ) -> Result<()> {
        self.all_ok(&Request::UploadBegin(header.clone())).await?;
        let rows = table.rows();
        let chunks = rows.div_ceil(CHUNK_ROWS as usize);
        let total = (chunks * table.columns.len()) as u64;
        let mut sent = 0;
        let mut rng = rand::rng();
        for (c, (values, spec)) in table.columns.iter().zip(&table.schema.columns).enumerate() {
            let mut shares =
                mpc::engine::share_ints::<Fr, _>(values, spec.ty.bits(), params, &mut rng)
                    .with_context(|| format!("column '{}'", spec.name))?;
            if let Some(tamper) = &self.tamper {
                tamper(c, &mut shares);
            }
            for k in 0..chunks {
                let range = k * CHUNK_ROWS as usize..((k + 1) * CHUNK_ROWS as usize).min(rows);
                let handles: Vec<_> = self
                    .clients
                    .iter()
                    .zip(&shares)
                    .map(|(client, mine)| {
                        let request = Request::UploadChunk {
                            upload: header.upload.clone(),
                            column: c as u32,
                            chunk: k as u32,
                            shares: mpc::net::codec::encode(&mine[range.clone()]).to_vec(),
                        };
                        let client = client.clone();
                        tokio::spawn(async move {
                            let r = client.call(&request).await?;
                            if r != Response::Ok {
                                return Err(refused(&client, r));
                            }
                            Ok::<(), anyhow::Error>(())
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.map_err(|e| anyhow!("{e}"))??;
                }
                sent += 1;
                progress(sent, total);
            }
        }
        self.all_ok(&Request::UploadPrepare {
            upload: header.upload.clone(),
        })
        .await?;
        self.all_ok(&Request::UploadCommit {
            upload: header.upload.clone(),
        })
        .await
    }

    /// Reconstructs column `column` of one's own dataset `name` from every worker's shares
    /// (checking they lie on one polynomial).
    pub async fn read_back(&self, cluster: &Cluster, name: &str, column: u32) -> Result<Vec<i128>> {
        let params = cluster.roster.params();
        let mut columns = Vec::new();
        for (c, r) in self.clients.iter().zip(
            self.all(&Request::ReadShares {
                dataset: name.to_string(),
                column,
            })
            .await?,
        ) {
            match r {
                Response::Shares(bytes) => columns.push(bytes),
                other => return Err(refused(c, other)),
            }
        }
        let len = columns[0].len() / Fr::BYTES;
        let parties: Vec<PartyId> = params.parties().collect();
        let decoded: Vec<Vec<Fr>> = columns
            .iter()
            .zip(&parties)
            .map(|(b, &p)| mpc::net::codec::decode(b, len, p).map_err(|e| anyhow!("{e}")))
            .collect::<Result<_>>()?;
        let refs: Vec<&[Fr]> = decoded.iter().map(|v| v.as_slice()).collect();
        let values = crate::jobs::interpolator_reconstruct(&parties, &refs, params.t())?;
        values
            .iter()
            .map(|v| {
                v.to_i128()
                    .ok_or_else(|| anyhow!("a stored value is not an integer"))
            })
            .collect()
    }

    /// Closes every connection.
    pub async fn close(self) {
        for c in self.clients {
            if let Ok(c) = Arc::try_unwrap(c) {
                crate::jobs::close_soon(c).await;
            }
        }
    }
}

/// Fails unless every worker lists the same datasets (a committed upload is on all of them).
pub fn agree(lists: &[Vec<DatasetInfo>]) -> Result<Vec<DatasetInfo>> {
    // The privacy budget spent is counted on each worker's ledger replica, which may lag by an
    // entry: the lists agree up to it, and the most any worker counts is shown.
    let without_budget = |l: &[DatasetInfo]| -> Vec<DatasetInfo> {
        l.iter()
            .map(|d| DatasetInfo {
                budget: None,
                ..d.clone()
            })
            .collect()
    };
    let mut first = lists.first().cloned().unwrap_or_default();
    for l in lists {
        for (d, other) in first.iter_mut().zip(l) {
            if let (Some((b, spent)), Some((_, s))) = (d.budget, other.budget) {
                d.budget = Some((b, spent.max(s)));
            }
        }
    }
    for (i, l) in lists.iter().enumerate() {
        if without_budget(l) != without_budget(&first) {
            bail!(
                "workers disagree on their datasets: worker 0 lists {} and worker {i} lists {}",
                first.len(),
                l.len()
            );
        }
    }
    Ok(first)
}
