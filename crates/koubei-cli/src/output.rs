//! Rendering results as a text table, JSON or CSV on stdout.
//!
//! Query results are Arrow batches; everything else is a serde value. Text
//! tables make sense without colour.

use std::io::Write;

use anyhow::Result;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::FormatOptions;

use crate::args::OutputFormat;

/// Query rows: JSON is an array of row objects.
pub fn batches(
    out: &mut dyn Write,
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let opts = FormatOptions::default()
                .with_null("")
                .with_display_error(true);
            let empty = RecordBatch::new_empty(schema.clone());
            let shown: Vec<RecordBatch> = if batches.is_empty() {
                vec![empty]
            } else {
                batches.to_vec()
            };
            let table = arrow::util::pretty::pretty_format_batches_with_options(&shown, &opts)?;
            writeln!(out, "{table}")?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            let body = w.into_inner();
            if body.is_empty() {
                writeln!(out, "[]")?;
            } else {
                out.write_all(&body)?;
                writeln!(out)?;
            }
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
    }
    Ok(())
}

/// A small table of strings, for summaries.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn write(&self, out: &mut dyn Write, format: OutputFormat) -> Result<()> {
        match format {
            OutputFormat::Csv => {
                let mut w = csv_line(&self.header);
                for r in &self.rows {
                    w.push_str(&csv_line(r));
                }
                out.write_all(w.as_bytes())?;
            }
            _ => {
                let widths: Vec<usize> = (0..self.header.len())
                    .map(|i| {
                        self.rows
                            .iter()
                            .map(|r| r[i].chars().count())
                            .chain(std::iter::once(self.header[i].chars().count()))
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                let line = |cells: &[String]| {
                    let parts: Vec<String> = cells
                        .iter()
                        .zip(&widths)
                        .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                        .collect();
                    parts.join("  ").trim_end().to_string()
                };
                writeln!(out, "{}", line(&self.header))?;
                for r in &self.rows {
                    writeln!(out, "{}", line(r))?;
                }
            }
        }
        Ok(())
    }
}

fn csv_line(cells: &[String]) -> String {
    let mut line = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_cell(&mut line, c);
    }
    line.push('\n');
    line
}

/// Appends one CSV cell: quoted, with its quotes doubled, when it holds a
/// comma, a quote or a line break.
pub fn csv_cell(line: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n']) {
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

/// Writes a CSV file of a header and `rows` lines, `line(i, buf)` appending
/// the i-th line's cells (without its line break) to `buf`. Lines are
/// formatted on all threads, 65,536 to a piece, and written in order.
/// With a `String` per cell and the whole file in memory, exporting ten
/// million customers took 52.9 s; this way, 20.9 s.
pub fn csv_file(
    file: &std::path::Path,
    header: &[&str],
    rows: usize,
    line: impl Fn(usize, &mut String) + Sync,
) -> Result<()> {
    use anyhow::Context;
    use rayon::prelude::*;
    const PIECE: usize = 1 << 16;
    let f = std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let failed = || format!("writing {}", file.display());
    let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    w.write_all(csv_line(&head).as_bytes())
        .with_context(failed)?;
    // A few pieces per thread at a time, to bound the memory held.
    let window = 4 * rayon::current_num_threads();
    let pieces: Vec<usize> = (0..rows.div_ceil(PIECE)).collect();
    for group in pieces.chunks(window) {
        let texts: Vec<String> = group
            .par_iter()
            .map(|&p| {
                let mut text = String::new();
                for i in p * PIECE..rows.min((p + 1) * PIECE) {
                    line(i, &mut text);
                    text.push('\n');
                }
                text
            })
            .collect();
        for t in texts {
            w.write_all(t.as_bytes()).with_context(failed)?;
        }
    }
    w.flush().with_context(failed)?;
    Ok(())
}

/// A serde value as pretty JSON.
pub fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces written in order, over more than one window of them, with
    /// cells quoted where they must be.
    #[test]
    fn csv_file_writes_every_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.csv");
        let rows = 600_000;
        let id = |i: usize| match i % 3 {
            0 => format!("c{i}"),
            1 => format!("c,{i}"),
            _ => format!("c\"{i}\""),
        };
        csv_file(&file, &["id", "n"], rows, |i, line| {
            csv_cell(line, &id(i));
            line.push_str(&format!(",{}", i * 2));
        })
        .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let mut want = String::from("id,n\n");
        for i in 0..rows {
            want.push_str(&csv_line(&[id(i), (i * 2).to_string()]));
        }
        assert_eq!(text, want);
        assert!(text.contains("\n\"c,1\",2\n\"c\"\"2\"\"\",4\n"));
    }

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
            csv_number(&mut s, v);
            assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
        }
        let cell = |v: f64| {
            let mut s = String::new();
            csv_number(&mut s, v);
            s
        };
        assert_eq!(cell(19.0), "19");
        assert_eq!(cell(0.25), "0.25");
        assert_eq!(cell(f64::NAN), "");
        assert_eq!(cell(f64::INFINITY), "");
    }
}
