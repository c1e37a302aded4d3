//! From a file's own columns to the canonical, typed columns of a table.
//!
//! The converter finds each canonical column in the file (by `--map`, by its
//! exact name, or by a loose match of case, spaces and dashes), parses every
//! cell to the column's type, and records the first reason each bad row is
//! rejected. Columns the table does not know are kept as they are.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Decimal128Builder, Int64Array, Int64Builder,
    StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use koubei_schema::{ColumnType, MONEY_SCALE, Presence, TableKind};

use crate::error::Hint;
use crate::timestamp::{ImportTz, parse_timestamp};

/// Where each canonical column comes from in a file.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// For each canonical column, in table order, the file's column index.
    pub canonical: Vec<Option<usize>>,
    /// The file's other columns, kept under their own names.
    pub extras: Vec<(String, usize)>,
}

/// A file's column names for a message: each cut to 40 characters and at
/// most 30 of them, so that a header that is a whole file (no line breaks)
/// does not become the message.
fn shown_names(names: &[String]) -> String {
    const EACH: usize = 40;
    const MOST: usize = 30;
    let mut shown: Vec<String> = names
        .iter()
        .take(MOST)
        .map(|n| match n.char_indices().nth(EACH) {
            Some((cut, _)) => format!("{}... ({} characters)", &n[..cut], n.chars().count()),
            None => n.clone(),
        })
        .collect();
    if names.len() > MOST {
        shown.push(format!("... ({} in all)", names.len()));
    }
    shown.join(", ")
}

