//! The README's `demo` command end to end: a real local cluster of worker processes, three
//! firms' uploads, joint statistics agreeing with the clear computation, everything shut down.

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
    assert_eq!(stdout.matches("  agree").count(), 3, "{stdout}");
    assert!(!stdout.contains("DISAGREE"));
    assert!(stdout.contains("the cluster is shut down"));
}
