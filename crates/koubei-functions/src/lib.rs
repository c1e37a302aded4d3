//! koubei's aggregate functions, registered on every session (and, later, on
//! every cluster node) through [`register_functions`], and the funnel
//! matcher behind `window_funnel`.
//!
//! This crate depends on arrow and DataFusion only: a cluster executor
//! registers these functions without koubei's store or metrics.
//!
//! Each gathers a group's values (a person's events, a customer's order
//! days) in a [`arena::GroupArena`] and computes the group's result from all
//! of them at once, with DataFusion's vectorised group accumulator.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::expressions::Literal;
use datafusion::prelude::SessionContext;

mod arena;
mod between;
mod bits;
mod clv;
mod distinct;
mod funnel;
pub mod matcher;
mod next;
mod retention;
mod rfm;

pub use between::AnyBetween;
pub use bits::{BITS as MASK_BITS, BitCounts};
pub use clv::{Opportunities, Units};
pub use clv::{PurchaseDays, PurchaseOpportunities, pack_days, purchase_days_of_daily};
pub use distinct::{DistinctRows, RowKey};
pub use funnel::{WindowFunnel, WindowFunnelPath, parse_exclusions, path_slice, path_values};
pub use next::NextAfterMin;
pub use retention::{CohortRule, RetentionCells, STRIDE as RETENTION_STRIDE};
pub use rfm::CustomerOrders;

/// The amounts the money aggregates take: exact decimals with four places,
/// as koubei stores money (`koubei_schema::MONEY_SCALE`; the engine's tests
/// hold the two together). Each customer's spend is summed exactly in these
/// units, whatever order the lines come in, and turned into a float once.
pub const MONEY: DataType = DataType::Decimal128(18, 4);

/// Units of [`MONEY`] in one: 10^4.
const MONEY_UNIT: f64 = 1e4;

/// An exact sum of [`MONEY`] units as a float: the nearest double to it
/// for any sum below 2^53 units.
pub fn money(units: i128) -> f64 {
    units as f64 / MONEY_UNIT
}

/// The units of [`MONEY`] that [`money`] made a float: the float is the
/// nearest to them, so rounding gives them back (below 2^52 units).
pub fn money_units_of(x: f64) -> i128 {
    (x * MONEY_UNIT).round() as i128
}

/// Amounts as a [`MONEY`] array, for tests.
#[cfg(test)]
pub(crate) fn money_array(amounts: &[f64]) -> ArrayRef {
    let units = amounts.iter().map(|a| money_units_of(*a));
    Arc::new(arrow::array::Decimal128Array::from_iter_values(units).with_data_type(MONEY))
}

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// A small fixed-seed generator for tests (xorshift64): `next(m)` is a
/// number below m, the same sequence on every run.
#[cfg(test)]
pub(crate) fn test_rng(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |m| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    }
}

/// The three accumulator methods of an aggregate whose groups accumulator
/// `make(&args)` gives: the same type serves one group (wrapped in
/// [`OneGroup`]) and many.
macro_rules! group_accumulators {
    ($make:expr) => {
        fn accumulator(
            &self,
            args: datafusion::logical_expr::function::AccumulatorArgs,
        ) -> datafusion::common::Result<Box<dyn datafusion::logical_expr::Accumulator>> {
            Ok(Box::new($crate::OneGroup::new(($make)(&args)?)))
        }

        fn groups_accumulator_supported(
            &self,
            _args: datafusion::logical_expr::function::AccumulatorArgs,
        ) -> bool {
            true
        }

        fn create_groups_accumulator(
            &self,
            args: datafusion::logical_expr::function::AccumulatorArgs,
        ) -> datafusion::common::Result<Box<dyn datafusion::logical_expr::GroupsAccumulator>> {
            Ok(Box::new(($make)(&args)?))
        }
    };
}
use group_accumulators;

