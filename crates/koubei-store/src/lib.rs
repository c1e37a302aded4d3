//! koubei's storage: the workspace folder, its Delta Lake tables, and import.
//!
//! Everything a front end needs to get a shop's files into the canonical
//! tables goes through [`Workspace::import_file`]: readers for CSV, JSON Lines
//! and Parquet, column mapping, timestamp parsing, rejects, de-duplication and
//! a single atomic commit.

/// At most this many rows per row group, in every table koubei writes: the
/// scan reads a file's row groups on as many threads as there are groups.
/// With one group of a million customers' purchases, the whole `clv` command
/// took 0.34 s (median of 10); with 2^17, 0.29 s. A funnel over a million
/// events in one group ran on one core.
pub(crate) const ROW_GROUP_ROWS: usize = 1 << 17;

mod append;
mod compact;
mod convert;
mod derived;
mod error;
mod import;
mod kept;
mod reader;
mod reject;
pub mod timestamp;
mod workspace;

pub use compact::Compacted;
pub use derived::Source;
pub use error::{Error, Hint, Result};
pub use import::{Checked, ImportOptions, ImportReport, Progress, Quiet, Repeats, check_jsonl};
pub use reader::{Delimiter, Format};
pub use reject::Reject;
pub use timestamp::ImportTz;
pub use workspace::{
    TableInfo, Workspace, atomic_write, empty_parquet_provider, parquet_provider, table_provider,
};

pub use deltalake;
