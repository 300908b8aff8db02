//! SVG charts of reports, drawn with plotters' SVG backend (no fonts or bitmaps needed).
//!
//! For a scenario: `rounds.svg` (virtual duration of each round, one line per protocol),
//! `bytes.svg` (bytes each party sent: parties are categories, so bars, one tick and label per
//! party, protocols side by side) and `timeline.svg` (per protocol, every phase of the run —
//! input, each protocol step, output — as a bar over virtual time). For the benchmark matrix: per operation,
//! `bench-<op>-time.svg` and `bench-<op>-bytes.svg`, the compute phase's virtual time and bytes
//! sent per party against the number of parties, one line per protocol and network.
//!
//! Charts only draw figures already in a report; wall-clock time is never drawn, so the SVGs
//! are as reproducible as the reports.
//!
//! What this module does not do: compute or aggregate figures.

use std::path::Path;

use plotters::coord::CoordTranslate;
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

fn plot_err(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> SimError {
    SimError::Output {
        path: path.into(),
        source: Box::new(e),
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
    let integral_x = all.iter().all(|p| p.0.fract() == 0.0);
    let log_y = log_y && y0 > 0.0;
    if !log_y {
        y0 = y0.min(0.0);
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart.map_err(|e| plot_err(path, e))?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|x| {
                    // Integral data (rounds, parties) get labels at integral ticks only.
                    if integral_x && x.fract() != 0.0 {
                        String::new()
                    } else {
                        si(*x)
                    }
                })
                .y_label_formatter(&|y| si(*y))
                .draw()
                .map_err(|e| plot_err(path, e))?;
            for (i, s) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| plot_err(path, e))?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| plot_err(path, e))?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft, path)?;
        }};
    }
    if log_y {
        draw!(builder.build_cartesian_2d(x0..x1, (y0 * 0.8..y1 * 3.0).log_scale()));
    } else {
        draw!(builder.build_cartesian_2d(x0..x1, y0..y1 * 1.3));
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// Draws the legend of `chart`'s labelled series.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<(), SimError>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_err(path, e))
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
    let parties = report.runs.first().map_or(0, |r| r.party_reports.len());
    let categories: Vec<String> = (0..parties)
        .map(|p| {
            let site = report.runs[0].party_reports[p].site.as_deref();
            site.map_or(p.to_string(), |s| format!("{p} {s}"))
        })
        .collect();
    let bars: Vec<(String, Vec<f64>)> = report
        .runs
        .iter()
        .map(|r| {
            let values = r
                .party_reports
                .iter()
                .map(|p| p.total.bytes_sent as f64)
                .collect();
            (r.protocol.clone(), values)
        })
        .collect();
    let title = format!("{}: bytes sent per party", report.scenario);
    bar_chart(
        &dir.join("bytes.svg"),
        &title,
        "party",
        "bytes sent (B)",
        &categories,
        &bars,
    )?;
    timeline(&dir.join("timeline.svg"), report)
}

/// Draws grouped bars into the SVG file `path`: one group per category (one tick and label
/// each), one bar per series in a group.
pub fn bar_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<(), SimError> {
    let n = categories.len().max(1);
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0);
    let width = (900).max(60 + 34 * n as u32 * series.len().max(1) as u32);
    let root = SVGBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top * 1.25)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            categories.get(i as usize).cloned().unwrap_or_default()
        })
        .y_label_formatter(&|y| si(*y))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    let k = series.len().max(1) as f64;
    let w = 0.8 / k;
    for (s, (label, values)) in series.iter().enumerate() {
        let color = PALETTE[s % PALETTE.len()];
        let x0 = |c: usize| c as f64 - 0.4 + s as f64 * w;
        chart
            .draw_series(values.iter().enumerate().map(|(c, &v)| {
                Rectangle::new([(x0(c), 0.0), (x0(c) + w * 0.92, v)], color.filled())
            }))
            .map_err(|e| plot_err(path, e))?
            .label(label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, path)?;
    root.present().map_err(|e| plot_err(path, e))
}

/// The kind of a phase, for its colour: `input`, `output`, or the step's primitive.
fn phase_kind(name: &str) -> &str {
    name.split_once(' ').map_or(name, |(_, kind)| kind)
}

/// `timeline.svg`: per protocol, each phase as a bar from the first party entering it to the
/// last leaving it, in virtual milliseconds, phases top to bottom in run order.
pub fn timeline(path: &Path, report: &Report) -> Result<(), SimError> {
    let lanes: Vec<(String, u64, u64, &str)> = report
        .runs
        .iter()
        .flat_map(|r| {
            r.phases.iter().map(move |ph| {
                let label = if report.runs.len() > 1 {
                    format!("{} {}", r.protocol, ph.name)
                } else {
                    ph.name.clone()
                };
                (label, ph.start_ns, ph.end_ns, phase_kind(&ph.name))
            })
        })
        .collect();
    let m = lanes.len().max(1);
    let end_ms = lanes.iter().map(|l| l.2).max().unwrap_or(0) as f64 / 1e6;
    let height = (200 + 16 * m as u32).min(8000);
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let title = format!("{}: phases in virtual time", report.scenario);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(160)
        .build_cartesian_2d(0.0..(end_ms * 1.05).max(1e-3), -0.5..m as f64 - 0.5)
        .map_err(|e| plot_err(path, e))?;
    let names: Vec<&str> = lanes.iter().map(|l| l.0.as_str()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(m)
        .x_desc("virtual time (ms)")
        .y_desc("phase")
        .x_label_formatter(&|x| si(*x))
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() > 1e-6 || i < 0.0 || i as usize >= m {
                return String::new();
            }
            names
                .get(m - 1 - i as usize)
                .map_or(String::new(), |s| s.to_string())
        })
        .draw()
        .map_err(|e| plot_err(path, e))?;
    let mut kinds: Vec<&str> = Vec::new();
    for l in &lanes {
        if !kinds.contains(&l.3) {
            kinds.push(l.3);
        }
    }
    for (k, kind) in kinds.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let bars = lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.3 == *kind)
            .map(|(i, l)| {
                let y = (m - 1 - i) as f64;
                let (x0, x1) = (l.1 as f64 / 1e6, l.2 as f64 / 1e6);
                // A phase shorter than a pixel still shows.
                let x1 = x1.max(x0 + end_ms * 0.002);
                Rectangle::new([(x0, y - 0.38), (x1, y + 0.38)], color.filled())
            });
        chart
            .draw_series(bars)
            .map_err(|e| plot_err(path, e))?
            .label(kind.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight, path)?;
    root.present().map_err(|e| plot_err(path, e))
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
