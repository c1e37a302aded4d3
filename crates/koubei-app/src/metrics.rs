//! The metrics over a workspace's tables: sales, funnels, retention, RFM
//! and CLV. Each opens the engine over the tables' latest versions.

use crate::Op;
use chrono::NaiveDate;
use koubei_engine::Engine;
use koubei_engine::clv_report::{ClvReport, ClvRequest};
use koubei_engine::funnel_query::{FunnelReport, FunnelRequest};
use koubei_engine::retention::{RetentionReport, RetentionRequest};
use koubei_engine::rfm::{CustomerRfm, SEGMENTS};
use koubei_engine::rfm_report::RfmReport;
use koubei_engine::sales::{SalesReport, SalesRequest};
use koubei_store::Workspace;
use serde::Deserialize;

use crate::{Error, Result};

crate::engine_ops! {
    /// Revenue, orders, buyers and growth by period.
    sales = sales(SalesRequest) -> SalesReport;
    /// Persons per step, conversion, drop-off and time to convert.
    funnel = funnel(FunnelRequest) -> FunnelReport;
    /// Cohorts and who came back in each later period.
    retention = retention(RetentionRequest) -> RetentionReport;
}

/// What `koubei rfm` scores.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct RfmRequest {
    /// Score as of this day (default: the last paid order's day).
    pub as_of: Option<NaiveDate>,
    /// Also count who moved between segments since this day.
    pub from: Option<NaiveDate>,
    /// Segments whose customers a front end lists; every segment name must
    /// be one of [`SEGMENTS`].
    pub segments: Vec<String>,
    /// Group the order lines again instead of reading the stored purchases.
    pub recompute: bool,
}

#[inline(never)]
pub fn rfm<'a>(ws: &'a Workspace, req: &'a RfmRequest) -> Op<'a, RfmReport> {
    Box::pin(async move {
        if let Some(s) = req
            .segments
            .iter()
            .find(|s| !SEGMENTS.contains(&s.as_str()))
        {
            return Err(Error::invalid(
                "segments",
                format!(
                    "unknown segment \"{s}\": expected one of {}",
                    SEGMENTS.join(", ")
                ),
            ));
        }
        Ok(open(ws, req.recompute)
            .await?
            .rfm_report(req.as_of, req.from)
            .await?)
    })
}

/// The customers of the request's segments (every customer without any),
/// with their CLV, in id order: what an export or a segment's list shows.
pub fn segment_customers<'a>(
    report: &'a RfmReport,
    req: &RfmRequest,
) -> Vec<&'a (CustomerRfm, Option<f64>)> {
    report
        .per_customer
        .iter()
        .filter(|(c, _)| req.segments.is_empty() || req.segments.iter().any(|s| s == c.segment))
        .collect()
}

/// The customers of the request's segments, with their scores and CLV:
/// the list behind a segment's number, for a win-back campaign.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentCustomers {
    pub as_of: NaiveDate,
    pub segments: Vec<String>,
    pub customers: Vec<SegmentCustomer>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentCustomer {
    #[serde(flatten)]
    pub rfm: CustomerRfm,
    pub clv: Option<f64>,
}

/// Without segments, every customer (as `koubei rfm --export` writes them).
#[inline(never)]
pub fn rfm_customers<'a>(ws: &'a Workspace, req: &'a RfmRequest) -> Op<'a, SegmentCustomers> {
    Box::pin(async move {
        let report = rfm(ws, req).await?;
        Ok(SegmentCustomers {
            as_of: report.as_of,
            segments: req.segments.clone(),
            customers: segment_customers(&report, req)
                .into_iter()
                .map(|(c, clv)| SegmentCustomer {
                    rfm: c.clone(),
                    clv: *clv,
                })
                .collect(),
        })
    })
}

#[inline(never)]
pub fn clv<'a>(ws: &'a Workspace, req: &'a ClvRequest) -> Op<'a, ClvReport> {
    Box::pin(async move { Ok(open(ws, req.recompute).await?.clv(req).await?) })
}

/// The engine over the workspace; with `recompute`, without the stored
/// per-customer purchases.
async fn open(ws: &Workspace, recompute: bool) -> Result<std::sync::Arc<Engine>> {
    Ok(if recompute {
        std::sync::Arc::new(crate::engines::open(ws).await?.recompute()?)
    } else {
        crate::engines::engine(ws).await?
    })
}

/// What `funnel/persons` lists: a funnel, as `funnel` takes it, and one of
/// its steps.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct FunnelPersonsRequest {
    #[serde(flatten)]
    pub funnel: FunnelRequest,
    /// The step, from 1.
    pub step: usize,
    /// List the step's drop-off (who reached the step before and not this
    /// one) rather than who reached it.
    #[serde(default)]
    pub dropped_off: bool,
}

/// The persons behind a funnel step's count or its drop-off, in id order:
/// customer ids, or anonymous ids for visitors not yet known.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FunnelPersons {
    pub step: usize,
    /// The step as written in the request.
    pub name: String,
    pub dropped_off: bool,
    pub persons: Vec<String>,
}

#[inline(never)]
pub fn funnel_persons<'a>(
    ws: &'a Workspace,
    req: &'a FunnelPersonsRequest,
) -> Op<'a, FunnelPersons> {
    Box::pin(async move {
        let engine = crate::engines::engine(ws).await?;
        let persons = engine
            .funnel_persons(&req.funnel, req.step, req.dropped_off)
            .await?;
        Ok(FunnelPersons {
            step: req.step,
            name: req.funnel.steps[req.step - 1].to_string(),
            dropped_off: req.dropped_off,
            persons,
        })
    })
}
