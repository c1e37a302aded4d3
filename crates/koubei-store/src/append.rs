//! Appending an import's rows to a Delta table as one commit, with Parquet
//! encoded on every core while the file is still being read.
//!
//! deltalake's `write` takes the whole input and feeds it through a single
//! file writer, so an import had to hold every row in memory and then encode
//! on one thread. The [`Appender`] instead hands batches, as they come, to
//! one writer thread per core (in runs of [`RUN_ROWS`], so that each Parquet
//! row group covers a narrow slice of the file), and [`commit`] puts the
//! files of all writers into one commit, together with the table's creation
//! or its widened schema. Files that are written but not committed (an
//! error, too many rejects) are deleted; after a kill they are left
//! unreferenced by the log, so readers never see them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use std::collections::HashSet;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, MetadataExt, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableError};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use url::Url;

use crate::error::{Error, Result};

/// Rows sent to one writer before moving to the next: about one row group.
const RUN_ROWS: usize = 1 << 20;

/// Files are rolled at this size, as deltalake's own writer does.
const TARGET_FILE_SIZE: u64 = 100 * 1024 * 1024;

/// Writes an import's batches to Parquet files in a table's folder, on one
/// thread per core, without committing them.
pub(crate) struct Appender {
    name: String,
    url: Url,
    dir: PathBuf,
    columns: Columns,
    writers: Vec<Writer>,
    next: usize,
    in_run: usize,
    run_rows: usize,
    rows: u64,
}

struct Writer {
    tx: Option<SyncSender<RecordBatch>>,
    thread: Option<JoinHandle<std::result::Result<Vec<Add>, DeltaTableError>>>,
}

/// Files written by an [`Appender`], ready to be committed.
pub(crate) struct Written {
    adds: Vec<Add>,
    schema: SchemaRef,
    url: Url,
    dir: PathBuf,
    /// The columns of the file that are not in the table's canonical schema.
    pub extra_columns: Vec<String>,
    pub rows: u64,
}

impl Appender {
    /// `canonical` is the table's own schema; `stored` the stored table's
    /// schema, if it exists, whose types extra columns take.
    pub(crate) fn new(
        name: &str,
        url: Url,
        dir: PathBuf,
        canonical: SchemaRef,
        stored: Option<SchemaRef>,
    ) -> Self {
        Appender {
            name: name.to_string(),
            url,
            dir,
            columns: Columns {
                canonical,
                stored,
                extras: Vec::new(),
            },
            writers: Vec::new(),
            next: 0,
            in_run: 0,
            run_rows: RUN_ROWS,
            rows: 0,
        }
    }

