//! Compaction: a table's small files rewritten into large ones.
//!
//! Live capture commits a small file every few seconds; a day of it is
//! thousands of files, and every query opens each. Delta's OPTIMIZE (bin
//! packing, deltalake's `optimize`) rewrites them in one commit that
//! readers see whole, and a `lite` VACUUM then deletes the files that
//! compactions removed more than an hour before, which no reader still
//! holds. Rows, and the application transactions that capture records,
//! are unchanged.

use std::num::NonZeroU64;

use koubei_schema::TableKind;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// Files under this size count as small.
const SMALL: u64 = 32 << 20;

/// The size compaction packs files up to.
const TARGET: u64 = 128 << 20;

/// What a compaction did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Compacted {
    pub files_removed: u64,
    pub files_added: u64,
    /// Files that earlier compactions removed, now deleted from disk.
    pub files_deleted: usize,
}

impl Workspace {
    /// Compacts `table` once it has at least `min_small` small files;
    /// None when it has fewer (or does not exist). Holds the write lock.
    pub async fn compact(&self, table: TableKind, min_small: usize) -> Result<Option<Compacted>> {
        let _lock = self.lock()?;
        let name = table.name();
        let Some(t) = self.load_table(name).await? else {
            return Ok(None);
        };
        let delta = |e| Error::delta(name, e);
        let small = t
            .snapshot()
            .map_err(delta)?
            .log_data()
            .into_iter()
            .filter(|f| (f.size() as u64) < SMALL)
            .count();
        if small < min_small {
            return Ok(None);
        }
        let (t, metrics) = t
            .optimize()
            .with_target_size(NonZeroU64::new(TARGET).expect("not zero"))
            // As every table is written: Snappy, in row groups every core
            // can scan (deltalake's own default is one group per file).
            .with_writer_properties(crate::parquet_properties().build())
            .await
            .map_err(delta)?;
        let (_, vacuumed) = t
            .vacuum()
            .with_retention_period(chrono::Duration::hours(1))
            .with_enforce_retention_duration(false)
            .await
            .map_err(delta)?;
        Ok(Some(Compacted {
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
            files_deleted: vacuumed.files_deleted.len(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImportOptions, Quiet};

    /// Many small commits become one file with the same rows and the same
    /// application transaction.
    #[test]
    fn small_files_become_one() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let ws = Workspace::create(tmp.path().join("ws")).unwrap();
            for i in 0..6 {
                let line = format!(
                    "{{\"customer_id\":\"c{i}\",\"event\":\"view\",\"ts\":\"2026-01-0{}T00:00:00Z\"}}\n",
                    i + 1
                );
                let opts = ImportOptions {
                    app_transaction: Some(("app".into(), i)),
                    ..ImportOptions::default()
                };
                ws.import_jsonl(TableKind::Events, "t", line.into_bytes(), &opts, &Quiet)
                    .await
                    .unwrap();
            }
            assert!(ws.compact(TableKind::Events, 7).await.unwrap().is_none());
            let c = ws.compact(TableKind::Events, 6).await.unwrap().unwrap();
            assert_eq!((c.files_removed, c.files_added), (6, 1));
            let t = ws.load_table("events").await.unwrap().unwrap();
            assert_eq!(t.get_file_uris().unwrap().count(), 1);
            // Written as every table is (deltalake's default is Zstandard).
            for footer in crate::parquet_footers(&ws.table_dir("events")) {
                assert_eq!(
                    footer.row_group(0).column(0).compression(),
                    parquet::basic::Compression::SNAPPY
                );
            }
            let ctx = datafusion::prelude::SessionContext::new();
            ctx.register_table("e", crate::table_provider(&t).await.unwrap())
                .unwrap();
            let n = ctx
                .sql("SELECT count(DISTINCT customer_id) AS n FROM e")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let n = n[0]
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .value(0);
            assert_eq!(n, 6);
            assert_eq!(ws.app_version(TableKind::Events, "app").await.unwrap(), Some(5));
        });
    }
}
