//! The terminal table: each section's title, its sentences and its table
//! with columns padded to their widest cell, two spaces apart. It makes
//! sense without colour.

use crate::{Cell, Column, Kind, View};

impl View {
    /// The view as text for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in self.sections.iter().filter(|s| !s.hidden) {
            if let Some(t) = &s.title {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(t);
                out.push('\n');
            }
            for line in &s.before {
                out.push_str(line);
                out.push('\n');
            }
            if !s.columns.is_empty() {
                let rows: Vec<Vec<String>> = s
                    .rows
                    .iter()
                    .map(|r| {
                        r.iter()
                            .zip(&s.columns)
                            .map(|(c, col)| shown(c, col))
                            .collect()
                    })
                    .collect();
                let header: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
                table(&mut out, &header, &rows);
            }
            for line in &s.after {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(header[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(c);
            l.extend(std::iter::repeat_n(' ', w - c.chars().count()));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header);
    for r in rows {
        line(r);
    }
}

/// A cell as the terminal shows it.
fn shown(cell: &Cell, col: &Column) -> String {
    match cell {
        Cell::Null => col.missing.to_string(),
        Cell::Text(s) => s.clone(),
        Cell::Int(v) => itoa::Buffer::new().format(*v).to_string(),
        Cell::Part(n, of) => percent(*n as f64 / (*of).max(1) as f64, false),
        Cell::Float(v) => number(*v, col.kind),
    }
}

/// A number as the terminal shows one of its kind: `12.3%`, `45.60`,
/// `1.5h`; nothing when it is not a number. Sentences around a table use it
/// too, so that a share reads the same in both.
pub fn number(v: f64, kind: Kind) -> String {
    if !v.is_finite() {
        return String::new();
    }
    match kind {
        Kind::Money => format!("{v:.2}"),
        Kind::Share | Kind::Part => percent(v, false),
        Kind::Growth => percent(v, true),
        Kind::Number(d) => format!("{v:.d$}"),
        Kind::Duration => human_seconds(v),
        Kind::Count => format!("{v:.0}"),
        Kind::Text => v.to_string(),
    }
}

fn percent(v: f64, signed: bool) -> String {
    if signed {
        format!("{:+.1}%", v * 100.0)
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

/// 45 → "45s", 90 → "1.5m", 7200 → "2.0h", 3 days → "3.0d".
pub fn human_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3600.0 {
        format!("{:.1}m", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1}h", s / 3600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}
