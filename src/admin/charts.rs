//! Inline SVG charts for the admin overview page. Pure string builders: the
//! admin CSP forbids scripts and `style="..."`, so every chart is static
//! markup with CSS classes plus presentation attributes (so it still reads
//! without the stylesheet), and tooltips come from SVG `<title>` elements.

use std::fmt::Write;

use chrono::{Datelike, NaiveDate};

use crate::domain::text::escape_xml as escape;

/// One day's figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayValue {
    pub day: NaiveDate,
    pub value: u64,
}

const WIDTH: f64 = 640.0;
const GREEN: &str = r##"fill="#07c160""##;
// A transparent full-height hit area makes a column's tooltip reachable
// even when the column is thin or zero-height.
const HIT: &str = r##"fill="#000" fill-opacity="0""##;
const LABEL: &str = "chart-axis-label";

/// A column chart of one figure per day. `title` is the (translated)
/// accessible name; `days` is in date order with gaps already filled by 0.
pub fn daily_columns(title: &str, days: &[DayValue]) -> String {
    // Right margin leaves room for the last day's centred `MM-DD` label.
    let (left, right, top, plot_h) = (44.0, 20.0, 10.0, 180.0);
    let base = top + plot_h;
    let mut out = open_svg(title, base + 22.0);
    let (step, ticks) = nice_axis(days.iter().map(|d| d.value).max().unwrap_or(0));
    let axis_max = (step * ticks) as f64;
    for i in 0..=ticks {
        let y = base - plot_h * i as f64 / ticks.max(1) as f64;
        let (x1, x2, y1) = (num(left), num(WIDTH - right), num(y));
        let _ = write!(
            out,
            r##"<line class="chart-grid" x1="{x1}" x2="{x2}" y1="{y1}" y2="{y1}" stroke="#dde2e6"/>"##
        );
        out += &text(LABEL, left - 6.0, y + 4.0, "end", &compact(step * i, step));
    }
    let slot = (WIDTH - left - right) / days.len().max(1) as f64;
    // Count label positions back from the last day so it is always labelled
    // and at most six `MM-DD` labels share the width (30 days: every 5th).
    let every = days.len().div_ceil(6).max(1);
    for (i, d) in days.iter().enumerate() {
        let x = left + slot * i as f64;
        let h = plot_h * d.value as f64 / axis_max.max(1.0);
        let hit = rect("chart-hit", x, top, slot, plot_h, HIT);
        let (cx, cy, cw) = (x + slot * 0.1, base - h, slot * 0.8);
        let col = rect("chart-column", cx, cy, cw, h, GREEN);
        let tip = escape(&format!("{}: {}", d.day, d.value));
        let _ = write!(out, "<g><title>{tip}</title>{hit}{col}</g>");
        if (days.len() - 1 - i) % every == 0 {
            let md = format!("{:02}-{:02}", d.day.month(), d.day.day());
            out += &text(LABEL, x + slot / 2.0, base + 16.0, "middle", &md);
        }
    }
    out + "</svg>"
}

/// A horizontal bar chart of labelled counts, one row per item, bars scaled
/// to the largest value. Labels wider than ~6 CJK characters are cut with
/// "…"; the full label stays in the row's `<title>`.
pub fn labelled_bars(title: &str, items: &[(String, u64)]) -> String {
    let (row, bar_h, bar_x) = (24.0, 16.0, 96.0);
    let max = items.iter().map(|i| i.1).max().unwrap_or(0);
    // Reserve just enough room after the longest bar for its printed value.
    let bar_max = WIDTH - bar_x - 10.0 - 7.0 * max.to_string().len() as f64;
    let mut out = open_svg(title, row * items.len().max(1) as f64 + 4.0);
    for (i, (label, value)) in items.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let w = bar_max * *value as f64 / max.max(1) as f64;
        let mid = y + bar_h / 2.0 + 4.0;
        let tip = escape(&format!("{label}: {value}"));
        let name = text(LABEL, 0.0, mid, "start", &truncate(label, 12));
        let bar = rect("chart-bar", bar_x, y, w, bar_h, GREEN);
        let (vx, v) = (bar_x + w + 4.0, value.to_string());
        let val = text("chart-value", vx, mid, "start", &v);
        let _ = write!(out, "<g><title>{tip}</title>{name}{bar}{val}</g>");
    }
    out + "</svg>"
}

