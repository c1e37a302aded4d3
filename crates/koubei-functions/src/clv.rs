//! `purchase_days(day, spend)`: a customer's purchase occasions, as the
//! recency–frequency summary needs them, from all of their order lines at
//! once.
//!
//! `day` is a day number, or a timestamp (its UTC day is taken), and
//! `spend` a line's amount. The result is a struct
//! of the distinct days with a purchase (`days`), the `first` and `last` of
//! them, the total `spend`, and the spend on the first day (`first_spend`).
//! Several lines on one day are one purchase occasion, as in lifetimes'
//! `summary_data_from_transaction_data`.
//!
//! `purchase_days_by_unit(day, spend, unit)`, with `unit` a constant number
//! of days, adds what the discrete-time summary of BG/BB needs, without a
//! second pass over the orders nor a list of days per customer: after the
//! first day, the i-th unit covers the days (i−1)·unit < d − first ≤
//! i·unit; `units` counts the distinct i ≥ 1 with a purchase,
//! `last_unit` is the last of them and `unit_before` the one before (0
//! without). Whatever the end, only the last one can fall after it (see
//! [`Units::at_end`]).
//!
//! Given a last argument, a constant day number `end`, either function
//! summarises only the lines up to `end` as above and adds the holdout that
//! follows: `holdout_days`, the distinct days after `end`, and
//! `holdout_spend`, their total spend. A calibration summary and its holdout
//! then come from one pass over the orders.
//!
//! `purchase_days_daily(day, spend)` adds `paid`, each day with a purchase
//! and its spend packed in bytes ([`pack_days`]): stored once per customer,
//! it gives the summary to any end, with any holdout and unit, without the
//! order lines ([`purchase_days_of_daily`]).
//!
//! One GROUP BY customer replaces a GROUP BY (customer, day) followed by a
//! GROUP BY customer: the first built a hash table with one entry per
//! customer-day, several times the customers.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, BooleanBufferBuilder, Float64Array,
    Int64Array, Int64Builder, StructArray,
};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, FieldRef, Fields, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::arena::{GroupArena, Grouped};
use super::{OneGroup, PerGroup, list_state_fields, literal};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PurchaseDays {
    signature: Signature,
    /// `purchase_days_by_unit`: with each customer's units.
    by_unit: bool,
    /// `purchase_days_daily`: with each customer's days and their spend.
    daily: bool,
}

impl PurchaseDays {
    pub fn new() -> Self {
        PurchaseDays {
            signature: days_signature(&[crate::MONEY]),
            by_unit: false,
            daily: false,
        }
    }

    /// `purchase_days_by_unit`.
    pub fn by_unit() -> Self {
        PurchaseDays {
            signature: days_signature(&[crate::MONEY, DataType::Float64]),
            by_unit: true,
            daily: false,
        }
    }

    /// `purchase_days_daily`: `purchase_days` and `paid`, each day with a
    /// purchase and its spend packed in bytes (see [`pack_days`]), from
    /// which [`purchase_days_of_daily`] gives the summary at any end without
    /// the order lines.
    pub fn daily() -> Self {
        PurchaseDays {
            signature: days_signature(&[crate::MONEY]),
            by_unit: false,
            daily: true,
        }
    }
}

/// A day, then `rest`, then optionally the end's day number.
fn days_signature(rest: &[DataType]) -> Signature {
    let forms = day_types().into_iter().flat_map(|day| {
        let args: Vec<DataType> = std::iter::once(day).chain(rest.iter().cloned()).collect();
        let with_end = args.iter().cloned().chain([DataType::Int64]).collect();
        [TypeSignature::Exact(args), TypeSignature::Exact(with_end)]
    });
    Signature::one_of(forms.collect(), Volatility::Immutable)
}

/// What a day argument may be: a day number or a timestamp.
pub(super) fn day_types() -> [DataType; 3] {
    [
        DataType::Int64,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::Timestamp(TimeUnit::Microsecond, None),
    ]
}

impl PurchaseDays {
    fn groups(&self, args: &AccumulatorArgs) -> Result<DayGroups> {
        let unit = if self.by_unit {
            match literal(self.name(), args, 2, "unit")? {
                ScalarValue::Float64(Some(u)) if *u > 0.0 => Some(*u),
                v => {
                    return plan_err!(
                        "{}: unit must be a positive number of days, not {v}",
                        self.name()
                    );
                }
            }
        } else {
            None
        };
        let at = 2 + usize::from(self.by_unit);
        let split = if args.exprs.len() > at {
            match literal(self.name(), args, at, "end")? {
                ScalarValue::Int64(Some(e)) => Some(*e),
                v => return plan_err!("{}: end must be a day number, not {v}", self.name()),
            }
        } else {
            None
        };
        Ok(DayGroups {
            unit,
            split,
            daily: self.daily,
            ..DayGroups::default()
        })
    }
}

