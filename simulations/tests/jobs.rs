//! The shipped job scenarios (at reduced sizes: a debug build): each runs through the catalog's
//! dispatch over the simulated network and matches the same job in the clear; one seed gives
//! identical reports and files; a crash mid-job fails naming the worker; bad job input is
//! refused with a message naming it.

use std::path::{Path, PathBuf};

use protocols::catalog::JobSpec;
use protocols::matching::{Grid, GridRange};
use simulations::job::data::DataSpec;
use simulations::job::{JobDataError, JobWorkloadError};
use simulations::report::{Report, Status};
use simulations::runner::run_scenario;
use simulations::{Scenario, SimError};

fn scenario(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quorate-job-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn all_ok(report: &Report) {
    for run in &report.runs {
        assert_eq!(
            run.outcome.status,
            Status::Ok,
            "{} {}: {:?}",
            run.scenario,
            run.protocol,
            run.outcome
        );
        assert!(run.party_reports.iter().all(|p| p.status == "ok"));
    }
}

/// Runs `s` twice: one seed, identical reports (wall-clock figures are not in them).
fn run_twice(s: &Scenario) -> Report {
    let (a, b) = (run_scenario(s).unwrap(), run_scenario(s).unwrap());
    assert_eq!(
        a.to_json(),
        b.to_json(),
        "{}: two runs with one seed",
        a.scenario
    );
    a
}

/// The auction scenario with `bidders` bidders over `prices` grid prices.
fn small_auction(bidders: usize, prices: i64) -> Scenario {
    let mut s = scenario("auction-3-regions.toml");
    let job = s.job.as_mut().unwrap();
    job.spec = Some(JobSpec::Auction {
        dataset: "bids".into(),
        grid: Grid::Range(GridRange {
            min: 100,
            max: 100 + prices - 1,
            step: 1,
        }),
        participants: Vec::new(),
    });
    job.data = DataSpec::Auction {
        bidders,
        max_quantity: 10_000,
    };
    s
}

#[test]
fn the_auction_between_three_regions_matches_the_clear_job_and_replays_exactly() {
    let s = small_auction(24, 60);
    let (a, b) = (out_dir("auction-a"), out_dir("auction-b"));
    let ra = run_scenario(&s).unwrap();
    ra.write(&a).unwrap();
    simulations::plot::scenario_plots(&ra, &a).unwrap();
    let rb = run_scenario(&s).unwrap();
    rb.write(&b).unwrap();
    simulations::plot::scenario_plots(&rb, &b).unwrap();
    all_ok(&ra);
    assert_eq!(ra.to_json(), rb.to_json());
    let mut compared = 0;
    for entry in std::fs::read_dir(&a).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().starts_with("wall.") {
            continue; // wall-clock figures differ by design
        }
        let same = std::fs::read(a.join(&name)).unwrap() == std::fs::read(b.join(&name)).unwrap();
        assert!(same, "{name:?} differs between two runs with one seed");
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} files compared");

    let run = &ra.runs[0];
    assert_eq!(run.op, "auction");
    assert_eq!(run.network, "sites:frankfurt+ireland+virginia+custom");
    assert_eq!(run.party_reports[2].site.as_deref(), Some("virginia"));
    // Phases: input first, output last, the protocol's steps between, adding up to the run.
    let names: Vec<&str> = run.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"input"));
    assert_eq!(names.last(), Some(&"output"));
    assert!(names.len() > 4, "{names:?}");
    let sum: u64 = run.phases.iter().map(|p| p.virtual_ns).sum();
    assert_eq!(sum, run.virtual_ns);
    // Every round crosses the Atlantic at least one way: 40 ms or more per round.
    assert!(
        run.virtual_s > 0.04 * run.rounds as f64,
        "{} s for {} rounds",
        run.virtual_s,
        run.rounds
    );
    let svg = std::fs::read_to_string(a.join("bytes.svg")).unwrap();
    assert!(svg.contains("rect"), "bars");
    for label in ["0 frankfurt", "1 ireland", "2 virginia"] {
        assert_eq!(svg.matches(label).count(), 1, "one tick label for {label}");
    }
    assert!(a.join("timeline.svg").exists() && a.join("phases.csv").exists());
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

