//! Importing a file into one canonical table as a single Delta commit.
//!
//! The steps, in order:
//! 1. read the file in chunks (`reader`), and match its columns to the table
//!    (`convert::plan`); a missing required column stops the import here;
//! 2. parse every cell to its type, rejecting each bad row with its line,
//!    column and reason;
//! 3. derive what the file lacks: ids hashed from the row's content (so the
//!    same file always yields the same ids), order lines, defaults;
//! 4. drop rows whose primary key is already stored (re-imports add nothing)
//!    and reject rows whose key repeats within the file; hand the rows kept
//!    to the Parquet writers (`append`) while the file is still being read;
//! 5. if the rejected share is over the limit, delete the written files and
//!    commit nothing;
//! 6. commit all files in one Delta transaction, then the rejects in another.
//!
//! A kill at any point leaves each table at its previous version or its new
//! one. If it lands between the two commits, re-running the import adds the
//! missing rejects and no rows.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Decimal128Type, Field, Int64Type, Schema, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use koubei_schema::{ColumnType, MONEY_PRECISION, Presence, REJECTS, TableKind, rejects_schema};
use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

use crate::append;
use crate::convert::{self, ColumnPlan, RowErrors};
use crate::error::{Error, Result};
use crate::kept;
use crate::reader::{self, ByteCounter, ChunkIter, Format};
use crate::reject::Reject;
use crate::timestamp::ImportTz;
use crate::workspace::{Workspace, table_provider};

/// How to read a file. The defaults suit a CSV export in UTC.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Taken from the file's extension when None.
    pub format: Option<Format>,
    /// Taken from the format when None: a comma, or a tab for TSV.
    pub delimiter: Option<crate::Delimiter>,
    /// The file's column names, for a text file that has no header line.
    pub columns: Option<Vec<String>>,
    /// `(target, source)`: the table's column `target` is the file's `source`.
    pub mapping: Vec<(String, String)>,
    pub timezone: ImportTz,
    /// The share of rejected rows above which nothing is committed.
    pub max_reject_ratio: f64,
    /// What rows with the same key in one import are.
    pub repeats: Repeats,
    /// An application transaction recorded in the same commit as the rows
    /// (Delta's `txn` action): a writer's own last sequence number, read
    /// back with [`Workspace::app_version`] so that a replay after a crash
    /// can skip what is already stored.
    pub app_transaction: Option<(String, i64)>,
}

/// What two rows of one import with the same primary key are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeats {
    /// A file: identical rows without ids are distinct rows (two of the same
    /// item bought in one second), and a repeated key is rejected.
    #[default]
    Reject,
    /// Captured records: a repeated key, or an identical record without an
    /// id, is one record sent again (a client's retry), stored once.
    StoreOnce,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            delimiter: None,
            columns: None,
            mapping: Vec::new(),
            timezone: ImportTz::Utc,
            max_reject_ratio: 0.01,
            repeats: Repeats::Reject,
            app_transaction: None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub import_id: String,
    pub table: TableKind,
    pub source: String,
    pub rows_read: u64,
    pub loaded: u64,
    /// Rows whose primary key was already stored: an earlier import of the
    /// same data (or, under [`Repeats::StoreOnce`], a record sent again).
    pub already_present: u64,
    pub rejected: u64,
    /// The first rejects; all of them are in the `rejects` table.
    pub first_rejects: Vec<Reject>,
    /// Columns that are not in the table's schema, kept under their own names.
    pub extra_columns: Vec<String>,
    /// The table's Delta version after the import; None if nothing was committed.
    pub version: Option<u64>,
}