    /// Queues a batch (the canonical columns, then any extra columns) for
    /// writing; blocks while the writers are busy.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.columns.conform(&batch)?;
        if self.writers.is_empty() {
            self.start(&batch)?;
        }
        if self.in_run >= self.run_rows {
            self.next = (self.next + 1) % self.writers.len();
            self.in_run = 0;
        }
        self.in_run += batch.num_rows();
        self.rows += batch.num_rows() as u64;
        let sent = self.writers[self.next]
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(batch).is_ok());
        if !sent {
            // The writer stopped on an error, which `join` returns.
            let adds = self.join()?;
            remove_files(&self.dir, &adds);
            return Err(self.error(DeltaTableError::Generic("a Parquet writer stopped".into())));
        }
        Ok(())
    }

    fn start(&mut self, first: &RecordBatch) -> Result<()> {
        let schema = first.schema();
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..n {
            let writer = RecordBatchWriter::try_new(self.url.as_str(), schema.clone(), None, None)
                .map_err(|e| self.error(e))?
                .with_target_file_size(TARGET_FILE_SIZE)
                .with_writer_properties(writer_properties(first));
            let (tx, rx) = sync_channel(2);
            // Each writer drives its own runtime: the caller's may be a
            // single thread, busy reading the file.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io(&self.dir, e))?;
            let thread = std::thread::Builder::new()
                .name(format!("koubei-writer-{i}"))
                .spawn(move || runtime.block_on(write_all(writer, rx)))
                .map_err(|e| Error::io(&self.dir, e))?;
            self.writers.push(Writer {
                tx: Some(tx),
                thread: Some(thread),
            });
        }
        Ok(())
    }

    /// Waits for every writer to finish its files; the files are not yet
    /// part of the table.
    pub(crate) fn close(mut self) -> Result<Written> {
        let adds = self.join()?;
        let mut fields: Vec<Field> = self
            .columns
            .canonical
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(self.columns.extras.iter().cloned());
        let extra_columns = self
            .columns
            .extras
            .iter()
            .map(|f| f.name().clone())
            .collect();
        Ok(Written {
            adds,
            schema: Arc::new(Schema::new(fields)),
            url: self.url.clone(),
            dir: self.dir.clone(),
            extra_columns,
            rows: self.rows,
        })
    }

    /// Closes every channel and joins every writer. On any error, every file
    /// written is deleted.
    fn join(&mut self) -> Result<Vec<Add>> {
        for w in &mut self.writers {
            w.tx = None;
        }
        let mut adds = Vec::new();
        let mut failure = None;
        for w in &mut self.writers {
            let Some(thread) = w.thread.take() else {
                continue;
            };
            match thread.join() {
                Ok(Ok(a)) => adds.extend(a),
                Ok(Err(e)) => failure = failure.or(Some(Error::delta(&self.name, e))),
                Err(_) => {
                    failure = failure.or(Some(Error::delta(
                        &self.name,
                        DeltaTableError::Generic("a Parquet writer thread panicked".into()),
                    )))
                }
            }
        }
        match failure {
            Some(e) => {
                remove_files(&self.dir, &adds);
                Err(e)
            }
            None => Ok(adds),
        }
    }

    fn error(&self, e: DeltaTableError) -> Error {
        Error::delta(&self.name, e)
    }
}

impl Drop for Appender {
    /// An appender dropped before [`Appender::close`] (the import failed)
    /// removes what it wrote.
    fn drop(&mut self) {
        if self.writers.iter().any(|w| w.thread.is_some())
            && let Ok(adds) = self.join()
        {
            remove_files(&self.dir, &adds);
        }
    }
}

impl Written {
    /// Deletes the files instead of committing them.
    pub(crate) fn discard(self) {
        remove_files(&self.dir, &self.adds);
    }
}

async fn write_all(
    mut writer: RecordBatchWriter,
    rx: Receiver<RecordBatch>,
) -> std::result::Result<Vec<Add>, DeltaTableError> {
    // The channel is read between batches only, so a blocking receive here
    // holds up nothing but this thread.
    while let Ok(batch) = rx.recv() {
        if let Err(e) = writer.write_with_mode(batch, WriteMode::MergeSchema).await {
            writer.reset();
            return Err(e);
        }
    }
    writer.flush().await
}

fn remove_files(dir: &std::path::Path, adds: &[Add]) {
    for a in adds {
        let _ = std::fs::remove_file(dir.join(&a.path));
    }
}

