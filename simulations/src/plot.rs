//! SVG charts of reports, drawn with plotters' SVG backend (no fonts or bitmaps needed).
//!
//! For a scenario: `rounds.svg` (virtual duration of each round, one line per protocol) and
//! `bytes.svg` (bytes each party sent). For the benchmark matrix: per operation,
//! `bench-<op>-time.svg` and `bench-<op>-bytes.svg`, the compute phase's virtual time and bytes
//! sent per party against the number of parties, one line per protocol and network.
//!
//! Charts only draw figures already in a report; wall-clock time is never drawn, so the SVGs
//! are as reproducible as the reports.
//!
//! What this module does not do: compute or aggregate figures.

use std::path::Path;

use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;

use crate::SimError;
use crate::report::Report;

/// One line of a chart: a label and its points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend.
    pub label: String,
    /// `(x, y)` points, in x order.
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn plot_err(path: &Path) -> impl Fn(String) -> SimError + '_ {
    move |reason| SimError::Output {
        path: path.into(),
        reason,
    }
}

/// Draws `series` as a line chart into the SVG file `path`. The y axis is logarithmic when
/// `log_y` is set and every y is positive.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    log_y: bool,
) -> Result<(), SimError> {
    let err = plot_err(path);
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let (mut x0, mut x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if all.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let log_y = log_y && y0 > 0.0;
    if !log_y {
        y0 = y0.min(0.0);
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart.map_err(|e| err(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| si(*y))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            for (i, s) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| err(e.to_string()))?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| err(e.to_string()))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }};
    }
    if log_y {
        draw!(builder.build_cartesian_2d(x0..x1, (y0 * 0.8..y1 * 3.0).log_scale()));
    } else {
        draw!(builder.build_cartesian_2d(x0..x1, y0..y1 * 1.3));
    }
    root.present().map_err(|e| err(e.to_string()))
}

/// A value with an SI prefix: `1.5k`, `2.25M`, `0.2`.
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (scaled, unit) = match a {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = format!("{scaled:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// `rounds.svg` and `bytes.svg` for a scenario's report.
pub fn scenario_plots(report: &Report, dir: &Path) -> Result<(), SimError> {
    let rounds: Vec<Series> = report
        .runs
        .iter()
        .map(|r| Series {
            label: r.protocol.clone(),
            points: r
                .round_end_ns
                .iter()
                .enumerate()
                .map(|(i, &end)| {
                    let start = if i == 0 { 0 } else { r.round_end_ns[i - 1] };
                    (i as f64, end.saturating_sub(start) as f64 / 1e6)
                })
                .collect(),
        })
        .collect();
    let title = format!("{}: virtual time per round", report.scenario);
    line_chart(
        &dir.join("rounds.svg"),
        &title,
        "round",
        "duration (ms)",
        &rounds,
        false,
    )?;
    let bytes: Vec<Series> = report
        .runs
        .iter()
        .map(|r| Series {
            label: r.protocol.clone(),
            points: r
                .party_reports
                .iter()
                .map(|p| (p.party as f64, p.total.bytes_sent as f64))
                .collect(),
        })
        .collect();
    let title = format!("{}: bytes sent per party", report.scenario);
    line_chart(
        &dir.join("bytes.svg"),
        &title,
        "party",
        "bytes sent",
        &bytes,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_prefixes() {
        assert_eq!(si(0.25), "0.25");
        assert_eq!(si(1500.0), "1.5k");
        assert_eq!(si(2_000_000.0), "2M");
        assert_eq!(si(3.2e9), "3.2G");
        assert_eq!(si(50.0), "50");
    }
}
