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

/// An exact sum of money units, made a float once.
pub(crate) fn money(units: i128) -> f64 {
    units as f64 / 10f64.powi(koubei_schema::MONEY_SCALE.into())
}

/// The exact units of money that [`money`] made a float: the float is the
/// nearest to them, so rounding gives them back (below 2^52 units).
pub(crate) fn money_units_of(x: f64) -> i128 {
    (x * 10f64.powi(koubei_schema::MONEY_SCALE.into())).round() as i128
}

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

pub(crate) fn bools(a: &dyn Array) -> Result<Vec<Option<bool>>> {
    let c = cast(a, &DataType::Boolean)?;
    Ok(c.as_boolean().iter().collect())
}
