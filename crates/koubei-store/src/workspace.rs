//! The workspace folder: one Delta table per canonical table, plus `rejects`.
//!
//! ```text
//! koubei-data/
//!   koubei.json          marks the folder as a workspace
//!   tables/<name>/       a Delta table (_delta_log/ and Parquet files)
//!   derived/<name>/      a Delta table made from a canonical one (see `derived`)
//!   demo.json            the demo generator's parameters, when it made the data
//!   .lock                held by every writer (imports, refresh, demo)
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use futures::StreamExt;
use koubei_schema::{REJECTS, TableKind};
use serde::Serialize;
use url::Url;

use crate::error::{Error, Result};

const MARKER: &str = "koubei.json";

#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    /// The write lock while this handle (or a clone) holds it: the file and
    /// how many guards share it. An operation that holds the lock for all
    /// of its steps (the demo replacing the tables, then importing) calls
    /// imports that take it again, without waiting on itself.
    held: Arc<std::sync::Mutex<(usize, Option<File>)>>,
}

/// What `koubei tables` shows for one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    pub name: String,
    /// None when nothing has been imported into it yet.
    pub rows: Option<u64>,
    pub version: Option<u64>,
    /// When the last commit was made, RFC 3339.
    pub last_import: Option<String>,
    /// What the last import read, from its commit metadata.
    pub last_source: Option<String>,
}