/// Reports the progress of long imports; the CLI draws it as a bar.
pub trait Progress: Send + Sync {
    /// A new stage; `total` is in bytes when known.
    fn stage(&self, _name: &str, _total: Option<u64>) {}
    fn position(&self, _pos: u64) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

const SHOWN_REJECTS: usize = 20;

impl Workspace {
    /// Imports one file into `table`.
    pub async fn import_file(
        &self,
        table: TableKind,
        path: &Path,
        opts: &ImportOptions,
        progress: &dyn Progress,
    ) -> Result<ImportReport> {
        let format = match opts.format {
            Some(f) => f,
            None => Format::from_path(path).ok_or_else(|| Error::Invalid {
                field: "format",
                reason: format!(
                    "cannot tell the format from the file name {}: name it, csv, tsv, jsonl or parquet",
                    path.display()
                ),
            })?,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let counter = ByteCounter::default();
        let chunks = reader::open(
            path,
            format,
            opts.delimiter,
            opts.columns.as_deref(),
            &counter,
        )?;
        let source = path
            .canonicalize()
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string();
        progress.stage("reading", Some(size));
        self.import_chunks(
            table,
            source,
            chunks,
            format != Format::Jsonl,
            opts,
            progress,
            Some(&counter),
            RowsHint::FileBytes(size),
        )
        .await
    }

    /// Imports record batches that are already in memory, such as the demo's,
    /// through the same checks as a file.
    pub async fn import_batches(
        &self,
        table: TableKind,
        source: &str,
        batches: Vec<RecordBatch>,
        opts: &ImportOptions,
        progress: &dyn Progress,
    ) -> Result<ImportReport> {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        progress.stage("checking", Some(rows as u64));
        self.import_chunks(
            table,
            source.to_string(),
            reader::batch_chunks(batches),
            true,
            opts,
            progress,
            None,
            RowsHint::Rows(rows),
        )
        .await
    }

    /// Imports JSON Lines held in memory (captured records), through the
    /// same checks as a file; `source` names them in the commit.
    pub async fn import_jsonl(
        &self,
        table: TableKind,
        source: &str,
        text: Vec<u8>,
        opts: &ImportOptions,
        progress: &dyn Progress,
    ) -> Result<ImportReport> {
        let bytes = text.len();
        progress.stage("checking", None);
        self.import_chunks(
            table,
            source.to_string(),
            reader::jsonl_chunks(source, text),
            false,
            opts,
            progress,
            None,
            RowsHint::Rows(bytes / 100),
        )
        .await
    }

    /// The last version that the application `app_id` recorded in `table`
    /// (see [`ImportOptions::app_transaction`]), or None.
    pub async fn app_version(&self, table: TableKind, app_id: &str) -> Result<Option<i64>> {
        let Some(t) = self.load_table(table.name()).await? else {
            return Ok(None);
        };
        let state = t.snapshot().map_err(|e| Error::delta(table.name(), e))?;
        state
            .transaction_version(t.log_store().as_ref(), app_id)
            .await
            .map_err(|e| Error::delta(table.name(), e))
    }

    #[allow(clippy::too_many_arguments)]
    async fn import_chunks(
        &self,
        table: TableKind,
        source: String,
        chunks: ChunkIter,
        fixed_columns: bool,
        opts: &ImportOptions,
        progress: &dyn Progress,
        counter: Option<&ByteCounter>,
        hint: RowsHint,
    ) -> Result<ImportReport> {
        let _lock = self.lock()?;
        let started = std::time::Instant::now();
        let existing = self.load_table(table.name()).await?;
        let stored_keys = match &existing {
            Some(t) => stored_key_hashes(t, table).await?,
            None => KeySet::default(),
        };
        tracing::debug!(keys = stored_keys.len(), elapsed = ?started.elapsed(), "stored keys loaded");
        let mut state = DeriveState::new(table, stored_keys, opts.repeats);
        if let RowsHint::Rows(rows) = hint {
            state.expect_rows(rows);
        }
        let stored_schema = match &existing {
            Some(t) => Some(table_provider(t).await?.schema()),
            None => None,
        };
        // The type each kept column is stored as.
        let mut kept_types: HashMap<String, DataType> = stored_schema
            .iter()
            .flat_map(|s| s.fields().iter())
            .filter(|f| table.column(f.name()).is_none())
            .map(|f| {
                let ty = match f.data_type() {
                    DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                    t => t.clone(),
                };
                (f.name().clone(), ty)
            })
            .collect();
        let mut appender = append::Appender::new(
            table.name(),
            self.table_url(table.name())?,
            self.table_dir(table.name()),
            table.schema(),
            stored_schema,
        );
        let mut rejects: Vec<Reject> = Vec::new();
        let mut rows_read = 0u64;
        let mut rows_done = 0u64;
        let mut column_plan: Option<ColumnPlan> = None;
        let path = Path::new(&source).to_path_buf();

        let parallel = rayon::current_num_threads().max(1);
        // Split CSV blocks into values, then convert, on every core; a
        // group is converted while the one before it is derived.
        let convert_group = |work: Vec<(reader::Piece, ColumnPlan)>| {
            work.into_par_iter()
                .map(|(piece, plan)| {
                    let chunk = piece.into_chunk()?;
                    let conv = convert::convert_chunk(table, &chunk, &plan, opts.timezone);
                    Ok((chunk, plan, conv))
                })
                .collect::<Result<Vec<_>>>()
        };
        let convert_group = &convert_group;
        std::thread::scope(|scope| -> Result<()> {
            // One thread reads and splits the file; chunks are converted in
            // parallel, then derived and de-duplicated in file order.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<reader::Piece>>(parallel * 2);
            scope.spawn(move || {
                for c in chunks {
                    let failed = c.is_err();
                    if tx.send(c).is_err() || failed {
                        break;
                    }
                }
            });
            let mut in_flight = None;
            loop {
                let group: Vec<Result<reader::Piece>> = rx.iter().take(2 * parallel).collect();
                let mut work = Vec::with_capacity(group.len());
                for piece in group {
                    let piece = piece?;
                    if let (RowsHint::FileBytes(size), Some((bytes, lines)), true) =
                        (hint, piece.text_span(), rows_read == 0 && work.is_empty())
                    {
                        // From the first block: a gzip file has more rows than
                        // this says, and its map grows as before.
                        let rows = size as f64 / bytes.max(1) as f64 * lines as f64;
                        state.expect_rows(rows as usize);
                    }
                    let plan = match &column_plan {
                        Some(p) if fixed_columns => p.clone(),
                        _ => {
                            let p = convert::plan(table, piece.names(), &opts.mapping).map_err(
                                |reason| Error::Invalid {
                                    field: "map",
                                    reason: format!("{reason} (in {})", path.display()),
                                },
                            )?;
                            if fixed_columns {
                                convert::check_required(table, &p, piece.names()).map_err(
                                    |(reason, hint)| Error::Columns {
                                        path: path.clone(),
                                        reason,
                                        hint,
                                    },
                                )?;
                                column_plan = Some(p.clone());
                            }
                            p
                        }
                    };
                    work.push((piece, plan));
                }
                let next = (!work.is_empty()).then(|| scope.spawn(move || convert_group(work)));
                let Some(done) = std::mem::replace(&mut in_flight, next) else {
                    if in_flight.is_none() {
                        return Ok(());
                    }
                    continue;
                };
                let converted = done.join().map_err(|_| Error::Unreadable {
                    path: path.clone(),
                    reason: "a conversion thread failed".into(),
                })??;
                for (chunk, plan, conv) in converted {
                    rows_read += chunk.rows_read;
                    rejects.extend(chunk.rejects.iter().cloned());
                    let (mut columns, mut errors) = conv.map_err(|reason| Error::Columns {
                        path: path.clone(),
                        reason,
                        hint: None,
                    })?;
                    let rows = chunk.lines.len();
                    let derived = state.derive(&mut columns, &chunk.lines, &mut errors, &plan);
                    // Kept columns, in a type Delta holds and the type the
                    // name was first kept as; a value that would change
                    // rejects its row.
                    let mut fields: Vec<Field> = table
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.as_ref().clone())
                        .collect();
                    for (name, i) in &plan.extras {
                        let col = kept::storable(name, &chunk.columns[*i]).map_err(|reason| {
                            Error::Columns {
                                path: path.clone(),
                                reason,
                                hint: None,
                            }
                        })?;
                        let ty = kept_types
                            .entry(name.clone())
                            .or_insert_with(|| col.data_type().clone());
                        let col = kept::fit(name, &col, ty, &mut errors);
                        fields.push(Field::new(name, col.data_type().clone(), true));
                        columns.push(col);
                    }
                    let mut mask = Vec::with_capacity(rows);
                    for (row, err) in errors.iter().enumerate() {
                        match err {
                            Some(e) => {
                                mask.push(false);
                                rejects.push(Reject::new(
                                    chunk.lines[row],
                                    Some(e.column.clone()),
                                    e.reason.clone(),
                                    Some(record_text(&chunk.names, &chunk.columns, row)),
                                ));
                            }
                            None => mask.push(derived[row] == Keep::Yes),
                        }
                    }
                    // Nullability of the canonical schema is checked only on kept rows.
                    let loose_schema = Arc::new(Schema::new(
                        fields
                            .iter()
                            .map(|f| f.clone().with_nullable(true))
                            .collect::<Vec<_>>(),
                    ));
                    let batch = RecordBatch::try_new(loose_schema, columns)?;
                    // Most chunks keep every row: no copy for those.
                    let batch = if mask.iter().all(|&k| k) {
                        batch
                    } else {
                        filter_record_batch(&batch, &BooleanArray::from(mask))?
                    };
                    let batch = RecordBatch::try_new(
                        Arc::new(Schema::new(fields)),
                        batch.columns().to_vec(),
                    )?;
                    appender.push(batch)?;
                    rows_done += rows as u64;
                    match counter {
                        Some(c) => progress.position(c.get()),
                        None => progress.position(rows_done),
                    }
                }
            }
        })?;

        tracing::debug!(rows_read, elapsed = ?started.elapsed(), "file read and checked");
        let rejected = rejects.len() as u64;
        rejects.sort_by_key(|r| r.line);
        let written = appender.close()?;
        if rows_read > 0 && rejected as f64 / rows_read as f64 > opts.max_reject_ratio {
            written.discard();
            return Err(Error::TooManyRejects {
                rejected,
                read: rows_read,
                max: opts.max_reject_ratio,
                samples: rejects.into_iter().take(SHOWN_REJECTS).collect(),
            });
        }

        let extra_columns = written.extra_columns.clone();
        let loaded = written.rows;
        let import_id = import_id(&source);
        let mut version = existing.as_ref().and_then(|t| t.version());
        if loaded > 0 {
            progress.stage("committing", None);
            let info = serde_json::json!({
                "rows": loaded,
                "rows_read": rows_read,
                "rejected": rejected,
            });
            let mut props = CommitProperties::default().with_metadata(vec![
                (
                    "koubei.import_id".to_string(),
                    serde_json::Value::from(import_id.clone()),
                ),
                (
                    "koubei.source".to_string(),
                    serde_json::Value::from(source.clone()),
                ),
                ("koubei.counts".to_string(), info),
            ]);
            if let Some((app_id, v)) = &opts.app_transaction {
                props = props
                    .with_application_transaction(deltalake::kernel::Transaction::new(app_id, *v));
            }
            version = Some(append::commit(table.name(), existing.as_ref(), written, props).await?);
            tracing::debug!(loaded, elapsed = ?started.elapsed(), "committed");
        }
        if !rejects.is_empty() {
            self.store_rejects(table, &source, &import_id, &rejects)
                .await?;
        }
        Ok(ImportReport {
            import_id,
            table,
            source,
            rows_read,
            loaded,
            already_present: state.already_present,
            rejected,
            first_rejects: rejects.into_iter().take(SHOWN_REJECTS).collect(),
            extra_columns,
            version,
        })
    }