impl Default for PurchaseDays {
    fn default() -> Self {
        Self::new()
    }
}

fn result_fields(by_unit: bool, split: bool, daily: bool) -> Fields {
    let mut fields = vec![
        Field::new("days", DataType::Int64, false),
        Field::new("first", DataType::Int64, true),
        Field::new("last", DataType::Int64, true),
        Field::new("spend", DataType::Float64, false),
        Field::new("first_spend", DataType::Float64, false),
    ];
    if by_unit {
        for name in ["units", "last_unit", "unit_before"] {
            fields.push(Field::new(name, DataType::Int64, false));
        }
    }
    if split {
        fields.push(Field::new("holdout_days", DataType::Int64, false));
        fields.push(Field::new("holdout_spend", DataType::Float64, false));
    }
    if daily {
        fields.push(Field::new("paid", DataType::Binary, true));
    }
    Fields::from(fields)
}

impl AggregateUDFImpl for PurchaseDays {
    fn name(&self) -> &str {
        if self.by_unit {
            "purchase_days_by_unit"
        } else if self.daily {
            "purchase_days_daily"
        } else {
            "purchase_days"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let plain = 2 + usize::from(self.by_unit);
        Ok(DataType::Struct(result_fields(
            self.by_unit,
            args.len() > plain,
            self.daily,
        )))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup::new(self.groups(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(&args)?))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(list_state_fields(
            &args,
            &[("day", DataType::Int32), ("spend", DataType::Int64)],
        ))
    }
}

/// `purchase_opportunities(day, end, unit)`: a customer's BG/BB summary,
/// a struct of `x`, `t_x` and `n` (see [`opportunities`]); `end` is the
/// calibration end's day number and `unit` the opportunity's length in days,
/// both constants.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PurchaseOpportunities {
    signature: Signature,
}

impl PurchaseOpportunities {
    pub fn new() -> Self {
        PurchaseOpportunities {
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64, DataType::Float64],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for PurchaseOpportunities {
    fn default() -> Self {
        Self::new()
    }
}

fn opportunity_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int64, false),
        Field::new("t_x", DataType::Int64, false),
        Field::new("n", DataType::Int64, false),
    ])
}

fn opportunity_groups(args: &AccumulatorArgs) -> Result<DayGroups> {
    const F: &str = "purchase_opportunities";
    let end = match literal(F, args, 1, "end")? {
        ScalarValue::Int64(Some(e)) => *e,
        v => return plan_err!("{F}: end must be a day number, not {v}"),
    };
    let unit = match literal(F, args, 2, "unit")? {
        ScalarValue::Float64(Some(u)) if *u > 0.0 => *u,
        v => return plan_err!("{F}: unit must be a positive number of days, not {v}"),
    };
    Ok(DayGroups {
        opportunities: Some((end, unit)),
        ..DayGroups::default()
    })
}

impl AggregateUDFImpl for PurchaseOpportunities {
    fn name(&self) -> &str {
        "purchase_opportunities"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(opportunity_fields()))
    }

    crate::group_accumulators!(opportunity_groups);

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        PurchaseDays::new().state_fields(args)
    }
}

/// One order line: its day and amount (in units of [`crate::MONEY`]), in 12
/// bytes rather than 16 (a day number fits an i32 for any timestamp; an
/// arena holds one per line, so ten million customers' lines take a quarter
/// less memory).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed(4))]
struct Line {
    spend: i64,
    day: i32,
}

impl Line {
    fn new(day: i32, spend: i64) -> Line {
        Line { spend, day }
    }

    fn day(self) -> i64 {
        i64::from(self.day)
    }

    fn spend(self) -> i64 {
        self.spend
    }
}

#[derive(Debug, Clone)]
struct DayGroups {
    lines: GroupArena<Line>,
    /// `purchase_opportunities`' calibration end and unit in days, or None
    /// for `purchase_days`.
    opportunities: Option<(i64, f64)>,
    /// `purchase_days_by_unit`'s unit in days.
    unit: Option<f64>,
    /// The calibration end, when lines after it are the holdout.
    split: Option<i64>,
    /// `purchase_days_daily`'s packed days and their spend.
    daily: bool,
}

impl Default for DayGroups {
    fn default() -> Self {
        DayGroups {
            lines: GroupArena::new(),
            opportunities: None,
            unit: None,
            split: None,
            daily: false,
        }
    }
}

/// A customer's transaction opportunities, for BG/BB.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Opportunities {
    pub x: i64,
    pub t_x: i64,
    pub n: i64,
}

/// After the first purchase day, opportunity i covers the days
/// (i−1)·u < d − first ≤ i·u; n is how many whole ones end by `end`, x how
/// many of them hold a purchase, tₓ the last of those.
fn opportunities(lines: &mut [Line], end: i64, unit: f64) -> Opportunities {
    sort_lines(lines);
    match lines.first() {
        Some(first) => Units::of(lines, unit).at_end(first.day(), end, unit),
        None => Opportunities::default(),
    }
}

