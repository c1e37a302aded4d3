//! One copy of each filter in a Parquet scan.
//!
//! The Delta provider gives its Parquet scan the query's filters, and
//! DataFusion's physical filter pushdown then adds the same filters again
//! from the `FilterExec` it removes. The scan evaluates every conjunct of its
//! predicate as its own row filter, so each was decoded and tested twice
//! (a funnel over 30M events spent 10% of its time in those filters).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::utils::split_conjunction;
use datafusion::physical_expr::{PhysicalExpr, conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// Drops repeated conjuncts from each Parquet scan's predicate. Runs after
/// DataFusion's own rules, once the filters have been pushed down.
#[derive(Debug, Default)]
pub(crate) struct DedupScanFilters;

impl PhysicalOptimizerRule for DedupScanFilters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            let Some(source) = config.file_source().downcast_ref::<ParquetSource>() else {
                return Ok(Transformed::no(node));
            };
            let Some(predicate) = source.filter() else {
                return Ok(Transformed::no(node));
            };
            let Some(unique) = distinct_conjuncts(&predicate) else {
                return Ok(Transformed::no(node));
            };
            let config = FileScanConfigBuilder::from(config.clone())
                .with_source(Arc::new(source.with_predicate(unique)))
                .build();
            let exec = exec.clone().with_data_source(Arc::new(config));
            Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "koubei_dedup_scan_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The predicate with each conjunct once, in first-seen order; `None` when
/// none repeats. Dynamic filters (from joins and top-k) compare by identity,
/// so two different ones are both kept.
fn distinct_conjuncts(predicate: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
    let all = split_conjunction(predicate);
    let mut kept: Vec<Arc<dyn PhysicalExpr>> = Vec::with_capacity(all.len());
    for c in &all {
        if !kept.iter().any(|k| k == *c) {
            kept.push(Arc::clone(c));
        }
    }
    (kept.len() < all.len()).then(|| conjunction(kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, col, lit};

    fn gt(schema: &Schema, column: &str, v: i64) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(
            col(column, schema).unwrap(),
            Operator::Gt,
            lit(v),
        ))
    }

    #[test]
    fn repeated_conjuncts_are_kept_once_in_order() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ]);
        let (a, b) = (gt(&schema, "a", 1), gt(&schema, "b", 2));
        let twice = conjunction([a.clone(), b.clone(), a.clone(), b.clone()]);
        let once = distinct_conjuncts(&twice).expect("the repeats are dropped");
        assert_eq!(
            once.to_string(),
            conjunction([a.clone(), b.clone()]).to_string()
        );
        // Different values of one column are different filters.
        let other = conjunction([a.clone(), gt(&schema, "a", 3)]);
        assert!(distinct_conjuncts(&other).is_none());
        assert!(distinct_conjuncts(&a).is_none());
    }
}
