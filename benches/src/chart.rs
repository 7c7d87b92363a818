//! The charts `--out DIR` writes, drawn with plotters' SVG backend (no fonts, no bitmaps: the
//! backend emits `<text>` and lets the viewer's font render it).
//!
//! - `chart.svg`: one panel per workload, a horizontal bar per runtime, the bar's length its
//!   median ns/op (µs for `lateness`). ringloop's rows are drawn in warm colours on top, the
//!   peers in cool ones below, and each bar carries its figure, so the panel reads without
//!   the table.
//! - `lateness.svg`: the lateness distribution of each runtime as a cumulative curve: for every
//!   lateness x (log scale, µs), the fraction of wake-ups no later than x. A curve further left
//!   is a more punctual runtime; its right end is the worst wake-up. Wake-ups within 1 µs of
//!   their deadline, and early ones (the table counts those), are drawn at 1 µs.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::report::Row;
use crate::workload::Workload;

/// Panels per line of `chart.svg`.
const COLUMNS: usize = 3;
/// One panel's size in pixels.
const PANEL: (u32, u32) = (520, 300);

/// The colour of row `i` of `rows`, ringloop warm and the peers cool, stable across panels.
fn colour(runtime: &str, all: &[String]) -> RGBColor {
    const WARM: [RGBColor; 4] = [
        RGBColor(214, 39, 40),
        RGBColor(255, 127, 14),
        RGBColor(188, 60, 120),
        RGBColor(140, 86, 75),
    ];
    const COOL: [RGBColor; 5] = [
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(23, 190, 207),
        RGBColor(127, 127, 127),
        RGBColor(148, 103, 189),
    ];
    let ringloop: Vec<&String> = all.iter().filter(|r| r.starts_with("ringloop")).collect();
    let peers: Vec<&String> = all.iter().filter(|r| !r.starts_with("ringloop")).collect();
    if let Some(i) = ringloop.iter().position(|r| *r == runtime) {
        WARM[i % WARM.len()]
    } else {
        let i = peers.iter().position(|r| *r == runtime).unwrap_or(0);
        COOL[i % COOL.len()]
    }
}

fn runtimes(rows: &[Row]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in rows {
        if !v.contains(&r.runtime) {
            v.push(r.runtime.clone());
        }
    }
    v
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Writes the bar chart of every workload that has at least one successful row.
pub fn write_bars(path: &Path, rows: &[Row]) -> Result<(), String> {
    draw_bars(path, rows).map_err(|e| format!("{}: {e}", path.display()))
}

fn draw_bars(path: &Path, rows: &[Row]) -> DrawResult {
    let all = runtimes(rows);
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| {
            rows.iter()
                .any(|r| r.workload == w.name() && r.ns_per_op.is_some())
        })
        .collect();
    let lines = workloads.len().div_ceil(COLUMNS).max(1);
    let size = (PANEL.0 * COLUMNS as u32, PANEL.1 * lines as u32);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((lines, COLUMNS));
    for (w, area) in workloads.iter().zip(panels.iter()) {
        // Lateness reads better in µs than in millions of ns.
        let (scale, unit) = match w {
            Workload::Lateness => (1e-3, "median lateness, µs"),
            _ => (1.0, w.unit()),
        };
        let mut bars: Vec<(&str, f64)> = rows
            .iter()
            .filter(|r| r.workload == w.name())
            .filter_map(|r| Some((r.runtime.as_str(), r.ns_per_op? * scale)))
            .collect();
        // The y axis counts upwards: reversed, the report's first row (ringloop) is on top.
        bars.reverse();
        let top = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.25;
        let names: Vec<&str> = bars.iter().map(|b| b.0).collect();
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} ({unit})", w.name()), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(130)
            // A discrete 0..k range has k + 1 values: k - 1 makes exactly one slot per bar.
            .build_cartesian_2d(0.0..top, (0..bars.len() - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(5)
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    names.get(*i).copied().unwrap_or("").to_string()
                }
                SegmentValue::Last => String::new(),
            })
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (rt, v))| {
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                colour(rt, &all).filled(),
            );
            bar.set_margin(4, 4, 0, 0);
            bar
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            Text::new(
                format!(" {}", short(*v)),
                (*v, SegmentValue::CenterOf(i)),
                ("sans-serif", 12),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}

