//! A report as data: titled sections of typed columns.
//!
//! Reports know their numbers; views say how to show them. Each column has
//! a kind (a count, a share, money, a duration, ...), and each renderer
//! formats a kind its own way:
//! - [`View::text`], the terminal table: shares as `12.3%`, money to the
//!   cent, durations as `1.5h`, each rounded half away from zero from the
//!   decimal the number prints as ([`fixed`]);
//! - [`View::csv`], one section as CSV for a spreadsheet or a script: counts
//!   and money as numbers (money to the cent), shares and growth as ratios
//!   (0.123, not 12.3%), durations in seconds, and other numbers as the
//!   shortest decimal that reads back as the same value.
//!
//! The HTML report and the dashboard render the same sections.

use serde::Serialize;

mod csv;
mod text;

pub use csv::{csv_cell, csv_number};
pub use text::{fixed, human_seconds, number};

/// How a column's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "digits")]
pub enum Kind {
    /// Names, labels, dates and periods, shown as they are.
    Text,
    /// Whole numbers of things.
    Count,
    /// An amount of money.
    Money,
    /// A ratio of a part to its whole, shown as a percentage.
    Share,
    /// A relative change, shown as a signed percentage.
    Growth,
    /// A number shown with this many decimals.
    Number(usize),
    /// Seconds, shown as `45s`, `1.5m`, `2.0h` or `3.2d`.
    Duration,
    /// A count out of a total ([`Cell::Part`]): the share in the text
    /// table, the count in CSV.
    Part,
}

/// One value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    /// A count and the total it is part of.
    Part(i64, i64),
    /// A number shown as this kind rather than as its column's, in a column
    /// of mixed units (an overview's KPIs: money, counts and shares).
    #[serde(serialize_with = "just_the_number")]
    Shown(f64, Kind),
}

fn just_the_number<S: serde::Serializer>(v: &f64, _: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*v)
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}

impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Cell {
    fn from(v: u32) -> Self {
        Cell::Int(i64::from(v))
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Null, Into::into)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// What the text table shows for a missing value (CSV leaves it empty).
    #[serde(skip)]
    pub missing: &'static str,
}

impl Column {
    pub fn new(name: impl Into<String>, kind: Kind) -> Self {
        Column {
            name: name.into(),
            kind,
            missing: "",
        }
    }

    pub fn missing(mut self, shown: &'static str) -> Self {
        self.missing = shown;
        self
    }
}

/// A titled table, with lines of text before and after it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Section {
    pub title: Option<String>,
    /// Sentences shown before the table.
    pub before: Vec<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// Sentences shown after the table.
    pub after: Vec<String>,
    /// Shown in the text table (a section only for CSV is not).
    #[serde(skip)]
    pub hidden: bool,
}

impl Section {
    pub fn new(title: Option<&str>, columns: Vec<Column>) -> Self {
        Section {
            title: title.map(str::to_string),
            columns,
            ..Section::default()
        }
    }

    /// A section of text lines only.
    pub fn note(title: impl Into<String>) -> Self {
        Section {
            title: Some(title.into()),
            ..Section::default()
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }
}

/// A report's sections, and which of them is its CSV.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct View {
    pub sections: Vec<Section>,
    /// The section that CSV output holds (a CSV file holds one table).
    #[serde(skip)]
    pub csv: usize,
    /// What the reader should know about the numbers (customers left out,
    /// cycles cut, names not recognised): the terminal shows them on stderr.
    pub warnings: Vec<String>,
}

impl View {
    pub fn new(sections: Vec<Section>) -> Self {
        View {
            sections,
            csv: 0,
            warnings: Vec::new(),
        }
    }

    pub fn warn(mut self, warnings: impl IntoIterator<Item = String>) -> Self {
        self.warnings.extend(warnings);
        self
    }

    /// CSV holds section `i` instead of the first.
    pub fn csv_from(mut self, i: usize) -> Self {
        self.csv = i;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of every kind, a hidden section for CSV, and a note.
    fn sample() -> View {
        let mut s = Section::new(
            None,
            vec![
                Column::new("step", Kind::Text),
                Column::new("persons", Kind::Count),
                Column::new("conversion", Kind::Share),
                Column::new("growth", Kind::Growth),
                Column::new("revenue", Kind::Money),
                Column::new("time", Kind::Duration),
                Column::new("kept", Kind::Part),
                Column::new("p", Kind::Number(3)),
                Column::new("version", Kind::Count).missing("-"),
            ],
        );
        s.row(vec![
            "view, \"all\"".into(),
            Cell::Int(1000),
            Cell::Float(1.0),
            Cell::Null,
            Cell::Float(12.345),
            Cell::Float(90.0),
            Cell::Part(1, 3),
            Cell::Float(0.1 + 0.2),
            Cell::Null,
        ]);
        s.row(vec![
            "purchase".into(),
            Cell::Int(7),
            Cell::Float(0.0071),
            Cell::Float(-0.25),
            Cell::Float(f64::NAN),
            Cell::Float(7200.0),
            Cell::Part(0, 0),
            Cell::Float(1e-7),
            Cell::Int(3),
        ]);
        s.row(vec![
            "shown".into(),
            Cell::Shown(0.25, Kind::Share),
            Cell::Shown(12.0, Kind::Count),
            Cell::Null,
            Cell::Shown(1.5, Kind::Money),
            Cell::Null,
            Cell::Null,
            Cell::Shown(2.0, Kind::Number(1)),
            Cell::Null,
        ]);
        s.after.push("done".into());
        let mut hidden = Section::new(None, vec![Column::new("only_csv", Kind::Count)]);
        hidden.hidden = true;
        View::new(vec![s, hidden, Section::note("next")])
    }

    /// Titles after the first part get a blank line; columns are padded to
    /// the widest cell; each kind is shown its way; hidden sections are not.
    #[test]
    fn text_pads_columns_and_formats_kinds() {
        assert_eq!(
            sample().text(),
            "step         persons  conversion  growth  revenue  time  kept   p      version\n\
             view, \"all\"  1000     100.0%              12.35    1.5m  33.3%  0.300  -\n\
             purchase     7        0.7%        -25.0%           2.0h  0.0%   0.000  3\n\
             shown        25.0%    12                  1.50                  2.0    -\n\
             done\n\
             \n\
             next\n"
        );
    }

    /// CSV holds the chosen section, with ratios, seconds and counts as
    /// numbers, money to the cent, and text quoted where it must be.
    #[test]
    fn csv_writes_typed_values() {
        assert_eq!(
            sample().csv(),
            "step,persons,conversion,growth,revenue,time,kept,p,version\n\
             \"view, \"\"all\"\"\",1000,1,,12.35,90,1,0.30000000000000004,\n\
             purchase,7,0.0071,-0.25,,7200,0,1e-7,3\n\
             shown,0.25,12,,1.50,,,2,\n"
        );
        assert_eq!(sample().csv_from(1).csv(), "only_csv\n");
    }
}