    /// Appends rejects to the `rejects` table, skipping any already kept from
    /// an earlier run of the same import.
    async fn store_rejects(
        &self,
        table: TableKind,
        source: &str,
        import_id: &str,
        rejects: &[Reject],
    ) -> Result<()> {
        let key = |line: u64, column: Option<&str>, reason: &str| {
            let mut h = Xxh3::new();
            for part in [
                table.name(),
                source,
                &line.to_string(),
                column.unwrap_or(""),
                reason,
            ] {
                h.update(part.as_bytes());
                h.update(&[0]);
            }
            h.digest128()
        };
        let mut seen = HashSet::new();
        if let Some(t) = self.load_table(REJECTS).await? {
            let ctx = SessionContext::new();
            let df = ctx
                .read_table(table_provider(&t).await?)?
                .select_columns(&["table_name", "source", "line", "column_name", "reason"])?;
            let mut stream = df.execute_stream().await?;
            while let Some(b) = stream.next().await {
                let b = b?;
                let text = |i: usize| -> Result<StringArray> {
                    Ok(cast(b.column(i), &DataType::Utf8)?
                        .as_string::<i32>()
                        .clone())
                };
                let (tn, src, col, reason) = (text(0)?, text(1)?, text(3)?, text(4)?);
                let line = b.column(2).as_primitive::<Int64Type>();
                for r in 0..b.num_rows() {
                    if tn.value(r) == table.name() && src.value(r) == source {
                        let column = (!col.is_null(r)).then(|| col.value(r));
                        seen.insert(key(line.value(r) as u64, column, reason.value(r)));
                    }
                }
            }
        }
        let fresh: Vec<&Reject> = rejects
            .iter()
            .filter(|r| !seen.contains(&key(r.line, r.column.as_deref(), &r.reason)))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let n = fresh.len();
        let now = chrono::Utc::now().timestamp_micros();
        let batch = RecordBatch::try_new(
            rejects_schema(),
            vec![
                Arc::new(StringArray::from(vec![import_id; n])),
                Arc::new(StringArray::from(vec![table.name(); n])),
                Arc::new(StringArray::from(vec![source; n])),
                Arc::new(Int64Array::from_iter_values(
                    fresh.iter().map(|r| r.line as i64),
                )),
                Arc::new(StringArray::from_iter(
                    fresh.iter().map(|r| r.column.as_deref()),
                )),
                Arc::new(StringArray::from_iter_values(
                    fresh.iter().map(|r| r.reason.as_str()),
                )),
                Arc::new(StringArray::from_iter(
                    fresh.iter().map(|r| r.record.as_deref()),
                )),
                Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
            ],
        )?;
        self.table_for_write(REJECTS)
            .await?
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_table_name(REJECTS)
            .await
            .map_err(|source| Error::delta(REJECTS, source))?;
        Ok(())
    }
}

fn import_id(source: &str) -> String {
    let now = chrono::Utc::now();
    let mut h = Xxh3::new();
    h.update(source.as_bytes());
    h.update(&now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    format!("{}-{:08x}", now.format("%Y%m%dT%H%M%SZ"), h.digest() as u32)
}

/// The row as the file had it, for the rejects table: a JSON object.
fn record_text(names: &[String], columns: &[ArrayRef], row: usize) -> String {
    let mut obj = serde_json::Map::new();
    for (name, col) in names.iter().zip(columns) {
        let value = if col.is_null(row) {
            serde_json::Value::Null
        } else {
            match convert::as_text(&col.slice(row, 1)) {
                Ok(s) if !s.is_null(0) => serde_json::Value::from(s.value(0)),
                _ => serde_json::Value::Null,
            }
        };
        obj.insert(name.clone(), value);
    }
    serde_json::Value::Object(obj).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Yes,
    AlreadyStored,
    Duplicate,
}

/// A key's xxh3-128 hash, as two words: aligned to 8 bytes rather than a
/// u128's 16, an entry of the key map with its line takes 24 bytes instead
/// of 32 (ten million keys: about 130 MB less).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u64; 2]);

impl From<u128> for Key {
    fn from(v: u128) -> Self {
        Key([v as u64, (v >> 64) as u64])
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0]);
    }
}