impl Workspace {
    /// Opens the workspace at `root`, creating the folder when it does not
    /// exist. Safe to race: the marker is written before anything else, so
    /// that a second process finds the folder empty or marked; and a folder
    /// that a killed creation left half-made (an unrenamed marker, an empty
    /// `tables/`) is finished.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        // A link, not what it points to (another process may be making the
        // folder at this moment: that is not a dangling link).
        let dangling = root
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
            && !root.exists();
        if dangling {
            return Err(Error::Workspace {
                path: root,
                reason: "it is a symbolic link to a path that does not exist".into(),
            });
        }
        if root.exists() && !root.join(MARKER).exists() && !is_half_made(&root)? {
            return Err(Error::Workspace {
                path: root,
                reason: format!(
                    "the folder exists, is not empty and has no {MARKER}; choose another folder"
                ),
            });
        }
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        if !root.join(MARKER).exists() {
            atomic_write(&root.join(MARKER), b"{\"format\": 1}\n")?;
        }
        fs::create_dir_all(root.join("tables")).map_err(|e| Error::io(&root, e))?;
        Self::open(root)
    }

    /// Opens an existing workspace.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if !root.join(MARKER).exists() {
            return Err(Error::Workspace {
                reason: if root.exists() {
                    format!("it has no {MARKER}")
                } else {
                    "the folder does not exist; run `koubei demo` or `koubei import` to make one"
                        .into()
                },
                path: root,
            });
        }
        let root = root.canonicalize().map_err(|e| Error::io(&root, e))?;
        Ok(Workspace {
            root,
            held: Arc::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn table_dir(&self, name: &str) -> PathBuf {
        self.root.join("tables").join(name)
    }

    /// Where a derived table is kept (see [`Workspace::load_derived`]).
    pub fn derived_dir(&self, name: &str) -> PathBuf {
        self.root.join("derived").join(name)
    }

    pub(crate) fn table_url(&self, name: &str) -> Result<Url> {
        dir_url(&self.table_dir(name))
    }

    /// Each table's latest committed version (derived tables as
    /// `derived/NAME`), from the names in its Delta log alone (no table is
    /// opened): what a cache of answers or of engines keys on, so that an
    /// import or a capture shows at once.
    pub fn versions(&self) -> Vec<(String, Option<u64>)> {
        let mut names: Vec<String> = TableKind::ALL
            .iter()
            .map(|t| t.name().to_string())
            .chain([REJECTS.to_string()])
            .collect();
        names.sort();
        let tables = names.into_iter().map(|n| (self.table_dir(&n), n));
        // Derived tables too: an engine registers them when they match.
        let mut derived: Vec<(PathBuf, String)> = fs::read_dir(self.root.join("derived"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                Some((e.path(), format!("derived/{name}")))
            })
            .collect();
        derived.sort();
        tables
            .chain(derived)
            .map(|(dir, name)| {
                let latest = latest_version(&dir.join("_delta_log"));
                (name, latest)
            })
            .collect()
    }

    /// The table at its latest version, or None if nothing was ever committed.
    ///
    /// A table whose canonical columns have other types than this koubei
    /// stores (money as floats, before it was exact) is an error.
    pub async fn load_table(&self, name: &str) -> Result<Option<DeltaTable>> {
        self.load_table_in(&self.table_dir(name), name).await
    }

    /// The table `name` kept in `dir`, at its latest version, or None.
    pub(crate) async fn load_table_in(&self, dir: &Path, name: &str) -> Result<Option<DeltaTable>> {
        if !dir.join("_delta_log").exists() {
            return Ok(None);
        }
        let table = deltalake::open_table(dir_url(dir)?)
            .await
            .map_err(|source| Error::delta(name, source))?;
        if let Ok(kind) = name.parse::<TableKind>() {
            let schema = table_provider(&table).await?.schema();
            check_canonical(kind, &schema)?;
        }
        Ok(Some(table))
    }

    /// A handle for writing, whether or not the table exists yet.
    pub(crate) async fn table_for_write(&self, name: &str) -> Result<DeltaTable> {
        self.table_for_write_in(&self.table_dir(name), name).await
    }

    pub(crate) async fn table_for_write_in(&self, dir: &Path, name: &str) -> Result<DeltaTable> {
        DeltaTable::try_from_url(dir_url(dir)?)
            .await
            .map_err(|source| Error::delta(name, source))
    }

    /// Takes the workspace's write lock, waiting while another process
    /// holds it. Every writer holds it for the whole of its work, so that
    /// two imports cannot both add the same keys, and a demo that replaces
    /// the tables runs before or after an import, never during it. Taken
    /// again through the same handle, it is shared, not waited for.
    pub fn lock(&self) -> Result<WorkspaceLock> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.0 == 0 {
            let path = self.root.join(".lock");
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            file.lock().map_err(|e| Error::io(&path, e))?;
            held.1 = Some(file);
        }
        held.0 += 1;
        Ok(WorkspaceLock {
            held: Arc::clone(&self.held),
        })
    }

    /// Every table with its row count, Delta version and last import.
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        let mut out = Vec::new();
        let names = TableKind::ALL
            .iter()
            .map(|t| t.name())
            .chain(std::iter::once(REJECTS));
        for name in names {
            let Some(table) = self.load_table(name).await? else {
                out.push(TableInfo {
                    name: name.into(),
                    rows: None,
                    version: None,
                    last_import: None,
                    last_source: None,
                });
                continue;
            };
            let ctx = SessionContext::new();
            let provider = table_provider(&table).await?;
            let rows = ctx.read_table(provider)?.count().await? as u64;
            let last = table
                .history(Some(1))
                .next()
                .await
                .transpose()
                .map_err(|source| Error::delta(name, source))?;
            let last_import = last.as_ref().and_then(|c| c.timestamp).and_then(|ms| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            });
            let last_source = last
                .as_ref()
                .and_then(|c| c.info.get("koubei.source"))
                .and_then(|v| v.as_str().map(str::to_string));
            out.push(TableInfo {
                name: name.into(),
                rows: Some(rows),
                version: table.version(),
                last_import,
                last_source,
            });
        }
        Ok(out)
    }

    /// Writes a small file in the workspace atomically.
    pub fn write_file(&self, name: &str, contents: &[u8]) -> Result<()> {
        atomic_write(&self.root.join(name), contents)
    }

    pub fn read_file(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.root.join(name);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// The latest version in a Delta log folder. From the last checkpoint on,
/// the next versions' files are looked for one by one: a table that has
/// taken a commit every few seconds for weeks holds many thousands of log
/// files, and listing them on every request would cost more than the
/// answer. A log without a checkpoint is listed.
fn latest_version(log: &Path) -> Option<u64> {
    let commit = |v: u64| log.join(format!("{v:020}.json"));
    let checkpoint = fs::read(log.join("_last_checkpoint"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|j| j["version"].as_u64());
    let Some(mut v) = checkpoint else {
        return fs::read_dir(log).ok().and_then(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let n = e.file_name();
                    let n = n.to_str()?;
                    n.strip_suffix(".json")?.parse::<u64>().ok()
                })
                .max()
        });
    };
    while commit(v + 1).exists() {
        v += 1;
    }
    Some(v)
}

/// The URL of a table folder, which is made if it does not exist.
fn dir_url(dir: &Path) -> Result<Url> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Url::from_directory_path(dir).map_err(|()| Error::Workspace {
        path: dir.to_path_buf(),
        reason: "the path cannot be made into a URL".into(),
    })
}

/// The write lock, released when the last guard of a handle drops.
pub struct WorkspaceLock {
    held: Arc<std::sync::Mutex<(usize, Option<File>)>>,
}

impl Drop for WorkspaceLock {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.0 -= 1;
        if held.0 == 0 {
            // Closing the file releases the lock.
            held.1 = None;
        }
    }
}

