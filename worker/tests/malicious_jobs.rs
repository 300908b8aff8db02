//! Issue 15's job rows (TRUST.md, "Malicious security, operation by operation"): every job kind
//! — statistics (`GROUP BY`, `MEDIAN`, differential privacy), the double auction, order
//! matching, record matching, a settlement round — run under the malicious level by n = 3, 5, 7
//! workers as a worker node runs it (`execute`, then `keep_outputs`: the final check, the
//! commitments to the private outputs, the staged updates and the job record).
//!
//! - Without cheating, the public result, every private output and every dataset update
//!   (reconstructed from `t + 1` workers' shares) equal the same job run in the clear.
//! - A worker that adds an error to every message of one round (rounds sampled over the whole
//!   job, the output commitments' round included) makes every worker fail with "integrity
//!   check failed" (or because a peer that detected it stopped), or changes nothing.
//! - An owner that skipped the client's checks — shares off every degree-t polynomial, a value
//!   outside its column's declared bits, and each kind's own rule (a rising demand curve, an
//!   off-grid limit, a negative balance) — makes every worker fail naming its dataset.
//!
//! Whenever a worker fails, it has kept nothing: no job record, no staged update, and its
//! datasets are those it started with.

mod common;

use std::sync::Arc;

use mpc::net::Network;
use mpc::net::cheat::{Cheat, Tamper, memory_mesh};
use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{EngineConfig, Field, Fr, MulProtocol, Params, PartyId, SecurityLevel};
use protocols::backend::Clear;
use protocols::catalog::{JobSpec, PublicResult};
use protocols::dataset::{Schema, Table, read_csv};
use protocols::outcome::OwnedTable;
use protocols::stats::{GroupMinimums, Value};
use rand::SeedableRng;
use worker::executor::{JobOutput, execute};
use worker::store::ShareStore;

/// One dataset as its owner uploads it.
#[derive(Clone)]
struct Upload {
    owner: String,
    name: String,
    /// The schema, as TOML.
    schema: String,
    table: Table,
}