/// Keys are hashes already: hashing them again would only cost time.
#[derive(Default, Clone, Copy)]
struct PreHashed(u64);

impl std::hash::Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for types other than Key; fold them in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type KeySet = HashSet<Key, std::hash::BuildHasherDefault<PreHashed>>;
type KeyMap<V> = HashMap<Key, V, std::hash::BuildHasherDefault<PreHashed>>;

/// What tells how many rows an import will have, so that its key map is
/// sized once: growing it rehashes every key, and for a moment holds the
/// old table and the new one.
/// What [`check_jsonl`] found in a set of records.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Records read.
    pub records: u64,
    /// Each bad record with its first bad field; `line` is the record's
    /// number, from 1.
    pub rejects: Vec<Reject>,
    /// Fields that are not the table's columns, in order of appearance.
    pub unknown_fields: Vec<String>,
}

/// Checks JSON Lines of `table`'s records as an import would check them,
/// storing nothing: a record that passes is one that an import stores. Its
/// timestamps without an offset are read in `tz`.
pub fn check_jsonl(table: TableKind, text: Vec<u8>, tz: ImportTz) -> Result<Checked> {
    let mut checked = Checked::default();
    let mut state = DeriveState::new(table, KeySet::default(), Repeats::StoreOnce);
    for piece in reader::jsonl_chunks("records", text) {
        let chunk = piece?.into_chunk()?;
        checked.records += chunk.rows_read;
        checked.rejects.extend(chunk.rejects.iter().cloned());
        let plan = convert::plan(table, &chunk.names, &[]).map_err(|reason| Error::Invalid {
            field: "records",
            reason,
        })?;
        for (name, _) in &plan.extras {
            if !checked.unknown_fields.contains(name) {
                checked.unknown_fields.push(name.clone());
            }
        }
        let (mut columns, mut errors) =
            convert::convert_chunk(table, &chunk, &plan, tz).map_err(|reason| Error::Invalid {
                field: "records",
                reason,
            })?;
        state.derive(&mut columns, &chunk.lines, &mut errors, &plan);
        for (row, err) in errors.into_iter().enumerate() {
            if let Some(e) = err {
                checked.rejects.push(Reject::new(
                    chunk.lines[row],
                    Some(e.column),
                    e.reason,
                    None,
                ));
            }
        }
    }
    checked.rejects.sort_by_key(|r| r.line);
    Ok(checked)
}