/// Registers koubei's functions on a session.
pub fn register_functions(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udaf(f);
    }
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
    ctx.add_optimizer_rule(Arc::new(DistinctRows));
}

/// The aggregates whose state is every row of their group (each keeps its
/// rows in a [`arena::GroupArena`]): a partial aggregation before a shuffle
/// shrinks nothing for them, so the engine shuffles their rows as they are.
pub const GATHERING: [&str; 8] = [
    "window_funnel",
    "window_funnel_path",
    "retention_cells",
    "purchase_days",
    "purchase_days_by_unit",
    "purchase_days_daily",
    "purchase_opportunities",
    "customer_orders",
];

/// Every aggregate function koubei adds, for sessions and cluster nodes alike.
pub fn functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(WindowFunnel::new()),
        AggregateUDF::from(WindowFunnelPath::new()),
        AggregateUDF::from(RetentionCells::new()),
        AggregateUDF::from(PurchaseDays::new()),
        AggregateUDF::from(PurchaseDays::by_unit()),
        AggregateUDF::from(PurchaseDays::daily()),
        AggregateUDF::from(PurchaseOpportunities::new()),
        AggregateUDF::from(CustomerOrders::new()),
        AggregateUDF::from(BitCounts::new()),
        AggregateUDF::from(NextAfterMin::new()),
    ]
}

/// Every scalar function koubei adds (and those its optimizer rule writes
/// into plans), for sessions and cluster nodes alike.
pub fn scalar_functions() -> Vec<datafusion::logical_expr::ScalarUDF> {
    use datafusion::logical_expr::ScalarUDF;
    vec![
        ScalarUDF::from(RowKey::new()),
        ScalarUDF::from(AnyBetween::new()),
    ]
}

/// Whether an aggregate's `FILTER (WHERE ...)` leaves `row` out (a NULL
/// condition does, as in SQL).
fn filtered_out(filter: Option<&arrow::array::BooleanArray>, row: usize) -> bool {
    use arrow::array::Array;
    filter.is_some_and(|f| !f.is_valid(row) || !f.value(row))
}

/// State fields that are lists, one per (name, element type): how every
/// koubei aggregate carries a group's values across a shuffle.
fn list_state_fields(args: &StateFieldsArgs, lists: &[(&str, DataType)]) -> Vec<FieldRef> {
    lists
        .iter()
        .map(|(name, t)| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::List(Arc::new(Field::new_list_field(t.clone(), true))),
                true,
            ))
        })
        .collect()
}

/// The constant argument `i` of an aggregate call.
fn literal<'a>(
    func: &str,
    args: &'a AccumulatorArgs,
    i: usize,
    what: &str,
) -> Result<&'a ScalarValue> {
    match args.exprs.get(i).and_then(|e| e.downcast_ref::<Literal>()) {
        Some(l) => Ok(l.value()),
        None => plan_err!("{func}: argument {} ({what}) must be a constant", i + 1),
    }
}

/// A group accumulator whose groups can be made to exist before any row
/// arrives.
trait PerGroup: GroupsAccumulator + Clone + std::fmt::Debug + Sync {
    fn reserve_groups(&mut self, n: usize);
}

/// The row-at-a-time form that some plans ask for (no GROUP BY, window
/// aggregates): the group accumulator with a single group, so that each
/// function's logic lives in one place.
#[derive(Debug)]
struct OneGroup<G>(G);

impl<G: PerGroup> OneGroup<G> {
    fn new(mut g: G) -> Self {
        g.reserve_groups(1);
        OneGroup(g)
    }
}

impl<G: PerGroup> Accumulator for OneGroup<G> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; n], None, 1)
    }

    /// Computed on a copy: `evaluate` and `state` must not reset the values.
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let out = self.0.clone().evaluate(EmitTo::All)?;
        ScalarValue::try_from_array(&out, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0
            .clone()
            .state(EmitTo::All)?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; n], 1)
    }
}
