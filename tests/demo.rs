//! The README's `demo` command end to end: a real local cluster (a coordinator and worker
//! processes), firms' uploads, a job of every kind agreeing with the clear computation (private
//! outputs included), the ledger verified, everything shut down.

mod support;

#[test]
fn the_demo_runs_and_every_figure_agrees() {
    let out = support::run(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Four statistics queries (one private to the analyst) and the four shipped examples.
    assert_eq!(stdout.matches("  agree").count(), 8, "{stdout}");
    assert!(stdout.contains("values private to analyst"), "{stdout}");
    assert!(stdout.contains("the analyst, privately"), "{stdout}");
    assert!(!stdout.contains("DISAGREE") && !stdout.contains("DIFFERS"));
    for kind in ["auction", "orders", "record matching", "settlement"] {
        assert!(stdout.contains(kind), "{kind} missing: {stdout}");
    }
    assert!(stdout.contains("sugar-mill, privately: allocation [bought 45, sold 0]"));
    assert!(stdout.contains("ledger verified"));
    assert!(stdout.contains("the cluster is shut down"));
}