#[derive(Clone, Copy)]
enum RowsHint {
    /// Rows already in memory.
    Rows(usize),
    /// A file of this many bytes: its first CSV block tells the bytes per row.
    FileBytes(u64),
}

/// File-wide state for deriving ids and finding repeated keys.
struct DeriveState {
    table: TableKind,
    stored: KeySet,
    /// Key hash → the line where it first appeared in this file.
    in_file: KeyMap<u64>,
    /// How often each content hash has occurred, so identical rows get distinct ids.
    occurrences: KeyMap<u32>,
    /// Lines numbered so far per order, when the file has order ids but no lines.
    order_lines: HashMap<String, i64>,
    already_present: u64,
    repeats: Repeats,
}

fn col_index(table: TableKind, name: &str) -> usize {
    table
        .columns()
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("{table} has no column {name}"))
}

impl DeriveState {
    fn new(table: TableKind, stored: KeySet, repeats: Repeats) -> Self {
        DeriveState {
            table,
            stored,
            in_file: KeyMap::default(),
            occurrences: KeyMap::default(),
            order_lines: HashMap::new(),
            already_present: 0,
            repeats,
        }
    }

    /// Sizes the key map for about `rows` more keys. Too large a guess costs
    /// little: until a slot is filled, only its control byte is written.
    fn expect_rows(&mut self, rows: usize) {
        self.in_file.reserve(rows.min(1 << 28));
    }