fn loose(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Matches a file's column names to the table. `mapping` is `(target, source)`.
pub(crate) fn plan(
    table: TableKind,
    names: &[String],
    mapping: &[(String, String)],
) -> Result<ColumnPlan, String> {
    let find = |wanted: &str| {
        names
            .iter()
            .position(|n| n == wanted)
            .or_else(|| names.iter().position(|n| loose(n) == loose(wanted)))
    };
    let mut used = vec![false; names.len()];
    let mut canonical = Vec::new();
    for spec in table.columns() {
        let idx = match mapping.iter().find(|(t, _)| t == spec.name) {
            Some((_, source)) => Some(find(source).ok_or_else(|| {
                format!(
                    "{}={source}: the file has no column \"{source}\"; its columns are: {}",
                    spec.name,
                    shown_names(names)
                )
            })?),
            // A column that was mapped to another target is not matched by name too.
            None => find(spec.name).filter(|i| !mapping.iter().any(|(_, s)| find(s) == Some(*i))),
        };
        if let Some(i) = idx {
            used[i] = true;
        }
        canonical.push(idx);
    }
    for (target, _) in mapping {
        if table.column(target).is_none() {
            return Err(format!(
                "{target}=...: {table} has no column \"{target}\"; its columns are: {}",
                table
                    .columns()
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    // Other columns are kept under their own names; a name that a table
    // column or an earlier kept column already has, in any case (a column
    // mapped over, `event` beside `EVENT`), gets a suffix: `city_2`.
    let mut taken: std::collections::HashSet<String> = table
        .columns()
        .iter()
        .map(|c| c.name.to_lowercase())
        .collect();
    let extras = names
        .iter()
        .enumerate()
        .filter(|(i, n)| !used[*i] && !n.is_empty())
        .map(|(i, n)| {
            let mut kept = n.clone();
            let mut k = 2;
            while !taken.insert(kept.to_lowercase()) {
                kept = format!("{n}_{k}");
                k += 1;
            }
            (kept, i)
        })
        .collect();
    Ok(ColumnPlan { canonical, extras })
}

/// Checks that a file with these columns can fill the table, before reading its rows.
pub(crate) fn check_required(
    table: TableKind,
    plan: &ColumnPlan,
    names: &[String],
) -> Result<(), (String, Option<Hint>)> {
    let has = |name: &str| {
        table
            .columns()
            .iter()
            .zip(&plan.canonical)
            .any(|(c, i)| c.name == name && i.is_some())
    };
    let mut missing: Vec<&str> = table
        .columns()
        .iter()
        .filter(|c| c.presence == Presence::Required && !has(c.name))
        .map(|c| c.name)
        .filter(|n| !(table == TableKind::Orders && *n == "amount" && has("unit_price")))
        .collect();
    if table == TableKind::Events && !has("customer_id") && !has("anonymous_id") {
        missing.push("customer_id (or anonymous_id)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let reason = format!(
        "missing required column{} {}; the file's columns are: {}",
        if missing.len() > 1 { "s" } else { "" },
        missing.join(", "),
        shown_names(names)
    );
    let hint = if names.len() == 1 {
        [';', '\t', '|']
            .into_iter()
            .find(|d| names[0].contains(*d))
            .map(Hint::Delimiter)
    } else {
        Some(Hint::Map(
            missing[0].split(' ').next().unwrap_or_default().to_string(),
        ))
    };
    Err((reason, hint))
}

/// Why one row is rejected: the first bad cell.
#[derive(Debug, Clone)]
pub(crate) struct RowError {
    pub column: String,
    pub reason: String,
}

pub(crate) type RowErrors = Vec<Option<RowError>>;

fn fail(errors: &mut RowErrors, row: usize, column: &str, reason: impl Into<String>) {
    if errors[row].is_none() {
        errors[row] = Some(RowError {
            column: column.to_string(),
            reason: reason.into(),
        });
    }
}

/// Any array as UTF-8 text, so that one parser serves every source type.
pub(crate) fn as_text(array: &ArrayRef) -> Result<StringArray, String> {
    let text = if array.data_type() == &DataType::Utf8 {
        array.clone()
    } else {
        cast(array, &DataType::Utf8)
            .map_err(|e| format!("cannot read a {} column as text: {e}", array.data_type()))?
    };
    Ok(text
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::new_null(array.len())))
}

fn cell(values: &StringArray, row: usize) -> Option<&str> {
    if values.is_null(row) {
        return None;
    }
    let v = values.value(row).trim();
    (!v.is_empty()).then_some(v)
}

/// Converts a chunk's source columns to the table's canonical columns, in
/// table order, with the first error of each row.
pub(crate) fn convert_chunk(
    table: TableKind,
    chunk: &crate::reader::Chunk,
    plan: &ColumnPlan,
    tz: ImportTz,
) -> Result<(Vec<ArrayRef>, RowErrors), String> {
    let rows = chunk.lines.len();
    let mut errors: RowErrors = vec![None; rows];
    let mut columns = Vec::with_capacity(table.columns().len() + plan.extras.len());
    for (spec, idx) in table.columns().iter().zip(&plan.canonical) {
        let src = idx.map(|i| &chunk.columns[i]);
        let array = convert_column(table, spec.name, spec.ty, src, rows, tz, &mut errors)
            .map_err(|reason| format!("column {}: {reason}", spec.name))?;
        columns.push(array);
    }
    Ok((columns, errors))
}

/// Converts one source column to a canonical column.
pub(crate) fn convert_column(
    table: TableKind,
    name: &'static str,
    ty: ColumnType,
    source: Option<&ArrayRef>,
    rows: usize,
    tz: ImportTz,
    errors: &mut RowErrors,
) -> Result<ArrayRef, String> {
    let Some(source) = source else {
        return Ok(arrow::array::new_null_array(&ty.arrow(), rows));
    };
    // Typed fast paths for Parquet and in-memory sources.
    match (ty, source.data_type()) {
        (ColumnType::Timestamp, DataType::Timestamp(_, Some(_))) => {
            return cast(source, &ty.arrow()).map_err(|e| e.to_string());
        }
        (ColumnType::Integer, t) if t.is_integer() => {
            let ints = cast(source, &DataType::Int64).map_err(|e| e.to_string())?;
            let ints = ints.as_primitive::<Int64Type>();
            let checked: Int64Array = (0..rows)
                .map(|row| {
                    let v = ints.is_valid(row).then(|| ints.value(row))?;
                    check_integer(name, v)
                        .map_err(|reason| fail(errors, row, name, reason))
                        .ok()
                })
                .collect();
            return Ok(Arc::new(checked));
        }
        (ColumnType::Decimal, t) if t == &ty.arrow() => return Ok(source.clone()),
        (ColumnType::Decimal, t) if t.is_floating() => {
            // Each float as the decimal it prints as: 29.9 is 29.9000, not
            // the binary value just below it.
            let floats = cast(source, &DataType::Float64).map_err(|e| e.to_string())?;
            let floats = floats.as_primitive::<Float64Type>();
            let mut b = Decimal128Builder::with_capacity(rows).with_data_type(ty.arrow());
            let mut shortest = ryu::Buffer::new();
            for row in 0..rows {
                if floats.is_null(row) {
                    b.append_null();
                    continue;
                }
                let x = floats.value(row);
                let parsed = if x.is_finite() {
                    parse_decimal(shortest.format_finite(x))
                } else {
                    Err(format!("{x} is not a number"))
                };
                match parsed {
                    Ok(v) => b.append_value(v.into()),
                    Err(reason) => {
                        fail(errors, row, name, reason);
                        b.append_null();
                    }
                }
            }
            return Ok(Arc::new(b.finish()));
        }
        (ColumnType::Boolean, DataType::Boolean) => return Ok(source.clone()),
        _ => {}
    }
    let values = as_text(source)?;
    if ty == ColumnType::Text && is_plain_text(table, name) && is_clean(&values) {
        // Nothing to trim or normalise: keep the reader's array as it is.
        return Ok(Arc::new(values));
    }
    Ok(match ty {
        ColumnType::Text => {
            let mut b = StringBuilder::with_capacity(rows, rows * 8);
            for row in 0..rows {
                match cell(&values, row) {
                    None => b.append_null(),
                    Some(v) => match normalize_text(table, name, v) {
                        Ok(v) => b.append_value(v),
                        Err(reason) => {
                            fail(errors, row, name, reason);
                            b.append_null();
                        }
                    },
                }
            }
            Arc::new(b.finish())
        }
        ColumnType::Integer => {
            let mut b = Int64Builder::with_capacity(rows);
            for row in 0..rows {
                match cell(&values, row).map(|v| parse_integer(name, v)) {
                    None => b.append_null(),
                    Some(Ok(v)) => b.append_value(v),
                    Some(Err(reason)) => {
                        fail(errors, row, name, reason);
                        b.append_null();
                    }
                }
            }
            Arc::new(b.finish())
        }
        ColumnType::Decimal => {
            let mut b = Decimal128Builder::with_capacity(rows).with_data_type(ty.arrow());
            for row in 0..rows {
                match cell(&values, row).map(parse_decimal) {
                    None => b.append_null(),
                    Some(Ok(v)) => b.append_value(v.into()),
                    Some(Err(reason)) => {
                        fail(errors, row, name, reason);
                        b.append_null();
                    }
                }
            }
            Arc::new(b.finish())
        }
        ColumnType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(rows);
            for row in 0..rows {
                match cell(&values, row).map(parse_bool) {
                    None => b.append_null(),
                    Some(Ok(v)) => b.append_value(v),
                    Some(Err(reason)) => {
                        fail(errors, row, name, reason);
                        b.append_null();
                    }
                }
            }
            Arc::new(b.finish())
        }
        ColumnType::Timestamp => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows).with_data_type(
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            );
            for row in 0..rows {
                match cell(&values, row).map(|v| parse_timestamp(v, tz).and_then(in_range)) {
                    None => b.append_null(),
                    Some(Ok(v)) => b.append_value(v),
                    Some(Err(reason)) => {
                        fail(errors, row, name, reason);
                        b.append_null();
                    }
                }
            }
            Arc::new(b.finish())
        }
    })
}

/// The microseconds that a nanosecond timestamp can also hold: from
/// 1677-09-21 to 2262-04-11. DataFusion's date functions (`date_trunc`,
/// casts to dates) work in nanoseconds and fail on a time outside, so such
/// a row is rejected at import rather than breaking every later query.
const TS_RANGE_US: std::ops::RangeInclusive<i64> = -(i64::MAX / 1000)..=i64::MAX / 1000;

fn in_range(us: i64) -> Result<i64, String> {
    if TS_RANGE_US.contains(&us) {
        Ok(us)
    } else {
        Err("the time is outside the years 1677 to 2262, which queries can hold".into())
    }
}

/// Text columns stored as read, apart from trimming.
fn is_plain_text(table: TableKind, name: &str) -> bool {
    let normalised = matches!(name, "country" | "currency" | "language")
        || (table == TableKind::Orders && name == "status");
    !normalised
}

/// No value is empty or has surrounding white space.
fn is_clean(values: &StringArray) -> bool {
    values
        .iter()
        .flatten()
        .all(|v| !v.is_empty() && v.trim().len() == v.len())
}

fn normalize_text<'a>(
    table: TableKind,
    name: &str,
    v: &'a str,
) -> Result<std::borrow::Cow<'a, str>, String> {
    use std::borrow::Cow;
    match name {
        "country" => country(v),
        "currency" => {
            if v.len() == 3 && v.bytes().all(|c| c.is_ascii_alphabetic()) {
                Ok(Cow::Owned(v.to_ascii_uppercase()))
            } else {
                Err(format!(
                    "\"{v}\" is not an ISO 4217 currency code such as CNY or USD"
                ))
            }
        }
        "language" => Ok(Cow::Owned(v.to_ascii_lowercase())),
        "status" if table == TableKind::Orders => normalize_status(v).map(Cow::Borrowed),
        _ => Ok(Cow::Borrowed(v)),
    }
}

