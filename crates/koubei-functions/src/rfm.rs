//! `customer_orders(day, amount, order_id)`: what RFM needs of a customer,
//! from all of their order lines at once: the `last` day with a line, the
//! number of distinct `orders`, and the total `spend`; and what a KPI over a
//! date range needs: the `first` day with a line, and the day of the
//! `second` order (an order's day is its first line's), so that whether a
//! buyer was new in a range, or had ordered twice by its end, needs no
//! second pass over their lines.
//!
//! `day` is a day number or a timestamp (its UTC day is taken). A line
//! without an amount counts as an order but adds no spend, and a line
//! without an order id adds its day and spend but no order, as `MAX`, `SUM`
//! and `COUNT(DISTINCT order_id)` would. It replaces those three in one
//! GROUP BY customer: DataFusion planned the distinct count as a second
//! GROUP BY over (customer, order), which took as long as the rest of the
//! query.
//!
//! Order ids are counted by a 64-bit hash of their text. Two of one
//! customer's orders would have to share it to be counted once: about one
//! chance in 10¹⁸ for a customer with a few orders.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, Int64Builder, StructArray,
};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, FieldRef, Fields, Int32Type, Int64Type, UInt64Type,
};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::arena::{GroupArena, Grouped};
use super::clv::{day_number, day_numbers, day_types};
use super::{PerGroup, list_state_fields};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CustomerOrders {
    signature: Signature,
}

impl CustomerOrders {
    pub fn new() -> Self {
        let days = day_types();
        let ids = [DataType::Utf8, DataType::Utf8View, DataType::LargeUtf8];
        let forms = days.iter().flat_map(|day| {
            ids.iter()
                .map(move |id| TypeSignature::Exact(vec![day.clone(), crate::MONEY, id.clone()]))
        });
        CustomerOrders {
            signature: Signature::one_of(forms.collect(), Volatility::Immutable),
        }
    }
}

impl Default for CustomerOrders {
    fn default() -> Self {
        Self::new()
    }
}

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("last", DataType::Int64, true),
        Field::new("orders", DataType::Int64, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("first", DataType::Int64, true),
        Field::new("second", DataType::Int64, true),
    ])
}

impl AggregateUDFImpl for CustomerOrders {
    fn name(&self) -> &str {
        "customer_orders"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    crate::group_accumulators!(|_: &AccumulatorArgs| -> Result<OrderGroups> {
        Ok(OrderGroups::default())
    });

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(list_state_fields(
            &args,
            &[
                ("day", DataType::Int32),
                ("spend", DataType::Int64),
                ("order", DataType::UInt64),
            ],
        ))
    }
}

/// One order line: its order's hash (0 for none), amount (in units of
/// [`crate::MONEY`]) and day, in 20 bytes.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed(4))]
struct Line {
    order: u64,
    spend: i64,
    day: i32,
}

impl Line {
    fn key(&self) -> (u64, i32) {
        (self.order, self.day)
    }
}

/// A customer's RFM values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Orders {
    last: Option<i64>,
    orders: i64,
    spend: f64,
    first: Option<i64>,
    /// The second-earliest of the orders' days.
    second: Option<i64>,
}

/// Sorted by order first, to count each order once; the spend is an
/// exact sum, the same in any order.
fn summarise(lines: &mut [Line]) -> Orders {
    lines.sort_unstable_by_key(|l| l.key());
    let mut o = Orders::default();
    let mut spend: i128 = 0;
    // The two earliest order days: an order's first line is its earliest.
    let mut earliest: [Option<i64>; 2] = [None, None];
    for (i, l) in lines.iter().enumerate() {
        let (order, day) = l.key();
        let day = i64::from(day);
        if order != 0 && (i == 0 || lines[i - 1].key().0 != order) {
            o.orders += 1;
            match earliest {
                [None, _] => earliest[0] = Some(day),
                [Some(a), _] if day < a => earliest = [Some(day), Some(a)],
                [_, None] => earliest[1] = Some(day),
                [_, Some(b)] if day < b => earliest[1] = Some(day),
                _ => {}
            }
        }
        spend += i128::from(l.spend);
        o.last = o.last.max(Some(day));
        o.first = Some(o.first.map_or(day, |f| f.min(day)));
    }
    o.second = earliest[1];
    o.spend = crate::money(spend);
    o
}

