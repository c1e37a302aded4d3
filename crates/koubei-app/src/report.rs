//! `koubei report`: one self-contained HTML file of the dashboard's
//! sections, to send to a colleague. Its numbers are the same operations'
//! reports the dashboard draws, inlined with the same script.

use crate::Op;
use std::path::PathBuf;

use chrono::{Months, NaiveDate};
use futures::{StreamExt, TryStreamExt};
use koubei_engine::sales::{Period, SalesReport, SalesRequest};
use koubei_store::Workspace;
use serde::{Deserialize, Serialize};

use crate::overview::{OverviewReport, OverviewRequest, Range};
use crate::{Error, Result};

/// What `report` writes.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ReportRequest {
    /// Where to write the HTML file.
    pub out: PathBuf,
    /// First day included (default: a year before `until`, so that the
    /// monthly sales show a year).
    pub since: Option<NaiveDate>,
    /// Last day included (default: the last paid order's day).
    pub until: Option<NaiveDate>,
}

/// The sections of a report, as the dashboard's script reads them.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    pub range: Range,
    pub sections: Sections,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sections {
    pub overview: OverviewReport,
    pub sales: SalesReport,
    pub sales_country: SalesReport,
    /// The other pages' reports, by section name, each made by the same
    /// request the dashboard's page sends; a section whose data is missing
    /// (a shop without events or referrals) is in `skipped` instead.
    #[serde(flatten)]
    pub more: serde_json::Map<String, serde_json::Value>,
    pub skipped: serde_json::Map<String, serde_json::Value>,
}

/// A report written.
#[derive(Debug, Clone, Serialize)]
pub struct ReportWritten {
    pub path: String,
    pub range: Range,
    pub bytes: u64,
}

