//! Arrow columns from query results as plain vectors.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};

use crate::Result;

pub(crate) fn i64s(a: &dyn Array) -> Result<Vec<Option<i64>>> {
    let c = cast(a, &DataType::Int64)?;
    Ok(c.as_primitive::<Int64Type>().iter().collect())
}

/// Money (a stored amount or a sum of them) in exact units of
/// 10^-`MONEY_SCALE`.
pub(crate) fn money_units(a: &dyn Array) -> Result<Vec<Option<i128>>> {
    let c = cast(a, &DataType::Decimal128(38, koubei_schema::MONEY_SCALE))?;
    Ok(c.as_primitive::<Decimal128Type>().iter().collect())
}

pub(crate) use koubei_functions::{money, money_units_of};

/// A sum of floats that does not depend on the order they came in: they
/// are summed in ascending order.
pub(crate) fn sum_sorted(mut values: Vec<f64>) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values.into_iter().sum()
}

pub(crate) fn f64s(a: &dyn Array) -> Result<Vec<Option<f64>>> {
    let c = cast(a, &DataType::Float64)?;
    Ok(c.as_primitive::<Float64Type>().iter().collect())
}

/// Text, with nulls as empty strings.
pub(crate) fn strings(a: &dyn Array) -> Result<Vec<String>> {
    Ok(opt_strings(a)?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

pub(crate) fn opt_strings(a: &dyn Array) -> Result<Vec<Option<String>>> {
    let c = cast(a, &DataType::Utf8)?;
    Ok(c.as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect())
}

/// The first row of a `bit_counts` column: how many rows had each bit of
/// the mask set (all 0 where the aggregate saw no row).
pub(crate) fn bit_counts(a: &dyn Array) -> Result<Vec<i64>> {
    let list = a
        .as_list_opt::<i32>()
        .ok_or_else(|| crate::Error::Request(format!("bit_counts gave {}", a.data_type())))?;
    if list.is_empty() || list.is_null(0) {
        return Ok(vec![0; koubei_functions::MASK_BITS]);
    }
    Ok(i64s(&list.value(0))?
        .into_iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The aggregates take money as the store keeps it, and a sum made a
    /// float gives its units back.
    #[test]
    fn money_is_one_type_everywhere() {
        assert_eq!(
            koubei_functions::MONEY,
            koubei_schema::ColumnType::Decimal.arrow()
        );
        for units in [0i128, 1, 199_900, 9_321_172_800, -5, 999_999_999_999_999] {
            assert_eq!(money_units_of(money(units)), units);
        }
        assert_eq!(money(9_321_172_800), 932_117.28);
    }
}
