//! Generate the demo shop into a workspace, import it, and summarise it.

use crate::Op;
use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use koubei_demo::DemoConfig;
use koubei_engine::Engine;
use koubei_schema::TableKind;
use koubei_store::{ImportOptions, Workspace};
use serde::{Deserialize, Serialize};

use crate::progress::Stages;
use crate::{Error, Progress, Result};

/// Where the demo's parameters are written, so that results can be checked
/// against the truth.
const DEMO_FILE: &str = "demo.json";

/// What each demo review truly says (see [`koubei_demo::ReviewTruth`]),
/// so that sentiment and aspects can be checked against it.
const REVIEW_TRUTH_FILE: &str = "demo-reviews.csv";

fn review_truth_csv(truth: &[koubei_demo::ReviewTruth]) -> Vec<u8> {
    let mut out = String::from(
        "review_id,stars,rated,follow_up,refunded,sentiment,description,service,logistics,price\n",
    );
    let said = |a: Option<bool>| match a {
        Some(true) => "positive",
        Some(false) => "negative",
        None => "",
    };
    for t in truth {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            t.review_id,
            t.stars,
            t.rated,
            t.follow_up,
            t.refunded,
            t.sentiment,
            said(t.description),
            said(t.service),
            said(t.logistics),
            said(t.price),
        ));
    }
    out.into_bytes()
}

/// What `koubei demo` generates.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DemoRequest {
    pub customers: usize,
    /// The same seed gives the same shop.
    pub seed: u64,
    /// Delete the workspace's tables first, when it holds other data.
    pub replace: bool,
    /// Behavioural events and reviews too; without, ten million customers
    /// fit in memory.
    pub events: bool,
}

impl Default for DemoRequest {
    fn default() -> Self {
        DemoRequest {
            customers: 10_000,
            seed: 42,
            replace: false,
            events: true,
        }
    }
}

/// The demo shop's summary.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub workspace: String,
    pub seed: u64,
    /// customers, paid orders, revenue, events, reviews, referrals,
    /// countries, first and last order day, in that order.
    pub summary: serde_json::Map<String, serde_json::Value>,
    /// The report of the shop's last year (`koubei report`), written into
    /// the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Commands to try next.
    pub try_next: [&'static str; 3],
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// A step after the data was committed that failed (see
    /// [`crate::Imported::unfinished`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<String>,
}

const TRY_NEXT: [&str; 3] = [
    "koubei tables",
    "koubei sql \"SELECT country, count(*) AS customers FROM customers GROUP BY country ORDER BY customers DESC LIMIT 10\"",
    "koubei sql \"SELECT date_trunc('month', ts) AS month, round(sum(amount)) AS revenue FROM orders WHERE status = 'paid' GROUP BY 1 ORDER BY 1\"",
];

/// Generates the demo shop and imports it. A workspace that holds other
/// data is left alone unless `replace` is set; one that holds this same
/// shop is imported again, which adds nothing.
#[inline(never)]
pub fn demo<'a>(
    ws: &'a Workspace,
    req: &'a DemoRequest,
    progress: &'a dyn Progress,
) -> Op<'a, DemoReport> {
    Box::pin(async move {
        let cfg = DemoConfig {
            events: req.events,
            ..DemoConfig::new(req.customers, req.seed)
        };
        // The whole demo holds the write lock: deciding to delete, deleting,
        // recording the new shop and importing it. Another demo or an import
        // runs before or after it, never in between.
        let _lock = ws.lock()?;
        {
            let recorded: Option<DemoConfig> = ws
                .read_file(DEMO_FILE)?
                .and_then(|b| serde_json::from_slice(&b).ok());
            let has_data = ws.tables().await?.iter().any(|t| t.rows.is_some());
            if has_data && recorded.as_ref() != Some(&cfg) {
                if !req.replace {
                    return Err(Error::invalid(
                        "replace",
                        format!(
                            "{} already holds other data; replace it, or choose another workspace",
                            ws.root().display()
                        ),
                    ));
                }
                for dir in ["tables", "derived"].map(|d| ws.root().join(d)) {
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                    }
                }
            }
            ws.write_file(DEMO_FILE, &serde_json::to_vec_pretty(&cfg)?)?;
        }

        let task = progress.task("demo");
        task.counting(req.customers as u64, "customers");
        task.message("generating");
        let generated = koubei_demo::generate(&cfg, &mut |n| task.position(n));
        task.finish();
        let mut data = generated.map_err(Error::Request)?;
        ws.write_file(REVIEW_TRUTH_FILE, &review_truth_csv(&data.review_truth))?;
        data.review_truth = Vec::new();
        let opts = ImportOptions::default();
        for t in TableKind::ALL {
            let task = progress.task(t.name());
            // Hand each table over, so that its memory is freed once imported.
            let batches = std::mem::take(data.table_mut(t));
            let r = ws
                .import_batches(
                    t,
                    &format!("demo:{}", t.name()),
                    batches,
                    &opts,
                    &Stages(&*task),
                )
                .await;
            task.finish();
            let r = r?;
            if r.rejected > 0 {
                return Err(Error::Request(format!(
                    "the demo generator made {} invalid {} rows: {:?}",
                    r.rejected,
                    t,
                    r.first_rejects.first()
                )));
            }
        }
        drop(data);
        let unfinished = crate::import::refresh_after_import(ws, progress).await;
        let mut warnings = Vec::new();
        let report = match crate::report(
            ws,
            &crate::ReportRequest {
                out: ws.root().join("report.html"),
                ..Default::default()
            },
        )
        .await
        {
            Ok(r) => Some(r.path),
            Err(e) => {
                warnings.push(format!("the report could not be written: {e}"));
                None
            }
        };
        Ok(DemoReport {
            workspace: ws.root().display().to_string(),
            seed: req.seed,
            summary: summary(&crate::engines::open(ws).await?).await?,
            report,
            try_next: TRY_NEXT,
            warnings,
            unfinished,
        })
    })
}

/// The shop in a few numbers, each typed as the query gives it.
async fn summary(engine: &Engine) -> Result<serde_json::Map<String, serde_json::Value>> {
    let (_, b) = engine
        .sql(
            "SELECT
               (SELECT count(*) FROM customers) AS customers,
               (SELECT count(DISTINCT order_id) FROM orders WHERE status = 'paid') AS paid_orders,
               (SELECT round(sum(amount), 2) FROM orders WHERE status = 'paid') AS revenue,
               (SELECT count(*) FROM events) AS events,
               (SELECT count(*) FROM reviews) AS reviews,
               (SELECT count(*) FROM referrals) AS referrals,
               (SELECT count(DISTINCT country) FROM customers) AS countries,
               (SELECT CAST(min(ts) AS DATE) FROM orders) AS first_order,
               (SELECT CAST(max(ts) AS DATE) FROM orders) AS last_order",
        )
        .await?;
    let batch = b
        .first()
        .ok_or_else(|| Error::Request("the summary query returned nothing".into()))?;
    let mut summary = serde_json::Map::new();
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let col = arrow::compute::cast(batch.column(i), &DataType::Utf8)
            .map_err(koubei_engine::Error::from)?;
        let v = col.as_string::<i32>();
        let text = if v.is_null(0) {
            String::new()
        } else {
            v.value(0).to_string()
        };
        let value = match (text.parse::<i64>(), text.parse::<f64>()) {
            (Ok(n), _) if f.data_type().is_numeric() => serde_json::json!(n),
            (_, Ok(x)) if f.data_type().is_numeric() => serde_json::json!(x),
            _ => serde_json::json!(text),
        };
        summary.insert(f.name().clone(), value);
    }
    Ok(summary)
}
