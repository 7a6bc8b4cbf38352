//! The points a figure can show: runs of drawable points per series, band samples,
//! highlighted markers, the data extent, and the count of what was left out.
//!
//! Values stay in data units (plotters' log-scale coordinates map them); only the
//! extent is kept in axis units (decades on a log axis), for the axis ranges.

use super::figure::{to_axis, Figure, PlotStats};

/// One band sample in data units; `lo == None` means "down to the bottom of the plot".
pub(super) type BandPoint = (f64, Option<f64>, f64);

/// What [`prepare`] found drawable in a figure.
pub(super) struct Prepared {
    /// Per series: runs of consecutive shown points (data units).
    pub runs: Vec<Vec<Vec<(f64, f64)>>>,
    /// Per series: runs of consecutive shown band samples.
    pub bands: Vec<Vec<Vec<BandPoint>>>,
    /// Per figure marker: its position, if shown.
    pub markers: Vec<Option<(f64, f64)>>,
    /// What was not shown.
    pub stats: PlotStats,
    /// Data extent in axis units over everything shown (both `None` or both `Some`).
    pub x_extent: Option<(f64, f64)>,
    /// See `x_extent`.
    pub y_extent: Option<(f64, f64)>,
}

impl Prepared {
    /// True when nothing at all can be drawn.
    pub fn is_empty(&self) -> bool {
        self.x_extent.is_none()
    }
}

fn widen(extent: &mut Option<(f64, f64)>, v: f64) {
    *extent = Some(match *extent {
        None => (v, v),
        Some((lo, hi)) => (lo.min(v), hi.max(v)),
    });
}

/// Splits every series into runs of drawable points, counting the rest.
pub(super) fn prepare(fig: &Figure) -> Prepared {
    let mut stats = PlotStats::default();
    let mut x_extent = None;
    let mut y_extent = None;
    let mut runs = Vec::with_capacity(fig.series.len());
    let mut bands = Vec::with_capacity(fig.series.len());

    for s in &fig.series {
        let mut series_runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current = Vec::new();
        for &(x, y) in &s.points {
            match (to_axis(x, fig.x_log), to_axis(y, fig.y_log)) {
                (Some(tx), Some(ty)) => {
                    widen(&mut x_extent, tx);
                    widen(&mut y_extent, ty);
                    current.push((x, y));
                }
                _ => {
                    stats.dropped += 1;
                    if !current.is_empty() {
                        series_runs.push(std::mem::take(&mut current));
                    }
                }
            }
        }
        if !current.is_empty() {
            series_runs.push(current);
        }
        runs.push(series_runs);

        let mut band_runs: Vec<Vec<BandPoint>> = Vec::new();
        let mut current: Vec<BandPoint> = Vec::new();
        for &(x, lo, hi) in s.band.as_deref().unwrap_or(&[]) {
            let t_lo = match to_axis(lo, fig.y_log) {
                Some(v) => Some(Some((v, lo))),
                None if fig.y_log && lo <= 0.0 => Some(None),
                None => None,
            };
            match (to_axis(x, fig.x_log), t_lo, to_axis(hi, fig.y_log)) {
                (Some(tx), Some(t_lo), Some(t_hi)) => {
                    widen(&mut x_extent, tx);
                    widen(&mut y_extent, t_hi);
                    if let Some((v, _)) = t_lo {
                        widen(&mut y_extent, v);
                    }
                    current.push((x, t_lo.map(|(_, lo)| lo), hi));
                }
                _ => {
                    stats.dropped_other += 1;
                    if !current.is_empty() {
                        band_runs.push(std::mem::take(&mut current));
                    }
                }
            }
        }
        if !current.is_empty() {
            band_runs.push(current);
        }
        bands.push(band_runs);
    }

    let markers = fig
        .markers
        .iter()
        .map(|m| match (to_axis(m.x, fig.x_log), to_axis(m.y, fig.y_log)) {
            (Some(tx), Some(ty)) => {
                widen(&mut x_extent, tx);
                widen(&mut y_extent, ty);
                Some((m.x, m.y))
            }
            _ => {
                stats.dropped_other += 1;
                None
            }
        })
        .collect();

    // Keep both extents consistent: there is data on both axes or on neither.
    if x_extent.is_none() || y_extent.is_none() {
        x_extent = None;
        y_extent = None;
    }
    Prepared { runs, bands, markers, stats, x_extent, y_extent }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Figure, Marker, Series, REFERENCE_GREY};

    #[test]
    fn dropped_points_break_runs_and_are_counted() {
        let mut fig = Figure::new("t", "x", "y");
        let pts = vec![(1.0, 1.0), (1e-1, 0.0), (1e-2, f64::NAN), (1e-3, -1.0), (1e-4, 1e-3), (1e-5, 1e-2)];
        fig.series.push(Series::line("s", REFERENCE_GREY, pts).with_band(vec![(1.0, 0.0, 2.0), (1.0, 1.0, f64::NAN)]));
        fig.markers.push(Marker { x: 0.0, y: 1.0, label: None, color: REFERENCE_GREY });
        assert_eq!(fig.count_dropped(), 3);
        let prep = prepare(&fig);
        assert_eq!(prep.stats, PlotStats { dropped: 3, dropped_other: 2 });
        assert_eq!(prep.runs[0].len(), 2);
        assert_eq!(prep.runs[0][1], vec![(1e-4, 1e-3), (1e-5, 1e-2)]);
        // A band lo <= 0 on a log axis is kept, reaching the bottom of the plot.
        assert_eq!(prep.bands[0], vec![vec![(1.0, None, 2.0)]]);
        assert_eq!(prep.markers, vec![None]);
        let (lo, hi) = prep.x_extent.unwrap();
        assert!((lo + 5.0).abs() < 1e-12 && hi == 0.0, "{lo} {hi}");
    }

    #[test]
    fn linear_axis_keeps_zero_and_negative() {
        let mut fig = Figure::new("t", "x", "y");
        fig.y_log = false;
        fig.series.push(Series::line("s", REFERENCE_GREY, vec![(1.0, 0.0), (2.0, -1.0), (0.0, 1.0)]));
        let prep = prepare(&fig);
        assert_eq!(prep.stats.dropped, 1);
        assert_eq!(prep.y_extent, Some((-1.0, 0.0)));
    }
}