#[test]
fn an_asymmetric_link_and_the_regions_cost_virtual_time() {
    let regions = run_scenario(&small_auction(12, 30)).unwrap();
    let mut symmetric = small_auction(12, 30);
    symmetric.network.links.clear();
    let mut lan = symmetric.clone();
    lan.network.sites.clear();
    let (symmetric, lan) = (
        run_scenario(&symmetric).unwrap(),
        run_scenario(&lan).unwrap(),
    );
    for r in [&regions, &symmetric, &lan] {
        all_ok(r);
    }
    // The same job, the same bytes; only the links differ.
    assert_eq!(regions.runs[0].bytes, lan.runs[0].bytes);
    assert!(lan.runs[0].virtual_s * 50.0 < symmetric.runs[0].virtual_s);
    assert!(symmetric.runs[0].virtual_ns <= regions.runs[0].virtual_ns);
}

#[test]
fn the_payroll_group_by_matches_and_the_slow_worker_slows_it() {
    let mut s = scenario("payroll-groupby-7.toml");
    let Some(DataSpec::Table { rows, .. }) = s.job.as_mut().map(|j| &mut j.data) else {
        panic!("a table")
    };
    *rows = 400;
    s.protocols = vec![mpc::MulProtocol::Grr];
    let slow = run_twice(&s);
    all_ok(&slow);
    let mut fast = s.clone();
    fast.faults.clear();
    let fast = run_scenario(&fast).unwrap();
    all_ok(&fast);
    assert!(
        slow.runs[0].virtual_ns > fast.runs[0].virtual_ns,
        "{} vs {}",
        slow.runs[0].virtual_s,
        fast.runs[0].virtual_s
    );
    assert_eq!(slow.runs[0].bytes, fast.runs[0].bytes);
}

#[test]
fn a_crash_mid_settlement_fails_naming_the_worker_and_delivers_nothing() {
    let crashed = run_twice(&scenario("settlement-crash.toml"));
    let run = &crashed.runs[0];
    assert_eq!(run.outcome.status, Status::Failed);
    assert_eq!(run.outcome.party, Some(3));
    let reason = run.outcome.reason.as_deref().unwrap();
    assert!(reason.starts_with("party 3 crashed"), "{reason}");
    assert_eq!(run.party_reports[3].status, "crashed");
    // Mid-job: after the inputs, and nobody reached the outputs (no balance was delivered).
    assert!(run.phases.iter().any(|p| p.name != "input"));
    assert!(
        run.phases.iter().all(|p| p.name != "output"),
        "{:?}",
        run.phases
    );
    assert!(run.party_reports.iter().all(|p| p.status != "ok"));

    let mut healthy = scenario("settlement-crash.toml");
    healthy.faults.clear();
    let healthy = run_scenario(&healthy).unwrap();
    all_ok(&healthy);
    assert!(
        healthy.runs[0].rounds > 40,
        "the crash at round 40 is mid-job"
    );
}

/// The 31-worker scenario with 100 rows and sums instead of the mean and deviation: its own
/// query (a division and a square root at t = 15) takes six minutes in a debug build on a
/// loaded machine; `quorate simulate` runs it at full size in the benchmarks.
#[test]
fn thirty_one_workers_run_a_statistics_query() {
    let mut s = scenario("large-31-stats.toml");
    let job = s.job.as_mut().unwrap();
    job.sql = Some("SELECT COUNT(*), SUM(salary) FROM payroll".into());
    let DataSpec::Table { rows, .. } = &mut job.data else {
        panic!("a table")
    };
    *rows = 100;
    let report = run_twice(&s);
    all_ok(&report);
    assert_eq!(report.runs[0].party_reports.len(), 31);
}