/// A job and its inputs.
struct Job {
    what: &'static str,
    spec: JobSpec,
    uploads: Vec<Upload>,
    /// Whether the result carries noise drawn inside MPC (then it equals no clear run; the
    /// honest run is still the reference of the cheating ones).
    noisy: bool,
    /// A cheating owner's own-rule violation: (upload, column, row, value, the error's text).
    rule: (usize, usize, usize, i128, &'static str),
}

const PAYROLL: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 20\n[[columns]]\nname = \"team\"\ntype = \"categorical\"\ndomain = [\"red\", \"green\", \"blue\"]\n";

fn example(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    std::fs::read_to_string(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Three owners' payrolls of ten rows each: every team has the ten rows and three owners a
/// group needs to be reported (the default policy).
fn payrolls() -> Vec<Upload> {
    let schema = Schema::from_toml(PAYROLL, "payroll").unwrap();
    (0..3u64)
        .map(|k| {
            let mut csv = String::from("salary,team\n");
            for i in 0..10u64 {
                let salary = 30_000 + (i * 7919 + k * 104_729) % 90_000;
                let team = ["red", "green", "blue"][((i + k) % 3) as usize];
                csv.push_str(&format!("{salary},{team}\n"));
            }
            Upload {
                owner: format!("firm{k}"),
                name: "payroll".into(),
                schema: PAYROLL.into(),
                table: read_csv(csv.as_bytes(), "payroll.csv", Some(&schema)).unwrap(),
            }
        })
        .collect()
}

/// The shipped example of `kind`: its owners' CSVs under `dataset`, checked as the client does.
fn shipped(spec: &JobSpec, kind: &str, dataset: &str, owners: &[&str]) -> Vec<Upload> {
    let schema_text = example(&format!("data/{kind}/schema.toml"));
    let schema = Schema::from_toml(&schema_text, "schema.toml").unwrap();
    owners
        .iter()
        .map(|owner| {
            let csv = example(&format!("data/{kind}/{owner}.csv"));
            let table = read_csv(csv.as_bytes(), owner, Some(&schema)).unwrap();
            spec.check_upload(dataset, &table).unwrap();
            Upload {
                owner: owner.to_string(),
                name: dataset.into(),
                schema: schema_text.clone(),
                table,
            }
        })
        .collect()
}

/// The shipped settlement round: every firm's accounts and obligations.
fn settlement(spec: &JobSpec) -> Vec<Upload> {
    let mut uploads = Vec::new();
    for firm in ["acme", "globex", "initech", "umbrella"] {
        for dataset in ["accounts", "obligations"] {
            let csv = example(&format!("data/settlement/{firm}-{dataset}.csv"));
            let mut table = read_csv(csv.as_bytes(), "x.csv", None).unwrap();
            spec.widen_inferred(dataset, &mut table);
            spec.check_upload(dataset, &table).unwrap();
            uploads.push(Upload {
                owner: firm.into(),
                name: dataset.into(),
                schema: toml::to_string(&table.schema).unwrap(),
                table,
            });
        }
    }
    uploads
}

fn statistics(query: &str, epsilon: Option<f64>) -> JobSpec {
    JobSpec::Statistics {
        query: query.into(),
        epsilon,
        recipients: vec![],
    }
}

/// Every job kind, with the rule a cheating owner of each breaks.
fn jobs() -> Vec<Job> {
    let auction = JobSpec::from_toml(&example("auction.toml")).unwrap();
    let orders = JobSpec::from_toml(&example("orders.toml")).unwrap();
    let records = JobSpec::from_toml(&example("record-match.toml")).unwrap();
    let round = JobSpec::from_toml(&example("settlement.toml")).unwrap();
    let range = "outside its column's declared bits";
    let stats = |what, query, epsilon| Job {
        what,
        spec: statistics(query, epsilon),
        uploads: payrolls(),
        noisy: epsilon.is_some(),
        // A salary of 2^20: one past its 20 declared bits.
        rule: (1, 0, 2, 1 << 20, range),
    };
    vec![
        stats(
            "GROUP BY",
            "SELECT team, COUNT(*), SUM(salary), AVG(salary) FROM payroll GROUP BY team",
            None,
        ),
        stats("MEDIAN", "SELECT MEDIAN(salary) FROM payroll", None),
        stats("DP", "SELECT COUNT(*), SUM(salary) FROM payroll", Some(1.0)),
        Job {
            what: "auction",
            uploads: shipped(
                &auction,
                "auction",
                "beet-bids",
                &["north-farm", "south-farm", "sugar-mill"],
            ),
            spec: auction,
            noisy: false,
            // The mill's demand rises from 105 to 110.
            rule: (2, 1, 2, 1000, "demand rises"),
        },
        Job {
            what: "orders",
            uploads: shipped(&orders, "orders", "orders", &["alpha", "beta", "gamma"]),
            spec: orders,
            noisy: false,
            // beta's first limit off the tick grid (95..=105).
            rule: (1, 1, 0, 200, "not on the grid"),
        },
        Job {
            what: "record match",
            uploads: shipped(
                &records,
                "record-match",
                "customers",
                &["acme", "globex", "initech"],
            ),
            spec: records,
            noisy: false,
            // A spend of 2^40: one past its 40 declared bits.
            rule: (1, 1, 0, 1 << 40, range),
        },
        Job {
            what: "settlement",
            uploads: settlement(&round),
            spec: round,
            noisy: false,
            // globex's balance below zero (within its declared bits).
            rule: (2, 0, 0, -1, "balance is negative"),
        },
    ]
}

/// What an owner deals.
#[derive(Clone, Copy, Debug)]
enum Owner {
    Honest,
    /// The first upload's first column: worker `n - 1`'s share of row 0 off the polynomial.
    Inconsistent,
    /// The job's own rule broken ([`Job::rule`]), or, with `Wide`, a value past its bits.
    Rule,
    Wide,
}

/// Fresh stores for `n` workers holding `uploads`, dealt as `owner` says.
fn stores(
    params: Params,
    job: &Job,
    owner: Owner,
) -> (Vec<tempfile::TempDir>, Arc<Vec<ShareStore>>) {
    let (dirs, stores) = common::stores_in_memory(params.n());
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(5);
    let (rule_upload, column, row, value, _) = job.rule;
    for (k, u) in job.uploads.iter().enumerate() {
        let mut table = u.table.clone();
        match owner {
            Owner::Rule if k == rule_upload => table.columns[column][row] = value,
            Owner::Wide if k == 1 => {
                // The first integer column's first value, past its declared bits.
                let (c, spec) = table
                    .schema
                    .columns
                    .iter()
                    .enumerate()
                    .find(|(_, s)| matches!(s.ty, protocols::dataset::ColumnType::Integer { .. }))
                    .expect("an integer column");
                table.columns[c][0] = 1 << spec.ty.bits();
            }
            _ => {}
        }
        let d = common::Dataset {
            owner: &u.owner,
            name: &u.name,
            schema: &u.schema,
            policy: "",
        };
        let n = params.n();
        let inconsistent = matches!(owner, Owner::Inconsistent) && k == 0;
        common::deal_altered(&stores, &d, &table, params, &mut rng, "", |c, shares| {
            if inconsistent && c == 0 {
                shares[n - 1][0] += Fr::one();
            }
        });
    }
    (dirs, Arc::new(stores))
}

/// One worker's end of a run: its output (the job's, kept) or its error, and its rounds.
type End = (Result<JobOutput, String>, u64);

/// Runs the job on every worker over `nets`, as a node does: `execute`, then `keep_outputs`.
fn run<N: Network + Sync + 'static>(
    stores: &Arc<Vec<ShareStore>>,
    params: Params,
    mul: MulProtocol,
    spec: &JobSpec,
    nets: Vec<N>,
) -> Vec<End> {
    let config = EngineConfig {
        mul,
        security: SecurityLevel::Malicious,
        ..Default::default()
    };
    mpc::testing::block_on(run_networks(nets, params, config, 5, move |mut e| {
        let (stores, spec) = (stores.clone(), spec.clone());
        async move {
            let store = &stores[e.me().index()];
            let out = match execute(&mut e, store, &spec).await {
                Ok(out) => out,
                Err(err) => return Ok((Err(err.to_string()), e.stats().rounds)),
            };
            let kept = worker::jobs::keep_outputs(&mut e, store, 1, 1, out.clone(), vec![]).await;
            Ok((
                kept.map(|_| out).map_err(|e| e.to_string()),
                e.stats().rounds,
            ))
        }
    }))
    .into_iter()
    .map(|r| r.unwrap())
    .collect()
}

/// A job's results in the clear: the public result, each private output (recipient, name,
/// labels, values) and each update (dataset, columns).
#[derive(Debug, PartialEq)]
struct Opened {
    public: PublicResult,
    private: Vec<(String, String, Vec<String>, Vec<i128>)>,
    updates: Vec<(String, Vec<Vec<i128>>)>,
}

/// The results the workers' shares hold (workers `0..=t` interpolated; all must agree on the
/// public result).
fn reconstruct(ends: &[End], params: Params) -> Opened {
    let outs: Vec<&JobOutput> = ends
        .iter()
        .enumerate()
        .map(|(i, (r, _))| r.as_ref().unwrap_or_else(|e| panic!("worker {i}: {e}")))
        .collect();
    for o in &outs[1..] {
        assert_eq!(o.public, outs[0].public, "the workers agree");
    }
    let base: Vec<PartyId> = params.parties().take(params.t() + 1).collect();
    let lambda: Vec<Fr> = mpc::shamir::lagrange_coefficients(&base, 0);
    let value = |column: &dyn Fn(&JobOutput) -> &[Fr], i: usize| {
        let sum = base.iter().zip(&lambda).fold(Fr::zero(), |acc, (p, l)| {
            acc + *l * column(outs[p.index()])[i]
        });
        sum.to_i128().expect("an output fits")
    };
    let private = outs[0]
        .private
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let values = (0..p.values.len())
                .map(|i| value(&|o| o.private[k].values.shares(), i))
                .collect();
            (
                p.recipient.clone(),
                p.name.clone(),
                p.labels.clone(),
                values,
            )
        })
        .collect();
    let updates = outs[0]
        .updates
        .iter()
        .enumerate()
        .map(|(k, u)| {
            let columns = (0..u.columns.len())
                .map(|c| {
                    (0..u.columns[c].len())
                        .map(|i| value(&|o| o.updates[k].columns[c].shares(), i))
                        .collect()
                })
                .collect();
            (format!("{}/{}", u.owner, u.name), columns)
        })
        .collect();
    Opened {
        public: outs[0].public.clone(),
        private,
        updates,
    }
}

