//! Tables derived from a canonical table and stored beside it, so that a
//! report can read one row per customer instead of grouping every order line
//! again.
//!
//! A derived table records the table it was made from (its Delta table id,
//! which a table made again does not share) and that table's version, as a
//! Delta application transaction (`txn`) in the same commit as its rows. A
//! reader takes it only while its source is still at that version; after any
//! later commit to the source it is stale, and the report computes from the
//! source as if the derived table did not exist. So it can never give a
//! number that the source's rows would not.

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// One version of the table a derived table is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The application id under which the derived table records `version`.
    app_id: String,
    version: i64,
}

impl Source {
    /// `table` at the version it was loaded at.
    pub fn of(table: &DeltaTable) -> Result<Source> {
        let snapshot = table
            .snapshot()
            .map_err(|e| Error::delta("the source of a derived table", e))?;
        Ok(Source {
            app_id: format!("koubei.derived-from.{}", snapshot.metadata().id()),
            version: snapshot.version() as i64,
        })
    }

    /// The same version, made with `how` (a model): a derived table made
    /// otherwise is stale.
    pub fn made_with(&self, how: &str) -> Source {
        Source {
            app_id: format!("{}+{how}", self.app_id),
            version: self.version,
        }
    }

    /// The table and version as one string, for a derived table made
    /// from several (see [`Source::made_with`]).
    pub fn tag(&self) -> String {
        format!("{}@{}", self.app_id, self.version)
    }

    /// The source table's version.
    pub fn version(&self) -> i64 {
        self.version
    }
}

impl Workspace {
    /// The derived table `name` if it was made from `source`; None if it
    /// was never made, or made from another table or version.
    pub async fn load_derived(&self, name: &str, source: &Source) -> Result<Option<DeltaTable>> {
        let Some(table) = self.load_table_in(&self.derived_dir(name), name).await? else {
            return Ok(None);
        };
        let made_from = table
            .snapshot()
            .map_err(|e| Error::delta(name, e))?
            .transaction_version(table.log_store().as_ref(), &source.app_id)
            .await
            .map_err(|e| Error::delta(name, e))?;
        Ok((made_from == Some(source.version)).then_some(table))
    }

    /// Replaces the derived table `name` with `batches`, made from
    /// `source`, in one commit. The files of versions replaced more than an
    /// hour before are deleted: a report still reading one of those has
    /// that long, and the folder does not grow with each import.
    pub async fn replace_derived(
        &self,
        name: &str,
        source: &Source,
        batches: Vec<RecordBatch>,
    ) -> Result<u64> {
        self.replace_derived_keeping(name, source, batches, chrono::Duration::hours(1))
            .await
    }

    async fn replace_derived_keeping(
        &self,
        name: &str,
        source: &Source,
        batches: Vec<RecordBatch>,
        keep: chrono::Duration,
    ) -> Result<u64> {
        let _lock = self.lock()?;
        let table = self
            .table_for_write_in(&self.derived_dir(name), name)
            .await?;
        let props = CommitProperties::default()
            .with_application_transaction(Transaction::new(&source.app_id, source.version));
        let written = table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_commit_properties(props)
            .with_writer_properties(writer_properties())
            .await
            .map_err(|e| Error::delta(name, e))?;
        let version = written.version().unwrap_or(0);
        written
            .vacuum()
            .with_retention_period(keep)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| Error::delta(name, e))?;
        Ok(version)
    }
}

/// [`crate::parquet_properties`], with no
/// dictionary for the columns of one value per customer, where it only
/// grows until Parquet falls back from it (28.7 MB against 32.2 MB at a
/// million customers). The customer purchases' packed days (`paid`, see
/// the data model) are varints, which Snappy hardly shrinks: they are
/// stored as they are, without statistics, which nothing reads.
fn writer_properties() -> parquet::file::properties::WriterProperties {
    use parquet::file::properties::EnabledStatistics;
    let mut props = crate::parquet_properties();
    for column in ["customer_id", "id_place", "first_ts", "last_ts", "paid"] {
        props = props.set_column_dictionary_enabled(column.into(), false);
    }
    props
        .set_column_compression("paid".into(), parquet::basic::Compression::UNCOMPRESSED)
        .set_column_statistics_enabled("paid".into(), EnabledStatistics::None)
        .build()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::ROW_GROUP_ROWS;

    fn rows(values: &[i64]) -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        vec![
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))])
                .unwrap(),
        ]
    }

    async fn count(t: &DeltaTable) -> usize {
        let ctx = datafusion::prelude::SessionContext::new();
        let provider = crate::table_provider(t).await.unwrap();
        ctx.read_table(provider).unwrap().count().await.unwrap()
    }

    /// A source table `t` in the workspace, made afresh with `rows`.
    async fn source(ws: &Workspace, rows_: &[i64]) -> DeltaTable {
        ws.table_for_write("t")
            .await
            .unwrap()
            .write(rows(rows_))
            .with_save_mode(SaveMode::Overwrite)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_derived_table_is_read_only_at_its_sources_version() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        let v0 = Source::of(&source(&ws, &[1]).await).unwrap();
        assert!(ws.load_derived("d", &v0).await.unwrap().is_none());

        ws.replace_derived("d", &v0, rows(&[1, 2, 3]))
            .await
            .unwrap();
        let t = ws.load_derived("d", &v0).await.unwrap().unwrap();
        assert_eq!(count(&t).await, 3);
        let v1 = Source::of(&source(&ws, &[2]).await).unwrap();
        assert_ne!(v0, v1);
        assert!(ws.load_derived("d", &v1).await.unwrap().is_none());

        // Replacing keeps only the new rows, and moves the version on.
        ws.replace_derived("d", &v1, rows(&[7])).await.unwrap();
        assert!(ws.load_derived("d", &v0).await.unwrap().is_none());
        let t = ws.load_derived("d", &v1).await.unwrap().unwrap();
        assert_eq!(count(&t).await, 1);

        // Replaced versions' files are deleted once old enough.
        let parquet_files = || {
            std::fs::read_dir(ws.derived_dir("d"))
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(".parquet")
                })
                .count()
        };
        assert_eq!(parquet_files(), 2);
        ws.replace_derived_keeping("d", &v1, rows(&[8, 9]), chrono::Duration::zero())
            .await
            .unwrap();
        assert_eq!(parquet_files(), 1);
        let t = ws.load_derived("d", &v1).await.unwrap().unwrap();
        assert_eq!(count(&t).await, 2);

        // The same version of a table made again is another source.
        std::fs::remove_dir_all(ws.table_dir("t")).unwrap();
        let remade = Source::of(&source(&ws, &[1]).await).unwrap();
        assert_eq!(remade.version, v0.version);
        assert!(ws.load_derived("d", &remade).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_derived_table_is_written_in_row_groups_every_thread_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        let v0 = Source::of(&source(&ws, &[1]).await).unwrap();
        let n = 2 * ROW_GROUP_ROWS + 5;
        let values: Vec<i64> = (0..n as i64).collect();
        ws.replace_derived("d", &v0, rows(&values)).await.unwrap();
        assert_eq!(
            crate::row_groups(&ws.derived_dir("d")),
            [5, ROW_GROUP_ROWS, ROW_GROUP_ROWS]
        );
    }
}
