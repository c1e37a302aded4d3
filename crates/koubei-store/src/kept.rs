//! Columns a file brings that the table does not know, kept as they are:
//! in a type a Delta table can hold, and never narrowed to fit the type
//! they were first stored as.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, TimeUnit, UInt64Type};
use deltalake::kernel::DataType as DeltaType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

use crate::convert::{RowError, RowErrors};

/// The column in a type a Delta table holds, with no value changed:
/// - strings of every layout as plain strings;
/// - times as microseconds in UTC (a time without a zone taken as UTC);
/// - half floats as floats, unsigned integers as the next signed type (or
///   a decimal for the largest), since Delta's integers are signed;
/// - anything else Delta has no type for (times of day, durations,
///   intervals) as its text.
pub(crate) fn storable(name: &str, col: &ArrayRef) -> Result<ArrayRef, String> {
    let to = |ty: DataType| {
        cast_with_options(col, &ty, &strict()).map_err(|e| {
            format!(
                "column {name}: its {} values do not convert to {ty}: {e}",
                col.data_type()
            )
        })
    };
    match col.data_type() {
        DataType::Utf8View | DataType::LargeUtf8 => to(DataType::Utf8),
        DataType::Dictionary(_, value) => storable(name, &to(value.as_ref().clone())?),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.eq_ignore_ascii_case("utc") => {
            Ok(col.clone())
        }
        DataType::Timestamp(_, _) => to(DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
        DataType::Float16 => to(DataType::Float32),
        DataType::UInt8 => to(DataType::Int16),
        DataType::UInt16 => to(DataType::Int32),
        DataType::UInt32 => to(DataType::Int64),
        DataType::UInt64 => {
            let fits = arrow::compute::max(col.as_primitive::<UInt64Type>())
                .is_none_or(|m| m <= i64::MAX as u64);
            to(if fits { DataType::Int64 } else { DataType::Decimal128(20, 0) })
        }
        t if TryIntoKernel::<DeltaType>::try_into_kernel(t).is_ok() => Ok(col.clone()),
        t => cast(col, &DataType::Utf8).map_err(|_| {
            format!(
                "column {name} is {t}, which a Delta table cannot hold, nor its text; leave it out of the file or convert it"
            )
        }),
    }
}

/// The column as `stored`, the type its name was first kept as. A row
/// whose value does not convert, or would change (2.9 into a whole-number
/// column), is rejected with the reason, and stored as null.
pub(crate) fn fit(
    name: &str,
    col: &ArrayRef,
    stored: &DataType,
    errors: &mut RowErrors,
) -> ArrayRef {
    if col.data_type() == stored {
        return col.clone();
    }
    let Ok(fitted) = cast(col, stored) else {
        // No conversion at all: every value is rejected.
        for (row, e) in errors.iter_mut().enumerate() {
            if col.is_valid(row) && e.is_none() {
                *e = Some(RowError {
                    column: name.to_string(),
                    reason: format!(
                        "column {name} is {stored} in the table; a {} value does not convert",
                        col.data_type()
                    ),
                });
            }
        }
        return arrow::array::new_null_array(stored, col.len());
    };
    // Text parses; other types must come back unchanged.
    let changed = if matches!(col.data_type(), DataType::Utf8) {
        None
    } else {
        cast(&fitted, col.data_type())
            .ok()
            .and_then(|back| distinct(&back, col).ok())
    };
    let text = crate::convert::as_text(col).ok();
    for (row, e) in errors.iter_mut().enumerate() {
        if !col.is_valid(row) || e.is_some() {
            continue;
        }
        let lost = fitted.is_null(row) || changed.as_ref().is_some_and(|c| c.value(row));
        if lost {
            let shown = text
                .as_ref()
                .map_or("", |t| if t.is_null(row) { "" } else { t.value(row) });
            let shown: String = shown.chars().take(40).collect();
            *e = Some(RowError {
                column: name.to_string(),
                reason: format!(
                    "column {name} is {stored} in the table, which cannot hold \"{shown}\" as it is"
                ),
            });
        }
    }
    // The rejected rows are dropped; what is stored for them does not matter.
    fitted
}

/// Casts that fail on a value that does not fit, instead of making it null.
fn strict() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use arrow::array::{
        DurationSecondArray, Float32Array, Float64Array, Int64Array, StringArray,
        Time64MicrosecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
    };

    fn kept(col: ArrayRef) -> ArrayRef {
        storable("x", &col).unwrap()
    }

    /// Every type Delta refused before is stored, each as the nearest type
    /// Delta has, with its values.
    #[test]
    fn types_delta_cannot_hold_are_converted() {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let s = kept(Arc::new(TimestampSecondArray::from(vec![1_700_000_000])));
        assert_eq!(s.data_type(), &utc);
        assert_eq!(
            s.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(0),
            1_700_000_000_000_000
        );
        let ns = kept(Arc::new(
            TimestampNanosecondArray::from(vec![1_700_000_000_123_456_789]).with_timezone("+08:00"),
        ));
        assert_eq!(ns.data_type(), &utc);
        assert_eq!(
            ns.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(0),
            1_700_000_000_123_456
        );
        let half = cast(
            &(Arc::new(Float32Array::from(vec![1.5])) as ArrayRef),
            &DataType::Float16,
        );
        let h = kept(half.unwrap());
        assert_eq!(h.data_type(), &DataType::Float32);
        let t = kept(Arc::new(Time64MicrosecondArray::from(vec![
            3_600_000_000 + 1_500_000,
        ])));
        assert_eq!(t.as_string::<i32>().value(0), "01:00:01.500");
        let d = kept(Arc::new(DurationSecondArray::from(vec![90])));
        assert_eq!(d.data_type(), &DataType::Utf8);
        let big = kept(Arc::new(UInt64Array::from(vec![u64::MAX])));
        assert_eq!(big.data_type(), &DataType::Decimal128(20, 0));
        let small = kept(Arc::new(UInt64Array::from(vec![7])));
        assert_eq!(small.data_type(), &DataType::Int64);
        for col in [s, ns, h, t, d, big, small] {
            assert!(TryIntoKernel::<DeltaType>::try_into_kernel(col.data_type()).is_ok());
        }
    }

    /// A value that the stored type would change or cannot read rejects
    /// its row; one that fits is kept.
    #[test]
    fn values_are_never_narrowed() {
        let mut errors: RowErrors = vec![None; 3];
        let col: ArrayRef = Arc::new(Float64Array::from(vec![Some(2.0), Some(2.9), None]));
        let out = fit("n", &col, &DataType::Int64, &mut errors);
        assert_eq!(
            out.as_primitive::<arrow::datatypes::Int64Type>().value(0),
            2
        );
        assert!(errors[0].is_none() && errors[2].is_none());
        let e = &errors[1].as_ref().unwrap().reason;
        assert_eq!(
            e,
            "column n is Int64 in the table, which cannot hold \"2.9\" as it is"
        );

        let mut errors: RowErrors = vec![None; 2];
        let col: ArrayRef = Arc::new(StringArray::from(vec!["3", "3.99"]));
        fit("n", &col, &DataType::Int64, &mut errors);
        assert!(errors[0].is_none());
        assert!(errors[1].as_ref().unwrap().reason.contains("\"3.99\""));

        let mut errors: RowErrors = vec![None; 1];
        let col: ArrayRef = Arc::new(Int64Array::from(vec![5]));
        let out = fit("n", &col, &DataType::Float64, &mut errors);
        assert!(errors[0].is_none());
        assert_eq!(
            out.as_primitive::<arrow::datatypes::Float64Type>().value(0),
            5.0
        );
    }
}