/// The report's data: each section's report.
#[inline(never)]
pub fn report_data<'a>(
    ws: &'a Workspace,
    since: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> Op<'a, ReportData> {
    Box::pin(async move {
        let engine = crate::engines::engine(ws).await?;
        let until = match until {
            Some(u) => u,
            None => engine.last_paid_day().await?.ok_or_else(|| {
                Error::Request("there are no paid orders: import orders first".into())
            })?,
        };
        let since = since.unwrap_or_else(|| {
            until
                .checked_sub_months(Months::new(12))
                .map_or(until, |d| d.succ_opt().unwrap_or(d))
        });
        let sales = move |breakdown: Option<&str>| SalesRequest {
            by: Period::Month,
            breakdown: breakdown.map(str::to_string),
            top: breakdown.map(|_| 8),
            since: Some(since),
            until: Some(until),
        };
        // The dashboard's defaults for these pages (see dashboard.js).
        let (s, u) = (since.to_string(), until.to_string());
        let pages = [
            (
                "funnel",
                "funnel",
                serde_json::json!({"steps": ["view", "add_to_cart", "checkout", "purchase"],
                               "window_seconds": 604800, "trend": "week", "since": s, "until": u}),
            ),
            (
                "retention",
                "retention",
                serde_json::json!({"period": "month", "periods": 12, "since": s, "until": u}),
            ),
            ("rfm", "rfm", serde_json::json!({"as_of": u})),
            ("clv", "clv", serde_json::json!({})),
            (
                "wom_metrics",
                "wom/metrics",
                serde_json::json!({"by": "month", "funnel": false}),
            ),
            (
                "wom_cascades",
                "wom/cascades",
                serde_json::json!({"top": 3}),
            ),
            ("wom_reach", "wom/reach", serde_json::json!({"home": "CN"})),
            (
                "reviews",
                "reviews",
                serde_json::json!({"since": s, "until": u, "by": "month"}),
            ),
            (
                "reviews_product",
                "reviews",
                serde_json::json!({"since": s, "until": u, "by": "product", "top": 10, "rank_by_bayesian_mean": true,
                               "by_rating": false}),
            ),
            (
                "reviews_terms",
                "reviews/terms",
                serde_json::json!({"since": s, "until": u, "top": 10}),
            ),
            (
                "recs_together",
                "recommend/together",
                serde_json::json!({"top": 15}),
            ),
            (
                "recs_winback",
                "recommend/export",
                serde_json::json!({"segments": ["At Risk"], "n": 3, "model": "itemknn", "limit": 20}),
            ),
        ];
        // The longest sections, started first so that the two lanes end together.
        const LONGEST: [&str; 3] = ["funnel", "wom_metrics", "reviews"];
        // Two sections at a time: one alone leaves a core idle while it fits a
        // model or reads its answer. Each job has its place in the report.
        let mut jobs: Vec<Job> = Vec::new();
        let rank = |section: &str| {
            LONGEST
                .iter()
                .position(|&l| l == section)
                .unwrap_or(LONGEST.len())
        };
        let owned = ws.clone();
        jobs.push((
            rank("overview"),
            0,
            Box::pin(async move {
                let overview = crate::overview(
                    &owned,
                    &OverviewRequest {
                        since: Some(since),
                        until: Some(until),
                        by: None,
                        cards: crate::Cards::All,
                    },
                )
                .await?;
                let engine = crate::engines::engine(&owned).await?;
                let by_month = engine.sales(&sales(None)).await?;
                let by_country = engine.sales(&sales(Some("country"))).await?;
                Ok(Part::Typed(Box::new((overview, by_month, by_country))))
            }),
        ));
        for (i, (section, op, request)) in pages.into_iter().enumerate() {
            let ws = ws.clone();
            jobs.push((
                rank(section),
                i + 1,
                Box::pin(async move {
                    let started = std::time::Instant::now();
                    let answer = crate::dispatch::query(&ws, op, request).await;
                    tracing::debug!(elapsed = ?started.elapsed(), section, "report section");
                    Ok(Part::Section(section, answer))
                }),
            ));
        }
        jobs.sort_by_key(|(rank, _, _)| *rank);
        // Made before the stream: a stream's `map` here makes the boxed
        // future's `Send` unprovable to rustc (its lifetimes are erased).
        let runs: Vec<_> = jobs.into_iter().map(run_part).collect();
        let mut parts: Vec<(usize, Part)> = futures::stream::iter(runs)
            .buffer_unordered(2)
            .try_collect()
            .await?;
        parts.sort_by_key(|(i, _)| *i);
        let mut typed = None;
        let mut more = serde_json::Map::new();
        let mut skipped = serde_json::Map::new();
        for (_, part) in parts {
            match part {
                Part::Typed(t) => typed = Some(*t),
                Part::Section(section, Ok(v)) => {
                    more.insert(section.into(), v);
                }
                // A shop without events or referrals has no such page.
                Part::Section(section, Err(e @ (Error::Request(_) | Error::Invalid { .. }))) => {
                    skipped.insert(section.into(), e.to_string().into());
                }
                Part::Section(_, Err(e)) => return Err(e),
            }
        }
        let Some((overview, sales, sales_country)) = typed else {
            unreachable!("every job's part is collected")
        };
        Ok(ReportData {
            range: Range { since, until },
            sections: Sections {
                overview,
                sales,
                sales_country,
                more,
                skipped,
            },
        })
    })
}

/// A part of the report to make: its rank in the order of starting, its
/// place in the report, and the work.
type Job = (
    usize,
    usize,
    futures::future::BoxFuture<'static, Result<Part>>,
);

/// Runs one part on its own task; the part's place comes back with it.
async fn run_part((_, i, job): Job) -> Result<(usize, Part)> {
    match tokio::spawn(job).await {
        Ok(part) => part.map(|p| (i, p)),
        // A section that panicked fails the report as it would alone.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Request(format!("a report section stopped: {e}"))),
    }
}

/// One job's part of the report.
enum Part {
    Typed(Box<(OverviewReport, SalesReport, SalesReport)>),
    Section(&'static str, Result<serde_json::Value>),
}

/// Writes the report to `req.out`, whole or not at all.
#[inline(never)]
pub fn report<'a>(ws: &'a Workspace, req: &'a ReportRequest) -> Op<'a, ReportWritten> {
    Box::pin(async move {
        if req.out.as_os_str().is_empty() {
            return Err(Error::invalid("out", "name the HTML file to write"));
        }
        let data = report_data(ws, req.since, req.until).await?;
        let title = format!(
            "koubei report, {} to {}",
            data.range.since, data.range.until
        );
        let html = koubei_web::report_html(&title, &serde_json::to_string(&data)?);
        koubei_store::atomic_write(&req.out, html.as_bytes())?;
        Ok(ReportWritten {
            path: req
                .out
                .canonicalize()
                .unwrap_or_else(|_| req.out.clone())
                .display()
                .to_string(),
            range: data.range,
            bytes: html.len() as u64,
        })
    })
}
