//! What a worker keeps of a job (`worker::jobs`): private outputs committed from shares and
//! reconstructable only from `t + 1` workers' shares, opening the commitments; dataset updates
//! staged and made current only on the coordinator's decision, the old version kept on abort.

use std::sync::Arc;

use coordinator::api::{OutputShares, Response};
use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{EngineConfig, Field, Fr, Params, PartyId, Shared};
use protocols::catalog::PublicResult;
use protocols::outcome::{Outcome, PrivateOutput, TableUpdate};
use protocols::stats::QueryResult;
use rand::SeedableRng;
use worker::store::{DatasetRecord, ShareStore};

const SCHEMA: &str = "[[columns]]\nname = \"balance\"\ntype = \"integer\"\nbits = 40\n";

fn public() -> PublicResult {
    PublicResult::Statistics(QueryResult {
        columns: vec!["x".into()],
        group_by: None,
        rows: Vec::new(),
        suppressed: Vec::new(),
        epsilon: None,
        private: None,
    })
}

/// Three stores holding `acme/accounts` = [100, -5, 7] as shares; the shares of `new` too.
fn setup(
    params: Params,
    new: &[i128],
) -> (Vec<tempfile::TempDir>, Arc<Vec<ShareStore>>, Vec<Vec<Fr>>) {
    let dirs: Vec<_> = (0..params.n())
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let stores: Vec<ShareStore> = dirs
        .iter()
        .map(|d| ShareStore::open(d.path()).unwrap())
        .collect();
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(3);
    let old = mpc::engine::share_ints::<Fr, _>(&[100, -5, 7], 40, params, &mut rng).unwrap();
    let record = DatasetRecord {
        owner: "acme".into(),
        name: "accounts".into(),
        schema: SCHEMA.into(),
        policy: String::new(),
        rows: 3,
        columns: 1,
        upload: "u1".into(),
        replace: false,
        prepared: false,
    };
    for (s, mine) in stores.iter().zip(&old) {
        s.begin(&record).unwrap();
        s.put_chunk("u1", 0, 0, &mpc::net::codec::encode(mine))
            .unwrap();
        s.prepare("u1").unwrap();
        s.commit("u1").unwrap();
    }
    let new = mpc::engine::share_ints::<Fr, _>(new, 40, params, &mut rng).unwrap();
    (dirs, Arc::new(stores), new)
}

fn reconstruct(params: Params, shares: &[(PartyId, Vec<Fr>)]) -> Vec<i128> {
    let parties: Vec<PartyId> = shares.iter().map(|(p, _)| *p).collect();
    let refs: Vec<&[Fr]> = shares.iter().map(|(_, s)| s.as_slice()).collect();
    mpc::shamir::Interpolator::new()
        .reconstruct(&parties, &refs, params.t(), true)
        .unwrap()
        .iter()
        .map(|v| v.to_i128().unwrap())
        .collect()
}

fn decode(bytes: &[u8], p: PartyId) -> Vec<Fr> {
    mpc::net::codec::decode(bytes, bytes.len() / 32, p).unwrap()
}