    /// Fills derived columns and defaults, checks required values and keys.
    fn derive(
        &mut self,
        columns: &mut [ArrayRef],
        lines: &[u64],
        errors: &mut RowErrors,
        plan: &ColumnPlan,
    ) -> Vec<Keep> {
        let table = self.table;
        let rows = lines.len();
        let fail = |errors: &mut RowErrors, row: usize, column: &str, reason: String| {
            if errors[row].is_none() {
                errors[row] = Some(convert::RowError {
                    column: column.into(),
                    reason,
                });
            }
        };
        if table == TableKind::Orders {
            // Fill defaults only where something is missing.
            let q = col_index(table, "quantity");
            if columns[q].null_count() > 0 {
                let quantity: Int64Array = columns[q]
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| Some(v.unwrap_or(1)))
                    .collect();
                columns[q] = Arc::new(quantity);
            }
            let a = col_index(table, "amount");
            if columns[a].null_count() > 0 {
                let quantity = columns[q].as_primitive::<Int64Type>().clone();
                let unit = columns[col_index(table, "unit_price")]
                    .as_primitive::<Decimal128Type>()
                    .clone();
                let stored = columns[a].as_primitive::<Decimal128Type>().clone();
                // unit_price × quantity, exact; a product past the largest
                // amount rejects the row.
                let amount: Decimal128Array = (0..rows)
                    .map(|i| {
                        if stored.is_valid(i) {
                            return Some(stored.value(i));
                        }
                        let product = unit
                            .is_valid(i)
                            .then(|| unit.value(i).checked_mul(quantity.value(i) as i128))??;
                        if product.abs() < 10i128.pow(MONEY_PRECISION as u32) {
                            Some(product)
                        } else {
                            fail(
                                errors,
                                i,
                                "amount",
                                "unit_price × quantity is too large: an amount is at most 99,999,999,999,999.9999".into(),
                            );
                            None
                        }
                    })
                    .collect::<Decimal128Array>()
                    .with_data_type(ColumnType::Decimal.arrow());
                columns[a] = Arc::new(amount);
            }
            let st = col_index(table, "status");
            if columns[st].null_count() > 0 {
                let status: StringArray = columns[st]
                    .as_string::<i32>()
                    .iter()
                    .map(|v| Some(v.unwrap_or("paid")))
                    .collect();
                columns[st] = Arc::new(status);
            }
        }
        for (i, spec) in table.columns().iter().enumerate() {
            if spec.presence == Presence::Required && columns[i].null_count() > 0 {
                for row in 0..rows {
                    if columns[i].is_null(row) {
                        let reason = if plan.canonical[i].is_none() && spec.name == "amount" {
                            "missing value for required column amount (nor unit_price to derive it)"
                                .to_string()
                        } else {
                            format!("missing value for required column {}", spec.name)
                        };
                        fail(errors, row, spec.name, reason);
                    }
                }
            }
        }
        if table == TableKind::Events {
            let c = &columns[col_index(table, "customer_id")];
            let a = &columns[col_index(table, "anonymous_id")];
            for row in 0..rows {
                if c.is_null(row) && a.is_null(row) {
                    fail(
                        errors,
                        row,
                        "customer_id",
                        "a row needs customer_id or anonymous_id".into(),
                    );
                }
            }
        }

