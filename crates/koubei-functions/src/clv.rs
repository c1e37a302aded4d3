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
//! One GROUP BY customer replaces a GROUP BY (customer, day) followed by a
//! GROUP BY customer: the first built a hash table with one entry per
//! customer-day, several times the customers.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, Int64Builder, StructArray,
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
}

impl PurchaseDays {
    pub fn new() -> Self {
        PurchaseDays {
            signature: days_signature(&[crate::MONEY]),
            by_unit: false,
        }
    }

    /// `purchase_days_by_unit`.
    pub fn by_unit() -> Self {
        PurchaseDays {
            signature: days_signature(&[crate::MONEY, DataType::Float64]),
            by_unit: true,
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
            ..DayGroups::default()
        })
    }
}

impl Default for PurchaseDays {
    fn default() -> Self {
        Self::new()
    }
}

fn result_fields(by_unit: bool, split: bool) -> Fields {
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
    Fields::from(fields)
}

impl AggregateUDFImpl for PurchaseDays {
    fn name(&self) -> &str {
        if self.by_unit {
            "purchase_days_by_unit"
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
}

impl Default for DayGroups {
    fn default() -> Self {
        DayGroups {
            lines: GroupArena::new(),
            opportunities: None,
            unit: None,
            split: None,
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
            let i = ((l.day() - first) as f64 / unit).ceil() as i64;
            if i >= 1 && i != u.last {
                (u.before, u.last) = (u.last, i);
                u.units += 1;
            }
        }
        u
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
        // Built column by column as the groups are summarised: a vector of
        // summaries first had cost ten million customers half a gigabyte.
        let n = groups.len();
        let mut days = Vec::with_capacity(n);
        let (mut first, mut last) = (
            Int64Builder::with_capacity(n),
            Int64Builder::with_capacity(n),
        );
        let (mut spend, mut first_spend) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut units = Vec::new();
        let (mut holdout_days, mut holdout_spend) = (Vec::new(), Vec::new());
        for g in 0..n {
            let mut lines = groups.get_mut(g);
            if let Some(end) = self.split {
                // Sorted as `summarise` sorts them, then cut at the end: each
                // side's sums run in the order they would alone.
                sort_lines(lines);
                let cut = lines.partition_point(|l| l.day() <= end);
                let after = summarise(&mut lines[cut..]);
                holdout_days.push(after.days);
                holdout_spend.push(after.spend);
                lines = &mut lines[..cut];
            }
            let d = summarise(lines);
            days.push(d.days);
            first.append_option(d.first);
            last.append_option(d.last);
            spend.push(d.spend);
            first_spend.push(d.first_spend);
            if let Some(unit) = self.unit {
                // `summarise` sorted the group's lines by day.
                units.push(Units::of(lines, unit));
            }
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(days)),
            Arc::new(first.finish()),
            Arc::new(last.finish()),
            Arc::new(Float64Array::from(spend)),
            Arc::new(Float64Array::from(first_spend)),
        ];
        if self.unit.is_some() {
            for field in [
                |u: &Units| u.units,
                |u: &Units| u.last,
                |u: &Units| u.before,
            ] {
                columns.push(Arc::new(Int64Array::from_iter_values(
                    units.iter().map(field),
                )));
            }
        }
        if self.split.is_some() {
            columns.push(Arc::new(Int64Array::from(holdout_days)));
            columns.push(Arc::new(Float64Array::from(holdout_spend)));
        }
        Ok(Arc::new(StructArray::try_new(
            result_fields(self.unit.is_some(), self.split.is_some()),
            columns,
            None,
        )?))
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