/// An ISO 3166-1 alpha-2 code in upper case: one assigned to a country
/// (`XX` and `ZZ` are not), Kosovo's `XK` as the EU and banks use it, and
/// `UK` as `GB`, as exports often write it. Borrowed when it is already
/// upper case, as nearly every row's is.
fn country(v: &str) -> Result<std::borrow::Cow<'_, str>, String> {
    use std::borrow::Cow;
    static ASSIGNED: std::sync::OnceLock<std::collections::HashSet<[u8; 2]>> =
        std::sync::OnceLock::new();
    let assigned = ASSIGNED.get_or_init(|| {
        koubei_geo::countries()
            .iter()
            .filter_map(|c| <[u8; 2]>::try_from(c.alpha2.as_bytes()).ok())
            .chain([*b"XK"])
            .collect()
    });
    let b = v.as_bytes();
    if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
        return Err(format!(
            "\"{v}\" is not an ISO 3166-1 alpha-2 country code such as CN or US"
        ));
    }
    let upper = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
    if &upper == b"UK" {
        Ok(Cow::Borrowed("GB"))
    } else if !assigned.contains(&upper) {
        Err(format!(
            "\"{v}\" is not an assigned ISO 3166-1 alpha-2 country code"
        ))
    } else if upper == *b {
        Ok(Cow::Borrowed(v))
    } else {
        Ok(Cow::Owned(v.to_ascii_uppercase()))
    }
}