/// [`crate::parquet_properties`], with dictionary encoding only for the
/// columns whose values repeat in the first batch. Parquet falls back from a
/// dictionary that grows too large anyway, but only after interning values
/// into it: on ids and timestamps that was an eighth of an import's time.
fn writer_properties(first: &RecordBatch) -> WriterProperties {
    let mut props = crate::parquet_properties();
    for (field, col) in first.schema().fields().iter().zip(first.columns()) {
        if !repeats(col) {
            props =
                props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    props.build()
}

/// Whether the column's first values take at most one distinct value in
/// eight, where a dictionary pays. Columns of other types are left to
/// Parquet's default.
fn repeats(col: &ArrayRef) -> bool {
    const SAMPLE: usize = 4096;
    let n = col.len().min(SAMPLE);
    let distinct = match col.data_type() {
        DataType::Utf8 => {
            let s = col.as_string::<i32>();
            (0..n)
                .filter(|&i| s.is_valid(i))
                .map(|i| s.value(i))
                .collect::<HashSet<_>>()
                .len()
        }
        DataType::Int64 | DataType::Float64 | DataType::Timestamp(_, _) => {
            let data = col.to_data();
            let values: &[u64] = data.buffers()[0].typed_data();
            let values = &values[data.offset()..data.offset() + n];
            (0..n)
                .filter(|&i| col.is_valid(i))
                .map(|i| values[i])
                .collect::<HashSet<_>>()
                .len()
        }
        DataType::Decimal128(_, _) => {
            let d = col.as_primitive::<arrow::datatypes::Decimal128Type>();
            (0..n)
                .filter(|&i| d.is_valid(i))
                .map(|i| d.value(i))
                .collect::<HashSet<_>>()
                .len()
        }
        _ => return true,
    };
    distinct * 8 <= n
}

/// Commits the written files as one new version of their table, and
/// returns it. `existing` is the table at its current version, or None to
/// create it; new columns are added to its schema in the same commit.
pub(crate) async fn commit(
    name: &str,
    existing: Option<&DeltaTable>,
    written: Written,
    props: CommitProperties,
) -> Result<u64> {
    let delta = |source: DeltaTableError| Error::delta(name, source);
    let kernel_schema: StructType = written
        .schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| delta(e.into()))?;
    let adds: Vec<Action> = written.adds.iter().cloned().map(Action::Add).collect();
    let committed = match existing {
        None => DeltaTable::try_from_url(written.url.clone())
            .await
            .map_err(delta)?
            .create()
            .with_columns(kernel_schema.fields().cloned())
            .with_table_name(name)
            .with_actions(adds)
            .with_commit_properties(props)
            .await
            .map(|t| t.version().unwrap_or(0)),
        Some(t) => {
            let snapshot = t.snapshot().map_err(delta)?;
            let stored = snapshot.schema();
            let new_fields: Vec<_> = kernel_schema
                .fields()
                .filter(|f| stored.field(f.name()).is_none())
                .cloned()
                .collect();
            let mut actions = Vec::with_capacity(adds.len() + 1);
            if !new_fields.is_empty() {
                let widened = StructType::try_new(stored.fields().cloned().chain(new_fields))
                    .map_err(|e| delta(e.into()))?;
                let metadata = MetadataExt::with_schema(snapshot.metadata().clone(), &widened)
                    .map_err(|e| delta(e.into()))?;
                actions.push(Action::Metadata(metadata));
            }
            actions.extend(adds);
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: None,
            };
            CommitBuilder::from(props)
                .with_actions(actions)
                .build(Some(snapshot), t.log_store(), operation)
                .await
                .map(|c| c.version())
        }
    };
    match committed {
        Ok(v) => Ok(v),
        Err(e) => {
            written.discard();
            Err(delta(e))
        }
    }
}

/// The columns of an import: the table's canonical ones, then extra columns
/// in order of first appearance. An extra column the table already has takes
/// the table's type; a new one its first type, with string views and large
/// strings stored as plain strings.
struct Columns {
    canonical: SchemaRef,
    stored: Option<SchemaRef>,
    extras: Vec<Field>,
}