#[test]
fn private_outputs_open_their_commitments_and_updates_wait_for_the_decision() {
    for (n, t) in [(3, 1), (5, 2)] {
        let params = Params::new(n, t).unwrap();
        let secret = [42i128, -7, 0, i64::MAX as i128];
        let (_dirs, stores, new) = setup(params, &[90, 5, 7]);
        let new = Arc::new(new);
        let reports = mpc::testing::block_on(run_networks(
            MemoryNetwork::mesh(n),
            params,
            EngineConfig::default(),
            5,
            move |mut e| {
                let (stores, new) = (stores.clone(), new.clone());
                async move {
                    let me = e.me();
                    let values = e
                        .input_ints(PartyId(0), (me == PartyId(0)).then_some(&secret[..]), 4, 64)
                        .await?;
                    let column = Shared::from_facts(
                        new[me.index()].clone(),
                        mpc::share::Meta {
                            bits: 40,
                            frac: 0,
                            boolean: false,
                        },
                    )?;
                    let output = Outcome {
                        public: public(),
                        private: vec![PrivateOutput {
                            recipient: "acme".into(),
                            name: "fills".into(),
                            labels: (0..4).map(|i| format!("order {i}")).collect(),
                            values,
                        }],
                        updates: vec![TableUpdate {
                            owner: "acme".into(),
                            name: "accounts".into(),
                            columns: vec![column],
                        }],
                    };
                    let report = worker::jobs::keep_outputs(
                        &mut e,
                        &stores[me.index()],
                        9,
                        77,
                        output,
                        Vec::new(),
                    )
                    .await
                    .unwrap();
                    Ok((report, stores))
                }
            },
        ));
        let reports: Vec<_> = reports.into_iter().map(|r| r.unwrap()).collect();
        let stores = reports[0].1.clone();
        let report = &reports[0].0;
        assert!(reports.iter().all(|(r, _)| r == report), "reports differ");
        assert_eq!(report.updates, vec!["acme/accounts".to_string()]);
        let commitments = &report.outputs[0].commitments;
        assert_eq!(commitments.len(), 4);

        // The recipient gets shares only; t + 1 of them open every commitment. Nobody else
        // gets any.
        let mut values = Vec::new();
        let mut blindings = Vec::new();
        for (i, s) in stores.iter().enumerate().take(t + 1) {
            let Response::Outputs(outs) = worker::jobs::fetch(s, "acme", 9) else {
                panic!("no outputs")
            };
            let o: &OutputShares = &outs[0];
            assert_eq!(o.labels[3], "order 3");
            values.push((PartyId(i as u16), decode(&o.values, PartyId(i as u16))));
            blindings.push((PartyId(i as u16), decode(&o.blindings, PartyId(i as u16))));
            let Response::Outputs(none) = worker::jobs::fetch(s, "beta", 9) else {
                panic!()
            };
            assert!(none.is_empty());
        }
        let v = reconstruct(params, &values);
        assert_eq!(v, secret);
        let parties: Vec<PartyId> = blindings.iter().map(|(p, _)| *p).collect();
        let refs: Vec<&[Fr]> = blindings.iter().map(|(_, s)| s.as_slice()).collect();
        let r = mpc::shamir::Interpolator::new()
            .reconstruct(&parties, &refs, params.t(), true)
            .unwrap();
        for i in 0..4 {
            let opening = mpc::engine::commit::Opening::new(Fr::from_i128(v[i]), r[i]);
            assert!(commitments[i].verify(&opening));
            let wrong = mpc::engine::commit::Opening::new(Fr::from_i128(v[i] + 1), r[i]);
            assert!(!commitments[i].verify(&wrong));
        }

        // Staged, not current: the old balances stay until the decision.
        let read = |stores: &[ShareStore]| -> Vec<i128> {
            let shares: Vec<(PartyId, Vec<Fr>)> = stores
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        PartyId(i as u16),
                        s.read_column("acme/accounts", 0).unwrap(),
                    )
                })
                .collect();
            reconstruct(params, &shares)
        };
        assert_eq!(read(&stores), vec![100, -5, 7]);
        if n == 3 {
            // Abort on every worker: nothing changes. (Twice: abort is idempotent.)
            for s in stores.iter() {
                assert_eq!(worker::jobs::finish(s, 9, 77, false), Response::Ok);
                assert_eq!(worker::jobs::finish(s, 9, 77, false), Response::Ok);
            }
            assert_eq!(read(&stores), vec![100, -5, 7]);
        } else {
            // Commit: the new version is current on every worker; a repeat is harmless.
            for s in stores.iter() {
                assert_eq!(worker::jobs::finish(s, 9, 77, true), Response::Ok);
                assert_eq!(worker::jobs::finish(s, 9, 77, true), Response::Ok);
            }
            assert_eq!(read(&stores), vec![90, 5, 7]);
        }
    }
}
