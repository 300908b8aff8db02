//! Throughput of one engine operation: n parties in one process, a batch of random inputs,
//! every output checked against the same operation in the clear.
//!
//! ```text
//! cargo run --release -p mpc --example throughput -- --parties 3 --op mul --n 1000000
//! ```
//!
//! Ends with one line:
//! `RESULT op=mul protocol=dn07 parties=3 n=1000000 seconds=S ops_per_s=X rounds=R bytes_per_party=B check=ok`
//! and exits non-zero when any output differs from the clear computation. The time covers the
//! operation and all its preprocessing (the inputs are dealt beforehand, as a data owner's
//! client would); the batch runs in chunks of `--chunk` elements to bound memory.

use std::time::Instant;

// The batches are large and short-lived: glibc malloc maps and unmaps each one (they exceed its 32 MiB mmap threshold), and the kernel
// then spends more time zeroing fresh pages than the protocol spends computing. jemalloc keeps
// freed pages for reuse (dirty_decay_ms, 10 s by default).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;
use mpc::engine::share_ints;
use mpc::testing::run_parties_with;
use mpc::{EngineConfig, Fr, MulProtocol, Params, Shared};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Number of parties.
    #[arg(long, default_value_t = 3)]
    parties: usize,
    /// Threshold (default: the largest, (n-1)/2).
    #[arg(long)]
    threshold: Option<usize>,
    /// mul, lt, le, eq, fxmul, select.
    #[arg(long, default_value = "mul")]
    op: String,
    /// grr or dn07.
    #[arg(long, default_value = "dn07")]
    protocol: MulProtocol,
    /// Number of operations.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Elements per batch (default: 1,000,000 for mul and select, 100,000 for the rest).
    #[arg(long)]
    chunk: Option<usize>,
    /// Bits of the inputs' magnitude (values in [-2^bits, 2^bits)).
    #[arg(long, default_value_t = 31)]
    bits: u32,
    /// Fractional bits for fxmul.
    #[arg(long, default_value_t = 16)]
    frac: u32,
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Untimed warm-up passes over the whole batch before the timed one (a long-running node
    /// has its memory mapped already; a cold process spends much of its first pass in page
    /// faults). The cold figure is printed too.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// memory (the only transport here so far).
    #[arg(long, default_value = "memory")]
    transport: String,
}

fn clear(op: &str, a: i128, b: i128, c: i128, frac: u32) -> (i128, i128) {
    // Returns (expected, tolerance).
    match op {
        "mul" => (a * b, 0),
        "lt" => ((a < b) as i128, 0),
        "le" => ((a <= b) as i128, 0),
        "eq" => ((a == b) as i128, 0),
        "select" => (if c & 1 == 1 { a } else { b }, 0),
        "fxmul" => ((a * b) >> frac, 1),
        other => panic!("unknown op {other}"),
    }
}

