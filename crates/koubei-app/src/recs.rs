//! Recommendations: bought together, similar products, a customer's top N,
//! and how well each model would have predicted the latest orders.

pub use koubei_engine::recs::{
    EvaluateReport, EvaluateRequest, ForReport, ForRequest, ModelScore, RecModel, Recommended,
    RuleRow, SimilarReport, SimilarRequest, SimilarRow, TogetherReport, TogetherRequest,
};

crate::engine_ops! {
    /// Products bought in the same orders: support, confidence and lift.
    together = recommend_together(TogetherRequest) -> TogetherReport;
    /// The products most like one, by who bought both.
    similar = recommend_similar(SimilarRequest) -> SimilarReport;
    /// A customer's top N.
    for_customer = recommend_for(ForRequest) -> ForReport;
    /// Each model's precision, recall, NDCG, MAP and coverage at k on the
    /// latest orders, against popularity.
    evaluate = recommend_evaluate(EvaluateRequest) -> EvaluateReport;
}
