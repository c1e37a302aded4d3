//! `retention_cells(periods, cumulative, recurring, period, is_start, is_return)`:
//! a person's cells of a cohort matrix, from all of their events at once.
//!
//! `period` is the number of the period an event falls in
//! (the engine's `Period::index`); `is_start` and `is_return` say whether
//! it is a start event, a return event, or both. The result is a BIGINT
//! list of cells `cohort * STRIDE + k`: the person is in the cohort of period
//! `cohort` (k = 0), and retained k periods later (1 ≤ k ≤ `periods`).
//!
//! - The cohort is the period of the first start event; with `recurring`,
//!   every period with a start event is a cohort of its own.
//! - Retained in period k: a return event in period `cohort + k`; with
//!   `cumulative`, a return event in that period or any later one.
//!
//! Counting the cells of all persons gives the matrix in one pass over the
//! events, where a join of starts with returns would shuffle both.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt8Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::arena::{GroupArena, Grouped, list_of};
use super::{PerGroup, list_state_fields, literal};

/// Cells per cohort: more than the largest `periods` (1000) allows.
pub const STRIDE: i64 = 2048;

const START: u8 = 1;
const RETURN: u8 = 2;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RetentionCells {
    signature: Signature,
}

impl RetentionCells {
    pub fn new() -> Self {
        RetentionCells {
            signature: Signature::exact(
                vec![
                    DataType::Int64,
                    DataType::Boolean,
                    DataType::Boolean,
                    DataType::Int64,
                    DataType::Boolean,
                    DataType::Boolean,
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for RetentionCells {
    fn default() -> Self {
        Self::new()
    }
}

/// One event: its period number and whether it starts, returns, or both.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    period: i64,
    flags: u8,
}

#[derive(Debug, Clone)]
struct CellGroups {
    periods: i64,
    cumulative: bool,
    recurring: bool,
    marks: GroupArena<Mark>,
}

fn cell_groups(args: &AccumulatorArgs) -> Result<CellGroups> {
    const F: &str = "retention_cells";
    let periods = match literal(F, args, 0, "periods")? {
        ScalarValue::Int64(Some(p)) if (1..STRIDE).contains(p) => *p,
        v => return plan_err!("{F}: periods must be 1 to {}, not {v}", STRIDE - 1),
    };
    let flag = |i, what| match literal(F, args, i, what)? {
        ScalarValue::Boolean(Some(b)) => Ok(*b),
        v => plan_err!("{F}: {what} must be true or false, not {v}"),
    };
    Ok(CellGroups {
        periods,
        cumulative: flag(1, "cumulative")?,
        recurring: flag(2, "recurring")?,
        marks: GroupArena::new(),
    })
}

impl AggregateUDFImpl for RetentionCells {
    fn name(&self) -> &str {
        "retention_cells"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Int64,
            true,
        ))))
    }

    crate::group_accumulators!(cell_groups);

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(list_state_fields(
            &args,
            &[("period", DataType::Int64), ("flags", DataType::UInt8)],
        ))
    }
}

impl CellGroups {
    /// Calls `f(row, mark)` for each input row that starts or returns.
    fn for_each_mark(
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, Mark),
    ) -> Result<()> {
        let [period, start, ret] = &values[3..] else {
            return exec_err!("retention_cells: expected 6 arguments");
        };
        let period = period.as_primitive::<Int64Type>();
        let (start, ret) = (start.as_boolean(), ret.as_boolean());
        let on = |b: &BooleanArray, row| b.is_valid(row) && b.value(row);
        for row in 0..period.len() {
            if period.is_null(row) || crate::filtered_out(opt_filter, row) {
                continue;
            }
            let flags = (u8::from(on(start, row)) * START) | (u8::from(on(ret, row)) * RETURN);
            let p = period.value(row);
            // Periods before 0001-01-01 have no number.
            if flags != 0 && p >= 0 {
                f(row, Mark { period: p, flags });
            }
        }
        Ok(())
    }

    /// Appends one person's cells to `out`.
    fn cells(&self, marks: &[Mark], out: &mut Vec<i64>) {
        let distinct = |flag: u8| {
            let mut v: Vec<i64> = marks
                .iter()
                .filter(|m| m.flags & flag != 0)
                .map(|m| m.period)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let rule = CohortRule {
            periods: self.periods,
            cumulative: self.cumulative,
            recurring: self.recurring,
        };
        rule.cells(&distinct(START), &distinct(RETURN), out);
    }
}

/// How a person's periods make cells (see the module's doc): the same
/// rule for the aggregate and for a caller that has each person's periods
/// already.
#[derive(Debug, Clone, Copy)]
pub struct CohortRule {
    /// 1 to `STRIDE - 1`.
    pub periods: i64,
    pub cumulative: bool,
    pub recurring: bool,
}

impl CohortRule {
    /// Appends the cells of a person with start events in the periods
    /// `starts` and return events in `returns` (each ascending, distinct).
    pub fn cells(&self, starts: &[i64], returns: &[i64], out: &mut Vec<i64>) {
        let cohorts = if self.recurring {
            starts
        } else {
            &starts[..starts.len().min(1)]
        };
        for &c in cohorts {
            out.push(c * STRIDE);
            let later = &returns[returns.partition_point(|&r| r <= c)..];
            if self.cumulative {
                if let Some(&last) = later.last() {
                    out.extend((1..=(last - c).min(self.periods)).map(|k| c * STRIDE + k));
                }
            } else {
                out.extend(
                    later
                        .iter()
                        .map(|&r| r - c)
                        .take_while(|&k| k <= self.periods)
                        .map(|k| c * STRIDE + k),
                );
            }
        }
    }
}