fn main() {
    let args = Args::parse();
    if args.transport != "memory" {
        eprintln!(
            "error: transport '{}' is not available in this build (memory only)",
            args.transport
        );
        std::process::exit(2);
    }
    let params = match args.threshold {
        Some(t) => Params::new(args.parties, t),
        None => Params::max_threshold(args.parties),
    }
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let op = args.op.clone();
    if !["mul", "lt", "le", "eq", "fxmul", "select"].contains(&op.as_str()) {
        eprintln!("error: unknown op '{op}' (expected mul, lt, le, eq, fxmul, select)");
        std::process::exit(2);
    }
    let chunk = args
        .chunk
        .unwrap_or(if op == "mul" || op == "select" {
            1_000_000
        } else {
            100_000
        })
        .max(1);
    let config = EngineConfig {
        mul: args.protocol,
        check_openings: true,
    };

    // Inputs, dealt by an external dealer before the session (not timed).
    let mut rng = ChaCha12Rng::seed_from_u64(args.seed);
    let half = 1i128 << args.bits;
    let mut a: Vec<i128> = (0..args.n).map(|_| rng.random_range(-half..half)).collect();
    let b: Vec<i128> = (0..args.n)
        .map(|i| {
            if i % 7 == 0 {
                a[i]
            } else {
                rng.random_range(-half..half)
            }
        })
        .collect();
    let c: Vec<i128> = (0..args.n).map(|_| rng.random_range(0..2)).collect();
    for (i, v) in [0, -1, half - 1, -half].into_iter().enumerate() {
        if i < a.len() {
            a[i] = v;
        }
    }
    let deal = |v: &[i128], bits: u32, rng: &mut ChaCha12Rng| {
        share_ints::<Fr, _>(v, bits, params, rng).expect("inputs in range")
    };
    let (sa, sb, sc) = (
        deal(&a, args.bits, &mut rng),
        deal(&b, args.bits, &mut rng),
        deal(&c, 1, &mut rng),
    );

    let (bits, frac, n, warmup) = (args.bits, args.frac, args.n, args.warmup);
    let start = Instant::now();
    let results = run_parties_with(params, config, args.seed, args.threads, |mut engine| {
        let me = engine.me().index();
        let (xa, xb, xc) = (sa[me].clone(), sb[me].clone(), sc[me].clone());
        let op = op.clone();
        async move {
            let mut outputs = Vec::with_capacity(n);
            let mut timings = Vec::new();
            for pass in 0..=warmup {
                let mut timed = std::time::Duration::ZERO;
                let before = engine.stats();
                for lo in (0..n).step_by(chunk) {
                    let hi = (lo + chunk).min(n);
                    let wrap = |v: &[Fr], bits: u32, frac: u32| {
                        Shared::from_fixed_shares(v[lo..hi].to_vec(), bits, frac)
                    };
                    let f = if op == "fxmul" { frac } else { 0 };
                    let (x, y) = (wrap(&xa, bits, f)?, wrap(&xb, bits, f)?);
                    let t0 = Instant::now();
                    let z = match op.as_str() {
                        "mul" => engine.mul(&x, &y).await?,
                        "lt" => engine.lt(&x, &y).await?,
                        "le" => engine.le(&x, &y).await?,
                        "eq" => engine.eq(&x, &y).await?,
                        "fxmul" => engine.fx_mul(&x, &y).await?,
                        "select" => {
                            let cond = Shared::from_bit_shares(xc[lo..hi].to_vec());
                            engine.select(&cond, &x, &y).await?
                        }
                        _ => unreachable!("op checked above"),
                    };
                    timed += t0.elapsed();
                    if pass == warmup {
                        outputs.extend(engine.open_ints(&z).await?);
                    }
                }
                timings.push((timed, engine.stats().since(&before)));
            }
            Ok((outputs, timings))
        }
    });
    let wall = start.elapsed();
    let mut check_ok = true;
    let mut stats = Vec::new();
    let mut op_seconds = 0f64;
    let mut cold_seconds = 0f64;
    for (party, r) in results.into_iter().enumerate() {
        let (outputs, timings) = r.unwrap_or_else(|e| {
            eprintln!("party {party} failed: {e}");
            std::process::exit(1)
        });
        let (timed, s) = timings.last().expect("at least one pass").clone();
        op_seconds = op_seconds.max(timed.as_secs_f64());
        cold_seconds = cold_seconds.max(timings[0].0.as_secs_f64());
        for i in 0..n {
            let (want, tol) = clear(&args.op, a[i], b[i], c[i], frac);
            if (outputs[i] - want).abs() > tol {
                if check_ok {
                    eprintln!("party {party}: element {i} differs from the clear computation");
                }
                check_ok = false;
            }
        }
        stats.push(s);
    }
    // The timed pass includes the verification openings: one round and n-1 messages of every
    // element per chunk; subtract them.
    let chunks = n.div_ceil(chunk) as u64;
    let rounds = stats[0].rounds - chunks;
    let open_bytes = (n as u64) * 32 * (args.parties as u64 - 1);
    let bytes_per_party =
        stats.iter().map(|s| s.net.bytes_sent).sum::<u64>() / stats.len() as u64 - open_bytes;
    eprintln!(
        "first (cold) pass: {:.3} s = {:.0} ops/s; whole run including dealing and verification: {:.3} s",
        cold_seconds,
        n as f64 / cold_seconds,
        wall.as_secs_f64()
    );
    println!(
        "RESULT op={} protocol={} parties={} threshold={} n={} seconds={:.3} ops_per_s={:.0} rounds={} bytes_per_party={} check={}",
        args.op,
        args.protocol,
        args.parties,
        params.t(),
        n,
        op_seconds,
        n as f64 / op_seconds,
        rounds,
        bytes_per_party,
        if check_ok { "ok" } else { "FAIL" }
    );
    if !check_ok {
        std::process::exit(1);
    }
}
