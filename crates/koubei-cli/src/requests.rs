//! Flags resolved into the operations' requests: the one place where a
//! flag's value becomes a request's field.

use koubei_app::wom::{
    CascadeRequest, GraphSource, MetricsRequest, ReachRequest, SeedSet, SeedsRequest,
    SimulateRequest,
};
use koubei_app::{
    ClvRequest, DemoRequest, FunnelRequest, ImportRequest, RetentionRequest, RfmRequest,
    SalesRequest, SummaryRequest,
};

use crate::args::*;

impl DemoArgs {
    pub fn request(&self) -> DemoRequest {
        DemoRequest {
            customers: self.customers,
            seed: self.seed,
            replace: self.replace,
            events: !self.no_events,
        }
    }
}

impl ImportArgs {
    pub fn request(&self) -> ImportRequest {
        ImportRequest {
            table: self.table,
            file: self.file.clone(),
            format: self.input_format,
            delimiter: self.delimiter,
            columns: self.columns.clone(),
            map: self.map.clone(),
            timezone: self.timezone,
            max_reject_ratio: self.max_reject_ratio,
        }
    }
}

impl OverviewArgs {
    pub fn request(&self) -> koubei_app::OverviewRequest {
        koubei_app::OverviewRequest {
            since: self.range.since,
            until: self.range.until,
            by: self.by,
            cards: koubei_app::Cards::All,
        }
    }
}

impl ReportArgs {
    pub fn request(&self) -> koubei_app::ReportRequest {
        koubei_app::ReportRequest {
            out: self.out.clone(),
            since: self.range.since,
            until: self.range.until,
        }
    }
}

impl ReviewsTrainArgs {
    pub fn request(&self) -> koubei_app::reviews::TrainRequest {
        koubei_app::reviews::TrainRequest {
            file: self.file.clone(),
            text_column: self.text_column.clone(),
            label_column: self.label_column.clone(),
            folds: self.folds,
        }
    }
}

impl TogetherArgs {
    pub fn request(&self) -> koubei_app::recs::TogetherRequest {
        koubei_app::recs::TogetherRequest {
            product: self.product.clone(),
            min_orders: self.min_orders,
            min_confidence: self.min_confidence,
            top: self.top,
        }
    }
}

impl SimilarArgs {
    pub fn request(&self) -> koubei_app::recs::SimilarRequest {
        koubei_app::recs::SimilarRequest {
            product: self.product.clone(),
            top: self.top,
            similarity: self.similarity.clone(),
            shrink: self.shrink,
        }
    }
}

impl ForArgs {
    pub fn request(&self) -> koubei_app::recs::ForRequest {
        koubei_app::recs::ForRequest {
            customer: self.customer.clone(),
            n: self.n,
            model: self.pick.model,
            allow_repeat: self.pick.allow_repeat,
            event_weights: self.pick.events.weights(),
            refit: self.pick.refit,
        }
    }
}

impl RecTrainArgs {
    pub fn request(&self) -> koubei_app::recs::TrainRequest {
        let mut req = koubei_app::recs::TrainRequest {
            event_weights: self.events.weights(),
            ..Default::default()
        };
        if !self.model.is_empty() {
            req.models = self.model.clone();
        }
        req
    }
}

impl RecExportArgs {
    pub fn request(&self) -> koubei_app::recs::ExportRequest {
        koubei_app::recs::ExportRequest {
            n: self.n,
            model: self.pick.model,
            allow_repeat: self.pick.allow_repeat,
            segments: self.segment.clone(),
            event_weights: self.pick.events.weights(),
            refit: self.pick.refit,
            limit: 0,
        }
    }
}

impl EvaluateArgs {
    pub fn request(&self) -> koubei_app::recs::EvaluateRequest {
        let mut req = koubei_app::recs::EvaluateRequest {
            split: self.split,
            k: self.k,
            event_weights: self.events.weights(),
            ..Default::default()
        };
        if !self.model.is_empty() {
            req.models = self.model.clone();
        }
        req
    }
}

impl ReviewsListArgs {
    pub fn request(&self) -> koubei_app::reviews::ReviewListRequest {
        koubei_app::reviews::ReviewListRequest {
            since: self.range.since,
            until: self.range.until,
            product: self.product.clone(),
            category: self.category.clone(),
            tag: self.tag.clone(),
            aspect: self.aspect.clone(),
            term: self.term.clone(),
            rating: self.rating,
            label: self.label.clone(),
            limit: self.limit,
        }
    }
}

