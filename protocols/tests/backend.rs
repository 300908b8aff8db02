//! One protocol function, run on the MPC engine and in the clear, must agree.

use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, MulProtocol, Params, PartyId, Shared};
use proptest::prelude::*;
use protocols::backend::{Backend, Clear, Counting, Secret};

/// A small protocol: clip every value at `cap`, then return (sum of clipped values, count of
/// values equal to cap, the clipped values' fixed-point squares).
async fn clip_stats<B: Backend>(
    b: &mut B,
    x: &Secret,
    cap: i128,
) -> mpc::Result<(Vec<i128>, Vec<i128>, Vec<i128>)> {
    let caps = b.constant(&vec![cap; x.len()])?;
    let over = b.lt(&caps, x).await?;
    let clipped = b.select(&over, &caps, x).await?;
    let at_cap = b.eq(&clipped, &caps).await?;
    let fx = clipped.clone().with_frac(8);
    let sq = b.fx_mul(&fx, &fx).await?;
    Ok((
        b.open(&clipped.sum()?).await?,
        b.open(&at_cap.sum()?).await?,
        b.open(&sq).await?,
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]
    #[test]
    fn engine_agrees_with_clear(values in prop::collection::vec(-1_000_000i128..1_000_000, 1..8), cap in -1000i128..1000, seed in any::<u64>(), grr in any::<bool>()) {
        let x = Shared::from_facts(values.iter().map(|&v| mpc::Fr::from_i128(v)).collect(), Shared::<mpc::Fr>::from_shares(vec![], 31).unwrap().facts()).unwrap();
        let mut clear = Counting::new(Clear::default());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let want = rt.block_on(clip_stats(&mut clear, &x, cap)).unwrap();
        prop_assert_eq!(clear.counts.comparisons, 2 * values.len() as u64);

        let mul = if grr { MulProtocol::Grr } else { MulProtocol::Dn07 };
        let vals = values.clone();
        let got = agreed(run_parties(Params::new(3, 1).unwrap(), EngineConfig { mul, check_openings: true , ..Default::default() }, seed, move |mut e| {
            let vals = vals.clone();
            async move {
                let me = e.me();
                let x = e.input_ints(PartyId(2), (me == PartyId(2)).then_some(&vals[..]), vals.len(), 31).await?;
                clip_stats(&mut e, &x, cap).await
            }
        }));
        prop_assert_eq!(&got.0, &want.0);
        prop_assert_eq!(&got.1, &want.1);
        // Fixed-point squares: the engine's truncation may round up by one unit.
        for (g, w) in got.2.iter().zip(&want.2) { prop_assert!((g - w).abs() <= 1); }
    }
}

use mpc::Field;

/// The clear reference of the owners' input check: off unless asked; when asked, a value
/// outside its column's bits (or a boolean that is not a bit) fails naming the input, and the
/// edges of the range pass. `all_zero` answers per group.
#[test]
fn the_clear_input_check_mirrors_the_engine() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let column = |values: &[i128], bits: u32| {
        Shared::from_shares(
            values.iter().map(|&v| mpc::Fr::from_i128(v)).collect(),
            bits,
        )
        .unwrap()
    };
    let edges = [column(&[-256, 255, 0], 8)];
    let over = [column(&[3, 256], 8)];
    let not_bit = [Shared::from_bit_shares(vec![mpc::Fr::from_i128(2)])];
    let input = |name, columns| mpc::OwnerInput { name, columns };
    let mut plain = Clear::default();
    rt.block_on(plain.check_inputs(&[input("a/x", &over)]))
        .unwrap();
    let mut checking = Clear::default().checking_inputs();
    assert!(checking.checks_inputs() && !plain.checks_inputs());
    rt.block_on(checking.check_inputs(&[input("a/x", &edges)]))
        .unwrap();
    for bad in [&over[..], &not_bit[..]] {
        let err = rt
            .block_on(checking.check_inputs(&[input("a/x", &edges), input("b/y", bad)]))
            .unwrap_err();
        assert!(err.to_string().contains("input b/y"), "{err}");
    }
    let x = column(&[0, 0, 5, 0], 8);
    assert_eq!(
        rt.block_on(checking.all_zero(&x, &[2, 2])).unwrap(),
        vec![true, false]
    );
    assert!(rt.block_on(checking.all_zero(&x, &[3])).is_err());
}

/// Under the input check, a statistics job checks exactly the columns its query reads: an
/// owner's out-of-range value in a column no step touches does not stop `SUM(salary)`, and the
/// same value is caught, naming the owner's dataset, as soon as the query reads its column
/// (aggregate, `WHERE` or `GROUP BY`).
#[test]
fn a_statistics_job_checks_the_columns_its_query_reads() {
    use protocols::catalog::JobSpec;
    use protocols::dataset::{Schema, read_csv};
    use protocols::outcome::OwnedTable;
    use protocols::stats::GroupMinimums;

    let schema = Schema::from_toml(
        "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 16\n\
         [[columns]]\nname = \"bonus\"\ntype = \"integer\"\nbits = 8\n\
         [[columns]]\nname = \"team\"\ntype = \"categorical\"\ndomain = [\"a\", \"b\"]\n",
        "s.toml",
    )
    .unwrap();
    let owned: Vec<OwnedTable> = (0..3)
        .map(|f| {
            let csv = format!("salary,bonus,team\n{},1,a\n{},2,b\n", 100 + f, 200 + f);
            let table = read_csv(csv.as_bytes(), "t.csv", Some(&schema)).unwrap();
            OwnedTable::clear(&format!("firm{f}"), "payroll", &table).unwrap()
        })
        .collect();
    // firm1's bonus column: 8 declared bits hold [-256, 256): 255 fits, 300 does not.
    let mut cheated = owned.clone();
    cheated[1].columns[1] = Shared::from_shares(
        [255, 300].iter().map(|&v| mpc::Fr::from_i128(v)).collect(),
        8,
    )
    .unwrap();
    let run = |query: &str| {
        let spec =
            JobSpec::from_toml(&format!("kind = \"statistics\"\nquery = \"{query}\"\n")).unwrap();
        let minimums = GroupMinimums { owners: 1, rows: 1 };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(spec.run(&mut Clear::default().checking_inputs(), &cheated, minimums))
    };
    run("SELECT COUNT(*), SUM(salary) FROM payroll").expect("bonus is not read");
    for query in [
        "SELECT SUM(bonus) FROM payroll",
        "SELECT SUM(salary) FROM payroll WHERE bonus > 1",
        "SELECT CORR(salary, bonus) FROM payroll",
    ] {
        let err = run(query).expect_err(query).to_string();
        assert!(err.contains("firm1/payroll"), "{query}: {err}");
    }
    // The honest tables pass every query.
    let spec = JobSpec::from_toml(
        "kind = \"statistics\"\nquery = \"SELECT team, SUM(bonus) FROM payroll GROUP BY team\"\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(spec.run(
        &mut Clear::default().checking_inputs(),
        &owned,
        GroupMinimums { owners: 1, rows: 1 },
    ))
    .expect("honest inputs pass");
}
