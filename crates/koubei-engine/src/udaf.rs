//! koubei's aggregate functions, registered on every session (and, later, on
//! every cluster node) through [`register_functions`].
//!
//! `window_funnel(window, mode, ts, step_1, ..., step_n)` returns, per group,
//! the furthest funnel step reached (see [`crate::funnel`]): `window` is a
//! BIGINT of microseconds, `mode` is 'ordered', 'strict' or 'unordered', `ts`
//! a timestamp and each step a boolean condition. The state is Arrow lists of
//! timestamps and step masks, so partial states can cross a shuffle; the
//! events are sorted when the result is computed, not relied on to arrive in
//! order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, TimeUnit, UInt32Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use datafusion::prelude::SessionContext;

use crate::funnel::{FunnelOrder, StepEvent, max_step};

/// Registers koubei's functions on a session.
pub fn register_functions(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udaf(f);
    }
}

/// Every aggregate function koubei adds, for sessions and cluster nodes alike.
pub fn functions() -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(WindowFunnel::new())]
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    signature: Signature,
}

impl WindowFunnel {
    pub fn new() -> Self {
        WindowFunnel {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for WindowFunnel {
    fn default() -> Self {
        Self::new()
    }
}

fn literal<'a>(args: &'a AccumulatorArgs, i: usize, what: &str) -> Result<&'a ScalarValue> {
    match args.exprs.get(i).and_then(|e| e.downcast_ref::<Literal>()) {
        Some(l) => Ok(l.value()),
        None => plan_err!(
            "window_funnel: argument {} ({what}) must be a constant",
            i + 1
        ),
    }
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        "window_funnel"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() < 4 || args.len() > 35 {
            return plan_err!(
                "window_funnel(window, mode, ts, step_1, ..., step_n) takes 1 to 32 steps"
            );
        }
        if !matches!(args[2], DataType::Timestamp(_, _) | DataType::Int64) {
            return plan_err!("window_funnel: ts must be a timestamp, not {}", args[2]);
        }
        if let Some(t) = args[3..].iter().find(|t| **t != DataType::Boolean) {
            return plan_err!("window_funnel: steps must be boolean conditions, not {t}");
        }
        Ok(DataType::UInt8)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let window = match literal(&args, 0, "window")? {
            ScalarValue::Int64(Some(w)) if *w >= 0 => *w,
            v => {
                return plan_err!(
                    "window_funnel: window must be a non-negative BIGINT of microseconds, not {v}"
                );
            }
        };
        let order: FunnelOrder = match literal(&args, 1, "mode")? {
            ScalarValue::Utf8(Some(m))
            | ScalarValue::Utf8View(Some(m))
            | ScalarValue::LargeUtf8(Some(m)) => m
                .parse()
                .map_err(|e: String| datafusion::error::DataFusionError::Plan(e))?,
            v => {
                return plan_err!(
                    "window_funnel: mode must be 'ordered', 'strict' or 'unordered', not {v}"
                );
            }
        };
        Ok(Box::new(FunnelAccumulator {
            window,
            order,
            steps: args.exprs.len() - 3,
            events: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[ts]", args.name),
                DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[steps]", args.name),
                DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, true))),
                true,
            )),
        ])
    }
}

#[derive(Debug)]
struct FunnelAccumulator {
    window: i64,
    order: FunnelOrder,
    steps: usize,
    events: Vec<StepEvent>,
}

