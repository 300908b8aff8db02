//! A quick pass over every operation for several settings, with printed round counts.

use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, MulProtocol, Params, PartyId};

#[test]
fn smoke_all_ops() {
    for (n, t) in [(3, 1), (5, 2), (7, 3), (7, 1)] {
        for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
            let params = Params::new(n, t).unwrap();
            let config = EngineConfig {
                mul,
                check_openings: true,
                ..Default::default()
            };
            let a: Vec<i128> = vec![0, -1, 5, i32::MIN as i128, i32::MAX as i128, 7, -7, 100];
            let b: Vec<i128> = vec![0, 3, 5, i32::MAX as i128, i32::MIN as i128, -7, -7, 99];
            let (aa, bb) = (a.clone(), b.clone());
            let out = agreed(run_parties(params, config, 7, move |mut e| {
                let (a, b) = (aa.clone(), bb.clone());
                async move {
                    let len = a.len();
                    let me = e.me();
                    let x = e
                        .input_ints(PartyId(0), (me == PartyId(0)).then_some(&a[..]), len, 31)
                        .await?;
                    let y = e
                        .input_ints(PartyId(1), (me == PartyId(1)).then_some(&b[..]), len, 31)
                        .await?;
                    let p = e.mul(&x, &y).await?;
                    let lt = e.lt(&x, &y).await?;
                    let le = e.le(&x, &y).await?;
                    let eq = e.eq(&x, &y).await?;
                    let sel = e.select(&lt, &x, &y).await?;
                    Ok((
                        e.open_ints(&p).await?,
                        e.open_ints(&lt).await?,
                        e.open_ints(&le).await?,
                        e.open_ints(&eq).await?,
                        e.open_ints(&sel).await?,
                        e.stats().rounds,
                    ))
                }
            }));
            let prod: Vec<i128> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
            assert_eq!(out.0, prod, "mul n={n} t={t} {mul:?}");
            assert_eq!(
                out.1,
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x < y) as i128)
                    .collect::<Vec<_>>(),
                "lt n={n} {mul:?}"
            );
            assert_eq!(
                out.2,
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x <= y) as i128)
                    .collect::<Vec<_>>(),
                "le"
            );
            assert_eq!(
                out.3,
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x == y) as i128)
                    .collect::<Vec<_>>(),
                "eq"
            );
            assert_eq!(
                out.4,
                a.iter().zip(&b).map(|(x, y)| *x.min(y)).collect::<Vec<_>>(),
                "select"
            );
            println!("n={n} t={t} {mul:?} rounds={}", out.5);
        }
    }
}

#[test]
fn smoke_fixed() {
    let params = Params::new(3, 1).unwrap();
    let a = vec![1.5f64, -2.25, 0.0, 1000.125, -0.5];
    let b = vec![2.0f64, 3.5, 7.0, -0.001, -0.5];
    let (aa, bb) = (a.clone(), b.clone());
    let out = agreed(run_parties(
        params,
        EngineConfig::default(),
        3,
        move |mut e| {
            let (a, b) = (aa.clone(), bb.clone());
            async move {
                let me = e.me();
                let x = e
                    .input_fixed(
                        PartyId(0),
                        (me == PartyId(0)).then_some(&a[..]),
                        a.len(),
                        40,
                        16,
                    )
                    .await?;
                let y = e
                    .input_fixed(
                        PartyId(2),
                        (me == PartyId(2)).then_some(&b[..]),
                        b.len(),
                        40,
                        16,
                    )
                    .await?;
                let p = e.fx_mul(&x, &y).await?;
                e.open_fixed(&p).await
            }
        },
    ));
    let q = |x: f64| (x * 65536.0).round() / 65536.0;
    for i in 0..a.len() {
        let want = q(a[i]) * q(b[i]);
        assert!(
            (out[i] - want).abs() <= 1.0 / 65536.0,
            "{} vs {}",
            out[i],
            want
        );
    }
}
