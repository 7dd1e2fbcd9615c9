//! Bar charts as SVG markup, drawn on the server for the Operación page: no script, no `style=`
//! (the console's CSP allows neither), only presentation attributes (`fill=`, `font-size=`) and
//! classes. Each chart is an image for assistive technology (`role="img"`, `aria-label`, a
//! `<title>`), every bar has a `<title>` with its exact value, and every label is escaped.
//! Values that are not finite or are negative count as 0 and huge ones are capped, so a bad
//! series draws a wrong bar at worst, never broken markup; a chart without data says
//! "sin datos".

use std::fmt::Write as _;

/// One named series: one value per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// How several series share a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// On top of each other (parts of a total: cases per day by tema).
    Stacked,
    /// Side by side (measures to compare: median and p90).
    Grouped,
}

/// What to draw.
#[derive(Debug, Clone, Copy)]
pub struct BarChart<'a> {
    /// What the chart shows, for its `<title>` and `aria-label`.
    pub title: &'a str,
    /// The x axis, in order.
    pub categories: &'a [String],
    pub series: &'a [Series],
    pub layout: Layout,
    /// The unit of the values (`casos`, `%`, `horas`), written on the y axis and in each bar's
    /// title.
    pub unit: &'a str,
    /// A fixed top of the scale (100 for percentages); values above it are drawn at it.
    pub max: Option<f64>,
}

/// What a chart says when there is nothing to draw.
pub const NO_DATA: &str = "sin datos";

/// The largest value drawn as such: beyond it a bar is as tall as the chart anyway.
const VALUE_CAP: f64 = 1e12;

const WIDTH: f64 = 720.0;
const PLOT_TOP: f64 = 24.0;
const PLOT_HEIGHT: f64 = 200.0;
const PLOT_LEFT: f64 = 64.0;
const PLOT_RIGHT: f64 = 12.0;
/// Room under the plot for the category labels.
const AXIS_ROOM: f64 = 34.0;
const LEGEND_ROW: f64 = 20.0;
const LEGEND_ITEM: f64 = 218.0;
/// At most this many category labels are written (every n-th one beyond it).
const MAX_LABELS: usize = 15;
/// Series colours, readable on white and told apart without red/green alone.
const PALETTE: [&str; 10] = [
    "#0b5394", "#e69138", "#6aa84f", "#a61c00", "#674ea7", "#45818e", "#bf9000", "#a64d79",
    "#3d85c6", "#7f6000",
];

/// The chart as an `<svg>` element, ready to put inside HTML.
pub fn bar_chart(chart: &BarChart<'_>) -> String {
    let values: Vec<Vec<f64>> = chart
        .series
        .iter()
        .map(|s| (0..chart.categories.len()).map(|i| clean(s.values.get(i).copied())).collect())
        .collect();
    let peak = peak(chart.layout, &values, chart.categories.len());
    // A value that is not a number (NaN) is "no data" for its bar; on a fixed scale a real 0
    // is data (0 % solved at first contact), on a free one all zeros say nothing.
    let any_value = chart
        .series
        .iter()
        .any(|s| s.values.iter().take(chart.categories.len()).any(|v| v.is_finite() && *v >= 0.0));
    if !any_value || (peak <= 0.0 && chart.max.is_none()) {
        return empty_chart(chart.title);
    }
    let (step, top) = scale(chart.max.map_or(peak, clean_max));
    let legend_rows = chart.series.len().div_ceil(legend_columns());
    let height = PLOT_TOP + PLOT_HEIGHT + AXIS_ROOM + LEGEND_ROW * legend_rows as f64 + 8.0;
    let mut svg = open(chart.title, height);
    axes(&mut svg, chart.unit, step, top);
    bars(&mut svg, chart, &values, top);
    category_labels(&mut svg, chart.categories);
    legend(&mut svg, chart.series, PLOT_TOP + PLOT_HEIGHT + AXIS_ROOM);
    svg.push_str("</svg>");
    svg
}

/// A value as drawn: not finite or negative → 0, capped above.
fn clean(value: Option<f64>) -> f64 {
    match value {
        Some(v) if v.is_finite() && v > 0.0 => v.min(VALUE_CAP),
        _ => 0.0,
    }
}

fn clean_max(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 { max.min(VALUE_CAP) } else { 1.0 }
}

/// The tallest bar: a category's total when stacked, its largest value when grouped.
fn peak(layout: Layout, values: &[Vec<f64>], categories: usize) -> f64 {
    (0..categories)
        .map(|i| {
            let column = values.iter().map(|v| v[i]);
            match layout {
                Layout::Stacked => column.sum::<f64>(),
                Layout::Grouped => column.fold(0.0, f64::max),
            }
        })
        .fold(0.0, f64::max)
        .min(VALUE_CAP)
}