/// The state lists of some groups' marks: period numbers and flags.
fn state_of(groups: &Grouped<Mark>) -> Vec<ArrayRef> {
    vec![
        groups.lists::<Int64Type>(|m| m.period),
        groups.lists::<UInt8Type>(|m| m.flags),
    ]
}

impl PerGroup for CellGroups {
    fn reserve_groups(&mut self, n: usize) {
        self.marks.resize(n);
    }
}

impl GroupsAccumulator for CellGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.marks.resize(total_num_groups);
        let marks = &mut self.marks;
        Self::for_each_mark(values, opt_filter, |row, m| {
            marks.push(group_indices[row], m)
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.marks.take(emit_to);
        let mut lengths = Vec::with_capacity(groups.len());
        let mut cells = Vec::new();
        for marks in groups.iter() {
            let before = cells.len();
            self.cells(marks, &mut cells);
            lengths.push(cells.len() - before);
        }
        Ok(list_of(lengths, Arc::new(Int64Array::from(cells))))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(state_of(&self.marks.take(emit_to)))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.marks.resize(total_num_groups);
        let (periods, flags) = (values[0].as_list::<i32>(), values[1].as_list::<i32>());
        let pv = periods.values().as_primitive::<Int64Type>().values();
        let fv = flags.values().as_primitive::<UInt8Type>().values();
        self.marks
            .push_lists(group_indices, &[periods, flags], |s, k| Mark {
                period: pv[s[0] + k],
                flags: fv[s[1] + k],
            });
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut kept = Vec::with_capacity(values[0].len());
        Self::for_each_mark(values, opt_filter, |row, m| kept.push((row, m)))?;
        Ok(state_of(&Grouped::singletons(values[0].len(), kept)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.marks.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(periods: i64, cumulative: bool, recurring: bool) -> CellGroups {
        CellGroups {
            periods,
            cumulative,
            recurring,
            marks: GroupArena::new(),
        }
    }

    fn cells(g: &CellGroups, marks: &[(i64, u8)]) -> Vec<(i64, i64)> {
        let marks: Vec<Mark> = marks
            .iter()
            .map(|&(period, flags)| Mark { period, flags })
            .collect();
        let mut out = Vec::new();
        g.cells(&marks, &mut out);
        out.iter().map(|c| (c / STRIDE, c % STRIDE)).collect()
    }

    const B: u8 = START | RETURN;

    /// Worked by hand: starts in 10 and 12, returns in 11, 12, 12, 14 and
    /// 30 (past 3 periods), arriving out of order.
    #[test]
    fn cells_by_hand() {
        let m = [
            (14, B),
            (12, B),
            (10, START),
            (11, RETURN),
            (12, RETURN),
            (30, RETURN),
        ];
        // First-time: cohort 10, returns 1, 2 and 4 (4 is past 3 periods).
        assert_eq!(
            cells(&groups(3, false, false), &m),
            [(10, 0), (10, 1), (10, 2)]
        );
        // On or after: the last return is 20 periods later, so 1 to 3.
        assert_eq!(
            cells(&groups(3, true, false), &m),
            [(10, 0), (10, 1), (10, 2), (10, 3)]
        );
        // Recurring: cohorts 10, 12 and 14, each with its own later returns.
        assert_eq!(
            cells(&groups(3, false, true), &m),
            [(10, 0), (10, 1), (10, 2), (12, 0), (12, 2), (14, 0)]
        );
        // Returns alone make no cohort.
        assert!(cells(&groups(3, false, false), &[(5, RETURN)]).is_empty());
    }

    /// Partial states merged equal the same rows added directly.
    #[test]
    fn state_then_merge_equals_update() {
        let period = Arc::new(Int64Array::from(vec![
            Some(3),
            None,
            Some(5),
            Some(4),
            Some(7),
        ]));
        let start = Arc::new(BooleanArray::from(vec![true, true, false, true, false]));
        let ret = Arc::new(BooleanArray::from(vec![false, true, true, true, true]));
        let konst: ArrayRef = Arc::new(Int64Array::from(vec![0; 5]));
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![false; 5]));
        let values: Vec<ArrayRef> = vec![konst, b.clone(), b, period, start, ret];
        let rows = [0, 1, 0, 1, 0];
        let mut a = groups(4, false, false);
        a.update_batch(&values, &rows, None, 2).unwrap();
        let mut m = groups(4, false, false);
        let state = m.convert_to_state(&values, None).unwrap();
        m.merge_batch(&state, &rows, 2).unwrap();
        let (x, y) = (
            a.evaluate(EmitTo::All).unwrap(),
            m.evaluate(EmitTo::All).unwrap(),
        );
        assert_eq!(x.as_ref(), y.as_ref());
        // Group 0: cohort 3, returns 5 and 7 (k = 2, 4); group 1: cohort 4.
        let l = x.as_list::<i32>();
        let v = |r| l.value(r).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(v(0), [3 * STRIDE, 3 * STRIDE + 2, 3 * STRIDE + 4]);
        assert_eq!(v(1), [4 * STRIDE]);
    }
}
