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

/// How every table koubei writes stores its Parquet: Snappy, as deltalake
/// writes, in row groups of [`ROW_GROUP_ROWS`]. Each writer adds its own
/// dictionary choices.
pub(crate) fn parquet_properties() -> parquet::file::properties::WriterPropertiesBuilder {
    parquet::file::properties::WriterProperties::builder()
        .set_created_by(format!("koubei {}", env!("CARGO_PKG_VERSION")))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
}

/// The footers of the Parquet files in `dir`, for tests of how they are
/// written.
#[cfg(test)]
pub(crate) fn parquet_footers(
    dir: &std::path::Path,
) -> Vec<std::sync::Arc<parquet::file::metadata::ParquetMetaData>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| {
            let reader = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
            std::sync::Arc::new(reader.metadata().clone())
        })
        .collect()
}

/// The row counts of the row groups of the Parquet files in `dir`, sorted.
#[cfg(test)]
pub(crate) fn row_groups(dir: &std::path::Path) -> Vec<usize> {
    let mut groups: Vec<usize> = parquet_footers(dir)
        .iter()
        .flat_map(|m| m.row_groups().iter().map(|g| g.num_rows() as usize))
        .collect();
    groups.sort_unstable();
    groups
}

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