        // Ids: keep the file's, or hash the row's content.
        let id_col = col_index(table, table.primary_key()[0]);
        let ids = columns[id_col].as_string::<i32>().clone();
        let all_ids_given = ids.null_count() == 0;
        let mut derived_id = vec![false; rows];
        if !all_ids_given {
            let mut id_builder = StringBuilder::with_capacity(rows, rows * 24);
            for row in 0..rows {
                if !ids.is_null(row) {
                    id_builder.append_value(ids.value(row));
                    continue;
                }
                if errors[row].is_some() {
                    id_builder.append_value("");
                    continue;
                }
                let mut h = Xxh3::new();
                for (i, spec) in table.columns().iter().enumerate() {
                    if spec.presence != Presence::Derived {
                        hash_cell(&mut h, &columns[i], row);
                    }
                }
                let content = h.digest128();
                // A record sent again is the same record: it keeps the id
                // of its first occurrence.
                let n = match self.repeats {
                    Repeats::Reject => self.occurrences.entry(Key::from(content)).or_insert(0),
                    Repeats::StoreOnce => &mut 0,
                };
                let mut h = Xxh3::new();
                h.update(&content.to_le_bytes());
                h.update(&n.to_le_bytes());
                *n += 1;
                id_builder.append_value(format!("h{:024x}", h.digest128() >> 32));
                derived_id[row] = true;
            }
            columns[id_col] = Arc::new(id_builder.finish());
        }
        if table == TableKind::Orders && columns[col_index(table, "line")].null_count() > 0 {
            let l = col_index(table, "line");
            let ids = columns[id_col].as_string::<i32>().clone();
            let given = columns[l].as_primitive::<Int64Type>().clone();
            let line: Int64Array = (0..rows)
                .map(|row| {
                    Some(if !given.is_null(row) {
                        given.value(row)
                    } else if derived_id[row] {
                        1
                    } else {
                        let n = self
                            .order_lines
                            .entry(ids.value(row).to_string())
                            .or_insert(0);
                        *n += 1;
                        *n
                    })
                })
                .collect();
            columns[l] = Arc::new(line);
        }

        // Keys: repeated within the file is an error, already stored is skipped.
        let key_cols: Vec<ArrayRef> = table
            .primary_key()
            .iter()
            .map(|k| columns[col_index(table, k)].clone())
            .collect();
        let mut keep = vec![Keep::Yes; rows];
        let hashes = key_hashes(&key_cols);
        for row in 0..rows {
            if errors[row].is_some() {
                continue;
            }
            let key = hashes[row];
            if self.stored.contains(&key) {
                keep[row] = Keep::AlreadyStored;
                self.already_present += 1;
                continue;
            }
            // One probe per row: the map outgrows the caches, and each
            // probe is a miss.
            match self.in_file.entry(key) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(lines[row]);
                }
                std::collections::hash_map::Entry::Occupied(_)
                    if self.repeats == Repeats::StoreOnce =>
                {
                    keep[row] = Keep::AlreadyStored;
                    self.already_present += 1;
                }
                std::collections::hash_map::Entry::Occupied(first) => {
                    let first = *first.get();
                    keep[row] = Keep::Duplicate;
                    let shown: Vec<String> = table
                        .primary_key()
                        .iter()
                        .zip(&key_cols)
                        .map(|(k, c)| format!("{k}={}", display_cell(c, row)))
                        .collect();
                    fail(
                        errors,
                        row,
                        table.primary_key()[0],
                        format!(
                            "duplicate primary key ({}), first at line {first}",
                            shown.join(", ")
                        ),
                    );
                }
            }
        }
        keep
    }
}