impl Columns {
    /// The batch with its extra columns cast to their column's type, and
    /// every extra column seen so far present (null where the batch lacks it).
    fn conform(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n_canonical = self.canonical.fields().len();
        let schema = batch.schema();
        for f in schema.fields().iter().skip(n_canonical) {
            if self.extras.iter().any(|e| e.name() == f.name()) {
                continue;
            }
            let ty = self
                .stored
                .as_ref()
                .and_then(|s| s.field_with_name(f.name()).ok())
                .map(|sf| sf.data_type().clone())
                .unwrap_or_else(|| f.data_type().clone());
            let ty = match ty {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                t => t,
            };
            self.extras.push(Field::new(f.name(), ty, true));
        }
        if schema.fields().len() == n_canonical + self.extras.len()
            && schema
                .fields()
                .iter()
                .skip(n_canonical)
                .zip(&self.extras)
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
        {
            return Ok(batch.clone());
        }
        let mut fields: Vec<Field> = schema
            .fields()
            .iter()
            .take(n_canonical)
            .map(|f| f.as_ref().clone())
            .collect();
        let mut cols: Vec<ArrayRef> = batch.columns()[..n_canonical].to_vec();
        for f in &self.extras {
            let col = match schema.index_of(f.name()) {
                Ok(i) if batch.column(i).data_type() == f.data_type() => batch.column(i).clone(),
                Ok(i) => cast_with_options(
                    batch.column(i),
                    f.data_type(),
                    &CastOptions {
                        safe: false,
                        ..Default::default()
                    },
                )
                .map_err(|e| {
                    arrow::error::ArrowError::CastError(format!(
                        "column {} is {} in the table but the file's values do not convert: {e}",
                        f.name(),
                        f.data_type()
                    ))
                })?,
                Err(_) => new_null_array(f.data_type(), batch.num_rows()),
            };
            fields.push(f.clone());
            cols.push(col);
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringViewArray};
    use arrow::datatypes::DataType;
    use datafusion::prelude::SessionContext;

    fn ids(range: std::ops::Range<i64>, note: Option<ArrayRef>) -> RecordBatch {
        let mut fields = vec![Field::new("id", DataType::Int64, false)];
        let mut cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(range))];
        if let Some(n) = note {
            fields.push(Field::new("note", n.data_type().clone(), true));
            cols.push(n);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    fn parquet_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    }

