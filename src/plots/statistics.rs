//! Small multiples of numbers over the epochs: one panel per statistic, one line per layer or
//! parameter, panels in two columns. The training statistics' plot (`monitor::panels` says
//! which panels) is drawn with it. A panel's vertical axis is the loss axis' (`LossAxis`):
//! logarithmic when its values span more than two decades (a gradient norm that vanishes does),
//! linear otherwise. Non-finite values are left out, as on the learning curves.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    clamp_epoch, clean_label, draw_error, quietest_place, text_style, LossAxis, PlotError,
};
use super::{GRID_COLOUR, MAX_TITLE_CHARS, TEXT_COLOUR};

/// One line of a panel: its label in the legend and its value per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(usize, f64)>,
}

/// One statistic: its title and a line per subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

/// Line colours, one per series in turn (after Okabe and Ito's colour-blind-safe palette).
/// None is a colour of the learning curves: a layer's line is not to be read as the training
/// or the validation loss on the same page.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0x55, 0x55, 0x55),
    RGBColor(0xa0, 0x52, 0x2d),
    RGBColor(0xbc, 0xbd, 0x22),
];
const PANEL_WIDTH: u32 = 520;
const PANEL_HEIGHT: u32 = 300;
/// Lines named in a panel's legend; the rest are drawn without a name.
const MAX_LEGEND: usize = 8;

/// The panels as one SVG picture, titled `title`; an empty list draws the title alone.
pub fn panels(title: &str, panels: &[Panel]) -> Result<String, PlotError> {
    let rows = panels.len().div_ceil(2).max(1) as u32;
    let columns = if panels.len() > 1 { 2 } else { 1 };
    let (width, height) = (PANEL_WIDTH * columns, PANEL_HEIGHT * rows + 36);
    let title = clean_label(title, MAX_TITLE_CHARS);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let body = root
            .titled(
                &title,
                text_style(18.0, TEXT_COLOUR, HPos::Center, VPos::Top),
            )
            .map_err(draw_error)?;
        let areas = body.split_evenly((rows as usize, columns as usize));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(panel, area)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let series: Vec<(String, Vec<(u64, f64)>)> = panel
        .series
        .iter()
        .map(|s| {
            let points = s
                .points
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|&(e, v)| (clamp_epoch(e), v))
                .collect();
            (clean_label(&s.label, 24), points)
        })
        .collect();
    let values: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, v)| v))
        .collect();
    let axis = LossAxis::fit(&values);
    let (x_lo, mut x_hi) = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
        .fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let x_lo = if x_lo > x_hi { 0 } else { x_lo };
    if x_hi <= x_lo {
        x_hi = x_lo + 1;
    }
    let y_desc = match axis.log_scale() {
        (true, true) => "log scale, zeros at the bottom",
        (true, false) => "log scale",
        _ => "",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            clean_label(&panel.title, 60),
            text_style(14.0, TEXT_COLOUR, HPos::Center, VPos::Top),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, axis.coord())
        .map_err(draw_error)?;
    let y_formatter = |v: &f64| axis.tick_label(*v);
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(6)
        .y_label_formatter(&y_formatter)
        .label_style(text_style(11.0, TEXT_COLOUR, HPos::Center, VPos::Center))
        .axis_desc_style(text_style(12.0, TEXT_COLOUR, HPos::Center, VPos::Center))
        .bold_line_style(GRID_COLOUR)
        .light_line_style(WHITE.mix(0.0))
        .axis_style(TEXT_COLOUR)
        .draw()
        .map_err(draw_error)?;
    let series: Vec<(String, Vec<(u64, f64)>)> = series
        .into_iter()
        .map(|(label, points)| {
            let points = points
                .into_iter()
                .map(|(x, v)| (x, axis.position(v)))
                .collect();
            (label, points)
        })
        .collect();
    let legend_place = quietest_place(
        series.iter().flat_map(|(_, p)| p),
        (x_lo as f64, x_hi as f64),
        axis.range,
    );
    for (i, (label, points)) in series.into_iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let dot = if points.len() == 1 { 3 } else { 0 };
        let drawn = chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)).point_size(dot))
            .map_err(draw_error)?;
        if i < MAX_LEGEND {
            drawn.label(label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        }
    }
    if !panel.series.is_empty() {
        chart
            .configure_series_labels()
            .position(legend_place)
            .label_font(text_style(11.0, TEXT_COLOUR, HPos::Left, VPos::Top))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID_COLOUR)
            .draw()
            .map_err(draw_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(title: &str, values: &[f64]) -> Panel {
        Panel {
            title: title.into(),
            series: vec![Series {
                label: "layer 1".into(),
                points: values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (i + 1, v))
                    .collect(),
            }],
        }
    }

    #[test]
    fn each_panel_has_its_title_and_lines_and_the_same_input_the_same_bytes() {
        let ps = [
            panel("activation std", &[1.0, 0.9, 0.8]),
            panel("gradient ÷ weight", &[1.0, 1e-3, 1e-6]),
            panel("dead units", &[0.0, 0.5, f64::NAN]),
        ];
        let svg = panels("run: statistics", &ps).unwrap();
        for text in ["run: statistics", "activation std", "dead units", "layer 1"] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(
            svg.contains("log scale"),
            "six decades are drawn on a log axis"
        );
        let lines = svg
            .matches(r##"stroke="#009E73" stroke-width="2""##)
            .count();
        assert_eq!(lines, 3 + 3, "a line and its legend's sample in each panel");
        assert_eq!(svg, panels("run: statistics", &ps).unwrap());
    }

    #[test]
    fn empty_and_degenerate_panels_draw() {
        panels("none", &[]).unwrap();
        panels("one", &[panel("x", &[])]).unwrap();
        panels("flat", &[panel("x", &[f64::INFINITY, 2.0])]).unwrap();
    }
}