/// An order id's hash: odd, so that 0 can stand for no id.
fn order_hash(id: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6b6f_7562_6569).hash_one(id) | 1
}

/// Calls `f(row, line)` for each row with a day.
fn for_each_line(
    values: &[ArrayRef],
    opt_filter: Option<&BooleanArray>,
    mut f: impl FnMut(usize, Line),
) -> Result<()> {
    let [day, spend, order] = values else {
        return exec_err!("customer_orders: expected a day, an amount and an order id");
    };
    let (days, per_day) = day_numbers("customer_orders", day)?;
    let Some(spend) = spend.as_primitive_opt::<Decimal128Type>() else {
        return exec_err!("customer_orders: the amount must be {}", crate::MONEY);
    };
    let hash = |row: usize| -> u64 {
        if order.is_null(row) {
            return 0;
        }
        match order.data_type() {
            DataType::Utf8View => order_hash(order.as_string_view().value(row)),
            DataType::LargeUtf8 => order_hash(order.as_string::<i64>().value(row)),
            _ => order_hash(order.as_string::<i32>().value(row)),
        }
    };
    for (row, &v) in days.iter().enumerate() {
        if day.is_null(row) || crate::filtered_out(opt_filter, row) {
            continue;
        }
        let d = day_number(v, per_day)?;
        // A stored amount fits 64 bits (18 digits).
        let amount = if spend.is_null(row) {
            0
        } else {
            spend.value(row) as i64
        };
        f(
            row,
            Line {
                order: hash(row),
                spend: amount,
                day: d,
            },
        );
    }
    Ok(())
}

fn state_of(groups: &Grouped<Line>) -> Vec<ArrayRef> {
    vec![
        groups.lists::<Int32Type>(|l| l.day),
        groups.lists::<Int64Type>(|l| l.spend),
        groups.lists::<UInt64Type>(|l| l.order),
    ]
}

#[derive(Debug, Clone)]
struct OrderGroups {
    lines: GroupArena<Line>,
}

impl Default for OrderGroups {
    fn default() -> Self {
        OrderGroups {
            lines: GroupArena::new(),
        }
    }
}

impl PerGroup for OrderGroups {
    fn reserve_groups(&mut self, n: usize) {
        self.lines.resize(n);
    }
}