    /// The table at `url` as `t`, queried, printed as a text table.
    async fn query(url: &Url, sql: &str) -> String {
        let t = deltalake::open_table(url.clone()).await.unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("t", t.table_provider().await.unwrap())
            .unwrap();
        let got = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&got)
            .unwrap()
            .to_string()
    }

    /// A table folder in a temporary directory, and a one-thread runtime.
    fn scratch() -> (tempfile::TempDir, PathBuf, Url, tokio::runtime::Runtime) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t");
        std::fs::create_dir_all(&dir).unwrap();
        let url = Url::from_directory_path(&dir).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        (tmp, dir, url, rt)
    }

    fn canonical() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]))
    }

    /// A file holds row groups of at most [`crate::ROW_GROUP_ROWS`], so that
    /// a scan of one file runs on every core.
    #[test]
    fn files_are_written_in_row_groups_every_thread_can_read() {
        let (_tmp, dir, url, rt) = scratch();
        rt.block_on(async {
            let n = 2 * crate::ROW_GROUP_ROWS as i64 + 5;
            let mut a = Appender::new("t", url.clone(), dir.clone(), canonical(), None);
            a.push(ids(0..n, None)).unwrap();
            commit("t", None, a.close().unwrap(), CommitProperties::default())
                .await
                .unwrap();
        });
        let r = crate::ROW_GROUP_ROWS;
        assert_eq!(crate::row_groups(&dir), [5, r, r]);
    }

    /// Runs of rows go to every writer; their files, an extra column that
    /// appears part way, and a later import's new column and cast all land
    /// in single commits. The caller's runtime has one thread, busy pushing.
    #[test]
    fn all_writers_files_in_one_commit() {
        let (_tmp, dir, url, rt) = scratch();
        rt.block_on(async {
            let mut a = Appender::new("t", url.clone(), dir.clone(), canonical(), None);
            a.run_rows = 3;
            let view = |v: &[&str]| Some(Arc::new(StringViewArray::from(v.to_vec())) as ArrayRef);
            a.push(ids(0..2, None)).unwrap();
            a.push(ids(2..4, view(&["a", "b"]))).unwrap();
            a.push(ids(4..6, None)).unwrap();
            a.push(ids(6..8, view(&["c", "d"]))).unwrap();
            a.push(ids(8..10, None)).unwrap();
            let w = a.close().unwrap();
            assert_eq!(
                (w.rows, w.extra_columns.clone()),
                (10, vec!["note".to_string()])
            );
            assert_eq!(
                commit("t", None, w, CommitProperties::default())
                    .await
                    .unwrap(),
                0
            );
            // Every writer wrote, and every file on disk is in the log.
            let t = deltalake::open_table(url.clone()).await.unwrap();
            let logged = t.get_file_uris().unwrap().count();
            assert_eq!(parquet_files(&dir), logged);
            if std::thread::available_parallelism().unwrap().get() > 1 {
                assert!(logged >= 2, "{logged} files");
            }
            let got = query(
                &url,
                "SELECT count(*), count(note), sum(id), max(note) FROM t",
            )
            .await;
            assert!(
                got.contains("| 10       | 4             | 45        | d           |"),
                "{got}"
            );

            // A second import: its `note` values are numbers, stored as the
            // table's strings; `tag` is new to the table.
            let t = deltalake::open_table(url.clone()).await.unwrap();
            let stored = t.table_provider().await.unwrap().schema();
            let mut a = Appender::new("t", url.clone(), dir.clone(), canonical(), Some(stored));
            let b = ids(10..12, Some(Arc::new(Int64Array::from(vec![7, 8]))));
            let tag: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["x", "y"]));
            let mut fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("tag", DataType::Utf8, true));
            let mut cols = b.columns().to_vec();
            cols.push(tag);
            a.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap())
                .unwrap();
            let w = a.close().unwrap();
            assert_eq!(w.extra_columns, ["note", "tag"]);
            assert_eq!(
                commit("t", Some(&t), w, CommitProperties::default())
                    .await
                    .unwrap(),
                1
            );
            let got = query(&url, "SELECT count(*), max(note), count(tag) FROM t").await;
            assert!(
                got.contains("| 12       | d           | 2            |"),
                "{got}"
            );
        });
    }

    #[test]
    fn dictionaries_only_where_values_repeat() {
        let n = 10_000i64;
        let ids: ArrayRef = Arc::new(arrow::array::StringArray::from_iter_values(
            (0..n).map(|i| format!("o{i}")),
        ));
        let status: ArrayRef =
            Arc::new(arrow::array::StringArray::from_iter((0..n).map(|i| {
                (i % 7 != 0).then_some(["paid", "refunded"][i as usize % 2])
            })));
        let ts: ArrayRef = Arc::new(
            arrow::array::TimestampMicrosecondArray::from_iter_values(
                (0..n).map(|i| i * 1_000_003),
            )
            .with_timezone("UTC"),
        );
        let quantity: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| 1 + i % 3)));
        let amount: ArrayRef = Arc::new(
            arrow::array::Decimal128Array::from_iter_values((0..n).map(|i| i as i128 * 3_700))
                .with_data_type(koubei_schema::ColumnType::Decimal.arrow()),
        );
        assert!(!repeats(&ids));
        assert!(repeats(&status));
        assert!(!repeats(&ts));
        assert!(repeats(&quantity));
        assert!(!repeats(&amount));
        // A slice is read from its own offset.
        assert!(repeats(&quantity.slice(5000, 4000)));
        assert!(!repeats(&amount.slice(5000, 4000)));
        assert!(!repeats(&ts.slice(5000, 4000)));
    }

    /// Files that are not committed do not stay behind.
    #[test]
    fn uncommitted_files_are_removed() {
        let (_tmp, dir, url, rt) = scratch();
        rt.block_on(async {
            let mut a = Appender::new("t", url.clone(), dir.clone(), canonical(), None);
            a.push(ids(0..5, None)).unwrap();
            a.close().unwrap().discard();
            assert_eq!(parquet_files(&dir), 0);

            let mut a = Appender::new("t", url.clone(), dir.clone(), canonical(), None);
            a.push(ids(0..5, None)).unwrap();
            drop(a);
            assert_eq!(parquet_files(&dir), 0);
        });
    }
}