fn display_cell(c: &ArrayRef, row: usize) -> String {
    convert::as_text(&c.slice(row, 1))
        .ok()
        .filter(|s| !s.is_null(0))
        .map(|s| s.value(0).to_string())
        .unwrap_or_default()
}

/// Feeds one typed cell to a hasher; the types are the canonical ones.
fn hash_cell(h: &mut Xxh3, c: &ArrayRef, row: usize) {
    if c.is_null(row) {
        h.update(&[0xff, 0]);
        return;
    }
    match c.data_type() {
        DataType::Utf8 => h.update(c.as_string::<i32>().value(row).as_bytes()),
        DataType::Int64 => h.update(&c.as_primitive::<Int64Type>().value(row).to_le_bytes()),
        DataType::Float64 => h.update(
            &c.as_primitive::<arrow::datatypes::Float64Type>()
                .value(row)
                .to_bits()
                .to_le_bytes(),
        ),
        DataType::Decimal128(_, _) => {
            h.update(&c.as_primitive::<Decimal128Type>().value(row).to_le_bytes())
        }
        DataType::Boolean => h.update(&[c.as_boolean().value(row) as u8]),
        DataType::Timestamp(TimeUnit::Microsecond, _) => h.update(
            &c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(row)
                .to_le_bytes(),
        ),
        _ => h.update(display_cell(c, row).as_bytes()),
    }
    h.update(&[0]);
}

/// The key hash of every row: the same bytes as [`hash_cell`] feeds, hashed
/// in one call per row, on all cores.
fn key_hashes(cols: &[ArrayRef]) -> Vec<Key> {
    enum Col<'a> {
        Str(&'a StringArray),
        Int(&'a Int64Array),
        Other(&'a ArrayRef),
    }
    let typed: Vec<Col> = cols
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8 => Col::Str(c.as_string::<i32>()),
            DataType::Int64 => Col::Int(c.as_primitive::<Int64Type>()),
            _ => Col::Other(c),
        })
        .collect();
    let rows = cols.first().map_or(0, |c| c.len());
    (0..rows)
        .into_par_iter()
        .with_min_len(4096)
        .map_init(Vec::new, |buf, row| {
            buf.clear();
            for c in &typed {
                match c {
                    Col::Str(a) if a.is_valid(row) => {
                        buf.extend_from_slice(a.value(row).as_bytes())
                    }
                    Col::Int(a) if a.is_valid(row) => {
                        buf.extend_from_slice(&a.value(row).to_le_bytes())
                    }
                    Col::Other(a) if a.is_valid(row) => {
                        let mut h = Xxh3::new();
                        hash_cell(&mut h, a, row);
                        buf.extend_from_slice(&h.digest128().to_le_bytes());
                    }
                    _ => {
                        buf.extend_from_slice(&[0xff, 0]);
                        continue;
                    }
                }
                buf.push(0);
            }
            Key::from(xxhash_rust::xxh3::xxh3_128(buf))
        })
        .collect()
}

/// The key hashes of every stored row.
async fn stored_key_hashes(t: &deltalake::DeltaTable, table: TableKind) -> Result<KeySet> {
    let ctx = SessionContext::new();
    let df = ctx
        .read_table(table_provider(t).await?)?
        .select_columns(table.primary_key())?;
    let mut stream = df.execute_stream().await?;
    let mut keys = KeySet::default();
    while let Some(b) = stream.next().await {
        let b = b?;
        let cols: Vec<ArrayRef> = table
            .primary_key()
            .iter()
            .zip(b.columns())
            .map(|(k, c)| {
                let want = table
                    .column(k)
                    .map(|s| s.ty.arrow())
                    .unwrap_or(DataType::Utf8);
                cast(c, &want)
            })
            .collect::<std::result::Result<_, _>>()?;
        keys.extend(key_hashes(&cols));
    }
    Ok(keys)
}