impl GroupsAccumulator for OrderGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.lines.resize(total_num_groups);
        let lines = &mut self.lines;
        for_each_line(values, opt_filter, |row, l| {
            lines.push(group_indices[row], l)
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut groups = self.lines.take(emit_to);
        let n = groups.len();
        let mut last = Int64Builder::with_capacity(n);
        let mut first = Int64Builder::with_capacity(n);
        let mut second = Int64Builder::with_capacity(n);
        let (mut orders, mut spend) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for g in 0..n {
            let o = summarise(groups.get_mut(g));
            last.append_option(o.last);
            orders.push(o.orders);
            spend.push(o.spend);
            first.append_option(o.first);
            second.append_option(o.second);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(last.finish()),
            Arc::new(Int64Array::from(orders)),
            Arc::new(Float64Array::from(spend)),
            Arc::new(first.finish()),
            Arc::new(second.finish()),
        ];
        Ok(Arc::new(StructArray::try_new(
            result_fields(),
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
        let lists = [0, 1, 2].map(|i| values[i].as_list::<i32>());
        let days = lists[0].values().as_primitive::<Int32Type>().values();
        let spends = lists[1].values().as_primitive::<Int64Type>().values();
        let orders = lists[2].values().as_primitive::<UInt64Type>().values();
        self.lines.push_lists(group_indices, &lists, |s, k| Line {
            order: orders[s[2] + k],
            spend: spends[s[1] + k],
            day: days[s[0] + k],
        });
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut kept = Vec::with_capacity(values[0].len());
        for_each_line(values, opt_filter, |row, l| kept.push((row, l)))?;
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

    fn line(order: &str, day: i32, spend: f64) -> Line {
        Line {
            order: if order.is_empty() {
                0
            } else {
                order_hash(order)
            },
            spend: (spend * 1e4) as i64,
            day,
        }
    }

    #[test]
    fn lines_by_hand() {
        // Orders o1 (two lines), o2, and a line without an order id: two
        // orders, last day 9, spend 17.5.
        let mut lines = vec![
            line("o1", 5, 10.0),
            line("o2", 3, 2.5),
            line("", 9, 1.0),
            line("o1", 5, 4.0),
        ];
        assert_eq!(
            summarise(&mut lines),
            Orders {
                last: Some(9),
                orders: 2,
                spend: 17.5,
                first: Some(3),
                second: Some(5),
            }
        );
        assert_eq!(summarise(&mut []), Orders::default());
    }

    /// `first` is the earliest line, with or without an order; `second` is
    /// the second-earliest order's day, where an order's day is its
    /// earliest line's, checked against sorting the orders' days.
    #[test]
    fn first_and_second_against_sorting_the_orders() {
        let mut seed = 7u64;
        for _ in 0..500 {
            let mut lines = Vec::new();
            for _ in 0..(seed % 9) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let order = ["", "a", "b", "c", "d"][(seed >> 33) as usize % 5];
                lines.push(line(order, ((seed >> 40) % 30) as i32, 1.0));
            }
            let mut by_order = std::collections::BTreeMap::<u64, i32>::new();
            for l in lines.iter().filter(|l| l.order != 0) {
                let d = by_order.entry(l.order).or_insert(l.day);
                *d = (*d).min(l.day);
            }
            let mut days: Vec<i64> = by_order.values().map(|&d| i64::from(d)).collect();
            days.sort_unstable();
            let first = lines.iter().map(|l| i64::from(l.day)).min();
            let o = summarise(&mut lines);
            assert_eq!(o.first, first);
            assert_eq!(o.second, days.get(1).copied());
            assert_eq!(o.orders, days.len() as i64);
        }
        // An order-less line before every order is the first day.
        let mut lines = vec![line("", 1, 1.0), line("x", 4, 1.0), line("y", 2, 1.0)];
        let o = summarise(&mut lines);
        assert_eq!((o.first, o.second), (Some(1), Some(4)));
    }

    /// Spend is an exact sum: a tenth added a thousand times, in any
    /// order, is 100, where floats give 99.9999999999986.
    #[test]
    fn spend_is_exact_in_any_order() {
        let float: f64 = (0..1000).map(|_| 0.1).sum();
        assert_ne!(float, 100.0);
        let mut lines: Vec<Line> = (0..1000).map(|i| line("o", i % 7, 0.1)).collect();
        assert_eq!(summarise(&mut lines).spend, 100.0);
        lines.reverse();
        assert_eq!(summarise(&mut lines).spend, 100.0);
    }

    /// The state that crosses a shuffle gives back the same lines.
    #[test]
    fn state_round_trips() {
        let mut a = OrderGroups::default();
        a.reserve_groups(2);
        for (g, l) in [
            (0, line("a", 1, 1.0)),
            (1, line("b", 2, 2.0)),
            (0, line("c", 3, 3.0)),
        ] {
            a.lines.push(g, l);
        }
        let state = a.state(EmitTo::All).unwrap();
        let mut b = OrderGroups::default();
        b.merge_batch(&state, &[1, 0], 2).unwrap();
        let out = b.evaluate(EmitTo::All).unwrap();
        let s = out.as_struct();
        let orders = s.column(1).as_primitive::<Int64Type>().values();
        let spend = s.column(2).as_primitive::<Float64Type>().values();
        assert_eq!(orders.as_ref(), &[1, 2]);
        assert_eq!(spend.as_ref(), &[2.0, 4.0]);
        let last = s.column(0).as_primitive::<Int64Type>();
        assert_eq!((last.value(0), last.value(1)), (2, 3));
    }
}