/// Maps the order statuses of common shop exports onto paid, refunded and cancelled.
pub(crate) fn normalize_status(v: &str) -> Result<&'static str, String> {
    match v {
        "paid" => return Ok("paid"),
        "refunded" => return Ok("refunded"),
        "cancelled" => return Ok("cancelled"),
        _ => {}
    }
    let l = v.to_lowercase();
    Ok(match l.as_str() {
        "paid" | "completed" | "complete" | "success" | "succeeded" | "fulfilled" | "shipped"
        | "delivered" | "processing" | "closed" | "交易成功" | "已付款" | "已发货" | "已完成"
        | "已签收" => "paid",
        "refunded" | "refund" | "returned" | "partially_refunded" | "退款" | "已退款"
        | "退款成功" => "refunded",
        "cancelled" | "canceled" | "voided" | "void" | "failed" | "交易关闭" | "已取消" => {
            "cancelled"
        }
        _ => {
            return Err(format!(
                "unknown order status \"{v}\": expected paid, refunded or cancelled (or a common synonym such as completed, refund, canceled)"
            ));
        }
    })
}

fn parse_integer(name: &str, v: &str) -> Result<i64, String> {
    let n = v
        .parse::<i64>()
        .ok()
        .or_else(|| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9e15)
                .map(|x| x as i64)
        })
        .ok_or_else(|| format!("\"{v}\" is not a whole number"))?;
    check_integer(name, n)
}

/// The most units one order line may have: more is a mistake in the file,
/// and sums of units stay far inside 64 bits.
const MAX_QUANTITY: i64 = 1_000_000_000;