/// Whether a folder without a marker holds nothing but what a workspace's
/// creation makes before its marker is in place: another process's marker
/// being written, or what a creation killed in an earlier version left (an
/// empty `tables/`, the lock file).
fn is_half_made(p: &Path) -> Result<bool> {
    for entry in fs::read_dir(p).map_err(|e| Error::io(p, e))? {
        let entry = entry.map_err(|e| Error::io(p, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Another process's creation may finish while this one looks.
        if name == MARKER {
            return Ok(true);
        }
        let ours = name.starts_with(&format!(".{MARKER}.tmp-"))
            || name == ".lock"
            || (name == "tables"
                && fs::read_dir(entry.path()).is_ok_and(|mut d| d.next().is_none()));
        if !ours {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes a file so that readers see the old contents or the new, never half:
/// a temporary file beside it, fsync, then rename.
pub fn atomic_write(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Shared by the engine: the session's view of one stored table.
pub async fn table_provider(
    table: &DeltaTable,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    table.table_provider().await.map_err(Error::from)
}

/// The same snapshot as plain Parquet: a listing of the files of its
/// current version, with the schema the Delta provider gives. A cluster's
/// executors read it without knowing Delta (the files must be at the same
/// path for them: a shared mount). The versions' files are never changed in
/// place, so the listing stays the snapshot while its files are kept.
pub async fn parquet_provider(
    table: &DeltaTable,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let schema = table_provider(table).await?.schema();
    let paths = table
        .get_file_uris()
        .map_err(|e| Error::delta(table.table_url().as_str(), e))?
        .map(|uri| datafusion::datasource::listing::ListingTableUrl::parse(&uri))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    parquet_listing(paths, schema)
}

/// A table of no files with this schema, that a cluster can serialize
/// (an in-memory table cannot be sent).
pub fn empty_parquet_provider(
    schema: arrow::datatypes::SchemaRef,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    parquet_listing(vec![], schema)
}

fn parquet_listing(
    paths: Vec<datafusion::datasource::listing::ListingTableUrl>,
    schema: arrow::datatypes::SchemaRef,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
    let mut config = ListingTableConfig::new_with_multi_paths(paths);
    // Set as a field: the builder method asserts some path is set, and a
    // table may have none.
    config.options = Some(
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet"),
    );
    Ok(Arc::new(ListingTable::try_new(config.with_schema(schema))?))
}

/// The stored table has its money columns in the type this koubei stores
/// (the one type that changed since workspaces were first made).
fn check_canonical(table: TableKind, stored: &arrow::datatypes::Schema) -> Result<()> {
    let money = table
        .columns()
        .iter()
        .filter(|c| c.ty == koubei_schema::ColumnType::Decimal);
    for spec in money {
        let wanted = spec.ty.arrow();
        if let Ok(f) = stored.field_with_name(spec.name)
            && !f.data_type().equals_datatype(&wanted)
        {
            return Err(Error::Outdated {
                table: table.name().into(),
                column: spec.name.into(),
                stored: f.data_type().to_string(),
                wanted: wanted.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    /// From the last checkpoint, the next versions are found one by one;
    /// without one, the log is listed.
    #[test]
    fn latest_version_from_the_checkpoint_on() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path();
        assert_eq!(latest_version(&log.join("none")), None);
        for v in [0u64, 1, 2] {
            fs::write(log.join(format!("{v:020}.json")), "{}").unwrap();
        }
        assert_eq!(latest_version(log), Some(2));
        fs::write(log.join("_last_checkpoint"), r#"{"version":1,"size":3}"#).unwrap();
        for v in [3u64, 4] {
            fs::write(log.join(format!("{v:020}.json")), "{}").unwrap();
        }
        // Logs before the checkpoint may be gone.
        fs::remove_file(log.join(format!("{:020}.json", 0))).unwrap();
        assert_eq!(latest_version(log), Some(4));
    }
    use super::*;

    /// Versions follow commits, read from the log's file names.
    /// Imports one order line (order_id,customer_id,ts,amount) through `csv`.
    async fn import_orders(ws: &Workspace, csv: &Path, line: &str) {
        std::fs::write(csv, format!("order_id,customer_id,ts,amount\n{line}\n")).unwrap();
        ws.import_file(
            TableKind::Orders,
            csv,
            &crate::ImportOptions::default(),
            &crate::Quiet,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn versions_follow_commits() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        let orders = |ws: &Workspace| {
            ws.versions()
                .into_iter()
                .find(|(n, _)| n == "orders")
                .unwrap()
                .1
        };
        assert_eq!(orders(&ws), None);
        let csv = dir.path().join("o.csv");
        for (i, text) in ["o1,c1,2024-01-01,2", "o2,c1,2024-01-02,3"]
            .iter()
            .enumerate()
        {
            import_orders(&ws, &csv, text).await;
            assert_eq!(orders(&ws), Some(i as u64));
        }
    }

    /// The Parquet listing of a table (what a cluster reads) holds the rows
    /// of its current version, as the Delta provider does: after appends,
    /// and after compaction has replaced the files.
    #[tokio::test]
    async fn parquet_listing_is_the_current_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        let csv = dir.path().join("o.csv");
        let rows = |sql: &'static str| {
            let ws = ws.clone();
            async move {
                let t = ws.load_table("orders").await.unwrap().unwrap();
                let mut out = Vec::new();
                for provider in [
                    table_provider(&t).await.unwrap(),
                    parquet_provider(&t).await.unwrap(),
                ] {
                    let ctx = SessionContext::new();
                    ctx.register_table("orders", provider).unwrap();
                    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                    out.push(
                        arrow::util::pretty::pretty_format_batches(&batches)
                            .unwrap()
                            .to_string(),
                    );
                }
                assert_eq!(out[0], out[1], "{sql}");
                (t.get_file_uris().unwrap().count(), out.remove(0))
            }
        };
        let q = "SELECT order_id, customer_id, amount, ts FROM orders ORDER BY order_id";
        for i in 0..3 {
            let line = format!("o{i},c{i},2024-01-0{}T10:00:00Z,{i}.25", i + 1);
            import_orders(&ws, &csv, &line).await;
            let (files, text) = rows(q).await;
            assert_eq!(files, i + 1);
            assert!(text.contains(&format!("o{i}")), "{text}");
        }
        let (_, before) = rows(q).await;
        ws.compact(TableKind::Orders, 2).await.unwrap().unwrap();
        let (files, after) = rows(q).await;
        assert_eq!(files, 1, "compaction leaves one file");
        assert_eq!(before, after);
        // The schema is the Delta provider's: money stays exact.
        let t = ws.load_table("orders").await.unwrap().unwrap();
        assert_eq!(
            parquet_provider(&t).await.unwrap().schema(),
            table_provider(&t).await.unwrap().schema()
        );
        // A table of no files plans and has no rows.
        let ctx = SessionContext::new();
        let schema = table_provider(&t).await.unwrap().schema();
        ctx.register_table("none", empty_parquet_provider(schema).unwrap())
            .unwrap();
        let n = ctx
            .sql("SELECT count(*) FROM none")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&n)
                .unwrap()
                .to_string()
                .matches(" 0 ")
                .count(),
            1
        );
    }

    /// Orders stored with money as floats (as before money was exact) are
    /// named as such, on reading and before an import appends to them.
    #[tokio::test]
    async fn money_stored_as_floats_is_named() {
        use arrow::array::{Float64Array, RecordBatch};
        use arrow::datatypes::{DataType, Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "amount",
            DataType::Float64,
            false,
        )]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Float64Array::from(vec![1.5]))]).unwrap();
        ws.table_for_write("orders")
            .await
            .unwrap()
            .write(vec![batch])
            .await
            .unwrap();
        let e = ws.load_table("orders").await.unwrap_err().to_string();
        assert!(
            e.contains("table orders stores amount as Float64")
                && e.contains("Decimal128(18, 4)")
                && e.contains("new workspace"),
            "{e}"
        );
        let csv = dir.path().join("o.csv");
        std::fs::write(&csv, "customer_id,ts,amount\nc1,2024-01-01,2\n").unwrap();
        let opts = crate::ImportOptions::default();
        let e = ws
            .import_file(TableKind::Orders, &csv, &opts, &crate::Quiet)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("stores amount as Float64"), "{e}");
    }

    #[test]
    fn create_refuses_a_folder_with_other_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let e = Workspace::create(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not empty"), "{e}");
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        // Opening again is fine.
        Workspace::create(ws.root()).unwrap();
        Workspace::open(ws.root()).unwrap();
        assert!(Workspace::open(dir.path()).is_err());
    }

    /// What a creation killed before its marker was in place leaves (an
    /// unrenamed marker, an empty `tables/`) is finished, not refused; a
    /// dangling symbolic link is named as one.
    #[test]
    fn create_finishes_a_half_made_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let half = dir.path().join("ws");
        std::fs::create_dir_all(half.join("tables")).unwrap();
        std::fs::write(half.join(".koubei.json.tmp-4242"), "{").unwrap();
        let ws = Workspace::create(&half).unwrap();
        assert!(ws.root().join(MARKER).exists());
        // Not when the empty tables/ sits beside a file of someone else's.
        let other = dir.path().join("other");
        std::fs::create_dir_all(other.join("tables")).unwrap();
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        assert!(Workspace::create(&other).is_err());

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        let e = Workspace::create(&link).unwrap_err().to_string();
        assert!(
            e.contains("symbolic link to a path that does not exist"),
            "{e}"
        );
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
