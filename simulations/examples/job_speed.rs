//! The simulator's own cost: one job scenario's program (inputs, the job, outputs) run once
//! by the simulator in virtual time and once by the in-memory engine (every party a task of a
//! two-thread tokio runtime, no link model), the same code over two networks. Prints one
//! `RESULT` line per protocol with both wall times and their factor.
//!
//! `cargo run --release -p simulations --example job_speed -- SCENARIO.toml [grr|dn07]`

use std::sync::Arc;
use std::time::Instant;

use mpc::MulProtocol;
use mpc::testing::run_parties_with;
use simulations::job::JobWorkload;
use simulations::runner::run_protocol;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: job_speed SCENARIO.toml [grr|dn07]"))?;
    let protocols: Vec<MulProtocol> = match std::env::args().nth(2) {
        Some(p) => vec![p.parse().map_err(anyhow::Error::msg)?],
        None => vec![MulProtocol::Grr, MulProtocol::Dn07],
    };
    let mut scenario = simulations::Scenario::load(std::path::Path::new(&path))?;
    scenario.faults.clear();
    let spec = scenario
        .job
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{path}: not a job scenario"))?;
    let params = scenario.params().map_err(anyhow::Error::msg)?;
    for protocol in protocols {
        scenario.protocols = vec![protocol];
        let simulated = run_protocol(&scenario, protocol)?;
        let job = Arc::new(
            JobWorkload::prepare(&spec, scenario.seed, scenario.base())
                .map_err(anyhow::Error::msg)?,
        );
        let config = mpc::EngineConfig {
            mul: protocol,
            check_openings: scenario.check_openings,
            ..Default::default()
        };
        let t0 = Instant::now();
        let results = run_parties_with(params, config, scenario.seed, 2, move |e| {
            job.clone().program(e)
        });
        let memory_s = t0.elapsed().as_secs_f64();
        let done = results.iter().filter(|r| r.is_ok()).count();
        println!(
            "RESULT bench=job_speed scenario={} protocol={protocol} n={} status={} parties_done_in_memory={done} \
             simulated_wall_s={:.3} memory_wall_s={memory_s:.3} factor={:.2} virtual_s={:.6}",
            simulated.scenario,
            params.n(),
            simulated.outcome.status.name(),
            simulated.wall.total_s,
            simulated.wall.total_s / memory_s,
            simulated.virtual_s,
        );
    }
    Ok(())
}
