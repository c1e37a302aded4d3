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
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

/// A serde value as pretty JSON.
pub fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