fn open_svg(title: &str, height: f64) -> String {
    let (t, w, h) = (escape(title), num(WIDTH), num(height));
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="100%" viewBox="0 0 {w} {h}" role="img" aria-label="{t}" font-family="inherit"><title>{t}</title>"#
    )
}

fn rect(class: &str, x: f64, y: f64, w: f64, h: f64, paint: &str) -> String {
    let (x, y, w, h) = (num(x), num(y), num(w), num(h));
    format!(r#"<rect class="{class}" x="{x}" y="{y}" width="{w}" height="{h}" {paint}/>"#)
}

/// `content` is raw text; it is escaped here.
fn text(class: &str, x: f64, y: f64, anchor: &str, content: &str) -> String {
    let (x, y, t) = (num(x), num(y), escape(content));
    format!(
        r##"<text class="{class}" x="{x}" y="{y}" text-anchor="{anchor}" font-size="12" fill="#66707a">{t}</text>"##
    )
}

/// Returns `(step, ticks)`: the axis runs 0..=step*ticks with `step` one of
/// 1, 2, 5 × 10^n and `ticks` ≤ 5 (3–5 once `max` ≥ 3). u128 so the top of
/// the u64 range cannot overflow. `max == 0` gives a lone "0" baseline.
fn nice_axis(max: u64) -> (u128, u128) {
    if max == 0 {
        return (1, 0);
    }
    let max = u128::from(max);
    let mut pow = 1u128;
    loop {
        for step in [pow, 2 * pow, 5 * pow] {
            if max <= 5 * step {
                return (step, max.div_ceil(step));
            }
        }
        pow *= 10;
    }
}

/// Tick label, switching to k/M/B/T from a step of 1000 on. The unit is the
/// largest not above `step`, so every tick divides evenly ("200k", never
/// "0.2M") and all ticks of one axis share it.
fn compact(n: u128, step: u128) -> String {
    let units = [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "B"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    match units.into_iter().find(|&(u, _)| step >= u) {
        Some((u, s)) if n > 0 => format!("{}{s}", n / u),
        _ => n.to_string(),
    }
}

/// Attribute-safe decimal: ≤ 1 decimal place, never NaN/inf/exponent/"-0".
fn num(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if !r.is_finite() || r == 0.0 {
        return "0".into();
    }
    let s = format!("{r:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// Cuts `s` to `budget` columns, counting CJK/fullwidth characters as two
/// (a rough but font-independent proxy for rendered width).
fn truncate(s: &str, budget: usize) -> String {
    let cols = |c: char| if c as u32 >= 0x1100 { 2 } else { 1 };
    if s.chars().map(cols).sum::<usize>() <= budget {
        return s.to_owned();
    }
    let mut used = 1; // the ellipsis
    let mut out: String = s
        .chars()
        .take_while(|&c| {
            used += cols(c);
            used <= budget
        })
        .collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::escape::unescape;
    use quick_xml::events::{BytesStart, Event};
    use quick_xml::Reader;
    use std::collections::HashMap;

    /// (name, attributes, direct text) of every element; panics if not well-formed XML.
    type El = (String, HashMap<String, String>, String);
    fn parse(svg: &str) -> Vec<El> {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let el = |e: &BytesStart| -> El {
            let attrs = e.attributes().map(|a| a.unwrap()).map(|a| {
                let k = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                (k, a.unescape_value().unwrap().into_owned())
            });
            let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
            let attrs: HashMap<_, _> = attrs.collect();
            for k in ["x", "y", "x1", "x2", "y1", "y2", "width", "height"] {
                let v = attrs.get(k).map_or("0", |v| v.trim_end_matches('%'));
                assert!(v.parse::<f64>().is_ok() && !v.contains('e'), "{k}={v}");
                assert!(v.split('.').nth(1).is_none_or(|d| d.len() == 1), "{k}={v}");
            }
            (name, attrs, String::new())
        };
        let (mut reader, mut stack, mut done) = (Reader::from_str(svg), vec![], vec![]);
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => stack.push(el(&e)),
                Event::Empty(e) => done.push(el(&e)),
                Event::End(_) => done.push(stack.pop().unwrap()),
                Event::Text(t) => stack.last_mut().unwrap().2 += &t.decode().unwrap(),
                Event::GeneralRef(r) => {
                    let entity = format!("&{};", r.decode().unwrap());
                    stack.last_mut().unwrap().2 += &unescape(&entity).unwrap();
                }
                Event::Eof => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(stack.is_empty());
        assert_eq!(done.last().unwrap().0, "svg");
        done
    }

    /// Text of `<text>` elements with this class and anchor (x labels are
    /// centred, y labels end-anchored).
    fn texts(els: &[El], class: &str, anchor: &str) -> Vec<String> {
        let hit =
            |e: &&El| e.1.get("class").is_some_and(|c| c == class) && e.1["text-anchor"] == anchor;
        els.iter().filter(hit).map(|e| e.2.clone()).collect()
    }

    fn series(values: &[u64]) -> Vec<DayValue> {
        let start = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let day = |i: usize| start + chrono::Days::new(i as u64);
        let days = values.iter().enumerate();
        days.map(|(i, &value)| DayValue { day: day(i), value })
            .collect()
    }

    #[test]
    fn hostile_text_is_escaped() {
        let bad = "<script>alert(\"x\")</script> & 'q'";
        let items = [(bad.to_string(), 3), ("男".to_string(), 1)];
        for svg in [
            daily_columns(bad, &series(&[1])),
            labelled_bars(bad, &items),
        ] {
            assert!(!svg.contains("<script"), "{svg}");
            let els = parse(&svg);
            let root = &els.last().unwrap().1;
            assert_eq!(
                [&root["aria-label"], &root["role"], &root["width"]],
                [bad, "img", "100%"]
            );
            assert!(els.iter().any(|e| e.0 == "title" && e.2 == bad));
        }
        let els = parse(&labelled_bars("t", &items));
        assert!(els
            .iter()
            .any(|e| e.0 == "title" && e.2 == format!("{bad}: 3")));
    }

    #[test]
    fn x_labels_are_sparse_and_include_last_day() {
        for n in [1, 7, 30, 31, 90, 365] {
            let days = series(&vec![5; n]);
            let els = parse(&daily_columns("新用户", &days));
            let labels = texts(&els, LABEL, "middle");
            assert!(!labels.is_empty() && labels.len() <= 8, "{n}: {labels:?}");
            let last = days.last().unwrap().day;
            let md = format!("{:02}-{:02}", last.month(), last.day());
            assert_eq!(labels.last(), Some(&md));
            assert_eq!(els.iter().filter(|e| e.0 == "title").count(), n + 1);
            assert!(els.iter().any(|e| e.2 == format!("{last}: 5")));
        }
    }

    #[test]
    fn nice_axis_maximum() {
        let top = |v: &[u64]| {
            let els = parse(&daily_columns("t", &series(v)));
            texts(&els, LABEL, "end").pop().unwrap()
        };
        assert_eq!(top(&[0, 3, 7]), "8");
        assert_eq!(top(&[0]), "0");
        assert_eq!(top(&[]), "0");
        assert_eq!(top(&[26, 1]), "30");
        assert_eq!(top(&[1_000_000_000_000]), "1000B");
        assert_eq!(top(&[3000]), "3k");
        assert_eq!(top(&[2500]), "2500");
        assert_eq!(nice_axis(u64::MAX).1, 4);
        for v in 3..2000 {
            let (step, ticks) = nice_axis(v);
            assert!((3..=5).contains(&ticks) && step * ticks >= v.into(), "{v}");
        }
        parse(&daily_columns("t", &series(&[u64::MAX, 0])));
    }

    #[test]
    fn columns_are_proportional() {
        let els = parse(&daily_columns("t", &series(&[2, 9, 4, 0])));
        let heights: Vec<f64> = els
            .iter()
            .filter(|e| e.1.get("class").is_some_and(|c| c == "chart-column"))
            .map(|e| e.1["height"].parse().unwrap())
            .collect();
        assert_eq!(heights.len(), 4);
        assert!(heights[1] > heights[2] && heights[2] > heights[0] && heights[3] == 0.0);
        assert!((heights[1] / heights[0] - 4.5).abs() < 0.05);
    }

    #[test]
    fn long_cjk_labels_are_truncated_but_titled() {
        let long = "内蒙古自治区呼和浩特市";
        let items = [(long.into(), 12), ("广东".into(), 30), ("x".into(), 0)];
        let els = parse(&labelled_bars("省份", &items));
        let shown = texts(&els, LABEL, "start");
        assert_eq!(shown, ["内蒙古自治…", "广东", "x"]);
        assert!(els.iter().any(|e| e.2 == format!("{long}: 12")));
        assert_eq!(texts(&els, "chart-value", "start"), ["12", "30", "0"]);
        parse(&labelled_bars("空", &[]));
        parse(&labelled_bars("零", &[("a".into(), 0)]));
    }
}