impl ReviewsTermsArgs {
    pub fn request(&self) -> koubei_app::reviews::TermsRequest {
        koubei_app::reviews::TermsRequest {
            since: self.range.since,
            until: self.range.until,
            product: self.product.clone(),
            category: self.category.clone(),
            top: self.top,
            prior_terms: self.prior_terms,
        }
    }
}

impl SatisfactionArgs {
    pub fn request(&self) -> koubei_app::reviews::SatisfactionRequest {
        koubei_app::reviews::SatisfactionRequest {
            since: self.range.since,
            until: self.range.until,
            by: self.by.clone(),
            top: self.top,
            prior_reviews: self.prior_reviews,
            rank_by_bayesian_mean: self.rank_by_bayesian_mean,
            clv: !self.no_clv,
            by_rating: true,
        }
    }
}

impl SalesArgs {
    pub fn request(&self) -> SalesRequest {
        SalesRequest {
            by: self.by,
            breakdown: self.breakdown.clone(),
            top: self.top,
            since: self.range.since,
            until: self.range.until,
        }
    }
}

impl FunnelArgs {
    pub fn request(&self) -> FunnelRequest {
        FunnelRequest {
            steps: self.steps.0.clone(),
            exclusions: self.exclude.clone(),
            breakdown: self.breakdown.clone(),
            trend: self.trend,
            window_seconds: self.window,
            order: self.order,
            since: self.range.since,
            until: self.range.until,
        }
    }
}

impl RetentionArgs {
    pub fn request(&self) -> RetentionRequest {
        RetentionRequest {
            period: self.period,
            periods: self.periods,
            start_event: self.start_event.clone(),
            return_event: self.return_event.clone(),
            cumulative: self.cumulative,
            recurring: self.recurring,
            breakdown: self.breakdown.clone(),
            since: self.range.since,
            until: self.range.until,
        }
    }
}

impl RfmArgs {
    pub fn request(&self) -> RfmRequest {
        RfmRequest {
            as_of: self.as_of,
            from: self.from,
            segments: self.segment.clone(),
            recompute: self.recompute,
        }
    }
}

impl ClvArgs {
    pub fn request(&self) -> ClvRequest {
        ClvRequest {
            summary: SummaryRequest {
                unit: self.unit,
                calibration_end: self.calibration_end,
                holdout_end: self.holdout_end,
            },
            model: self.model,
            penalizer: self.penalizer,
            horizon: self.horizon.clone(),
            discount_rate: self.discount_rate,
            compare: self.compare,
            per_customer: self.export.is_some(),
            recompute: self.recompute,
        }
    }
}

impl MetricsArgs {
    pub fn request(&self) -> MetricsRequest {
        MetricsRequest {
            by: self.by,
            share_window_days: self.share_window,
            clv: !self.no_clv,
            funnel: true,
        }
    }
}

impl CascadesArgs {
    pub fn request(&self) -> CascadeRequest {
        CascadeRequest {
            top: self.top,
            tree_nodes: self.tree_nodes,
            by: self.by,
        }
    }
}

impl ReachArgs {
    pub fn request(&self) -> ReachRequest {
        ReachRequest {
            home: self.home.clone(),
            by: self.by,
            top: self.top,
        }
    }
}

impl GraphArgs {
    fn source(&self) -> GraphSource {
        GraphSource {
            graph: self.graph.clone(),
            undirected: self.undirected,
            model: self.model,
        }
    }
}

impl SeedsArgs {
    pub fn request(&self) -> SeedsRequest {
        SeedsRequest {
            graph: self.graph.source(),
            k: self.k,
            epsilon: self.epsilon,
            delta: self.delta,
            objective: self.objective,
            seed: self.seed,
            min_rr_sets: self.min_rr_sets,
            precision: self.precision,
            memory_budget_mib: self.memory_budget,
        }
    }
}

impl SimulateArgs {
    pub fn request(&self) -> SimulateRequest {
        SimulateRequest {
            graph: self.graph.source(),
            seeds: SeedSet::File(self.seeds.clone()),
            runs: self.runs,
            objective: self.objective,
            seed: self.seed,
        }
    }
}

impl crate::args::ReviewsScoreArgs {
    pub fn request(&self) -> koubei_app::reviews::ScoreRequest {
        koubei_app::reviews::ScoreRequest {
            file: self.file.clone(),
            text_column: self.text_column.clone(),
            id_column: self.id_column.clone(),
            model: self.model.clone(),
        }
    }
}