#[test]
fn bad_job_input_is_refused_naming_it() {
    let mut s = scenario("payroll-groupby-7.toml");
    s.job.as_mut().unwrap().sql = Some("SELECT AVG(wage) FROM payroll".into());
    let err = run_scenario(&s).unwrap_err();
    assert!(
        matches!(
            &err,
            SimError::Job {
                source: JobWorkloadError::Clear(_),
                ..
            }
        ) && err.to_string().contains("wage"),
        "{err}"
    );

    let mut s = scenario("payroll-groupby-7.toml");
    s.job.as_mut().unwrap().spec = Some(JobSpec::Statistics {
        query: "SELECT COUNT(*) FROM payroll".into(),
        epsilon: None,
        recipients: vec![],
    });
    let err = run_scenario(&s).unwrap_err().to_string();
    assert!(
        err.contains("exactly one of sql, spec and spec_file"),
        "{err}"
    );

    let mut s = scenario("payroll-groupby-7.toml");
    s.job.as_mut().unwrap().data = DataSpec::Csv {
        files: vec![simulations::job::data::CsvFile {
            owner: "acme".into(),
            dataset: "payroll".into(),
            path: "no-such-file.csv".into(),
            schema: None,
        }],
    };
    let err = run_scenario(&s).unwrap_err().to_string();
    assert!(err.contains("no-such-file.csv"), "{err}");

    let mut s = scenario("auction-3-regions.toml");
    s.network.sites[1] = "aarhus".into();
    let err = Scenario::validate(&s).unwrap_err();
    assert!(err.to_string().contains("unknown site 'aarhus'"), "{err}");
}