/// A customer's units with a purchase (see the module's doc): how many,
/// the last and the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Units {
    pub units: i64,
    pub last: i64,
    pub before: i64,
}

impl Units {
    /// From a customer's lines, sorted by day.
    fn of(lines: &[Line], unit: f64) -> Units {
        let Some(first) = lines.first().map(|l| l.day()) else {
            return Units::default();
        };
        let mut u = Units::default();
        for l in lines {
            u.add(first, l.day(), unit);
        }
        u
    }

    /// Counts a purchase on `day`, for a customer whose first day is
    /// `first`, the days coming in order.
    fn add(&mut self, first: i64, day: i64, unit: f64) {
        let i = ((day - first) as f64 / unit).ceil() as i64;
        if i >= 1 && i != self.last {
            (self.before, self.last) = (self.last, i);
            self.units += 1;
        }
    }

    /// The BG/BB summary at `end`, for a customer whose first day is
    /// `first`: n whole units end by it, and only the last unit with a
    /// purchase can be past them (a day d ≤ end has ⌈(d−first)/u⌉ ≤
    /// ⌊(end−first)/u⌋ + 1).
    pub fn at_end(self, first: i64, end: i64, unit: f64) -> Opportunities {
        let n = ((end - first) as f64 / unit).floor() as i64;
        let (x, t_x) = if self.last > n {
            (self.units - 1, self.before)
        } else {
            (self.units, self.last)
        };
        Opportunities { x, t_x, n }
    }
}

/// One customer's summary.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Days {
    days: i64,
    first: Option<i64>,
    last: Option<i64>,
    spend: f64,
    first_spend: f64,
}

/// Sorted by day, to count the days; sums of spend are exact, the same in
/// any order.
fn summarise(lines: &mut [Line]) -> Days {
    sort_lines(lines);
    let mut d = Days::default();
    let (mut spend, mut first_spend) = (0i128, 0i128);
    for (i, l) in lines.iter().enumerate() {
        if i == 0 || lines[i - 1].day() != l.day() {
            d.days += 1;
        }
        if l.day() == lines[0].day() {
            first_spend += i128::from(l.spend());
        }
        spend += i128::from(l.spend());
    }
    d.spend = crate::money(spend);
    d.first_spend = crate::money(first_spend);
    d.first = lines.first().map(|l| l.day());
    d.last = lines.last().map(|l| l.day());
    d
}

/// The columns of a `purchase_days` result, built group by group as the
/// groups are summarised: a vector of summaries first had cost ten million
/// customers half a gigabyte.
struct DaysBuilder {
    unit: Option<f64>,
    split: Option<i64>,
    daily: bool,
    days: Vec<i64>,
    first: Int64Builder,
    last: Int64Builder,
    spend: Vec<f64>,
    first_spend: Vec<f64>,
    units: Vec<Units>,
    holdout_days: Vec<i64>,
    holdout_spend: Vec<f64>,
    /// `purchase_days_daily`'s packed days, null for a customer with a day
    /// whose spend is past 64 bits.
    paid: BinaryBuilder,
    packed: Vec<u8>,
}

impl DaysBuilder {
    fn new(unit: Option<f64>, split: Option<i64>, daily: bool, n: usize) -> Self {
        DaysBuilder {
            unit,
            split,
            daily,
            days: Vec::with_capacity(n),
            first: Int64Builder::with_capacity(n),
            last: Int64Builder::with_capacity(n),
            spend: Vec::with_capacity(n),
            first_spend: Vec::with_capacity(n),
            units: Vec::new(),
            holdout_days: Vec::new(),
            holdout_spend: Vec::new(),
            paid: BinaryBuilder::new(),
            packed: Vec::new(),
        }
    }

    /// Adds one customer's lines, in any order.
    fn push(&mut self, mut lines: &mut [Line]) {
        // Sorted as `summarise` sorts them, then cut at the end: each side's
        // sums run in the order they would alone.
        sort_lines(lines);
        if self.daily {
            self.push_daily(lines);
        }
        if let Some(end) = self.split {
            let cut = lines.partition_point(|l| l.day() <= end);
            let after = summarise(&mut lines[cut..]);
            self.holdout_days.push(after.days);
            self.holdout_spend.push(after.spend);
            lines = &mut lines[..cut];
        }
        let d = summarise(lines);
        self.days.push(d.days);
        self.first.append_option(d.first);
        self.last.append_option(d.last);
        self.spend.push(d.spend);
        self.first_spend.push(d.first_spend);
        if let Some(unit) = self.unit {
            // `summarise` sorted the group's lines by day.
            self.units.push(Units::of(lines, unit));
        }
    }

