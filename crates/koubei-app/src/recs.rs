//! Recommendations: bought together, similar products, a customer's top N,
//! every customer's (or one RFM segment's) top N for a CRM, the stored
//! models behind them, and how well each model would have predicted the
//! latest orders.

use crate::Op;
pub use koubei_engine::recs::{
    CustomerRecs, EvaluateReport, EvaluateRequest, EventWeights, ExportReport, ExportRequest,
    ForReport, ForRequest, ModelScore, ModelUsed, RecModel, Recommended, RuleRow, SimilarReport,
    SimilarRequest, SimilarRow, TogetherReport, TogetherRequest, TrainReport, TrainRequest,
    TrainedModel,
};
use koubei_store::Workspace;

use crate::{Progress, RfmRequest};

crate::engine_ops! {
    /// Products bought in the same orders: support, confidence and lift.
    together = recommend_together(TogetherRequest) -> TogetherReport;
    /// The products most like one, by who bought both.
    similar = recommend_similar(SimilarRequest) -> SimilarReport;
    /// A customer's top N, from the stored model when there is one.
    for_customer = recommend_for(ForRequest) -> ForReport;
    /// Each model's precision, recall, NDCG, MAP and coverage at k on the
    /// latest orders, against popularity.
    evaluate = recommend_evaluate(EvaluateRequest) -> EvaluateReport;
}

/// Fits the models on every paid order line (and weighted event) and
/// stores them in the workspace with the tables' versions.
#[inline(never)]
pub fn train<'a>(
    ws: &'a Workspace,
    req: &'a TrainRequest,
    progress: &'a dyn Progress,
) -> Op<'a, TrainReport> {
    Box::pin(async move {
        let _lock = ws.lock()?;
        let engine = crate::engines::engine(ws).await?;
        let task = progress.task("training");
        task.stage("reading orders", None);
        let counting = std::sync::atomic::AtomicBool::new(false);
        let report = engine
            .recommend_train(req, &|model, done, total| {
                if !counting.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    task.stage(&format!("{model}: sweeps"), None);
                    task.counting(total as u64, "sweeps");
                }
                task.position(done as u64);
                if done == total {
                    counting.store(false, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .await;
        task.finish();
        Ok(report?)
    })
}

/// Every customer's top N; with segments, only their customers, each
/// named with their segment (as of the last paid order's day).
#[inline(never)]
pub fn export<'a>(ws: &'a Workspace, req: &'a ExportRequest) -> Op<'a, ExportReport> {
    Box::pin(async move {
        let engine = crate::engines::engine(ws).await?;
        if req.segments.is_empty() {
            return Ok(engine.recommend_export(req, None).await?);
        }
        let chosen = crate::rfm_customers(
            ws,
            &RfmRequest {
                segments: req.segments.clone(),
                ..RfmRequest::default()
            },
        )
        .await?;
        let mut ids: Vec<(String, &'static str)> = chosen
            .customers
            .into_iter()
            .map(|c| (c.rfm.customer_id, c.rfm.segment))
            .collect();
        ids.sort_unstable();
        let only: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
        let mut report = engine.recommend_export(req, Some(&only)).await?;
        for c in &mut report.customers {
            c.segment = only.binary_search(&c.customer_id).ok().map(|i| ids[i].1);
        }
        Ok(report)
    })
}