/// The range checks of a whole-number column, for text and typed sources.
fn check_integer(name: &str, n: i64) -> Result<i64, String> {
    match name {
        "rating" if !(1..=5).contains(&n) => Err(format!("rating {n} is outside 1 to 5")),
        "quantity" if n < 0 => Err(format!("quantity {n} is negative")),
        "quantity" if n > MAX_QUANTITY => Err(format!(
            "quantity {n} is more than {MAX_QUANTITY} units on one line"
        )),
        // Exports count lines from 0 as often as from 1: either is a key.
        "line" if n < 0 => Err(format!("line {n} is negative")),
        _ => Ok(n),
    }
}

/// Money as shops export it: `1234.5`, `1,234.50`, `¥29.90`, `$12`, `1.5e3`;
/// exact, in units of 10^-[`MONEY_SCALE`].
pub(crate) fn parse_decimal(v: &str) -> Result<i64, String> {
    if let Ok(x) = parse_exact(v) {
        return Ok(x);
    }
    let t = v
        .trim_start_matches(['¥', '￥', '$', '€', '£'])
        .trim_start_matches("US$")
        .trim_start_matches("RMB")
        .trim();
    let not_a_number = || format!("\"{v}\" is not a number");
    match parse_exact(t) {
        Err(Invalid::TooLarge) => Err(too_large(v)),
        Ok(x) => Ok(x),
        Err(Invalid::NotANumber) => {
            // Thousands separators only in their proper places.
            let (int, frac) = t.split_once('.').unwrap_or((t, ""));
            let int = int.strip_prefix('-').unwrap_or(int);
            let groups: Vec<&str> = int.split(',').collect();
            let ok = groups.len() > 1
                && (1..=3).contains(&groups[0].len())
                && groups[1..].iter().all(|g| g.len() == 3)
                && groups.iter().all(|g| g.bytes().all(|c| c.is_ascii_digit()))
                && frac.bytes().all(|c| c.is_ascii_digit());
            if !ok {
                return Err(not_a_number());
            }
            parse_exact(&t.replace(',', "")).map_err(|e| match e {
                Invalid::TooLarge => too_large(v),
                Invalid::NotANumber => not_a_number(),
            })
        }
    }
}

fn too_large(v: &str) -> String {
    let shown: String = v.chars().take(40).collect();
    format!("\"{shown}\" is too large: an amount is at most 99,999,999,999,999.9999")
}

#[derive(Debug, PartialEq)]
enum Invalid {
    NotANumber,
    TooLarge,
}

