//! Plots of a training run as standalone SVG text: the learning curves
//! (train and validation loss per epoch) and the confusion matrix as a heat
//! map. This module owns turning those numbers into a picture a person opens
//! in a browser without nnc: it picks the axis ranges, tick labels, colours
//! and layout, and it guards the drawing against whatever the numbers are
//! (no epochs, non-finite losses, empty or ragged matrices, odd class names),
//! so a plot never panics and the same input always gives the same bytes.
//! Text is written as SVG `<text>` elements, so no font files are needed to
//! produce a plot; the browser picks its own sans-serif font to show it.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::data::TargetEncoding;
use loss_axis::LossAxis;

mod loss_axis;
mod statistics;

pub use statistics::{panels, Panel, Series};

/// One epoch's losses; `validation` is None when there is no validation split.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochLosses {
    pub epoch: usize,
    pub train: f64,
    pub validation: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw the plot: {0}")]
    Draw(String),
}

/// Font family of every piece of text.
const FONT: &str = "sans-serif";
/// plotters' SVG backend writes a font size of `size / 1.24`; sizes below are
/// in pixels as they appear in the SVG, and [`text_style`] converts them.
const SVG_FONT_SCALE: f64 = 1.24;
/// Longest class name (in characters) shown as a label before truncation.
const MAX_LABEL_CHARS: usize = 18;
/// Longest title (in characters) before truncation.
const MAX_TITLE_CHARS: usize = 90;
/// Losses beyond this magnitude are drawn at this bound, which keeps every
/// range and its width finite.
const LOSS_LIMIT: f64 = 1e300;
/// Epoch numbers beyond this are drawn at this bound (exact in an `f64`).
const EPOCH_LIMIT: u64 = 1 << 53;

const TRAIN_COLOUR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const VALIDATION_COLOUR: RGBColor = RGBColor(0xd6, 0x5f, 0x00);
const BEST_COLOUR: RGBColor = RGBColor(0x2c, 0x8c, 0x2c);
const TEXT_COLOUR: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID_COLOUR: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const MISSING_CELL_COLOUR: RGBColor = RGBColor(0xd8, 0xd8, 0xd8);
/// The heat map runs from white (share 0) to this blue (share 1).
const HEAT_FULL: (f64, f64, f64) = (8.0, 48.0, 107.0);

fn draw_error(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// A text style of `px` pixels (as written in the SVG) with the given anchor.
fn text_style(px: f64, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, px * SVG_FONT_SCALE)
        .into_font()
        .color(&colour)
        .pos(Pos::new(h, v))
}

/// `s` without characters XML does not allow in text, with surrounding
/// whitespace removed, cut to `max_chars` characters (the last one an
/// ellipsis when cut).
fn clean_label(s: &str, max_chars: usize) -> String {
    let kept: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|&c| !c.is_control() && c != '\u{FFFE}' && c != '\u{FFFF}')
        .collect();
    let kept = kept.trim();
    if kept.chars().count() <= max_chars {
        return kept.to_string();
    }
    let mut cut: String = kept.chars().take(max_chars.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Rough width in pixels of `s` at `px` pixels: the browser's font is not
/// known, so wide (East Asian) characters count as one em, others as 0.6.
fn text_width(s: &str, px: f64) -> f64 {
    s.chars()
        .map(|c| if c as u32 >= 0x2E80 { 1.0 } else { 0.6 })
        .sum::<f64>()
        * px
}

/// The place in the plot where the legend hides the fewest points: its box
/// covers the outer quarter of the width and a fifth of the height at the
/// top, bottom or middle of either side; ties go to the earlier place in
/// [`LEGEND_PLACES`].
fn quietest_place<'a>(
    points: impl Iterator<Item = &'a (u64, f64)>,
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
) -> SeriesLabelPosition {
    let mut hidden = [0usize; LEGEND_PLACES.len()];
    for &(x, y) in points {
        let fx = (x as f64 - x_lo) / (x_hi - x_lo);
        let fy = (y - y_lo) / (y_hi - y_lo);
        for (count, (_, (left, right), (bottom, top))) in hidden.iter_mut().zip(LEGEND_PLACES) {
            *count += usize::from((left..=right).contains(&fx) && (bottom..=top).contains(&fy));
        }
    }
    let best = (0..LEGEND_PLACES.len())
        .min_by_key(|&i| (hidden[i], i))
        .unwrap_or(0);
    LEGEND_PLACES[best].0.clone()
}