    /// Adds a customer from their days in order, each with its spend, up to
    /// `until`, in one pass: the days are distinct and sorted, so each is
    /// one occasion, and there is nothing to sort (a vector of lines per
    /// customer, summarised as [`DaysBuilder::push`] does, took twice as
    /// long). Adds nothing for a customer with no day by the end, and says
    /// whether it added them; None at a day cut short.
    fn push_days(
        &mut self,
        days: impl Iterator<Item = Option<(i32, i64)>>,
        until: Option<i64>,
    ) -> Option<bool> {
        let (mut n, mut first, mut last) = (0, 0, 0);
        let (mut spend, mut first_spend) = (0i128, 0i128);
        let (mut held, mut held_spend) = (0, 0i128);
        let mut units = Units::default();
        for day in days {
            let (day, s) = day?;
            let day = i64::from(day);
            if until.is_some_and(|u| day > u) {
                break;
            }
            if self.split.is_some_and(|e| day > e) {
                held += 1;
                held_spend += i128::from(s);
                continue;
            }
            if n == 0 {
                (first, first_spend) = (day, i128::from(s));
            }
            n += 1;
            last = day;
            spend += i128::from(s);
            if let Some(unit) = self.unit {
                units.add(first, day, unit);
            }
        }
        if n == 0 {
            return Some(false);
        }
        self.days.push(n);
        self.first.append_value(first);
        self.last.append_value(last);
        self.spend.push(crate::money(spend));
        self.first_spend.push(crate::money(first_spend));
        if self.unit.is_some() {
            self.units.push(units);
        }
        if self.split.is_some() {
            self.holdout_days.push(held);
            self.holdout_spend.push(crate::money(held_spend));
        }
        Some(true)
    }

    /// Each day of lines sorted by day, with its total spend.
    fn push_daily(&mut self, lines: &[Line]) {
        let days = lines.chunk_by(|a, b| a.day == b.day).map(|day| {
            let total: i128 = day.iter().map(|l| i128::from(l.spend())).sum();
            i64::try_from(total).ok().map(|t| (day[0].day, t))
        });
        self.packed.clear();
        if pack_days(days, &mut self.packed) {
            self.paid.append_value(&self.packed);
        } else {
            self.paid.append_null();
        }
    }

    fn finish(mut self) -> Result<StructArray> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.days)),
            Arc::new(self.first.finish()),
            Arc::new(self.last.finish()),
            Arc::new(Float64Array::from(self.spend)),
            Arc::new(Float64Array::from(self.first_spend)),
        ];
        if self.unit.is_some() {
            for field in [
                |u: &Units| u.units,
                |u: &Units| u.last,
                |u: &Units| u.before,
            ] {
                columns.push(Arc::new(Int64Array::from_iter_values(
                    self.units.iter().map(field),
                )));
            }
        }
        if self.split.is_some() {
            columns.push(Arc::new(Int64Array::from(self.holdout_days)));
            columns.push(Arc::new(Float64Array::from(self.holdout_spend)));
        }
        if self.daily {
            columns.push(Arc::new(self.paid.finish()));
        }
        Ok(StructArray::try_new(
            result_fields(self.unit.is_some(), self.split.is_some(), self.daily),
            columns,
            None,
        )?)
    }
}

/// Packs a customer's days with a purchase, in order, and each day's spend:
/// per day, the day's difference from the one before (from 0 for the
/// first) and the spend, each as a zigzag LEB128 varint. A few bytes a day
/// where two lists took twelve and more, and one value per customer to
/// read. False (and `out` unfinished) when a day's spend is None, past 64
/// bits.
pub fn pack_days(days: impl IntoIterator<Item = Option<(i32, i64)>>, out: &mut Vec<u8>) -> bool {
    let mut before = 0i64;
    for day in days {
        let Some((day, spend)) = day else {
            return false;
        };
        put_varint(out, i64::from(day) - before);
        put_varint(out, spend);
        before = i64::from(day);
    }
    true
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push(z as u8 | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// The days of [`pack_days`], in order; a None, and nothing after it, at
/// bytes that end early or hold a varint past 64 bits or a day past 32.
fn unpack_days(mut bytes: &[u8]) -> impl Iterator<Item = Option<(i32, i64)>> {
    let mut before = 0i64;
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let day = take_varint(&mut bytes)
            .and_then(|d| before.checked_add(d))
            .and_then(|d| i32::try_from(d).ok());
        let spend = take_varint(&mut bytes);
        let (Some(day), Some(spend)) = (day, spend) else {
            bytes = &[];
            return Some(None);
        };
        before = i64::from(day);
        Some(Some((day, spend)))
    })
}

