//! A row that an import left out: its own module, since both the readers
//! (rows that cannot be read) and the import (cells that cannot be parsed)
//! make them.

use serde::Serialize;

/// A row that was not imported, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    /// The line in the file (CSV, JSON Lines) or the row number (Parquet), from 1.
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
    /// The row as read, for the user to inspect.
    pub record: Option<String>,
}

impl Reject {
    pub(crate) fn new(
        line: u64,
        column: Option<String>,
        reason: String,
        record: Option<String>,
    ) -> Self {
        Reject {
            line,
            column,
            reason,
            record,
        }
    }
}