/// The job in the clear (owners' inputs checked as under the malicious level), over the
/// uploads in the stores' order (by owner, then name).
fn clear(job: &Job) -> Opened {
    let mut uploads = job.uploads.clone();
    uploads.sort_by(|a, b| (&a.owner, &a.name).cmp(&(&b.owner, &b.name)));
    let tables: Vec<OwnedTable> = uploads
        .iter()
        .map(|u| OwnedTable::clear(&u.owner, &u.name, &u.table).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let minimums = GroupMinimums::from_policies(&[protocols::policy::Policy::default()]);
    let mut b = Clear::default().checking_inputs();
    let out = rt
        .block_on(job.spec.run(&mut b, &tables, minimums))
        .unwrap_or_else(|e| panic!("{}: {e}", job.what));
    let plain = |s: &mpc::Shared<Fr>| -> Vec<i128> {
        s.shares().iter().map(|v| v.to_i128().unwrap()).collect()
    };
    Opened {
        private: out
            .private
            .iter()
            .map(|p| {
                let values = plain(&p.values);
                (
                    p.recipient.clone(),
                    p.name.clone(),
                    p.labels.clone(),
                    values,
                )
            })
            .collect(),
        updates: out
            .updates
            .iter()
            .map(|u| {
                let columns = u.columns.iter().map(plain).collect();
                (format!("{}/{}", u.owner, u.name), columns)
            })
            .collect(),
        public: out.public,
    }
}

/// `got` equals the clear job's results `want`: exactly, but for averages and other
/// fixed-point statistics, within the fixed-point precision.
fn assert_equals_clear(got: &Opened, want: &Opened, what: &str) {
    assert_eq!(
        (&got.private, &got.updates),
        (&want.private, &want.updates),
        "{what}"
    );
    let (PublicResult::Statistics(g), PublicResult::Statistics(w)) = (&got.public, &want.public)
    else {
        return assert_eq!(got.public, want.public, "{what}");
    };
    assert_eq!(
        (&g.columns, &g.suppressed),
        (&w.columns, &w.suppressed),
        "{what}"
    );
    assert_eq!(g.rows.len(), w.rows.len(), "{what}");
    for (gr, wr) in g.rows.iter().zip(&w.rows) {
        assert_eq!(gr.group, wr.group, "{what}");
        assert_eq!(gr.values.len(), wr.values.len(), "{what}");
        for (gv, wv) in gr.values.iter().zip(&wr.values) {
            match (gv, wv) {
                (Value::Float(a), Value::Float(b)) => {
                    assert!((a - b).abs() < 1e-3, "{what}: {a} vs {b}")
                }
                (a, b) => assert_eq!(a, b, "{what}"),
            }
        }
    }
}

/// A failed worker kept nothing: no job record, no staged update, the datasets it was dealt.
fn assert_kept_nothing(store: &ShareStore, uploads: usize, what: &str) {
    assert!(store.get_job(1).unwrap().is_none(), "{what}: a job record");
    assert!(
        store.staged_uploads().unwrap().is_empty(),
        "{what}: a staged update"
    );
    let current = store.list().unwrap();
    assert_eq!(current.len(), uploads, "{what}: datasets");
    assert!(
        current.iter().all(|r| !r.upload.contains(':')),
        "{what}: an update made current"
    );
}

/// The settings: n = 3, 5, 7 at the largest threshold, GRR and DN07 in turn.
fn settings(k: usize) -> Vec<(Params, MulProtocol)> {
    [3, 5, 7]
        .into_iter()
        .enumerate()
        .map(|(j, n)| {
            let mul = match (j + k) % 2 {
                0 => MulProtocol::Grr,
                _ => MulProtocol::Dn07,
            };
            (Params::max_threshold(n).unwrap(), mul)
        })
        .collect()
}

/// Every job kind, n = 3, 5, 7: the honest run equals the clear job; a worker altering every
/// message of one round, for six rounds spread over the job (the first and the last — the
/// output commitments' — included), makes every worker fail or changes nothing; failed
/// workers keep nothing; most rounds abort.
#[test]
fn every_job_under_a_cheating_worker_aborts_or_equals_clear() {
    for (k, job) in jobs().iter().enumerate() {
        for (params, mul) in settings(k) {
            let n = params.n();
            let what = format!("{} n={n} {mul}", job.what);
            let started = std::time::Instant::now();
            let (_dirs, fresh) = stores(params, job, Owner::Honest);
            let honest = run(&fresh, params, mul, &job.spec, MemoryNetwork::mesh(n));
            let opened = reconstruct(&honest, params);
            if !job.noisy {
                assert_equals_clear(&opened, &clear(job), &what);
            }
            let rounds = honest[0].1 as u32;
            let mut sampled: Vec<u32> = (0..6).map(|i| i * (rounds - 1) / 5).collect();
            sampled.dedup();
            let (mut aborted, mut harmless) = (0, 0);
            for round in sampled {
                let cheater = PartyId((round as usize % n) as u16);
                let cheat = Cheat {
                    tamper: Tamper::All,
                    ..Cheat::in_round(round)
                };
                let (nets, altered) = memory_mesh(n, Some(&(cheater, cheat)));
                let (_dirs, fresh) = stores(params, job, Owner::Honest);
                let ends = run(&fresh, params, mul, &job.spec, nets);
                let what = format!("{what}: worker {cheater} cheats in round {round}");
                if altered[cheater.index()].load(std::sync::atomic::Ordering::Relaxed) == 0 {
                    continue;
                }
                let failed: Vec<&String> =
                    ends.iter().filter_map(|(r, _)| r.as_ref().err()).collect();
                if failed.is_empty() {
                    assert_eq!(reconstruct(&ends, params), opened, "{what}: changed");
                    harmless += 1;
                    continue;
                }
                // A message that does not parse (an altered commitment point that is no
                // Ristretto encoding) is caught on receipt, its sender named.
                let malformed = format!("malformed message from party {cheater}");
                let caught =
                    |e: &str| e.contains("integrity check failed") || e.contains(&malformed);
                assert!(failed.iter().any(|e| caught(e)), "{what}: {failed:?}");
                for (i, (r, _)) in ends.iter().enumerate() {
                    match r {
                        Err(e) => {
                            assert!(
                                caught(e) || e.contains("left the session"),
                                "{what}, worker {i}: {e}"
                            );
                            assert_kept_nothing(&fresh[i], job.uploads.len(), &what);
                        }
                        Ok(out) => assert_eq!(out.public, opened.public, "{what}, worker {i}"),
                    }
                }
                aborted += 1;
            }
            eprintln!(
                "{what}: {rounds} rounds, {aborted} aborted, {harmless} harmless, {:.1?}",
                started.elapsed()
            );
            assert!(
                aborted > 2 * harmless,
                "{what}: {aborted} aborted, {harmless} harmless"
            );
        }
    }
}

/// Every job kind, n = 3, 5, 7: an owner dealing shares off the polynomial, a value past its
/// column's declared bits, or breaking the kind's own rule makes every worker fail naming the
/// dataset (and the rule); failed workers keep nothing.
#[test]
fn every_job_under_a_cheating_owner_aborts_naming_it() {
    for (k, job) in jobs().iter().enumerate() {
        for (params, mul) in settings(k + 1) {
            let n = params.n();
            for owner in [Owner::Inconsistent, Owner::Wide, Owner::Rule] {
                let (index, rule) = match owner {
                    Owner::Inconsistent => (0, "degree-t polynomial"),
                    Owner::Wide => (1, "outside its column's declared bits"),
                    _ => (job.rule.0, job.rule.4),
                };
                let u = &job.uploads[index];
                // The input checks name the dataset; a settlement rule names the firm.
                let named = match owner {
                    Owner::Rule => u.owner.clone(),
                    _ => format!("{}/{}", u.owner, u.name),
                };
                let what = format!("{} n={n} {mul} {owner:?}", job.what);
                let (_dirs, fresh) = stores(params, job, owner);
                let ends = run(&fresh, params, mul, &job.spec, MemoryNetwork::mesh(n));
                for (i, (r, _)) in ends.iter().enumerate() {
                    let e = r.as_ref().expect_err(&what);
                    assert!(
                        e.contains(&named) && e.contains(rule),
                        "{what}, worker {i}: {e}"
                    );
                    if owner.is_integrity() {
                        assert!(
                            e.contains("integrity check failed"),
                            "{what}, worker {i}: {e}"
                        );
                    }
                    assert_kept_nothing(&fresh[i], job.uploads.len(), &what);
                }
            }
        }
    }
}

impl Owner {
    /// Whether the check that catches it is the owners' input check (the others are the
    /// jobs' own rules, which hold at both levels).
    fn is_integrity(self) -> bool {
        matches!(self, Owner::Inconsistent | Owner::Wide)
    }
}
