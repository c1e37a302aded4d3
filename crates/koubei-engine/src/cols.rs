//! Arrow columns from query results as plain vectors.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::Result;

pub(crate) fn i64s(a: &dyn Array) -> Result<Vec<Option<i64>>> {
    let c = cast(a, &DataType::Int64)?;
    Ok(c.as_primitive::<Int64Type>().iter().collect())
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
