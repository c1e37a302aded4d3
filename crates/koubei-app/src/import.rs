//! Import a file into a table, and keep each customer's purchases stored
//! beside `orders` up to date.

use crate::Op;
use std::path::PathBuf;
use std::str::FromStr;

use koubei_engine::Engine;
use koubei_schema::TableKind;
use koubei_store::{Delimiter, Format, ImportOptions, ImportReport, ImportTz, Workspace};
use serde::{Deserialize, Serialize};
use serde_with::DeserializeFromStr;

use crate::progress::Stages;
use crate::{Error, Progress, Result};

/// `TARGET=SOURCE`: the table's column TARGET is read from the file's column
/// SOURCE.
#[derive(Debug, Clone, PartialEq, Eq, DeserializeFromStr)]
pub struct Mapping {
    pub target: String,
    pub source: String,
}

impl FromStr for Mapping {
    type Err = String;
    fn from_str(m: &str) -> Result<Self, String> {
        match m.split_once('=') {
            Some((t, s)) if !t.trim().is_empty() && !s.trim().is_empty() => Ok(Mapping {
                target: t.trim().to_string(),
                source: s.trim().to_string(),
            }),
            _ => Err(format!(
                "expected TARGET=SOURCE, such as customer_id=buyer_nick, not \"{m}\""
            )),
        }
    }
}

/// What `koubei import` reads, and how.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportRequest {
    pub table: TableKind,
    pub file: PathBuf,
    /// Taken from the file's extension when unset.
    #[serde(default)]
    pub format: Option<Format>,
    /// A CSV file's field separator; a comma (a tab for TSV) when unset.
    #[serde(default)]
    pub delimiter: Option<Delimiter>,
    /// The column names of a file without a header line.
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub map: Vec<Mapping>,
    /// How to read times without a zone.
    #[serde(default)]
    pub timezone: ImportTz,
    /// Commit nothing when more than this share of rows is rejected.
    #[serde(default = "default_reject_ratio")]
    pub max_reject_ratio: f64,
}

fn default_reject_ratio() -> f64 {
    ImportOptions::default().max_reject_ratio
}

/// An import's report, and what went wrong after its commit without undoing it.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    #[serde(flatten)]
    pub report: ImportReport,
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// A step after the commit that failed (storing the customers'
    /// purchases, on a full disk): the import stands, but the command did
    /// not do all it was asked, and a front end says so as a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<String>,
}

/// Imports one file as one commit. After an import of orders, the
/// customers' purchases are stored again; the import stands whether or not
/// they could be ([`Imported::unfinished`] says why not).
#[inline(never)]
pub fn import<'a>(
    ws: &'a Workspace,
    req: &'a ImportRequest,
    progress: &'a dyn Progress,
) -> Op<'a, Imported> {
    Box::pin(async move {
        if !(0.0..=1.0).contains(&req.max_reject_ratio) {
            return Err(Error::invalid(
                "max_reject_ratio",
                format!("must be between 0 and 1, not {}", req.max_reject_ratio),
            ));
        }
        let opts = ImportOptions {
            format: req.format,
            delimiter: req.delimiter,
            columns: (!req.columns.is_empty()).then(|| req.columns.clone()),
            mapping: req
                .map
                .iter()
                .map(|m| (m.target.clone(), m.source.clone()))
                .collect(),
            timezone: req.timezone,
            max_reject_ratio: req.max_reject_ratio,
            ..ImportOptions::default()
        };
        // The import and the purchases stored after it are one writer's work.
        let _lock = ws.lock()?;
        let task = progress.task(req.table.name());
        let result = ws
            .import_file(req.table, &req.file, &opts, &Stages(&*task))
            .await;
        task.finish();
        let report = result?;
        let unfinished = match req.table {
            TableKind::Orders => refresh_after_import(ws, progress).await,
            TableKind::Reviews => store_review_scores(ws, progress).await.err().map(|e| {
                format!(
                    "the import is committed, but the reviews' scores were not stored ({e}); \
                 reports score the reviews themselves until a refresh stores them"
                )
            }),
            TableKind::Events | TableKind::Referrals => {
                store_activity(ws, progress).await.err().map(|e| {
                    format!(
                        "the import is committed, but the activity by day was not stored ({e}); \
                     reports count from the tables until a refresh stores it"
                    )
                })
            }
            _ => None,
        };
        Ok(Imported {
            report,
            warnings: Vec::new(),
            unfinished,
        })
    })
}

/// Stores what reports read instead of the canonical tables, where it is
/// missing or stale: each customer's purchases (from `orders`) and each
/// review's sentiment and aspects (from `reviews`). An import does this
/// itself. Returns how many customers' purchases were stored (None when
/// they were already, or there are no orders).
#[inline(never)]
pub fn refresh<'a>(ws: &'a Workspace, progress: &'a dyn Progress) -> Op<'a, Option<usize>> {
    Box::pin(async move {
        let _lock = ws.lock()?;
        let stored = store(
            progress,
            "customer purchases",
            "summarising",
            Engine::store_purchases(ws),
        )
        .await?;
        store_activity(ws, progress).await?;
        store_review_scores(ws, progress).await?;
        Ok(stored)
    })
}

/// One derived table stored under a progress task of its own: how many
/// rows it stored (None when it was stored already).
async fn store(
    progress: &dyn Progress,
    name: &str,
    stage: &str,
    storing: impl std::future::Future<Output = koubei_engine::Result<Option<usize>>>,
) -> Result<Option<usize>> {
    let task = progress.task(name);
    task.stage(stage, None);
    let started = std::time::Instant::now();
    let stored = storing.await;
    task.finish();
    let stored = stored?;
    if let Some(rows) = stored {
        tracing::info!(rows, elapsed = ?started.elapsed(), "stored the {name}");
    }
    Ok(stored)
}

/// Stores each person's activity by day, unless it is stored for the
/// current orders, events and referrals already. The caller holds the lock.
async fn store_activity(ws: &Workspace, progress: &dyn Progress) -> Result<()> {
    store(
        progress,
        "activity by day",
        "grouping",
        Engine::store_activity(ws),
    )
    .await?;
    Ok(())
}

/// Scores the reviews and stores the scores, unless they are stored for
/// the current `reviews` already. The caller holds the lock.
async fn store_review_scores(ws: &Workspace, progress: &dyn Progress) -> Result<()> {
    store(
        progress,
        "review sentiment",
        "scoring",
        Engine::store_review_scores(ws),
    )
    .await?;
    Ok(())
}

/// [`refresh`] after a committed import: why it failed, if it did. The
/// import stands, since reports group the order lines until the purchases
/// are stored.
pub(crate) async fn refresh_after_import(
    ws: &Workspace,
    progress: &dyn Progress,
) -> Option<String> {
    refresh(ws, progress).await.err().map(|e| {
        format!(
            "the import is committed, but the customers' purchases were not stored ({e}); \
             reports compute them until a refresh stores them"
        )
    })
}

koubei_schema::text_schema!(
    Mapping,
    "TARGET=SOURCE: a table column and the file column that fills it"
);
