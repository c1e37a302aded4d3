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

/// A cell's width in a terminal's columns: a Chinese character takes two.
fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| width(&r[i]))
                .chain(std::iter::once(width(&header[i])))
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
            l.extend(std::iter::repeat_n(' ', w - width(c)));
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
        Cell::Shown(v, kind) => number(*v, *kind),
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
        Kind::Money => fixed(v, 2),
        Kind::Share | Kind::Part => percent(v, false),
        Kind::Growth => percent(v, true),
        Kind::Number(d) => fixed(v, d),
        Kind::Duration => human_seconds(v),
        Kind::Count => fixed(v, 0),
        Kind::Text => v.to_string(),
    }
}

fn percent(v: f64, signed: bool) -> String {
    let shown = fixed(v * 100.0, 1);
    if signed && !shown.starts_with('-') {
        format!("+{shown}%")
    } else {
        format!("{shown}%")
    }
}

/// `v` with `digits` decimals, rounded half away from zero from the
/// shortest decimal that reads back as `v` (what `v` prints as), not from
/// its binary expansion: 314.015 is 314.02, as a person rounding the
/// printed number would write it. Rust's `{:.2}` rounds the binary value,
/// just below the tie, to 314.01.
pub fn fixed(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    // `Display` writes the shortest round-trip digits, never an exponent.
    let shortest = v.abs().to_string();
    let (int, frac) = shortest.split_once('.').unwrap_or((&shortest, ""));
    let mut kept: Vec<u8> = int
        .bytes()
        .chain(frac.bytes().chain(std::iter::repeat(b'0')).take(digits))
        .collect();
    if frac.as_bytes().get(digits).is_some_and(|d| *d >= b'5') {
        // Carry the rounding up through the kept digits.
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let split = kept.len() - digits;
    let mut out = String::with_capacity(kept.len() + 2);
    if v < 0.0 && kept.iter().any(|d| *d != b'0') {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&kept[..split]).unwrap_or("0"));
    if digits > 0 {
        out.push('.');
        out.push_str(std::str::from_utf8(&kept[split..]).unwrap_or("0"));
    }
    out
}

/// 45 → "45s", 90 → "1.5m", 7200 → "2.0h", 3 days → "3.0d".
pub fn human_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{}s", fixed(s, 0))
    } else if s < 3600.0 {
        format!("{}m", fixed(s / 60.0, 1))
    } else if s < 86_400.0 {
        format!("{}h", fixed(s / 3600.0, 1))
    } else {
        format!("{}d", fixed(s / 86_400.0, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ties of the printed decimal round away from zero, on either side of
    /// the binary value; carries run through every digit.
    #[test]
    fn fixed_rounds_the_printed_decimal_half_away_from_zero() {
        assert_eq!(format!("{:.2}", 314.015), "314.01", "the binary value");
        assert_eq!(fixed(314.015, 2), "314.02");
        assert_eq!(fixed(-314.015, 2), "-314.02");
        assert_eq!(fixed(2.675, 2), "2.68");
        assert_eq!(fixed(1.005, 2), "1.01");
        assert_eq!(fixed(0.125, 2), "0.13");
        assert_eq!(fixed(0.0049, 2), "0.00");
        assert_eq!(fixed(-0.004, 2), "0.00", "no negative zero");
        assert_eq!(fixed(9.995, 2), "10.00");
        assert_eq!(fixed(999.5, 0), "1000");
        assert_eq!(fixed(12.0, 3), "12.000");
        assert_eq!(fixed(1e21, 2), "1000000000000000000000.00");
        assert_eq!(fixed(1.5e-7, 6), "0.000000");
        assert_eq!(fixed(2.5e-7, 6), "0.000000");
        assert_eq!(fixed(5e-7, 6), "0.000001");
        assert_eq!(number(0.12345, Kind::Share), "12.3%");
        assert_eq!(number(0.00125, Kind::Share), "0.1%");
        assert_eq!(number(-0.0001, Kind::Growth), "+0.0%");
        assert_eq!(number(-0.051, Kind::Growth), "-5.1%");
        assert_eq!(number(0.05, Kind::Growth), "+5.0%");
    }

    /// Columns line up under Chinese text, whose characters take two
    /// columns of a terminal each.
    #[test]
    fn wide_characters_take_two_columns() {
        let mut out = String::new();
        let rows = vec![
            vec!["浙江".to_string(), "1".to_string()],
            vec!["CN".to_string(), "22".to_string()],
        ];
        table(&mut out, &["region".into(), "n".into()], &rows);
        assert_eq!(out, "region  n\n浙江    1\nCN      22\n");
    }
}
