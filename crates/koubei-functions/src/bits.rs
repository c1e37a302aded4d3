//! `bit_counts(mask)`: how many rows have each of a 64-bit mask's bits set.
//!
//! Counting distinct people in several date ranges and in every period of a
//! series would take one `count(DISTINCT ...)` query per range, each reading
//! the events again. Instead a query groups each person's rows once into a
//! mask (`bit_or`) with a bit per range and per period, and `bit_counts`
//! counts the people behind every bit in one more pass over those masks.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Signature, TypeSignature, Volatility,
};

/// Bits in a mask, and so counts in the result.
pub const BITS: usize = 64;

/// `bit_counts(mask BIGINT) -> LIST<BIGINT>`: element `i` counts the rows
/// whose mask has bit `i` set (nulls count nowhere).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BitCounts {
    signature: Signature,
}

impl BitCounts {
    pub fn new() -> Self {
        BitCounts {
            signature: Signature::new(
                TypeSignature::Exact(vec![DataType::Int64]),
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for BitCounts {
    fn default() -> Self {
        Self::new()
    }
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

impl AggregateUDFImpl for BitCounts {
    fn name(&self) -> &str {
        "bit_counts"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Counts([0; BITS])))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[counts]", args.name),
            list_type(),
            true,
        ))])
    }
}

#[derive(Debug)]
struct Counts([i64; BITS]);

impl Counts {
    fn list(&self) -> ScalarValue {
        let values = Arc::new(Int64Array::from(self.0.to_vec()));
        let list = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            OffsetBuffer::from_lengths([BITS]),
            values,
            None,
        );
        ScalarValue::List(Arc::new(list))
    }
}

impl Accumulator for Counts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(masks) = values.first() else {
            return exec_err!("bit_counts takes one argument");
        };
        let masks = masks.as_primitive::<Int64Type>();
        // Each mask's set bits, one at a time: masks are sparse (a person
        // is active in a few of the periods).
        for m in masks.iter().flatten() {
            let mut m = m as u64;
            while m != 0 {
                self.0[m.trailing_zeros() as usize] += 1;
                m &= m - 1;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.list())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.list()])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first() else {
            return exec_err!("bit_counts: no state to merge");
        };
        for counts in lists.as_list::<i32>().iter().flatten() {
            for (total, c) in self.0.iter_mut().zip(counts.as_primitive::<Int64Type>()) {
                *total += c.unwrap_or(0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// Every bit's count against testing the bit of each mask, over masks
    /// spread across partitions (so that partial counts are merged).
    #[tokio::test]
    async fn counts_each_bit_as_testing_it_row_by_row() {
        let mut next = crate::test_rng(7);
        let masks: Vec<Option<i64>> = (0..5000)
            .map(|i| match i % 97 {
                0 => None,
                1 => Some(-1),
                _ => Some((next(u64::MAX) & next(u64::MAX) & next(u64::MAX)) as i64),
            })
            .collect();
        let want: Vec<i64> = (0..BITS)
            .map(|b| {
                masks
                    .iter()
                    .flatten()
                    .filter(|m| (**m >> b) & 1 == 1)
                    .count() as i64
            })
            .collect();
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(3),
        );
        ctx.register_udaf(AggregateUDF::from(BitCounts::new()));
        let batch = arrow::record_batch::RecordBatch::try_from_iter([(
            "m",
            Arc::new(Int64Array::from(masks)) as ArrayRef,
        )])
        .unwrap();
        let chunks: Vec<_> = (0..5).map(|i| batch.slice(i * 1000, 1000)).collect();
        let table = datafusion::datasource::MemTable::try_new(
            batch.schema(),
            chunks.into_iter().map(|c| vec![c]).collect(),
        )
        .unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let counts = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let out = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                let list = out[0].column(0).as_list::<i32>().value(0);
                list.as_primitive::<Int64Type>().values().to_vec()
            }
        };
        assert_eq!(counts("SELECT bit_counts(m) FROM t").await, want);
        assert!(want.iter().all(|&c| c > 50), "every bit is set somewhere");
        // No rows: every count 0, not null.
        let none = counts("SELECT bit_counts(m) FROM t WHERE m = 0 AND m = 1").await;
        assert_eq!(none, [0; 64]);
    }
}