/// A share of the plot's width or height, from its left or bottom.
type Share = (f64, f64);

/// Where the legend may go, with the share of the plot's width and height
/// (from the left and from the bottom) its box roughly covers.
const LEGEND_PLACES: [(SeriesLabelPosition, Share, Share); 6] = [
    (SeriesLabelPosition::UpperRight, (0.75, 1.0), (0.8, 1.0)),
    (SeriesLabelPosition::MiddleRight, (0.75, 1.0), (0.4, 0.6)),
    (SeriesLabelPosition::LowerRight, (0.75, 1.0), (0.0, 0.2)),
    (SeriesLabelPosition::UpperLeft, (0.0, 0.25), (0.8, 1.0)),
    (SeriesLabelPosition::MiddleLeft, (0.0, 0.25), (0.4, 0.6)),
    (SeriesLabelPosition::LowerLeft, (0.0, 0.25), (0.0, 0.2)),
];

fn clamp_epoch(epoch: usize) -> u64 {
    (epoch as u64).min(EPOCH_LIMIT)
}

/// The epoch with the lowest validation loss (the earliest of equal ones): the best epoch of a
/// run without early stopping. None when no epoch has a finite validation loss.
fn lowest_validation_epoch(epochs: &[EpochLosses]) -> Option<usize> {
    epochs
        .iter()
        .filter_map(|e| Some((e.epoch, e.validation.filter(|v| v.is_finite())?)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(epoch, _)| epoch)
}

/// Train and validation loss per epoch: two labelled lines, a legend, axis titles "epoch" and
/// "loss" (for a regression, "loss (standardized target)": its loss is computed on the target
/// scaled to mean 0 and standard deviation 1, not in the target's units; `target` says which),
/// and the best epoch marked with a vertical line. The best epoch is `best_epoch`, the one early
/// stopping chose, labelled "best epoch N"; without it, the epoch with the lowest validation
/// loss, labelled "best epoch N (lowest validation loss)"; nothing is marked when there is no
/// validation loss.
///
/// Points whose loss is NaN or infinite are left out (the line joins its finite neighbours);
/// the validation line is drawn only when some epoch has a validation loss. The loss axis is
/// logarithmic when the losses span more than two decades, linear otherwise ([`LossAxis`]).
pub fn learning_curves(
    title: &str,
    epochs: &[EpochLosses],
    best_epoch: Option<usize>,
    target: TargetEncoding,
) -> Result<String, PlotError> {
    const WIDTH: u32 = 860;
    const HEIGHT: u32 = 520;

    let mut sorted: Vec<&EpochLosses> = epochs.iter().collect();
    sorted.sort_by_key(|e| e.epoch);
    let train: Vec<(u64, f64)> = sorted
        .iter()
        .filter(|e| e.train.is_finite())
        .map(|e| (clamp_epoch(e.epoch), e.train.clamp(-LOSS_LIMIT, LOSS_LIMIT)))
        .collect();
    let validation: Vec<(u64, f64)> = sorted
        .iter()
        .filter_map(|e| Some((e.epoch, e.validation?)))
        .filter(|(_, v)| v.is_finite())
        .map(|(epoch, v)| (clamp_epoch(epoch), v.clamp(-LOSS_LIMIT, LOSS_LIMIT)))
        .collect();
    let has_validation = sorted.iter().any(|e| e.validation.is_some());
    let losses: Vec<f64> = train.iter().chain(&validation).map(|&(_, v)| v).collect();
    let axis = LossAxis::fit(&losses);
    // From here on a point's height is in the axis' units.
    let to_axis = |points: Vec<(u64, f64)>| -> Vec<(u64, f64)> {
        points
            .into_iter()
            .map(|(x, v)| (x, axis.position(v)))
            .collect()
    };
    let (train, validation) = (to_axis(train), to_axis(validation));

    let (best, best_label) = match best_epoch {
        Some(epoch) => (Some(epoch), ""),
        None => (lowest_validation_epoch(epochs), " (lowest validation loss)"),
    };
    let best = best.map(clamp_epoch);
    let epoch_values = sorted.iter().map(|e| clamp_epoch(e.epoch)).chain(best);
    let (mut x_lo, mut x_hi) =
        epoch_values.fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if x_lo > x_hi {
        (x_lo, x_hi) = (0, 1);
    }
    if x_lo == x_hi {
        if x_hi < EPOCH_LIMIT {
            x_hi += 1;
        } else {
            x_lo -= 1;
        }
    }
    let (y_lo, y_hi) = axis.range;
    let legend_place = quietest_place(
        train.iter().chain(&validation),
        (x_lo as f64, x_hi as f64),
        (y_lo, y_hi),
    );

    let title = clean_label(title, MAX_TITLE_CHARS);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let body = root
            .titled(
                &title,
                text_style(18.0, TEXT_COLOUR, HPos::Center, VPos::Top),
            )
            .map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(14)
            .margin_top(26)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(x_lo..x_hi, axis.coord())
            .map_err(draw_error)?;
        let y_formatter = |v: &f64| axis.tick_label(*v);
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(axis.title(target))
            .x_labels(10)
            .y_label_formatter(&y_formatter)
            .label_style(text_style(12.0, TEXT_COLOUR, HPos::Center, VPos::Center))
            .axis_desc_style(text_style(14.0, TEXT_COLOUR, HPos::Center, VPos::Center))
            .bold_line_style(GRID_COLOUR)
            .light_line_style(WHITE.mix(0.0))
            .axis_style(TEXT_COLOUR)
            .draw()
            .map_err(draw_error)?;

        let mut series = vec![(train, TRAIN_COLOUR, "train")];
        if has_validation {
            series.push((validation, VALIDATION_COLOUR, "validation"));
        }
        for (points, colour, label) in series {
            // A lone point makes no visible line, so it gets a dot.
            let dot = if points.len() == 1 { 3 } else { 0 };
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)).point_size(dot))
                .map_err(draw_error)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], colour.stroke_width(2))
                });
        }

        if let Some(best) = best {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(best, y_lo), (best, y_hi)],
                    BEST_COLOUR.stroke_width(1),
                )))
                .map_err(draw_error)?;
            // The label sits just above the plot, over the line, kept inside
            // the picture.
            let label = format!("best epoch {best}{best_label}");
            let (x, y) = chart.backend_coord(&(best, y_hi));
            let half = (text_width(&label, 13.0) / 2.0).ceil() as i32 + 4;
            let x = x.clamp(half, WIDTH as i32 - half);
            root.draw(&Text::new(
                label,
                (x, y - 5),
                text_style(13.0, BEST_COLOUR, HPos::Center, VPos::Bottom),
            ))
            .map_err(draw_error)?;
        }

        chart
            .configure_series_labels()
            .position(legend_place)
            .label_font(text_style(13.0, TEXT_COLOUR, HPos::Left, VPos::Top))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID_COLOUR)
            .draw()
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// The confusion matrix as a heat map: rows truth, columns predicted, labelled with the class names,
/// the count written in every cell, axis titles "predicted" and "truth".
///
/// A cell's colour is its share of its truth row (white: none of the row,
/// dark blue: all of it), so rare classes read as clearly as common ones.
/// Rows of different lengths are padded with grey cells holding no count.
/// Classes without a name (or with only unprintable characters) are labelled
/// by their index; long names are cut.
pub fn confusion_matrix(
    title: &str,
    confusion: &[Vec<usize>],
    class_names: &[String],
) -> Result<String, PlotError> {
    const MARGIN: f64 = 16.0;
    const TITLE_PX: f64 = 18.0;
    const LABEL_PX: f64 = 12.0;
    const AXIS_PX: f64 = 14.0;
    const NOTE_PX: f64 = 11.0;
    const GAP: f64 = 8.0;

    let rows = confusion.len();
    let cols = confusion.iter().map(Vec::len).max().unwrap_or(0);
    let n = rows.max(cols);
    let names: Vec<String> = (0..n)
        .map(|i| {
            let name = class_names
                .get(i)
                .map(|s| clean_label(s, MAX_LABEL_CHARS))
                .unwrap_or_default();
            if name.is_empty() {
                i.to_string()
            } else {
                name
            }
        })
        .collect();

    let cell = (560.0 / n.max(1) as f64).clamp(14.0, 84.0).floor();
    let longest = names
        .iter()
        .map(|s| text_width(s, LABEL_PX))
        .fold(0.0, f64::max);
    let row_label_width = longest.max(LABEL_PX) + GAP;
    // Column labels lie flat when every one fits its column, else they stand
    // upright so neighbours never overlap.
    let upright = longest > cell - 4.0;
    let col_label_height = if upright {
        longest + GAP
    } else {
        LABEL_PX + GAP
    };
    let note = "cell colour: share of the truth row";
    let title = clean_label(title, MAX_TITLE_CHARS);

    let grid = cell * n as f64;
    let grid_x = MARGIN + AXIS_PX + GAP + row_label_width;
    let grid_y = MARGIN + TITLE_PX + 2.0 * GAP;
    let content_width = grid_x + grid + MARGIN;
    let width = content_width
        .max(text_width(&title, TITLE_PX) + 2.0 * MARGIN)
        .max(text_width(note, NOTE_PX) + 2.0 * MARGIN)
        .max(320.0)
        .ceil();
    let height =
        (grid_y + grid + GAP + col_label_height + AXIS_PX + GAP + NOTE_PX + 2.0 * GAP + MARGIN)
            .max(200.0)
            .ceil();

    let row_total: Vec<f64> = confusion
        .iter()
        .map(|row| row.iter().map(|&c| c as f64).sum())
        .collect();
    let max_digits = confusion
        .iter()
        .flatten()
        .map(|c| c.to_string().len())
        .max()
        .unwrap_or(1) as f64;
    // The count must fit across its cell and stay legible in small cells.
    let count_px = (cell * 0.42)
        .min((cell - 3.0) / (0.6 * max_digits))
        .clamp(4.0, 15.0);

    let mut svg = String::new();
    {
        let root: DrawingArea<SVGBackend, Shift> =
            SVGBackend::with_string(&mut svg, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let px = |v: f64| v.round() as i32;
        root.draw(&Text::new(
            title,
            (px(width / 2.0), px(MARGIN)),
            text_style(TITLE_PX, TEXT_COLOUR, HPos::Center, VPos::Top),
        ))
        .map_err(draw_error)?;

        if n == 0 {
            root.draw(&Text::new(
                "no classes",
                (px(width / 2.0), px(height / 2.0)),
                text_style(AXIS_PX, TEXT_COLOUR, HPos::Center, VPos::Center),
            ))
            .map_err(draw_error)?;
        }

        for i in 0..n {
            for j in 0..n {
                let x0 = grid_x + cell * j as f64;
                let y0 = grid_y + cell * i as f64;
                let count = confusion.get(i).and_then(|row| row.get(j)).copied();
                let (fill, ink) = match count {
                    None => (MISSING_CELL_COLOUR, None),
                    Some(c) => {
                        let total = row_total.get(i).copied().unwrap_or(0.0);
                        let share = if total > 0.0 { c as f64 / total } else { 0.0 };
                        let (r, g, b) = HEAT_FULL;
                        let mix = |full: f64| (255.0 + (full - 255.0) * share).round() as u8;
                        let ink = if share > 0.6 { WHITE } else { TEXT_COLOUR };
                        (RGBColor(mix(r), mix(g), mix(b)), Some((c, ink)))
                    }
                };
                root.draw(&Rectangle::new(
                    [(px(x0), px(y0)), (px(x0 + cell), px(y0 + cell))],
                    fill.filled(),
                ))
                .map_err(draw_error)?;
                if let Some((c, ink)) = ink {
                    root.draw(&Text::new(
                        c.to_string(),
                        (px(x0 + cell / 2.0), px(y0 + cell / 2.0)),
                        text_style(count_px, ink, HPos::Center, VPos::Center),
                    ))
                    .map_err(draw_error)?;
                }
            }
        }
        if n > 0 {
            root.draw(&Rectangle::new(
                [
                    (px(grid_x), px(grid_y)),
                    (px(grid_x + grid), px(grid_y + grid)),
                ],
                GRID_COLOUR.stroke_width(1),
            ))
            .map_err(draw_error)?;
        }

        // Row labels (truth) right-aligned left of the grid; column labels
        // (predicted) below it.
        for (i, name) in names.iter().enumerate() {
            root.draw(&Text::new(
                name.clone(),
                (px(grid_x - GAP), px(grid_y + cell * (i as f64 + 0.5))),
                text_style(LABEL_PX, TEXT_COLOUR, HPos::Right, VPos::Center),
            ))
            .map_err(draw_error)?;
            let x = px(grid_x + cell * (i as f64 + 0.5));
            let y = px(grid_y + grid + GAP);
            let style = if upright {
                text_style(LABEL_PX, TEXT_COLOUR, HPos::Right, VPos::Center)
                    .transform(FontTransform::Rotate270)
            } else {
                text_style(LABEL_PX, TEXT_COLOUR, HPos::Center, VPos::Top)
            };
            root.draw(&Text::new(name.clone(), (x, y), style))
                .map_err(draw_error)?;
        }

        let axis_y = grid_y + grid + GAP + col_label_height;
        root.draw(&Text::new(
            "predicted",
            (px(grid_x + grid / 2.0), px(axis_y)),
            text_style(AXIS_PX, TEXT_COLOUR, HPos::Center, VPos::Top),
        ))
        .map_err(draw_error)?;
        root.draw(&Text::new(
            "truth",
            (px(MARGIN + AXIS_PX / 2.0), px(grid_y + grid / 2.0)),
            text_style(AXIS_PX, TEXT_COLOUR, HPos::Center, VPos::Center)
                .transform(FontTransform::Rotate270),
        ))
        .map_err(draw_error)?;
        root.draw(&Text::new(
            note,
            (px(MARGIN), px(axis_y + AXIS_PX + 2.0 * GAP)),
            text_style(NOTE_PX, RGBColor(0x66, 0x66, 0x66), HPos::Left, VPos::Top),
        ))
        .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TargetEncoding::{OneHot, Standardized};

    /// Checks the SVG is one `<svg>` element whose tags nest properly, whose
    /// text holds no raw `<` or bare `&` and no control characters, and
    /// returns the text contents of its `<text>` elements, trimmed.
    fn well_formed(svg: &str) -> Vec<String> {
        let svg = svg.trim();
        assert!(svg.starts_with("<svg"), "starts with {:?}", &svg[..20]);
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.chars().any(|c| c.is_control() && !"\n\t\r".contains(c)));
        let mut open: Vec<&str> = Vec::new();
        let mut texts = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let content = &rest[..start];
            for (k, _) in content.match_indices('&') {
                let entity = &content[k..];
                assert!(
                    ["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| entity.starts_with(e)),
                    "bare & in {content:?}"
                );
            }
            if open.last() == Some(&"text") {
                texts.push(content.trim().to_string());
            }
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "tag {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name.trim()), "closing {name}");
            } else if !tag.ends_with('/') {
                open.push(tag.split_whitespace().next().expect("tag name"));
            }
            assert!(
                !open.is_empty() || end + 1 == rest.len(),
                "content after </svg>"
            );
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed {open:?}");
        texts
    }

    /// The polylines drawn in `colour` with at least `min_points` points.
    fn polylines(svg: &str, colour: RGBColor, min_points: usize) -> usize {
        let stroke = format!(
            "stroke=\"#{:02X}{:02X}{:02X}\"",
            colour.0, colour.1, colour.2
        );
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(&stroke))
            .filter(|l| {
                let points = l.split('"').skip_while(|a| !a.ends_with("points=")).nth(1);
                let points = points.unwrap_or("");
                points.split_whitespace().count() >= min_points
            })
            .count()
    }

    fn run(n: usize, validation: bool) -> Vec<EpochLosses> {
        (1..=n)
            .map(|e| EpochLosses {
                epoch: e,
                train: 1.0 / e as f64,
                validation: validation.then(|| 1.2 / e as f64 + 0.01 * e as f64),
            })
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn learning_curves_have_titles_legend_and_best_epoch_label() {
        let svg = learning_curves("iris run", &run(50, true), Some(31), OneHot).unwrap();
        let texts = well_formed(&svg);
        for wanted in [
            "iris run",
            "epoch",
            "loss",
            "train",
            "validation",
            "best epoch 31",
        ] {
            assert!(
                texts.iter().any(|t| t == wanted),
                "no text {wanted:?} in {texts:?}"
            );
        }
    }

    #[test]
    fn learning_curves_draw_one_line_per_series() {
        let svg = learning_curves("run", &run(50, true), Some(31), OneHot).unwrap();
        assert_eq!(polylines(&svg, TRAIN_COLOUR, 50), 1);
        assert_eq!(polylines(&svg, VALIDATION_COLOUR, 50), 1);
        let best = format!(
            "#{:02X}{:02X}{:02X}",
            BEST_COLOUR.0, BEST_COLOUR.1, BEST_COLOUR.2
        );
        assert!(svg
            .lines()
            .any(|l| l.starts_with("<polyline") && l.contains(&best)));

        let svg = learning_curves("run", &run(50, false), None, OneHot).unwrap();
        let texts = well_formed(&svg);
        assert_eq!(polylines(&svg, TRAIN_COLOUR, 50), 1);
        assert_eq!(polylines(&svg, VALIDATION_COLOUR, 2), 0);
        assert!(!texts
            .iter()
            .any(|t| t == "validation" || t.starts_with("best epoch")));
    }

    #[test]
    fn without_early_stopping_the_lowest_validation_loss_is_marked() {
        // 1.2/e + 0.01e is lowest at e = 11.
        let svg = learning_curves("run", &run(50, true), None, OneHot).unwrap();
        let texts = well_formed(&svg);
        assert!(
            texts
                .iter()
                .any(|t| t == "best epoch 11 (lowest validation loss)"),
            "{texts:?}"
        );
        // Early stopping's own choice is marked as it is, even where the loss is not lowest.
        let texts = well_formed(&learning_curves("run", &run(50, true), Some(31), OneHot).unwrap());
        assert!(texts.iter().any(|t| t == "best epoch 31"), "{texts:?}");
        // Without validation losses, nothing is marked.
        let mut epochs = run(10, true);
        epochs
            .iter_mut()
            .for_each(|e| e.validation = Some(f64::NAN));
        for epochs in [run(10, false), epochs] {
            let texts = well_formed(&learning_curves("run", &epochs, None, OneHot).unwrap());
            assert!(
                !texts.iter().any(|t| t.starts_with("best epoch")),
                "{texts:?}"
            );
        }
    }

    #[test]
    fn a_loss_falling_by_decades_gets_a_log_axis() {
        let epochs: Vec<EpochLosses> = (1..=40)
            .map(|e| EpochLosses {
                epoch: e,
                train: 10f64.powf(-(e as f64) / 8.0),
                validation: Some(2.0 * 10f64.powf(-(e as f64) / 8.0)),
            })
            .collect();
        let svg = learning_curves("run", &epochs, None, Standardized).unwrap();
        let texts = well_formed(&svg);
        assert!(
            texts
                .iter()
                .any(|t| t == "loss (standardized target, log scale)"),
            "{texts:?}"
        );
        for tick in ["0.0001", "0.001", "0.01", "0.1", "1"] {
            assert!(
                texts.iter().any(|t| t == tick),
                "no tick {tick} in {texts:?}"
            );
        }
        assert_eq!(polylines(&svg, TRAIN_COLOUR, 40), 1);
        assert!(
            texts.iter().any(|t| t.starts_with("best epoch 40")),
            "{texts:?}"
        );

        // Within two decades the axis stays linear; a regression's still says what it is on.
        let texts =
            well_formed(&learning_curves("run", &run(50, true), None, Standardized).unwrap());
        assert!(
            texts.iter().any(|t| t == "loss (standardized target)"),
            "{texts:?}"
        );
        let texts = well_formed(&learning_curves("run", &run(50, true), None, OneHot).unwrap());
        assert!(texts.iter().any(|t| t == "loss"), "{texts:?}");
    }

    #[test]
    fn a_zero_loss_is_drawn_at_the_bottom_of_a_log_axis() {
        let mut epochs = run(30, false);
        epochs
            .iter_mut()
            .for_each(|e| e.train = 10f64.powi(-(e.epoch as i32)));
        epochs[29].train = 0.0;
        let svg = learning_curves("run", &epochs, None, Standardized).unwrap();
        let texts = well_formed(&svg);
        assert!(
            texts
                .iter()
                .any(|t| t == "loss (standardized target, log scale, zeros at the bottom)"),
            "{texts:?}"
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert_eq!(polylines(&svg, TRAIN_COLOUR, 30), 1);
    }

    #[test]
    fn learning_curves_skip_non_finite_losses() {
        let mut epochs = run(20, true);
        epochs[3].train = f64::NAN;
        epochs[4].train = f64::INFINITY;
        epochs[5].validation = Some(f64::NEG_INFINITY);
        epochs[6].validation = None;
        let svg = learning_curves("run", &epochs, None, OneHot).unwrap();
        well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert_eq!(polylines(&svg, TRAIN_COLOUR, 18), 1);
        assert_eq!(polylines(&svg, TRAIN_COLOUR, 19), 0);
        assert_eq!(polylines(&svg, VALIDATION_COLOUR, 18), 1);
        assert_eq!(polylines(&svg, VALIDATION_COLOUR, 19), 0);
    }

    #[test]
    fn learning_curves_survive_odd_inputs() {
        let one = |train: f64, validation: Option<f64>| EpochLosses {
            epoch: 1,
            train,
            validation,
        };
        let mut shuffled = run(30, true);
        shuffled.reverse();
        let cases: Vec<(Vec<EpochLosses>, Option<usize>)> = vec![
            (vec![], None),
            (vec![], Some(7)),
            (vec![one(0.5, None)], Some(1)),
            (vec![one(0.5, Some(0.6))], Some(1000)),
            (vec![one(f64::NAN, Some(f64::NAN))], None),
            (
                vec![one(f64::INFINITY, None), one(f64::NEG_INFINITY, None)],
                None,
            ),
            (vec![one(0.0, Some(0.0))], None),
            (vec![one(f64::MAX, Some(-f64::MAX))], None),
            (vec![one(f64::MIN_POSITIVE, Some(5e-324))], None),
            (vec![one(1e9, Some(1e9 + 1e-3))], None),
            (run(5000, true), Some(4321)),
            (shuffled, Some(3)),
            (
                vec![EpochLosses {
                    epoch: usize::MAX,
                    train: 1.0,
                    validation: None,
                }],
                Some(usize::MAX),
            ),
            (vec![one(1.0, None), one(2.0, None)], Some(0)),
        ];
        well_formed(&learning_curves("", &[], None, OneHot).unwrap());
        for (epochs, best) in cases {
            let svg = learning_curves("odd \u{0} <run> & \u{1F600}", &epochs, best, OneHot)
                .unwrap_or_else(|e| panic!("{e} for {epochs:?}"));
            let texts = well_formed(&svg);
            assert!(
                texts.iter().any(|t| t == "epoch") && texts.iter().any(|t| t.starts_with("loss"))
            );
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{epochs:?}");
        }
    }

    #[test]
    fn plots_are_deterministic() {
        let epochs = run(200, true);
        assert_eq!(
            learning_curves("run", &epochs, Some(40), OneHot).unwrap(),
            learning_curves("run", &epochs, Some(40), OneHot).unwrap()
        );
        let matrix = vec![vec![5, 1], vec![2, 7]];
        let classes = names(&["a", "b"]);
        assert_eq!(
            confusion_matrix("m", &matrix, &classes).unwrap(),
            confusion_matrix("m", &matrix, &classes).unwrap()
        );
    }

    #[test]
    fn confusion_matrix_has_names_counts_and_titles() {
        let matrix = vec![vec![10, 0, 0], vec![0, 9, 1], vec![0, 2, 8]];
        let classes = names(&["setosa", "versicolor", "virginica"]);
        let svg = confusion_matrix("iris", &matrix, &classes).unwrap();
        let texts = well_formed(&svg);
        for wanted in ["iris", "predicted", "truth"] {
            assert!(texts.iter().any(|t| t == wanted), "no text {wanted:?}");
        }
        for name in &classes {
            // Once for the row, once for the column.
            assert_eq!(texts.iter().filter(|t| *t == name).count(), 2, "{name}");
        }
        let mut counts: Vec<&str> = texts
            .iter()
            .filter(|t| t.parse::<usize>().is_ok())
            .map(String::as_str)
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, ["0", "0", "0", "0", "1", "10", "2", "8", "9"]);
    }

    #[test]
    fn confusion_matrix_labels_fall_back_and_are_cut() {
        let matrix = vec![vec![10, 20, 30], vec![40, 50, 60], vec![70, 80, 90]];
        let long = "a class name far too long to fit beside the grid";
        let classes = names(&[long, "\u{7}\u{1b}"]);
        let svg = confusion_matrix("m", &matrix, &classes).unwrap();
        let texts = well_formed(&svg);
        let cut: String = long.chars().take(MAX_LABEL_CHARS - 1).collect();
        let cut = format!("{}…", cut.trim_end());
        assert_eq!(texts.iter().filter(|t| **t == cut).count(), 2, "{texts:?}");
        assert!(!texts.iter().any(|t| t == long));
        // The unprintable name and the missing one fall back to the index.
        assert_eq!(texts.iter().filter(|t| *t == "1").count(), 2);
        assert_eq!(texts.iter().filter(|t| *t == "2").count(), 2);
        let accented = names(&["Größe", "猫"]);
        let texts = well_formed(&confusion_matrix("m", &matrix[..2], &accented).unwrap());
        assert!(texts.iter().any(|t| t == "Größe") && texts.iter().any(|t| t == "猫"));
    }

    #[test]
    fn confusion_matrix_survives_odd_inputs() {
        let hundred: Vec<Vec<usize>> = (0..100)
            .map(|i| {
                (0..100)
                    .map(|j| if i == j { 100_000 } else { (i + j) % 3 })
                    .collect()
            })
            .collect();
        let many_names: Vec<String> = (0..100)
            .map(|i| format!("class {i} {}", "x".repeat(i)))
            .collect();
        let cases: Vec<(Vec<Vec<usize>>, Vec<String>)> = vec![
            (vec![], vec![]),
            (vec![vec![]], names(&["a"])),
            (vec![vec![0; 4]; 4], names(&["a"])),
            (vec![vec![1, 2, 3], vec![4], vec![]], vec![]),
            (
                vec![vec![usize::MAX, usize::MAX], vec![0, 1]],
                names(&["a", "b", "c"]),
            ),
            (hundred, many_names),
        ];
        well_formed(&confusion_matrix("", &[], &[]).unwrap());
        for (matrix, classes) in cases {
            let svg = confusion_matrix("m <&>", &matrix, &classes)
                .unwrap_or_else(|e| panic!("{e} for {matrix:?}"));
            let texts = well_formed(&svg);
            assert!(texts.iter().any(|t| t == "predicted") && texts.iter().any(|t| t == "truth"));
            let written = texts.iter().filter(|t| t.parse::<usize>().is_ok()).count();
            let cells: usize = matrix.iter().map(Vec::len).sum();
            assert!(written >= cells, "{written} numbers for {cells} cells");
        }
    }
}