/// Writes the lateness distribution of every row that has wake-up times.
pub fn write_lateness(path: &Path, rows: &[Row]) -> Result<(), String> {
    draw_lateness(path, rows).map_err(|e| format!("{}: {e}", path.display()))
}

/// The smallest lateness on the log axis: a wake-up within 1 µs of its deadline is drawn at 1.
const FLOOR_US: f64 = 1.0;

fn draw_lateness(path: &Path, rows: &[Row]) -> DrawResult {
    let all = runtimes(rows);
    let late: Vec<&Row> = rows.iter().filter(|r| !r.lateness_ns.is_empty()).collect();
    let max_us = late
        .iter()
        .filter_map(|r| r.lateness_ns.last())
        .map(|&ns| ns as f64 / 1e3)
        .fold(FLOOR_US * 10.0, f64::max)
        * 1.5;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = late.first().map(|r| r.n).unwrap_or(0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("lateness of {n} sleeps of 50 ms (fraction of wake-ups no later than x)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((FLOOR_US..max_us).log_scale(), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("lateness, µs (log scale)")
        .y_desc("fraction")
        .x_label_formatter(&|v| short(*v))
        .draw()?;
    for r in late {
        // `lateness_ns` is sorted; at most ~400 points per curve keep the file small.
        let len = r.lateness_ns.len();
        let step = len.div_ceil(400).max(1);
        let points = (0..len)
            .step_by(step)
            .chain(std::iter::once(len - 1))
            .map(|i| {
                let us = (r.lateness_ns[i] as f64 / 1e3).max(FLOOR_US);
                (us, (i + 1) as f64 / len as f64)
            });
        let c = colour(&r.runtime, &all);
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))?
            .label(r.runtime.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellOutcome;
    use crate::workload::Sample;

    fn ok(ops: u64, wall_ns: u64, late: Option<Vec<i64>>) -> Result<CellOutcome, String> {
        Ok(CellOutcome {
            sample: Sample {
                ops,
                wall_ns,
                lateness_ns: late,
            },
            peak_rss_kb: 1,
            user_ns: 0,
            sys_ns: 0,
        })
    }

    #[test]
    fn charts_are_svg_with_every_runtime_named() {
        let dir = std::env::temp_dir().join(format!("ringloop-bench-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = vec![
            Row::from_outcomes(Workload::SpawnJoin, "tokio-ct", 10, &[ok(10, 900, None)]),
            Row::from_outcomes(Workload::SpawnJoin, "smol", 10, &[ok(10, 700, None)]),
            Row::from_outcomes(Workload::PingPong, "tokio-ct", 10, &[ok(10, 3000, None)]),
            Row::from_outcomes(
                Workload::Lateness,
                "smol",
                3,
                &[ok(3, 50_000_000, Some(vec![-20, 250_000, 1_200_000]))],
            ),
            Row::from_outcomes(Workload::Lateness, "asyncio", 3, &[Err("no".into())]),
        ];
        let bars = dir.join("chart.svg");
        write_bars(&bars, &rows).unwrap();
        let svg = std::fs::read_to_string(&bars).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        for text in ["spawn_join", "ping_pong", "lateness", "tokio-ct", "smol"] {
            assert!(svg.contains(text), "chart.svg lacks {text}");
        }
        // Three successful panels' bars.
        assert!(svg.matches("<rect").count() >= 4);
        let late = dir.join("lateness.svg");
        write_lateness(&late, &rows).unwrap();
        let svg = std::fs::read_to_string(&late).unwrap();
        assert!(svg.contains("smol") && svg.contains("<polyline"));
        assert!(!svg.contains("asyncio"), "a failed row has no curve");
        let _ = std::fs::remove_dir_all(dir);
    }
}
