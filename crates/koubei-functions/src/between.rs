//! `koubei_any_between(values, lo, hi)`: whether any value of a list lies
//! in `[lo, hi)`.
//!
//! It answers "did this buyer share within a week after this order?" from a
//! one-to-one join of each order with its buyer's list of share times. The
//! range join it replaces (orders × shares on the buyer, filtered on the
//! times) repeated each order once per share and grouped the orders again:
//! at a million customers that was most of `koubei wom metrics`' time.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder};
use arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// See the module's doc. A NULL list (a buyer who never shared) has no
/// value in range; a NULL bound gives NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AnyBetween {
    signature: Signature,
}

impl AnyBetween {
    pub fn new() -> Self {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)));
        AnyBetween {
            signature: Signature::exact(
                vec![list, DataType::Int64, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for AnyBetween {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for AnyBetween {
    fn name(&self) -> &str {
        "koubei_any_between"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [values, lo, hi] = args.args.as_slice() else {
            return exec_err!("koubei_any_between takes a list and two bounds");
        };
        let n = args.number_rows;
        let (values, lo, hi): (ArrayRef, ArrayRef, ArrayRef) =
            (values.to_array(n)?, lo.to_array(n)?, hi.to_array(n)?);
        let Some(values) = values.as_list_opt::<i32>() else {
            return exec_err!("koubei_any_between: the first argument is not a list");
        };
        let (lo, hi) = (
            lo.as_primitive::<Int64Type>(),
            hi.as_primitive::<Int64Type>(),
        );
        let items = values.values().as_primitive::<Int64Type>();
        let offsets = values.value_offsets();
        let mut out = BooleanBuilder::with_capacity(n);
        for i in 0..n {
            if lo.is_null(i) || hi.is_null(i) {
                out.append_null();
                continue;
            }
            let (a, b) = (lo.value(i), hi.value(i));
            let hit = values.is_valid(i)
                && (offsets[i] as usize..offsets[i + 1] as usize)
                    .any(|j| items.is_valid(j) && (a..b).contains(&items.value(j)));
            out.append_value(hit);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{BooleanArray, Int64Array, ListArray};
    use arrow::datatypes::Schema;
    use arrow::record_batch::RecordBatch;
    use datafusion::prelude::SessionContext;

    use super::*;

    #[tokio::test]
    async fn finds_a_value_in_the_half_open_range() {
        let lists = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(5), Some(20)]),
            Some(vec![Some(9), None]),
            None,
            Some(vec![]),
            Some(vec![Some(10)]),
            Some(vec![Some(3)]),
        ]);
        let lo = Int64Array::from(vec![Some(10), Some(10), Some(10), Some(10), Some(10), None]);
        let schema = Schema::new(vec![
            Field::new("v", lists.data_type().clone(), true),
            Field::new("lo", DataType::Int64, true),
        ]);
        let batch =
            RecordBatch::try_new(Arc::new(schema), vec![Arc::new(lists), Arc::new(lo)]).unwrap();
        let ctx = SessionContext::new();
        crate::register_functions(&ctx);
        ctx.register_batch("t", batch).unwrap();
        let out = ctx
            .sql("SELECT koubei_any_between(v, lo, lo + 10) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let got: &BooleanArray = out[0].column(0).as_boolean();
        // 20 is the upper bound (out), 9 below, NULL items skipped, 10 is in;
        // a NULL list has nothing in range, a NULL bound gives NULL.
        let got: Vec<Option<bool>> = got.iter().collect();
        assert_eq!(
            got,
            [
                Some(false),
                Some(false),
                Some(false),
                Some(false),
                Some(true),
                None
            ]
        );
        let out = ctx
            .sql("SELECT koubei_any_between(v, lo - 6, lo + 11) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let got: Vec<Option<bool>> = out[0].column(0).as_boolean().iter().collect();
        assert_eq!(
            got,
            [
                Some(true),
                Some(true),
                Some(false),
                Some(false),
                Some(true),
                None
            ]
        );
    }
}