/// Each way a `[job.data]` table (or the CSV it names) can fail to give a job its data is
/// refused before anything runs, as its own error, with a message naming the problem.
#[test]
fn bad_job_data_is_refused_naming_the_problem() {
    let dir = out_dir("bad-data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.csv"), "salary\n100\nabc\n").unwrap();
    std::fs::write(dir.join("bids.csv"), "price,quantity\n10,1\n").unwrap();
    std::fs::write(
        dir.join("schema.toml"),
        "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 32\n",
    )
    .unwrap();
    let sql = r#"sql = "SELECT COUNT(*) FROM t""#;
    let auction =
        r#"spec = { kind = "auction", dataset = "bids", grid = { min = 10, max = 19, step = 1 } }"#;
    let table = |column: &str| {
        format!("kind = \"table\"\ndataset = \"t\"\nowners = 3\nrows = 30\n{column}")
    };
    let column = |extra: &str| format!("[[job.data.columns]]\nname = \"team\"\n{extra}");
    type Is = fn(&JobDataError) -> bool;
    let cases: Vec<(&str, String, &str, Is)> = vec![
        (
            sql,
            table(&column("type = \"categorical\"")),
            "column 'team': a categorical column needs a domain",
            |e| matches!(e, JobDataError::NoDomain { .. }),
        ),
        (
            sql,
            table(&column(
                "type = \"categorical\"\ndomain = [\"a\", \"b\", \"c\"]\nweights = [1.0, 2.0]",
            )),
            "column 'team': 2 weights for 3 values",
            |e| matches!(e, JobDataError::Weights { .. }),
        ),
        (
            sql,
            table("columns = []"),
            "a generated table needs at least one owner and one column",
            |e| matches!(e, JobDataError::EmptyTable),
        ),
        (
            sql,
            "kind = \"auction\"\nbidders = 4".into(),
            "needs an auction or orders job, not statistics",
            |e| matches!(e, JobDataError::NoGrid("statistics")),
        ),
        (
            r#"spec = { kind = "auction", dataset = "bids", grid = { min = 10, max = 19, step = 0 } }"#,
            "kind = \"auction\"\nbidders = 4".into(),
            "grid: step 0 must be at least 1",
            |e| matches!(e, JobDataError::Grid(_)),
        ),
        (
            auction,
            "kind = \"settlement\"\nobligations = 10".into(),
            "the settlement generator needs a settlement job, not auction",
            |e| matches!(e, JobDataError::NotSettlement("auction")),
        ),
        (
            r#"spec = { kind = "settlement", round = "r", firms = ["acme"] }"#,
            "kind = \"settlement\"\nobligations = 10".into(),
            "a generated settlement round needs at least two firms",
            |e| matches!(e, JobDataError::TooFewFirms),
        ),
        (
            sql,
            "kind = \"csv\"\nfiles = [{ owner = \"acme\", dataset = \"t\", path = \"bad.csv\", schema = \"no-such-schema.toml\" }]".into(),
            "no-such-schema.toml",
            |e| matches!(e, JobDataError::SchemaFile { .. }),
        ),
        (
            sql,
            "kind = \"csv\"\nfiles = [{ owner = \"acme\", dataset = \"t\", path = \"bad.csv\", schema = \"schema.toml\" }]".into(),
            "bad.csv:3:1",
            |e| matches!(e, JobDataError::Csv(_)),
        ),
        (
            auction,
            "kind = \"csv\"\nfiles = [{ owner = \"acme\", dataset = \"bids\", path = \"bids.csv\" }]".into(),
            "acme/bids: dataset 'bids' for this auction job",
            |e| matches!(e, JobDataError::Upload { .. }),
        ),
    ];
    for (job, data, says, is) in cases {
        let text =
            format!("parties = 3\nprotocols = [\"grr\"]\n[job]\n{job}\n[job.data]\n{data}\n");
        let s = Scenario::from_toml(&text, &dir.join("bad.toml")).unwrap_or_else(|e| panic!("{e}"));
        let err = run_scenario(&s).unwrap_err();
        let message = err.to_string();
        match &err {
            SimError::Job {
                source: JobWorkloadError::Data(e),
                ..
            } => assert!(is(e) && message.contains(says), "{says}: {message}"),
            _ => panic!("{says}: {message}"),
        }
    }

    // Files that give no dataset at all.
    let text = format!(
        "parties = 3\nprotocols = [\"grr\"]\n[job]\n{sql}\n[job.data]\nkind = \"csv\"\nfiles = []\n"
    );
    let s = Scenario::from_toml(&text, &dir.join("none.toml")).unwrap();
    let err = run_scenario(&s).unwrap_err();
    assert!(
        matches!(
            &err,
            SimError::Job {
                source: JobWorkloadError::NoDataset,
                ..
            }
        ) && err.to_string().contains("job.data gives no dataset"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn csv_files_feed_a_job() {
    let dir = out_dir("csv");
    std::fs::create_dir_all(&dir).unwrap();
    for (owner, rows) in [("acme", 0), ("globex", 1), ("initech", 2)] {
        let mut text = String::from("team,salary\n");
        for r in 0..12 {
            text += &format!("{},{}\n", ["a", "b"][(r + rows) % 2], 40_000 + 1000 * r);
        }
        std::fs::write(dir.join(format!("{owner}.csv")), text).unwrap();
    }
    let toml = r#"
parties = 3
protocols = ["grr"]
[job]
sql = "SELECT COUNT(*), SUM(salary) FROM payroll GROUP BY team"
[job.data]
kind = "csv"
files = [
  { owner = "acme", dataset = "payroll", path = "acme.csv" },
  { owner = "globex", dataset = "payroll", path = "globex.csv" },
  { owner = "initech", dataset = "payroll", path = "initech.csv" },
]
"#;
    std::fs::write(dir.join("payroll.toml"), toml).unwrap();
    let report = simulations::run_scenario_file(&dir.join("payroll.toml"), None, None).unwrap();
    all_ok(&report);
    let _ = std::fs::remove_dir_all(dir);
}
