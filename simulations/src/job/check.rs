//! The check of a simulated job: every party that finished holds the same public result,
//! equal to the clear job's, and every private output and update its recipient reconstructed
//! equals the clear job's values (integers exactly; a statistics result's real numbers within
//! `1e-6 · (1 + |x|)`, the engine's truncation being probabilistic).
//!
//! What this module does not do: run anything (see [`super`]).

use protocols::catalog::PublicResult;
use protocols::stats::{QueryResult, RevealError, Value};

use super::{JobWorkload, PartyOutcome};

/// How an output differs from the clear job's (the report's reason names the output too).
#[derive(Debug, thiserror::Error)]
enum Mismatch {
    /// Another public result, of a job other than statistics (both as JSON).
    #[error("got {got}, the clear job gives {want}")]
    Public {
        /// What the parties hold.
        got: String,
        /// What the clear job gives.
        want: String,
    },
    /// Other groups suppressed.
    #[error("suppressed groups {got:?}, the clear job suppresses {want:?}")]
    Suppressed {
        /// Suppressed by the parties.
        got: Vec<String>,
        /// Suppressed by the clear job.
        want: Vec<String>,
    },
    /// Another number of groups, or other columns.
    #[error("{got} groups of {got_columns:?}, the clear job reports {want} of {want_columns:?}")]
    Shape {
        /// Groups the parties report.
        got: usize,
        /// Their columns.
        got_columns: Vec<String>,
        /// Groups the clear job reports.
        want: usize,
        /// Its columns.
        want_columns: Vec<String>,
    },
    /// One statistic differs (a real number beyond the tolerance), or its group does.
    #[error("{column} of group {group:?}: got {got:?}, the clear job gives {want:?}")]
    Statistic {
        /// The result's column (`AVG(salary)`).
        column: String,
        /// The clear job's group.
        group: Option<String>,
        /// The parties' value.
        got: Value,
        /// The clear job's value.
        want: Value,
    },
    /// A private statistics result that does not decode.
    #[error(transparent)]
    Reveal(#[from] RevealError),
    /// A private statistics result without a statistics public result to decode it.
    #[error("a query result without a statistics result")]
    NotStatistics,
    /// One value of a private output or update differs.
    #[error("value {index}: got {got}, the clear job gives {want}")]
    Value {
        /// Its position.
        index: usize,
        /// The recipient's value.
        got: i128,
        /// The clear job's.
        want: i128,
    },
    /// Another number of values.
    #[error("{got} values, the clear job gives {want}")]
    Length {
        /// Values the recipient reconstructed.
        got: usize,
        /// Values of the clear job.
        want: usize,
    },
}

impl JobWorkload {
    /// Checks the parties that finished against each other and against the clear job; the
    /// error names what differs (and the party, when one disagrees with party 0).
    pub fn verify(&self, done: &[(u16, &PartyOutcome)]) -> Result<(), (String, Option<u16>)> {
        let Some(&(first, base)) = done.first() else {
            return Err(("no party finished".into(), None));
        };
        for &(p, o) in &done[1..] {
            if o.public != base.public {
                return Err((
                    format!("party {p} holds another public result than party {first}"),
                    Some(p),
                ));
            }
        }
        compare_public(&base.public, &self.reference_public)
            .map_err(|e| (format!("public result: {e}"), None))?;
        for (i, (delivery, want)) in self.reference.iter().enumerate() {
            let got = done
                .iter()
                .find_map(|(_, o)| o.received.get(i).cloned().flatten())
                .ok_or_else(|| (format!("{}: nobody reconstructed it", delivery.what), None))?;
            let same = if delivery.query {
                match (&base.public, &self.reference_public) {
                    (PublicResult::Statistics(g), PublicResult::Statistics(w)) => {
                        let (g, w) = (g.reveal(&got), w.reveal(want));
                        match (g, w) {
                            (Ok(g), Ok(w)) => compare_query(&g, &w),
                            (Err(e), _) | (_, Err(e)) => Err(Mismatch::from(e)),
                        }
                    }
                    _ => Err(Mismatch::NotStatistics),
                }
            } else if &got == want {
                Ok(())
            } else {
                let at = got.iter().zip(want).position(|(a, b)| a != b);
                Err(match at {
                    Some(index) => Mismatch::Value {
                        index,
                        got: got[index],
                        want: want[index],
                    },
                    None => Mismatch::Length {
                        got: got.len(),
                        want: want.len(),
                    },
                })
            };
            same.map_err(|e| (format!("{}: {e}", delivery.what), None))?;
        }
        Ok(())
    }
}

fn compare_public(got: &PublicResult, want: &PublicResult) -> Result<(), Mismatch> {
    match (got, want) {
        (PublicResult::Statistics(g), PublicResult::Statistics(w)) => compare_query(g, w),
        _ if got == want => Ok(()),
        _ => Err(Mismatch::Public {
            got: serde_json::to_string(got).unwrap_or_default(),
            want: serde_json::to_string(want).unwrap_or_default(),
        }),
    }
}

/// Equal but for real numbers within `1e-6 · (1 + |want|)`.
fn compare_query(got: &QueryResult, want: &QueryResult) -> Result<(), Mismatch> {
    if got.suppressed != want.suppressed {
        return Err(Mismatch::Suppressed {
            got: got.suppressed.clone(),
            want: want.suppressed.clone(),
        });
    }
    if got.rows.len() != want.rows.len() || got.columns != want.columns {
        return Err(Mismatch::Shape {
            got: got.rows.len(),
            got_columns: got.columns.clone(),
            want: want.rows.len(),
            want_columns: want.columns.clone(),
        });
    }
    for (g, w) in got.rows.iter().zip(&want.rows) {
        for (i, (a, b)) in g.values.iter().zip(&w.values).enumerate() {
            let close = match (a, b) {
                (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                _ => a == b,
            };
            if !close || g.group != w.group {
                return Err(Mismatch::Statistic {
                    column: got.columns.get(i).map_or("?", String::as_str).to_string(),
                    group: w.group.clone(),
                    got: a.clone(),
                    want: b.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobScenario;
    use crate::job::data::DataSpec;
    use protocols::catalog::JobSpec;
    use protocols::matching::{Grid, GridRange};
    use std::path::Path;

    fn auction() -> JobWorkload {
        let scenario = JobScenario {
            sql: None,
            spec: Some(JobSpec::Auction {
                dataset: "bids".into(),
                grid: Grid::Range(GridRange {
                    min: 10,
                    max: 29,
                    step: 1,
                }),
                participants: Vec::new(),
            }),
            spec_file: None,
            data: DataSpec::Auction {
                bidders: 6,
                max_quantity: 50,
            },
        };
        JobWorkload::prepare(&scenario, 3, Path::new(".")).unwrap()
    }

    /// What a party holding exactly the clear job's outputs would hold.
    fn faithful(w: &JobWorkload) -> PartyOutcome {
        PartyOutcome {
            public: w.reference_public.clone(),
            received: w.reference.iter().map(|(_, v)| Some(v.clone())).collect(),
            steps: 1,
        }
    }

    #[test]
    fn the_check_accepts_the_clear_outputs_and_refuses_any_difference() {
        let w = auction();
        assert!(w.reference.len() >= 6, "one allocation per bidder");
        let good = faithful(&w);
        assert_eq!(w.verify(&[(0, &good), (1, &good), (2, &good)]), Ok(()));

        // A private allocation one unit off.
        let mut off = faithful(&w);
        let values = off.received[2].as_mut().unwrap();
        values[0] += 1;
        let (reason, _) = w.verify(&[(0, &off)]).unwrap_err();
        assert!(
            reason.contains(&w.reference[2].0.what) && reason.contains("the clear job gives"),
            "{reason}"
        );

        // A party that disagrees with party 0 is named.
        let mut other = faithful(&w);
        other.public = PublicResult::Settlement(protocols::settlement::SettlementResult {
            firms: vec![],
            obligations: 0,
            iterations: 1,
            all_settled: true,
        });
        assert_eq!(w.verify(&[(0, &good), (2, &other)]).unwrap_err().1, Some(2));

        // An output nobody reconstructed.
        let mut lost = faithful(&w);
        lost.received[0] = None;
        assert!(w.verify(&[(0, &lost)]).unwrap_err().0.contains("nobody"));
        assert!(w.verify(&[]).is_err());
    }

    #[test]
    fn statistics_compare_reals_within_the_stated_tolerance() {
        let row = |x: f64| protocols::stats::ResultRow {
            group: None,
            values: vec![Value::Float(x)],
        };
        let q = |x: f64| QueryResult {
            columns: vec!["AVG(salary)".into()],
            group_by: None,
            rows: vec![row(x)],
            suppressed: vec![],
            epsilon: None,
            private: None,
        };
        assert!(compare_query(&q(52_000.000_4), &q(52_000.0)).is_ok());
        assert!(compare_query(&q(52_000.5), &q(52_000.0)).is_err());
        let mut suppressed = q(1.0);
        suppressed.suppressed.push("other".into());
        assert!(
            compare_query(&suppressed, &q(1.0))
                .unwrap_err()
                .to_string()
                .contains("suppressed")
        );
    }
}