/// The common case without allocating: digits, and at most one point,
/// with no exponent and fewer than 15 whole digits; None for anything else,
/// which the general path reads (or refuses).
fn plain(body: &str) -> Option<i64> {
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let int = int.trim_start_matches('0');
    if int.len() > 14 || (int.is_empty() && frac.is_empty() && !body.starts_with('0')) {
        return None;
    }
    let digits = |s: &str| {
        s.bytes().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let whole = digits(int)?;
    let scale = MONEY_SCALE as usize;
    let kept = &frac[..frac.len().min(scale)];
    let mut scaled = whole * 10i64.pow(MONEY_SCALE as u32)
        + digits(kept)? * 10i64.pow((scale - kept.len()) as u32);
    let rest = frac.as_bytes().get(scale..).unwrap_or_default();
    if !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if rest.first().is_some_and(|d| *d >= b'5') {
        scaled += 1;
    }
    (scaled < 10i64.pow(18)).then_some(scaled)
}

/// A plain decimal (`-12.5`, `+3`, `.5`, `1.5e3`) in units of
/// 10^-[`MONEY_SCALE`], rounded half away from zero, read digit by digit
/// so that no binary rounding comes between the file and the stored value.
fn parse_exact(v: &str) -> Result<i64, Invalid> {
    const MAX_INT_DIGITS: usize = 18 - MONEY_SCALE as usize;
    let (negative, body) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if let Some(x) = plain(body) {
        return Ok(if negative { -x } else { x });
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => {
            let e = &body[i + 1..];
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(Invalid::NotANumber);
            }
            // Any exponent beyond a few thousand only says "huge" or "zero".
            let digits = digits.trim_start_matches('0');
            let magnitude: i64 = if digits.len() > 6 {
                999_999
            } else {
                digits.parse().unwrap_or(0)
            };
            (
                &body[..i],
                if e.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                },
            )
        }
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
    {
        return Err(Invalid::NotANumber);
    }
    // The significant digits; digit i is worth 10^(point - 1 - i).
    let int = int.trim_start_matches('0');
    let point = int.len() as i64 + exponent;
    let digits: Vec<i64> = int
        .bytes()
        .chain(frac.bytes())
        .map(|c| (c - b'0') as i64)
        .collect();
    if digits.iter().all(|d| *d == 0) {
        return Ok(0);
    }
    if point > MAX_INT_DIGITS as i64 {
        return Err(Invalid::TooLarge);
    }
    // Keep the digits down to 10^-SCALE, and round on the next one.
    let kept = point + MONEY_SCALE as i64;
    let at = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut scaled = (0..kept.max(0)).fold(0i64, |n, i| n * 10 + at(i));
    if at(kept) >= 5 {
        scaled += 1;
    }
    if scaled >= 10i64.pow(18) {
        return Err(Invalid::TooLarge);
    }
    Ok(if negative { -scaled } else { scaled })
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "是" => Ok(true),
        "false" | "f" | "no" | "n" | "0" | "否" => Ok(false),
        _ => Err(format!("\"{v}\" is not a boolean: expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plan_matches_exact_loose_and_mapped_names() {
        let n = names(&["Order ID", "buyer", "Created-At", "amount", "gift_wrap"]);
        let map = vec![
            ("customer_id".to_string(), "buyer".to_string()),
            ("ts".to_string(), "Created-At".to_string()),
        ];
        let p = plan(TableKind::Orders, &n, &map).unwrap();
        let idx = |c: &str| {
            let i = TableKind::Orders
                .columns()
                .iter()
                .position(|s| s.name == c)
                .unwrap();
            p.canonical[i]
        };
        assert_eq!(idx("order_id"), Some(0));
        assert_eq!(idx("customer_id"), Some(1));
        assert_eq!(idx("ts"), Some(2));
        assert_eq!(idx("amount"), Some(3));
        assert_eq!(idx("status"), None);
        assert_eq!(p.extras, vec![("gift_wrap".to_string(), 4)]);
        check_required(TableKind::Orders, &p, &n).unwrap();
    }

    #[test]
    fn mapping_errors_name_the_columns() {
        let n = names(&["a", "b"]);
        let e = plan(
            TableKind::Orders,
            &n,
            &[("customer_id".into(), "buyer".into())],
        )
        .unwrap_err();
        assert!(
            e.contains("no column \"buyer\"") && e.contains("a, b"),
            "{e}"
        );
        let e = plan(TableKind::Orders, &n, &[("buyer".into(), "a".into())]).unwrap_err();
        assert!(e.contains("orders has no column \"buyer\""), "{e}");
    }

    /// A kept column whose name a table column or another kept column has,
    /// in any case, is kept under a suffixed name.
    #[test]
    fn kept_names_never_clash() {
        let n = names(&[
            "order_id",
            "customer_id",
            "ts",
            "amount",
            "city",
            "region",
            "Note",
            "note",
        ]);
        let p = plan(TableKind::Orders, &n, &[("city".into(), "region".into())]).unwrap();
        let kept: Vec<&str> = p.extras.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kept, ["city_2", "Note", "note_2"]);
        assert_eq!(p.extras[0].1, 4, "the file's own city is kept");
    }

    /// A header of one enormous field, or of very many, is cut short.
    #[test]
    fn long_headers_are_cut_in_messages() {
        let n = names(&[&"x".repeat(20 << 20)]);
        let p = plan(TableKind::Orders, &n, &[]).unwrap();
        let (e, _) = check_required(TableKind::Orders, &p, &n).unwrap_err();
        assert!(e.len() < 300, "{} bytes", e.len());
        assert!(e.ends_with("... (20971520 characters)"), "{e}");
        let many: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        let shown = shown_names(&many);
        assert!(shown.ends_with("c29, ... (1000 in all)"), "{shown}");
    }

    #[test]
    fn missing_columns_hint_at_the_delimiter() {
        let n = names(&["customer_id;ts;amount"]);
        let p = plan(TableKind::Orders, &n, &[]).unwrap();
        let (e, hint) = check_required(TableKind::Orders, &p, &n).unwrap_err();
        assert!(
            e.contains("customer_id, ts, amount") || e.contains("missing required columns"),
            "{e}"
        );
        assert_eq!(hint, Some(Hint::Delimiter(';')));
        let n = names(&["customer_id", "ts"]);
        let p = plan(TableKind::Orders, &n, &[]).unwrap();
        let (_, hint) = check_required(TableKind::Orders, &p, &n).unwrap_err();
        assert_eq!(hint, Some(Hint::Map("amount".into())));
        let n = names(&["customer_id", "ts", "unit_price"]);
        let p = plan(TableKind::Orders, &n, &[]).unwrap();
        check_required(TableKind::Orders, &p, &n).unwrap();
    }

    #[test]
    fn decimals_as_shops_write_them() {
        let d = |v: &str| parse_decimal(v).map(|x| x as f64 / 1e4);
        assert_eq!(d("29.9").unwrap(), 29.9);
        assert_eq!(d("¥29.90").unwrap(), 29.9);
        assert_eq!(d("1,234.50").unwrap(), 1234.5);
        assert_eq!(d("-1,234").unwrap(), -1234.0);
        assert_eq!(d("1.5e3").unwrap(), 1500.0);
        assert_eq!(d("+.5").unwrap(), 0.5);
        assert!(parse_decimal("1,23.4").is_err());
        assert!(parse_decimal("NaN").is_err());
        assert!(parse_decimal("inf").is_err());
        assert!(parse_decimal("twelve").is_err());
        assert!(parse_decimal("-").is_err());
        assert!(parse_decimal("1e").is_err());
        assert!(parse_decimal("1.2.3").is_err());
    }

    /// Stored units of 10^-4: exact, rounded half away from zero on the
    /// decimal as written, with a clear refusal past 10^14.
    #[test]
    fn decimals_are_exact_to_four_places() {
        let ok = |v: &str| parse_decimal(v).unwrap();
        assert_eq!(ok("0.1"), 1000);
        assert_eq!(ok("19.990000000000002"), 199_900);
        assert_eq!(ok("1.00005"), 10_001);
        assert_eq!(ok("-1.00005"), -10_001);
        assert_eq!(ok("1.00004999"), 10_000);
        assert_eq!(ok("0.00005"), 1);
        assert_eq!(ok("0.000049"), 0);
        assert_eq!(ok("5e-5"), 1);
        assert_eq!(ok("1e-999999999"), 0);
        assert_eq!(ok("000123.4"), 1_234_000);
        assert_eq!(ok("0e5"), 0);
        assert_eq!(ok("99999999999999.9999"), 999_999_999_999_999_999);
        assert_eq!(ok("12E2"), 12_000_000);
        for big in [
            "1e308",
            "100000000000000",
            "99999999999999.99995",
            "1e0000014",
            "1e999999999",
        ] {
            let e = parse_decimal(big).unwrap_err();
            assert!(
                e.contains("too large") && e.contains("99,999,999,999,999.9999"),
                "{big}: {e}"
            );
        }
        assert_eq!(ok("1e0000013"), 100_000_000_000_000_000);
    }

    #[test]
    fn countries_are_assigned_codes() {
        assert_eq!(country("cn").unwrap(), "CN");
        assert_eq!(country("UK").unwrap(), "GB");
        assert_eq!(country("xk").unwrap(), "XK");
        for bad in ["XX", "ZZ", "QQ", "AA"] {
            let e = country(bad).unwrap_err();
            assert!(e.contains("not an assigned"), "{bad}: {e}");
        }
        assert!(country("USA").unwrap_err().contains("such as CN or US"));
    }

    #[test]
    fn statuses_and_integers() {
        assert_eq!(normalize_status("Completed").unwrap(), "paid");
        assert_eq!(normalize_status("canceled").unwrap(), "cancelled");
        assert_eq!(normalize_status("交易关闭").unwrap(), "cancelled");
        assert!(
            normalize_status("pending-ish")
                .unwrap_err()
                .contains("paid, refunded or cancelled")
        );
        assert_eq!(parse_integer("quantity", "3.0").unwrap(), 3);
        assert!(
            parse_integer("rating", "6")
                .unwrap_err()
                .contains("outside 1 to 5")
        );
        assert!(parse_integer("rating", "4.5").is_err());
        assert!(parse_integer("quantity", "-1").is_err());
        assert!(
            parse_integer("quantity", "9223372036854775807")
                .unwrap_err()
                .contains("more than 1000000000 units")
        );
    }
}
