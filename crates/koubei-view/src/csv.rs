//! One section as CSV: typed values a spreadsheet or a script can compute
//! with (ratios, not percentages; seconds, not `1.5h`).

use crate::{Cell, Kind, View};

impl View {
    /// The CSV section (see [`View::csv_from`]) as CSV, with a header line.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        let Some(s) = self.sections.get(self.csv) else {
            return out;
        };
        for (i, c) in s.columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_cell(&mut out, &c.name);
        }
        out.push('\n');
        for r in &s.rows {
            for (i, (cell, col)) in r.iter().zip(&s.columns).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match cell {
                    Cell::Null => {}
                    Cell::Text(t) => csv_cell(&mut out, t),
                    Cell::Int(v) | Cell::Part(v, _) => out.push_str(itoa::Buffer::new().format(*v)),
                    Cell::Float(v) if col.kind == Kind::Money && v.is_finite() => {
                        out.push_str(&crate::fixed(*v, 2))
                    }
                    Cell::Shown(v, Kind::Money) if v.is_finite() => {
                        out.push_str(&crate::fixed(*v, 2))
                    }
                    Cell::Float(v) | Cell::Shown(v, _) => csv_number(&mut out, *v),
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Appends one CSV cell: quoted, with its quotes doubled, when it holds a
/// comma, a quote or a line break.
pub fn csv_cell(line: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&cell.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(cell);
    }
}

/// Appends a number as a CSV cell: a whole number below 2⁵³ as an integer,
/// any other as the shortest decimal that reads back as the same number
/// (`ryu`, in exponent form for very small or large ones), and NaN or an
/// infinity as an empty cell. A third of the time of `std`'s formatting,
/// which was half of exporting ten million customers.
pub fn csv_number(line: &mut String, v: f64) {
    if !v.is_finite() {
        return;
    }
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        line.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        line.push_str(ryu::Buffer::new().format_finite(v));
    }
}

#[cfg(test)]
mod tests {
    /// Numbers read back as themselves; whole ones are written as integers.
    #[test]
    fn csv_numbers_read_back() {
        for v in [
            0.0,
            1.0,
            -3.0,
            19.0,
            5.714285714285714,
            74.13000000000001,
            1e-7,
            2.5e20,
            1e300,
        ] {
            let mut s = String::new();
            super::csv_number(&mut s, v);
            assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
        }
        let cell = |v: f64| {
            let mut s = String::new();
            super::csv_number(&mut s, v);
            s
        };
        assert_eq!(cell(19.0), "19");
        assert_eq!(cell(0.25), "0.25");
        assert_eq!(cell(f64::NAN), "");
        assert_eq!(cell(f64::INFINITY), "");
    }
}