fn take_varint(bytes: &mut &[u8]) -> Option<i64> {
    let mut z = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        z |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *bytes = &bytes[i + 1..];
            return Some((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    None
}

/// The result of `purchase_days` (`purchase_days_by_unit` with `unit`) over
/// lines up to the day `end` (all of them without), with the holdout up
/// to `holdout_end` after it when both are given, from the `paid` of
/// `purchase_days_daily` over all of them: the same numbers, as a day's
/// spend sums its lines exactly. Its rows are the customers of `paid`
/// who bought by `end`, those the query over the lines keeps; the second
/// array says which they are. None when a customer's `paid` is null (a
/// day's spend past 64 bits).
pub fn purchase_days_of_daily(
    paid: &ArrayRef,
    unit: Option<f64>,
    end: Option<i64>,
    holdout_end: Option<i64>,
) -> Result<Option<(StructArray, BooleanArray)>> {
    if paid.null_count() > 0 {
        return Ok(None);
    }
    // Binary as stored; a scan may give it as a view.
    let values: Box<dyn Iterator<Item = Option<&[u8]>>> = match paid.data_type() {
        DataType::Binary => Box::new(paid.as_binary::<i32>().iter()),
        DataType::LargeBinary => Box::new(paid.as_binary::<i64>().iter()),
        DataType::BinaryView => Box::new(paid.as_binary_view().iter()),
        t => return exec_err!("purchase_days_of_daily: paid must be binary, not {t}"),
    };
    let split = end.filter(|_| holdout_end.is_some());
    let until = holdout_end.or(end);
    let mut out = DaysBuilder::new(unit, split, false, paid.len());
    let mut bought = BooleanBufferBuilder::new(paid.len());
    for bytes in values.flatten() {
        let Some(by_end) = out.push_days(unpack_days(bytes), until) else {
            return exec_err!("purchase_days_of_daily: a value of paid is cut short");
        };
        bought.append(by_end);
    }
    Ok(Some((
        out.finish()?,
        BooleanArray::new(bought.finish(), None),
    )))
}

/// By day: the order a customer's lines are read in.
fn sort_lines(lines: &mut [Line]) {
    lines.sort_unstable_by_key(|l| l.day());
}

/// Calls `f(row, line)` for each row with a day (and, for `purchase_days`,
/// an amount). The day is a day number, or a timestamp whose UTC day is
/// taken here, in the same pass (an SQL expression for it made four
/// temporary columns).
fn for_each_line(
    values: &[ArrayRef],
    with_spend: bool,
    opt_filter: Option<&BooleanArray>,
    mut f: impl FnMut(usize, Line),
) -> Result<()> {
    let Some(day) = values.first() else {
        return exec_err!("purchase_days: expected a day");
    };
    // purchase_opportunities(day, end, unit) has no amounts.
    let spend = match values.get(1) {
        Some(s) if with_spend => match s.as_primitive_opt::<Decimal128Type>() {
            Some(s) => Some(s),
            None => return exec_err!("purchase_days: the amount must be {}", crate::MONEY),
        },
        _ => None,
    };
    let (days, per_day) = day_numbers("purchase_days", day)?;
    for (row, &v) in days.iter().enumerate() {
        if day.is_null(row)
            || spend.is_some_and(|s| s.is_null(row))
            || crate::filtered_out(opt_filter, row)
        {
            continue;
        }
        let d = day_number(v, per_day)?;
        // A stored amount fits 64 bits (18 digits).
        f(row, Line::new(d, spend.map_or(0, |s| s.value(row) as i64)));
    }
    Ok(())
}

/// The values of a day argument of `func` (see [`day_types`]) and how many
/// of them make a day.
pub(super) fn day_numbers<'a>(func: &str, day: &'a ArrayRef) -> Result<(&'a [i64], i64)> {
    match day.data_type() {
        DataType::Int64 => Ok((day.as_primitive::<Int64Type>().values(), 1)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok((
            day.as_primitive::<TimestampMicrosecondType>().values(),
            crate::DAY_US,
        )),
        t => exec_err!("{func}: a day must be a day number or a timestamp, not {t}"),
    }
}

/// The day of a value of [`day_numbers`], flooring for times before 1970.
pub(super) fn day_number(v: i64, per_day: i64) -> Result<i32> {
    let d = v.div_euclid(per_day);
    match i32::try_from(d) {
        Ok(d) => Ok(d),
        Err(_) => exec_err!("day number {d} is out of range"),
    }
}

/// The state lists of some groups' lines: days and amounts.
fn state_of(groups: &Grouped<Line>) -> Vec<ArrayRef> {
    vec![
        groups.lists::<Int32Type>(|l| l.day),
        groups.lists::<Int64Type>(|l| l.spend()),
    ]
}

impl PerGroup for DayGroups {
    fn reserve_groups(&mut self, n: usize) {
        self.lines.resize(n);
    }
}

impl GroupsAccumulator for DayGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.lines.resize(total_num_groups);
        let lines = &mut self.lines;
        let with_spend = self.opportunities.is_none();
        for_each_line(values, with_spend, opt_filter, |row, l| {
            lines.push(group_indices[row], l)
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut groups = self.lines.take(emit_to);
        if let Some((end, unit)) = self.opportunities {
            let out: Vec<Opportunities> = (0..groups.len())
                .map(|g| opportunities(groups.get_mut(g), end, unit))
                .collect();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(out.iter().map(|o| o.x))),
                Arc::new(Int64Array::from_iter_values(out.iter().map(|o| o.t_x))),
                Arc::new(Int64Array::from_iter_values(out.iter().map(|o| o.n))),
            ];
            return Ok(Arc::new(StructArray::try_new(
                opportunity_fields(),
                columns,
                None,
            )?));
        }
        let mut out = DaysBuilder::new(self.unit, self.split, self.daily, groups.len());
        for g in 0..groups.len() {
            out.push(groups.get_mut(g));
        }
        Ok(Arc::new(out.finish()?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(state_of(&self.lines.take(emit_to)))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.lines.resize(total_num_groups);
        let (days, spends) = (values[0].as_list::<i32>(), values[1].as_list::<i32>());
        let dv = days.values().as_primitive::<Int32Type>().values();
        let sv = spends.values().as_primitive::<Int64Type>().values();
        self.lines
            .push_lists(group_indices, &[days, spends], |s, k| {
                Line::new(dv[s[0] + k], sv[s[1] + k])
            });
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut kept = Vec::with_capacity(values[0].len());
        let with_spend = self.opportunities.is_none();
        for_each_line(values, with_spend, opt_filter, |row, l| kept.push((row, l)))?;
        Ok(state_of(&Grouped::singletons(values[0].len(), kept)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.lines.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Float64Type;

    #[test]
    fn lines_by_hand() {
        // Days 5 (twice), 3, 9: three occasions from day 3 to 9; the first
        // day's spend is day 3's, whatever the arrival order.
        let mut lines: Vec<Line> = [(5, 10.0), (3, 2.5), (9, 1.0), (5, 4.0)]
            .iter()
            .map(|&(day, spend)| Line::new(day, (spend * 1e4) as i64))
            .collect();
        assert_eq!(
            summarise(&mut lines),
            Days {
                days: 3,
                first: Some(3),
                last: Some(9),
                spend: 17.5,
                first_spend: 2.5,
            }
        );
        assert_eq!(summarise(&mut []), Days::default());
    }

    /// Weekly opportunities worked by hand: first purchase on day 10, the
    /// end on day 40 (n = 4 whole weeks); days 12 and 17 fall in
    /// opportunity 1, 24 (= 10 + 14) in 2, 41 after the end.
    #[test]
    fn opportunities_by_hand() {
        let mut lines: Vec<Line> = [41, 12, 10, 17, 24, 10]
            .iter()
            .map(|&day| Line::new(day, 0))
            .collect();
        assert_eq!(
            opportunities(&mut lines, 40, 7.0),
            Opportunities { x: 2, t_x: 2, n: 4 }
        );
        assert_eq!(opportunities(&mut [], 40, 7.0), Opportunities::default());
    }

    /// Opportunities by their definition, one at a time: i = 1..=n holds a
    /// purchase when a day falls in (i−1)·u < d − first ≤ i·u.
    fn by_definition(days: &[i64], end: i64, unit: f64) -> Opportunities {
        let first = *days.iter().min().unwrap();
        let n = ((end - first) as f64 / unit).floor() as i64;
        let held: Vec<i64> = (1..=n)
            .filter(|&i| {
                days.iter().any(|&d| {
                    let k = (d - first) as f64 / unit;
                    k > (i - 1) as f64 && k <= i as f64
                })
            })
            .collect();
        Opportunities {
            x: held.len() as i64,
            t_x: held.last().copied().unwrap_or(0),
            n,
        }
    }

    /// The units counted without an end, then cut at one, give the
    /// opportunities at that end by their definition: for many customers,
    /// units and ends, including ends on a unit's boundary and the last day.
    #[test]
    fn units_at_the_end_count_opportunities_by_definition() {
        let mut next = crate::test_rng(0x2545_f491_4f6c_dd1d);
        let mut past_last = 0;
        for _ in 0..3000 {
            let mut lines: Vec<Line> = (0..1 + next(12))
                .map(|_| Line::new(100 + next(60) as i32, 10_000))
                .collect();
            sort_lines(&mut lines);
            let last = lines.last().unwrap().day();
            for unit in [1.0, 7.0, 3.5, 30.0] {
                let units = Units::of(&lines, unit);
                for end in [last, last + 1, last + next(20) as i64] {
                    let first = lines[0].day();
                    let days: Vec<i64> = lines.iter().map(|l| l.day()).collect();
                    let want = by_definition(&days, end, unit);
                    assert_eq!(units.at_end(first, end, unit), want, "{unit} {end}");
                    past_last += usize::from(units.last > want.n);
                }
            }
        }
        // The cut at the end mattered for many of them.
        assert!(past_last > 1000, "{past_last}");
    }

    /// A day number no timestamp can give is an error, not a wrapped day.
    #[test]
    fn days_out_of_range_are_refused() {
        let day: ArrayRef = Arc::new(Int64Array::from(vec![3, 1 << 40]));
        let spend: ArrayRef = crate::money_array(&[1.0, 2.0]);
        let mut a = DayGroups::default();
        let e = a.update_batch(&[day, spend], &[0, 0], None, 1).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    /// A timestamp counts as its UTC day, floored before 1970 too.
    #[test]
    fn timestamps_count_as_their_day() {
        use arrow::array::TimestampMicrosecondArray;
        let day = crate::DAY_US;
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![-1, 0, day - 1, day, 3 * day + 5])
                .with_timezone("UTC"),
        );
        let days: ArrayRef = Arc::new(Int64Array::from(vec![-1, 0, 0, 1, 3]));
        let spend: ArrayRef = crate::money_array(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        let rows = [0, 0, 0, 0, 0];
        let summary = |day: &ArrayRef| {
            let mut a = DayGroups::default();
            a.update_batch(&[day.clone(), spend.clone()], &rows, None, 1)
                .unwrap();
            a.evaluate(EmitTo::All).unwrap()
        };
        let (by_time, by_number) = (summary(&ts), summary(&days));
        assert_eq!(by_time.as_ref(), by_number.as_ref());
        let s = by_time.as_struct();
        // Days −1, 0 (three lines), 1 and 3: four occasions from day −1.
        assert_eq!(s.column(0).as_primitive::<Int64Type>().value(0), 4);
        assert_eq!(s.column(1).as_primitive::<Int64Type>().value(0), -1);
        assert_eq!(s.column(2).as_primitive::<Int64Type>().value(0), 3);
    }

    /// With an end day, the lines after it are the holdout: its distinct
    /// days and spend, apart from the calibration summary.
    #[test]
    fn lines_after_the_end_are_the_holdout() {
        let day: ArrayRef = Arc::new(Int64Array::from(vec![5, 1, 3, 8, 3, 5]));
        let spend: ArrayRef = crate::money_array(&[4.0, 1.0, 2.0, 8.0, 0.5, 1.0]);
        let mut a = DayGroups {
            split: Some(3),
            ..DayGroups::default()
        };
        a.update_batch(&[day, spend], &[0, 0, 0, 0, 0, 0], None, 1)
            .unwrap();
        let out = a.evaluate(EmitTo::All).unwrap();
        let s = out.as_struct();
        let i64s = |name: &str| {
            s.column_by_name(name)
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0)
        };
        let f64s = |name: &str| {
            s.column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0)
        };
        // Calibration: days 1 and 3 (two lines), spend 3.5; holdout: days 5
        // (two lines) and 8, spend 13.
        assert_eq!((i64s("days"), i64s("first"), i64s("last")), (2, 1, 3));
        assert_eq!((f64s("spend"), f64s("first_spend")), (3.5, 1.0));
        assert_eq!((i64s("holdout_days"), f64s("holdout_spend")), (2, 13.0));
    }

    /// The summary made from each day's spend equals the one the aggregate
    /// makes from the lines, at many ends, holdouts and units: the stored
    /// days stand in for the order lines.
    #[test]
    fn the_days_spend_gives_the_lines_summary_at_any_end() {
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        let n = 400;
        let mut lines = Vec::new();
        for g in 0..n {
            for _ in 0..next(9) {
                // Several lines on some days; spend up to 10^12 units.
                let day = 100 + next(90) as i32;
                lines.push((g, Line::new(day, next(1_000_000_000_000) as i64)));
            }
        }
        let of = |daily: bool, unit: Option<f64>, split: Option<i64>, until: Option<i64>| {
            let mut a = DayGroups {
                unit,
                split,
                daily,
                ..DayGroups::default()
            };
            a.lines.resize(n);
            for &(g, l) in &lines {
                if until.is_none_or(|u| l.day() <= u) {
                    a.lines.push(g, l);
                }
            }
            a.evaluate(EmitTo::All).unwrap()
        };
        let all = of(true, None, None, None);
        let s = all.as_struct();
        let paid = s.column_by_name("paid").unwrap();
        // Every field but the lists is purchase_days' own.
        assert_eq!(
            s.columns()[..5],
            of(false, None, None, None).as_struct().columns()[..]
        );
        let mut checked = 0;
        for unit in [None, Some(7.0), Some(365.25 / 12.0)] {
            for end in [
                None,
                Some(99),
                Some(100),
                Some(130),
                Some(150),
                Some(189),
                Some(400),
            ] {
                for holdout in [None, Some(1), Some(20)] {
                    let holdout_end = end.zip(holdout).map(|(e, h)| e + h);
                    let split = end.filter(|_| holdout_end.is_some());
                    let want = of(false, unit, split, holdout_end.or(end));
                    let (got, bought) = purchase_days_of_daily(paid, unit, end, holdout_end)
                        .unwrap()
                        .unwrap();
                    // Bought by the end: a day by the end.
                    let d = want.as_struct().column(0).as_primitive::<Int64Type>();
                    let want_bought: Vec<bool> = d.values().iter().map(|&d| d > 0).collect();
                    assert_eq!(bought.values().iter().collect::<Vec<_>>(), want_bought);
                    let want = arrow::compute::filter(&want, &bought).unwrap();
                    assert_eq!(&got, want.as_struct(), "{unit:?} {end:?} {holdout_end:?}");
                    // As a scan may give it.
                    let view = arrow::compute::cast(paid, &DataType::BinaryView).unwrap();
                    let (again, _) = purchase_days_of_daily(&view, unit, end, holdout_end)
                        .unwrap()
                        .unwrap();
                    assert_eq!(again, got);
                    checked += want_bought.iter().filter(|b| **b).count();
                }
            }
        }
        assert!(checked > 10_000, "{checked}");

        // A day whose spend passes 64 bits has no lists, and the summary
        // is then not made from them.
        let big = [Line::new(5, i64::MAX), Line::new(5, 1), Line::new(6, 2)];
        let mut a = DayGroups {
            daily: true,
            ..DayGroups::default()
        };
        a.lines.resize(2);
        for l in big {
            a.lines.push(0, l);
        }
        a.lines.push(1, Line::new(7, 3));
        let out = a.evaluate(EmitTo::All).unwrap();
        let s = out.as_struct();
        let paid = s.column_by_name("paid").unwrap();
        assert_eq!((paid.null_count(), paid.is_null(0)), (1, true));
        assert!(
            purchase_days_of_daily(paid, None, None, None)
                .unwrap()
                .is_none()
        );
    }

    /// Days and spend packed and unpacked, at the ends of their ranges;
    /// bytes cut short are refused.
    #[test]
    fn packed_days_come_back() {
        let days = [
            (i32::MIN, i64::MIN),
            (-1, -5),
            (0, 0),
            (19_000, 375_000),
            (19_001, i64::MAX),
            (i32::MAX, 1),
        ];
        let mut bytes = Vec::new();
        assert!(pack_days(days.iter().map(|&d| Some(d)), &mut bytes));
        let back: Vec<_> = unpack_days(&bytes).collect();
        assert_eq!(back, days.map(Some));
        // Two days a week apart and spends of the demo's size: ten bytes.
        let mut small = Vec::new();
        assert!(pack_days(
            [Some((20_000, 375_000)), Some((20_007, 120_000))],
            &mut small
        ));
        assert_eq!(small.len(), 3 + 3 + 1 + 3);
        assert!(!pack_days([Some((1, 2)), None], &mut Vec::new()));
        // Cut anywhere: the whole days before the cut, then a None unless
        // the cut falls between two days.
        let mut cut_short = 0;
        for cut in 1..bytes.len() {
            let back: Vec<_> = unpack_days(&bytes[..cut]).collect();
            let whole = back.iter().take_while(|d| d.is_some()).count();
            assert_eq!(
                back[..whole],
                days[..whole].iter().map(|&d| Some(d)).collect::<Vec<_>>()
            );
            assert!(back.len() <= whole + 1 && whole < days.len(), "{cut}");
            cut_short += back.len() - whole;
        }
        assert_eq!(cut_short, bytes.len() - days.len());
    }

    /// Partial states merged equal the same rows added directly.
    #[test]
    fn state_then_merge_equals_update() {
        let day: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(3),
            None,
            Some(3),
            Some(4),
            Some(1),
        ]));
        let spend: ArrayRef = crate::money_array(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        let values = vec![day, spend];
        let rows = [0, 1, 0, 1, 1];
        let mut a = DayGroups::default();
        a.update_batch(&values, &rows, None, 2).unwrap();
        let mut m = DayGroups::default();
        let state = m.convert_to_state(&values, None).unwrap();
        m.merge_batch(&state, &rows, 2).unwrap();
        let (x, y) = (
            a.evaluate(EmitTo::All).unwrap(),
            m.evaluate(EmitTo::All).unwrap(),
        );
        assert_eq!(x.as_ref(), y.as_ref());
        let s = x.as_struct();
        let days = s.column(0).as_primitive::<Int64Type>();
        let first_spend = s.column(4).as_primitive::<Float64Type>();
        // Group 0: one day (3) with 1 + 3; group 1: days 1 and 4 (the null
        // day is left out), first day's spend 5.
        assert_eq!(days.values().to_vec(), [1, 2]);
        assert_eq!(first_spend.values().to_vec(), [4.0, 5.0]);
    }
}