/// A round step (1, 2 or 5 × 10ⁿ) for about four grid lines, and the top of the scale.
fn scale(peak: f64) -> (f64, f64) {
    let rough = (peak / 4.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let step = if peak >= 1.0 { step.max(1.0) } else { step };
    (step, step * (peak / step).ceil().max(1.0))
}

fn legend_columns() -> usize {
    (((WIDTH - PLOT_LEFT) / LEGEND_ITEM).floor() as usize).max(1)
}

fn open(title: &str, height: f64) -> String {
    let title = escape(title);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"grafico\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
         role=\"img\" aria-label=\"{title}\" font-size=\"12\" font-family=\"sans-serif\">\
         <title>{title}</title>"
    )
}

/// The "sin datos" chart: the same box and labels, one sentence in it.
fn empty_chart(title: &str) -> String {
    let label = format!("{title}: {NO_DATA}");
    let height = PLOT_TOP + PLOT_HEIGHT / 2.0;
    let mut svg = open(&label, height);
    let _ = write!(
        svg,
        "<rect x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" stroke=\"#d4d9e0\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#5b6470\" font-size=\"16\">{NO_DATA}</text></svg>",
        WIDTH - 1.0,
        height - 1.0,
        WIDTH / 2.0,
        height / 2.0 + 5.0
    );
    svg
}

/// The y axis: grid lines with their values and the unit.
fn axes(svg: &mut String, unit: &str, step: f64, top: f64) {
    let ticks = (top / step).round() as usize;
    for i in 0..=ticks {
        let value = step * i as f64;
        let y = y_of(value, top);
        let _ = write!(
            svg,
            "<line x1=\"{PLOT_LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d4d9e0\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1b1f24\">{}</text>",
            WIDTH - PLOT_RIGHT,
            PLOT_LEFT - 6.0,
            y + 4.0,
            number(value)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{PLOT_LEFT}\" y=\"{:.1}\" text-anchor=\"start\" fill=\"#5b6470\">{}</text>",
        PLOT_TOP - 10.0,
        escape(unit)
    );
}

fn y_of(value: f64, top: f64) -> f64 {
    PLOT_TOP + PLOT_HEIGHT - PLOT_HEIGHT * (value.min(top) / top)
}

/// The width of one category's slot.
fn slot(categories: usize) -> f64 {
    (WIDTH - PLOT_LEFT - PLOT_RIGHT) / categories.max(1) as f64
}

fn bars(svg: &mut String, chart: &BarChart<'_>, values: &[Vec<f64>], top: f64) {
    let slot = slot(chart.categories.len());
    let inner = slot * 0.8;
    for (c, category) in chart.categories.iter().enumerate() {
        let left = PLOT_LEFT + slot * c as f64 + slot * 0.1;
        let mut base = 0.0;
        for (s, series) in chart.series.iter().enumerate() {
            let value = values[s][c];
            if value <= 0.0 {
                continue;
            }
            let (x, width, from) = match chart.layout {
                Layout::Stacked => (left, inner, base),
                Layout::Grouped => {
                    let width = inner / chart.series.len() as f64;
                    (left + width * s as f64, width, 0.0)
                }
            };
            let (y_top, y_bottom) = (y_of(from + value, top), y_of(from, top));
            base += value;
            let _ = write!(
                svg,
                "<rect class=\"barra\" x=\"{x:.1}\" y=\"{y_top:.1}\" width=\"{width:.1}\" height=\"{:.1}\" \
                 fill=\"{}\"><title>{} · {}: {} {}</title></rect>",
                (y_bottom - y_top).max(0.0),
                PALETTE[s % PALETTE.len()],
                escape(&series.name),
                escape(category),
                number(value),
                escape(chart.unit)
            );
        }
    }
    let baseline = PLOT_TOP + PLOT_HEIGHT;
    let _ = write!(
        svg,
        "<line x1=\"{PLOT_LEFT}\" x2=\"{:.1}\" y1=\"{baseline}\" y2=\"{baseline}\" stroke=\"#1b1f24\"/>",
        WIDTH - PLOT_RIGHT
    );
}

/// The categories under the bars: all of them, or every n-th when there are many.
fn category_labels(svg: &mut String, categories: &[String]) {
    let slot = slot(categories.len());
    let every = categories.len().div_ceil(MAX_LABELS).max(1);
    for (c, category) in categories.iter().enumerate().step_by(every) {
        let x = PLOT_LEFT + slot * (c as f64 + 0.5);
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#1b1f24\">{}</text>",
            PLOT_TOP + PLOT_HEIGHT + 16.0,
            escape(&shorten(category, 14))
        );
    }
}