fn micros(ts: &ArrayRef) -> Result<ArrayRef> {
    Ok(match ts.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => {
            arrow::compute::cast(ts, &DataType::Int64)?
        }
        DataType::Timestamp(_, tz) => {
            let us =
                arrow::compute::cast(ts, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?;
            arrow::compute::cast(&us, &DataType::Int64)?
        }
        other => return exec_err!("window_funnel: ts must be a timestamp, not {other}"),
    })
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let ts = micros(&values[2])?;
        let ts = ts.as_primitive::<Int64Type>();
        let conds: Vec<_> = values[3..].iter().map(|c| c.as_boolean()).collect();
        for row in 0..ts.len() {
            if ts.is_null(row) {
                continue;
            }
            let mut mask = 0u32;
            for (k, c) in conds.iter().enumerate() {
                if c.is_valid(row) && c.value(row) {
                    mask |= 1 << k;
                }
            }
            if mask != 0 || self.order == FunnelOrder::Strict {
                self.events.push(StepEvent {
                    ts: ts.value(row),
                    steps: mask,
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let level = max_step(&self.events, self.steps, self.window, self.order);
        Ok(ScalarValue::UInt8(Some(level as u8)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.events.capacity() * std::mem::size_of::<StepEvent>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let ts: Vec<Option<i64>> = self.events.iter().map(|e| Some(e.ts)).collect();
        let steps: Vec<Option<u32>> = self.events.iter().map(|e| Some(e.steps)).collect();
        Ok(vec![
            ScalarValue::List(Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
                [Some(ts)],
            ))),
            ScalarValue::List(Arc::new(
                ListArray::from_iter_primitive::<UInt32Type, _, _>([Some(steps)]),
            )),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let ts = states[0].as_list::<i32>();
        let steps = states[1].as_list::<i32>();
        for row in 0..ts.len() {
            if ts.is_null(row) {
                continue;
            }
            let t = ts.value(row);
            let s = steps.value(row);
            let (t, s) = (
                t.as_primitive::<Int64Type>(),
                s.as_primitive::<UInt32Type>(),
            );
            self.events.extend(
                t.values()
                    .iter()
                    .zip(s.values().iter())
                    .map(|(&ts, &steps)| StepEvent { ts, steps }),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;

    /// The SQL function gives the same levels as the matcher, over several
    /// partitions so that partial states are merged.
    #[tokio::test]
    async fn sql_matches_the_matcher() {
        let mut seed = 99u64;
        let mut rnd = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let names = ["view", "cart", "buy", "other"];
        let (mut person, mut ts, mut event) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3000 {
            person.push(format!("p{}", rnd(200)));
            ts.push(rnd(100_000) as i64);
            event.push(names[rnd(4) as usize]);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("person", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("event", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(person.clone())),
                Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
                Arc::new(StringArray::from(event.clone())),
            ],
        )
        .unwrap();
        let parts: Vec<Vec<RecordBatch>> =
            (0..4).map(|i| vec![batch.slice(i * 750, 750)]).collect();
        let ctx = SessionContext::new();
        register_functions(&ctx);
        ctx.register_table("e", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        for mode in ["ordered", "strict", "unordered"] {
            let sql = format!(
                "SELECT person, window_funnel(CAST(5000 AS BIGINT), '{mode}', ts, event = 'view', event = 'cart', event = 'buy') AS level
                 FROM e GROUP BY person ORDER BY person"
            );
            let rows = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let order: FunnelOrder = mode.parse().unwrap();
            let mut checked = 0;
            for b in rows {
                let p = arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
                let p = p.as_string::<i32>();
                let l = b.column(1).as_primitive::<arrow::datatypes::UInt8Type>();
                for r in 0..b.num_rows() {
                    let evs: Vec<StepEvent> = (0..person.len())
                        .filter(|&i| person[i] == p.value(r))
                        .map(|i| StepEvent {
                            ts: ts[i],
                            steps: match event[i] {
                                "view" => 1,
                                "cart" => 2,
                                "buy" => 4,
                                _ => 0,
                            },
                        })
                        .collect();
                    assert_eq!(
                        l.value(r) as usize,
                        max_step(&evs, 3, 5000, order),
                        "{mode} {}",
                        p.value(r)
                    );
                    checked += 1;
                }
            }
            assert_eq!(checked, 200);
        }
    }

    #[tokio::test]
    async fn bad_arguments_are_plan_errors() {
        let ctx = SessionContext::new();
        register_functions(&ctx);
        ctx.sql("CREATE TABLE t (ts TIMESTAMP, e VARCHAR)")
            .await
            .unwrap();
        let err = ctx
            .sql("SELECT window_funnel(CAST(10 AS BIGINT), 'sideways', ts, e = 'a') FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown funnel order"), "{err}");
        let err = ctx
            .sql("SELECT window_funnel(CAST(10 AS BIGINT), 'ordered', ts, e) FROM t")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("boolean"), "{err}");
    }
}