fn legend(svg: &mut String, series: &[Series], top: f64) {
    let columns = legend_columns();
    for (s, item) in series.iter().enumerate() {
        let x = PLOT_LEFT + LEGEND_ITEM * (s % columns) as f64;
        let y = top + LEGEND_ROW * (s / columns) as f64;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1b1f24\">{}</text>",
            y,
            PALETTE[s % PALETTE.len()],
            x + 17.0,
            y + 10.5,
            escape(&shorten(&item.name, 32))
        );
    }
}

/// At most `max` characters, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// A value as people read it here: an integer, or one decimal with a comma (`12,5`).
pub fn number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}").replace('.', ",")
    }
}

/// Text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;

    /// Parses `svg` as XML (every tag closed, attributes well formed and not repeated) and
    /// returns the attributes of each `rect.barra`, and all the text.
    fn parse(svg: &str) -> (Vec<Vec<(String, String)>>, String) {
        let mut reader = quick_xml::Reader::from_str(svg);
        let (mut bars, mut text, mut depth) = (Vec::new(), String::new(), 0i32);
        loop {
            match reader.read_event().unwrap_or_else(|e| panic!("XML inválido: {e}\n{svg}")) {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    if e.name().as_ref() == "svg" {
                        depth += 1;
                    }
                    let attributes: Vec<(String, String)> = e
                        .attributes()
                        .map(|a| a.unwrap_or_else(|e| panic!("atributo inválido: {e}\n{svg}")))
                        .map(|a| {
                            let value = a
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .expect("valor")
                                .into_owned();
                            (a.key.as_ref().to_string(), value)
                        })
                        .collect();
                    if attributes.iter().any(|(k, v)| k == "class" && v == "barra") {
                        bars.push(attributes);
                    }
                }
                Event::Text(t) => text.push_str(&t),
                Event::GeneralRef(r) => {
                    text.push_str(match &*r {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "#39" => "'",
                        other => panic!("referencia desconocida {other}"),
                    });
                }
                _ => {}
            }
        }
        assert_eq!(depth, 1, "one <svg> root");
        (bars, text)
    }

    fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> &'a str {
        attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).expect(name)
    }

    fn chart<'a>(categories: &'a [String], series: &'a [Series], layout: Layout) -> BarChart<'a> {
        BarChart { title: "Casos por día", categories, series, layout, unit: "casos", max: None }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_chart_is_valid_xml_with_its_title_legend_axis_and_accessible_name() {
        let categories = names(&["01/12", "02/12"]);
        let series = [
            Series { name: "Factura electrónica".into(), values: vec![3.0, 1.0] },
            Series { name: "Nómina".into(), values: vec![0.0, 2.0] },
        ];
        let svg = bar_chart(&chart(&categories, &series, Layout::Stacked));
        let (bars, text) = parse(&svg);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
        assert!(svg.contains("role=\"img\" aria-label=\"Casos por día\""), "{svg}");
        assert_eq!(bars.len(), 3, "a zero draws no bar");
        for expected in ["Casos por día", "Factura electrónica", "Nómina", "01/12", "casos"] {
            assert!(text.contains(expected), "{expected} missing: {text}");
        }
        assert!(text.contains("Nómina · 02/12: 2 casos"), "each bar says its value: {text}");
        assert!(!svg.contains("style="), "the CSP forbids style attributes");
    }

    #[test]
    fn bar_heights_are_proportional_to_values_and_stacks_add_up() {
        let categories = names(&["a", "b"]);
        let series = [Series { name: "s".into(), values: vec![2.0, 4.0] }];
        let (bars, _) = parse(&bar_chart(&chart(&categories, &series, Layout::Grouped)));
        let height = |i: usize| attribute(&bars[i], "height").parse::<f64>().expect("number");
        assert!((height(1) - 2.0 * height(0)).abs() < 0.2, "{} vs {}", height(0), height(1));

        let stacked = [
            Series { name: "x".into(), values: vec![1.0, 0.0] },
            Series { name: "y".into(), values: vec![3.0, 4.0] },
        ];
        let (bars, _) = parse(&bar_chart(&chart(&categories, &stacked, Layout::Stacked)));
        assert_eq!(bars.len(), 3);
        let attr = |i: usize, n: &str| attribute(&bars[i], n).parse::<f64>().expect("number");
        let (xh, yh, alone_h) = (attr(0, "height"), attr(1, "height"), attr(2, "height"));
        assert!((xh + yh - alone_h).abs() < 0.3, "1+3 is as tall as 4: {xh}+{yh} vs {alone_h}");
        assert!((attr(1, "y") + yh - attr(0, "y")).abs() < 0.2, "y sits on x");
    }

    #[test]
    fn a_fixed_top_keeps_percentages_on_a_scale_of_100() {
        let categories = names(&["semana 1"]);
        let series = [Series { name: "Primer contacto".into(), values: vec![50.0] }];
        let chart = BarChart {
            unit: "%",
            max: Some(100.0),
            ..chart(&categories, &series, Layout::Grouped)
        };
        let (bars, text) = parse(&bar_chart(&chart));
        let height: f64 = attribute(&bars[0], "height").parse().expect("number");
        assert!((height - PLOT_HEIGHT / 2.0).abs() < 0.2, "{height}");
        assert!(text.contains("100"), "{text}");
    }

    #[test]
    fn no_data_draws_a_chart_that_says_so() {
        let none: [String; 0] = [];
        for svg in [
            bar_chart(&chart(&none, &[], Layout::Stacked)),
            bar_chart(&chart(
                &names(&["a"]),
                &[Series { name: "s".into(), values: vec![0.0] }],
                Layout::Grouped,
            )),
            bar_chart(&chart(
                &names(&["a"]),
                &[Series { name: "s".into(), values: vec![] }],
                Layout::Stacked,
            )),
        ] {
            let (bars, text) = parse(&svg);
            assert!(bars.is_empty());
            assert!(text.contains(NO_DATA), "{svg}");
            assert!(svg.contains("aria-label=\"Casos por día: sin datos\""), "{svg}");
        }
    }

    #[test]
    fn a_real_zero_on_a_fixed_scale_is_drawn_but_nan_everywhere_is_no_data() {
        let categories = names(&["semana 1", "semana 2"]);
        let zero = [Series { name: "Primer contacto".into(), values: vec![0.0, f64::NAN] }];
        let percent =
            BarChart { unit: "%", max: Some(100.0), ..chart(&categories, &zero, Layout::Grouped) };
        let (bars, text) = parse(&bar_chart(&percent));
        assert!(bars.is_empty() && !text.contains(NO_DATA) && text.contains("100"), "{text}");
        let nothing = [Series { name: "Mediana".into(), values: vec![f64::NAN, f64::NAN] }];
        let hours = BarChart { max: Some(100.0), ..chart(&categories, &nothing, Layout::Grouped) };
        assert!(parse(&bar_chart(&hours)).1.contains(NO_DATA));
    }

    #[test]
    fn nan_infinite_negative_and_huge_values_stay_inside_the_chart() {
        let categories = names(&["a", "b", "c", "d"]);
        let series =
            [Series { name: "s".into(), values: vec![f64::NAN, f64::INFINITY, -5.0, 1e300] }];
        for layout in [Layout::Stacked, Layout::Grouped] {
            let svg = bar_chart(&chart(&categories, &series, layout));
            let (bars, _) = parse(&svg);
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert_eq!(bars.len(), 1, "only the huge value is a bar");
            let height: f64 = attribute(&bars[0], "height").parse().expect("number");
            let y: f64 = attribute(&bars[0], "y").parse().expect("number");
            assert!(height <= PLOT_HEIGHT + 0.1 && y >= PLOT_TOP - 0.1, "{height} {y}");
        }
        let nan_max =
            BarChart { max: Some(f64::NAN), ..chart(&categories, &series, Layout::Grouped) };
        parse(&bar_chart(&nan_max));
    }

    #[test]
    fn every_label_is_escaped() {
        let hostile = "<script>alert('x')</script> & \"más\"\u{1}";
        let categories = vec![hostile.to_string()];
        let series = [Series { name: hostile.into(), values: vec![1.0] }];
        let chart = BarChart {
            title: hostile,
            unit: hostile,
            ..chart(&categories, &series, Layout::Stacked)
        };
        let svg = bar_chart(&chart);
        assert!(!svg.contains("<script"), "{svg}");
        let (_, text) = parse(&svg);
        assert!(text.contains("<script>alert('x')</script> & \"más\""), "{text}");
    }

    #[test]
    fn many_categories_write_only_some_labels() {
        let categories: Vec<String> = (1..=90).map(|d| format!("d{d}")).collect();
        let series = [Series { name: "s".into(), values: vec![1.0; 90] }];
        let svg = bar_chart(&chart(&categories, &series, Layout::Stacked));
        let (bars, _) = parse(&svg);
        assert_eq!(bars.len(), 90);
        let labels = svg.matches("text-anchor=\"middle\"").count();
        assert!(labels <= MAX_LABELS, "{labels}");
    }

    #[test]
    fn numbers_read_with_a_decimal_comma() {
        assert_eq!(number(12.0), "12");
        assert_eq!(number(12.25), "12,3");
        assert_eq!(number(0.04), "0");
    }
}
