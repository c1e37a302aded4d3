//! The funnel aggregates.
//!
//! `window_funnel(window, mode, ts, step_1, ..., step_n)` returns, per group,
//! the furthest funnel step reached (see [`crate::funnel`]): `window` is a
//! BIGINT of microseconds, `mode` is 'ordered', 'strict' or 'unordered', `ts`
//! a timestamp and each step a boolean condition. The state is Arrow lists of
//! timestamps and step masks, so partial states can cross a shuffle; the
//! events are sorted when the result is computed, not relied on to arrive in
//! order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt8Array};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, TimeUnit, UInt32Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::arena::{GroupArena, Grouped, list_of};
use super::{PerGroup, list_state_fields, literal};
use crate::matcher::{Exclusion, FunnelOrder, PathEvent, PathScratch, max_step, step_events};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    signature: Signature,
}

impl WindowFunnel {
    pub fn new() -> Self {
        WindowFunnel {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for WindowFunnel {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        "window_funnel"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() < 4 || args.len() > 35 {
            return plan_err!(
                "window_funnel(window, mode, ts, step_1, ..., step_n) takes 1 to 32 steps"
            );
        }
        if !matches!(args[2], DataType::Timestamp(_, _) | DataType::Int64) {
            return plan_err!("window_funnel: ts must be a timestamp, not {}", args[2]);
        }
        if let Some(t) = args[3..].iter().find(|t| **t != DataType::Boolean) {
            return plan_err!("window_funnel: steps must be boolean conditions, not {t}");
        }
        Ok(DataType::UInt8)
    }

    crate::group_accumulators!(funnel_groups);

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(list_state_fields(
            &args,
            &[("ts", DataType::Int64), ("steps", DataType::UInt32)],
        ))
    }
}

fn micros(ts: &ArrayRef) -> Result<ArrayRef> {
    Ok(match ts.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => {
            arrow::compute::cast(ts, &DataType::Int64)?
        }
        DataType::Timestamp(_, tz) => {
            let us =
                arrow::compute::cast(ts, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?;
            arrow::compute::cast(&us, &DataType::Int64)?
        }
        other => return exec_err!("window_funnel: ts must be a timestamp, not {other}"),
    })
}

/// The constant arguments of `window_funnel`, checked.
fn funnel_groups(args: &AccumulatorArgs) -> Result<FunnelGroups> {
    let window = match literal("window_funnel", args, 0, "window")? {
        ScalarValue::Int64(Some(w)) if *w >= 0 => *w,
        v => {
            return plan_err!(
                "window_funnel: window must be a non-negative BIGINT of microseconds, not {v}"
            );
        }
    };
    let order: FunnelOrder = match literal("window_funnel", args, 1, "mode")? {
        ScalarValue::Utf8(Some(m))
        | ScalarValue::Utf8View(Some(m))
        | ScalarValue::LargeUtf8(Some(m)) => m
            .parse()
            .map_err(|e: String| datafusion::error::DataFusionError::Plan(e))?,
        v => {
            return plan_err!(
                "window_funnel: mode must be 'ordered', 'strict' or 'unordered', not {v}"
            );
        }
    };
    Ok(FunnelGroups {
        window,
        order,
        steps: args.exprs.len() - 3,
        exclusions: Vec::new(),
        path: false,
        ts_arg: 2,
        events: GroupArena::new(),
    })
}

/// The constant arguments of `window_funnel_path`, checked.
fn path_groups(args: &AccumulatorArgs) -> Result<FunnelGroups> {
    let window = match literal("window_funnel_path", args, 0, "window")? {
        ScalarValue::Int64(Some(w)) if *w >= 0 => *w,
        v => {
            return plan_err!("window_funnel_path: window must be a non-negative BIGINT, not {v}");
        }
    };
    let text = |v: &ScalarValue| match v {
        ScalarValue::Utf8(Some(m))
        | ScalarValue::Utf8View(Some(m))
        | ScalarValue::LargeUtf8(Some(m)) => Some(m.clone()),
        _ => None,
    };
    let mode = literal("window_funnel_path", args, 1, "mode")?;
    let Some(order) = text(mode) else {
        return plan_err!("window_funnel_path: mode must be a string, not {mode}");
    };
    let order: FunnelOrder = order
        .parse()
        .map_err(|e: String| datafusion::error::DataFusionError::Plan(e))?;
    let ex = literal("window_funnel_path", args, 2, "exclusions")?;
    let Some(ex) = text(ex) else {
        return plan_err!("window_funnel_path: exclusions must be a string, not {ex}");
    };
    let exclusions = parse_exclusions(&ex).map_err(datafusion::error::DataFusionError::Plan)?;
    let conds = args.exprs.len() - 4;
    if exclusions.len() >= conds || conds - exclusions.len() > 32 || exclusions.len() > 32 {
        return plan_err!("window_funnel_path: 1 to 32 steps, then one condition per exclusion");
    }
    let steps = conds - exclusions.len();
    if let Some(x) = exclusions.iter().find(|x| x.to > steps) {
        return plan_err!(
            "window_funnel_path: exclusion {}-{} goes past the {steps} steps",
            x.from,
            x.to
        );
    }
    Ok(FunnelGroups {
        window,
        order,
        steps,
        exclusions,
        path: true,
        ts_arg: 3,
        events: GroupArena::new(),
    })
}

/// `window_funnel_path(window, mode, exclusions, ts, cond_1, ..., cond_m)`:
/// the furthest path as a BIGINT list, `[level, t_1, ..., t_level]`, with
/// the time of each step in microseconds, or `[-1]` when an exclusion drops
/// the person (see [`crate::matcher::best_path`]). `exclusions` is a constant
/// such as `'1-3,2-3'`: the last conditions are exclusion events, one per
/// range of steps; the conditions before them are the steps.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnelPath {
    signature: Signature,
}

impl WindowFunnelPath {
    pub fn new() -> Self {
        WindowFunnelPath {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for WindowFunnelPath {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses `'1-3,2-3'` into exclusion ranges.
pub fn parse_exclusions(s: &str) -> std::result::Result<Vec<Exclusion>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            let (a, b) = x
                .split_once('-')
                .ok_or_else(|| format!("exclusion range \"{x}\" is not FROM-TO"))?;
            let from: usize = a.trim().parse().map_err(|_| format!("bad step \"{a}\""))?;
            let to: usize = b.trim().parse().map_err(|_| format!("bad step \"{b}\""))?;
            if from < 1 || to <= from {
                return Err(format!("exclusion range {x}: need 1 <= FROM < TO"));
            }
            Ok(Exclusion { from, to })
        })
        .collect()
}

impl AggregateUDFImpl for WindowFunnelPath {
    fn name(&self) -> &str {
        "window_funnel_path"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() < 5 {
            return plan_err!(
                "window_funnel_path(window, mode, exclusions, ts, cond_1, ...) needs a step"
            );
        }
        if !matches!(args[3], DataType::Timestamp(_, _) | DataType::Int64) {
            return plan_err!(
                "window_funnel_path: ts must be a timestamp, not {}",
                args[3]
            );
        }
        if let Some(t) = args[4..].iter().find(|t| **t != DataType::Boolean) {
            return plan_err!("window_funnel_path: conditions must be boolean, not {t}");
        }
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Int64,
            true,
        ))))
    }

    crate::group_accumulators!(path_groups);

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(list_state_fields(
            &args,
            &[
                ("ts", DataType::Int64),
                ("steps", DataType::UInt32),
                ("exclusions", DataType::UInt32),
            ],
        ))
    }
}

/// Both funnel functions for many groups at once: DataFusion's vectorised
/// path, one vector of events per group instead of one boxed accumulator
/// per person (tens of times faster with hundreds of thousands of persons).
#[derive(Debug, Clone)]
struct FunnelGroups {
    window: i64,
    order: FunnelOrder,
    steps: usize,
    exclusions: Vec<Exclusion>,
    /// `window_funnel_path` (a list result, three state lists) or
    /// `window_funnel` (a level, two state lists).
    path: bool,
    /// The argument holding the timestamp; the conditions follow it.
    ts_arg: usize,
    events: GroupArena<PathEvent>,
}

impl FunnelGroups {
    /// Calls `f(row, event)` for each input row: the event it makes (steps
    /// and exclusions it matches), or None when the row is filtered out or
    /// matters to no mode (strict order keeps every event).
    fn for_each_event(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, Option<PathEvent>),
    ) -> Result<()> {
        let ts = micros(&values[self.ts_arg])?;
        let ts = ts.as_primitive::<Int64Type>();
        // Each row's steps and exclusions, set condition by condition from
        // the rows where it holds: reading each condition's bit row by row
        // took a twentieth of a funnel's time.
        let n = ts.len();
        let (mut steps, mut exclusions) = (vec![0u32; n], vec![0u32; n]);
        for (k, c) in values[self.ts_arg + 1..].iter().enumerate() {
            let c = c.as_boolean();
            let holds = match c.nulls() {
                Some(valid) => c.values() & valid.inner(),
                None => c.values().clone(),
            };
            let (masks, bit) = if k < self.steps {
                (&mut steps, 1u32 << k)
            } else {
                (&mut exclusions, 1u32 << (k - self.steps))
            };
            for row in holds.set_indices() {
                masks[row] |= bit;
            }
        }
        let strict = self.order == FunnelOrder::Strict;
        for row in 0..n {
            if ts.is_null(row) || crate::filtered_out(opt_filter, row) {
                f(row, None);
                continue;
            }
            let (steps, exclusions) = (steps[row], exclusions[row]);
            let keep = steps != 0 || exclusions != 0 || strict;
            f(
                row,
                keep.then(|| PathEvent {
                    ts: ts.value(row),
                    steps,
                    exclusions,
                }),
            );
        }
        Ok(())
    }
}

impl FunnelGroups {
    /// The state lists of some groups' events: times, step masks and, for
    /// `window_funnel_path`, exclusion masks.
    fn state_of(&self, groups: &Grouped<PathEvent>) -> Vec<ArrayRef> {
        let mut out = vec![
            groups.lists::<Int64Type>(|e| e.ts),
            groups.lists::<UInt32Type>(|e| e.steps),
        ];
        if self.path {
            out.push(groups.lists::<UInt32Type>(|e| e.exclusions));
        }
        out
    }
}

impl PerGroup for FunnelGroups {
    fn reserve_groups(&mut self, n: usize) {
        self.events.resize(n);
    }
}

impl GroupsAccumulator for FunnelGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.events.resize(total_num_groups);
        let mut groups = Vec::with_capacity(group_indices.len());
        let mut events = Vec::with_capacity(group_indices.len());
        self.for_each_event(values, opt_filter, |row, e| {
            if let Some(e) = e {
                groups.push(group_indices[row] as u32);
                events.push(e);
            }
        })?;
        self.events.push_all(&groups, &events);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.events.take(emit_to);
        if !self.path {
            let levels: UInt8Array = groups
                .iter()
                .map(|evs| {
                    Some(max_step(&step_events(evs), self.steps, self.window, self.order) as u8)
                })
                .collect();
            return Ok(Arc::new(levels));
        }
        let mut lengths = Vec::with_capacity(groups.len());
        let mut values: Vec<i64> = Vec::new();
        let mut scratch = PathScratch::default();
        for evs in groups.iter() {
            let (level, excluded, times) =
                scratch.best_path(evs, self.steps, self.window, self.order, &self.exclusions);
            let before = values.len();
            if excluded {
                values.push(-1);
            } else {
                values.push(level as i64);
                values.extend_from_slice(times);
            }
            lengths.push(values.len() - before);
        }
        Ok(list_of(lengths, Arc::new(Int64Array::from(values))))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.events.take(emit_to);
        Ok(self.state_of(&groups))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.events.resize(total_num_groups);
        // Read the lists through their offsets: slicing each row would
        // allocate three arrays per group.
        let ts = values[0].as_list::<i32>();
        let steps = values[1].as_list::<i32>();
        let tv = ts.values().as_primitive::<Int64Type>().values();
        let sv = steps.values().as_primitive::<UInt32Type>().values();
        match values.get(2).map(|v| v.as_list::<i32>()) {
            Some(ex) => {
                let xv = ex.values().as_primitive::<UInt32Type>().values();
                self.events
                    .push_lists(group_indices, &[ts, steps, ex], |s, k| PathEvent {
                        ts: tv[s[0] + k],
                        steps: sv[s[1] + k],
                        exclusions: xv[s[2] + k],
                    });
            }
            None => self
                .events
                .push_lists(group_indices, &[ts, steps], |s, k| PathEvent {
                    ts: tv[s[0] + k],
                    steps: sv[s[1] + k],
                    exclusions: 0,
                }),
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut kept = Vec::with_capacity(values[0].len());
        self.for_each_event(values, opt_filter, |row, e| {
            if let Some(e) = e {
                kept.push((row, e));
            }
        })?;
        Ok(self.state_of(&Grouped::singletons(values[0].len(), kept)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.events.size()
    }
}

/// The values of a `window_funnel_path` result, read through the list's
/// offsets: slicing out each row's array cost more than the copy, at
/// millions of persons.
pub fn path_values(list: &dyn Array, row: usize) -> Option<Vec<i64>> {
    path_slice(list, row).map(<[i64]>::to_vec)
}

/// As [`path_values`], borrowed from the list's values: a funnel over
/// millions of persons reads every path without a vector each.
pub fn path_slice(list: &dyn Array, row: usize) -> Option<&[i64]> {
    let l = list.as_list_opt::<i32>()?;
    if l.is_null(row) {
        return None;
    }
    let values = l.values().as_primitive_opt::<Int64Type>()?.values();
    let offsets = l.value_offsets();
    Some(&values[offsets[row] as usize..offsets[row + 1] as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::StepEvent;
    use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use crate::register_functions;

    /// The SQL function gives the same levels as the matcher, over several
    /// partitions so that partial states are merged.
    #[tokio::test]
    async fn sql_matches_the_matcher() {
        let mut rnd = crate::test_rng(99);
        let names = ["view", "cart", "buy", "other"];
        let (mut person, mut ts, mut event) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3000 {
            person.push(format!("p{}", rnd(200)));
            ts.push(rnd(100_000) as i64);
            event.push(names[rnd(4) as usize]);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("person", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("event", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(person.clone())),
                Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
                Arc::new(StringArray::from(event.clone())),
            ],
        )
        .unwrap();
        let parts: Vec<Vec<RecordBatch>> =
            (0..4).map(|i| vec![batch.slice(i * 750, 750)]).collect();
        let ctx = SessionContext::new();
        register_functions(&ctx);
        ctx.register_table("e", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        for mode in ["ordered", "strict", "unordered"] {
            let sql = format!(
                "SELECT person, window_funnel(CAST(5000 AS BIGINT), '{mode}', ts, event = 'view', event = 'cart', event = 'buy') AS level
                 FROM e GROUP BY person ORDER BY person"
            );
            let rows = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let order: FunnelOrder = mode.parse().unwrap();
            let mut checked = 0;
            for b in rows {
                let p = arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
                let p = p.as_string::<i32>();
                let l = b.column(1).as_primitive::<arrow::datatypes::UInt8Type>();
                for r in 0..b.num_rows() {
                    let evs: Vec<StepEvent> = (0..person.len())
                        .filter(|&i| person[i] == p.value(r))
                        .map(|i| StepEvent {
                            ts: ts[i],
                            steps: match event[i] {
                                "view" => 1,
                                "cart" => 2,
                                "buy" => 4,
                                _ => 0,
                            },
                        })
                        .collect();
                    assert_eq!(
                        l.value(r) as usize,
                        max_step(&evs, 3, 5000, order),
                        "{mode} {}",
                        p.value(r)
                    );
                    checked += 1;
                }
            }
            assert_eq!(checked, 200);
            // Without GROUP BY, DataFusion takes the row-at-a-time form.
            let one = format!(
                "SELECT window_funnel(CAST(5000 AS BIGINT), '{mode}', ts, event = 'view', event = 'cart', event = 'buy'),
                        window_funnel_path(CAST(5000 AS BIGINT), '{mode}', '', ts, event = 'view', event = 'cart', event = 'buy')
                 FROM e WHERE person = 'p7'"
            );
            let b = &ctx.sql(&one).await.unwrap().collect().await.unwrap()[0];
            let evs: Vec<StepEvent> = (0..person.len())
                .filter(|&i| person[i] == "p7")
                .map(|i| StepEvent {
                    ts: ts[i],
                    steps: match event[i] {
                        "view" => 1,
                        "cart" => 2,
                        "buy" => 4,
                        _ => 0,
                    },
                })
                .collect();
            let want = max_step(&evs, 3, 5000, order);
            let level = b.column(0).as_primitive::<arrow::datatypes::UInt8Type>();
            assert_eq!(level.value(0) as usize, want, "{mode} without GROUP BY");
            assert_eq!(
                path_values(b.column(1).as_ref(), 0).unwrap()[0],
                want as i64
            );
            // The path function reaches the same level, after merging states.
            let sql = format!(
                "SELECT person, window_funnel(CAST(5000 AS BIGINT), '{mode}', ts, event = 'view', event = 'cart', event = 'buy') AS level,
                        window_funnel_path(CAST(5000 AS BIGINT), '{mode}', '', ts, event = 'view', event = 'cart', event = 'buy') AS path
                 FROM e GROUP BY person"
            );
            let rows = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            for b in rows {
                let l = b.column(1).as_primitive::<arrow::datatypes::UInt8Type>();
                for r in 0..b.num_rows() {
                    let p = path_values(b.column(2).as_ref(), r).unwrap();
                    assert_eq!(p[0], l.value(r) as i64, "{mode}");
                    if mode != "unordered" {
                        assert_eq!(p.len(), l.value(r) as usize + 1);
                    }
                }
            }
        }
    }

    /// Conditions that overlap (an event of two steps), a condition that is
    /// null (not holding) and an exclusion: the SQL paths equal the
    /// matcher's over masks made row by row.
    #[tokio::test]
    async fn overlapping_and_null_conditions_make_the_matchers_masks() {
        let mut rnd = crate::test_rng(7);
        let names = ["view", "cart", "any", "bad", "other"];
        let (mut person, mut ts, mut event, mut flag) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..2400 {
            person.push(format!("p{}", rnd(120)));
            ts.push(rnd(50_000) as i64);
            event.push(names[rnd(5) as usize]);
            flag.push([Some(true), Some(false), None][rnd(3) as usize]);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("person", DataType::Utf8, false),
            Field::new("ts", DataType::Int64, false),
            Field::new("event", DataType::Utf8, false),
            Field::new("flag", DataType::Boolean, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(person.clone())),
                Arc::new(Int64Array::from(ts.clone())),
                Arc::new(StringArray::from(event.clone())),
                // A null's value bit set, as a kernel may leave it: it
                // must not count.
                Arc::new(BooleanArray::new(
                    flag.iter().map(|f| f.unwrap_or(true)).collect(),
                    Some(flag.iter().map(Option::is_some).collect()),
                )),
            ],
        )
        .unwrap();
        // Slices at odd offsets: the condition bits do not start a byte.
        let parts: Vec<Vec<RecordBatch>> = (0..3)
            .map(|i| vec![batch.slice(i * 799, if i == 2 { 802 } else { 799 })])
            .collect();
        let ctx = SessionContext::new();
        register_functions(&ctx);
        ctx.register_table("e", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        let exclusions = [Exclusion { from: 1, to: 3 }];
        for mode in ["ordered", "strict"] {
            let sql = format!(
                "SELECT person, window_funnel_path(CAST(3000 AS BIGINT), '{mode}', '1-3', ts,
                        event = 'view' OR event = 'any', event = 'cart' OR event = 'any', flag,
                        event = 'bad') AS path
                 FROM e GROUP BY person"
            );
            let order: FunnelOrder = mode.parse().unwrap();
            let mut checked = 0;
            for b in ctx.sql(&sql).await.unwrap().collect().await.unwrap() {
                let p = arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
                let p = p.as_string::<i32>();
                for r in 0..b.num_rows() {
                    let evs: Vec<PathEvent> = (0..person.len())
                        .filter(|&i| person[i] == p.value(r))
                        .map(|i| PathEvent {
                            ts: ts[i],
                            steps: u32::from(matches!(event[i], "view" | "any"))
                                | u32::from(matches!(event[i], "cart" | "any")) << 1
                                | u32::from(flag[i] == Some(true)) << 2,
                            exclusions: u32::from(event[i] == "bad"),
                        })
                        .filter(|e| {
                            order == FunnelOrder::Strict || e.steps != 0 || e.exclusions != 0
                        })
                        .collect();
                    let want = crate::matcher::best_path(&evs, 3, 3000, order, &exclusions);
                    let got = path_values(b.column(1).as_ref(), r).unwrap();
                    let want = if want.excluded {
                        vec![-1]
                    } else {
                        std::iter::once(want.level as i64)
                            .chain(want.times)
                            .collect()
                    };
                    assert_eq!(got, want, "{mode} {}", p.value(r));
                    checked += 1;
                }
            }
            assert_eq!(checked, 120, "{mode}");
        }
    }

    #[tokio::test]
    async fn bad_arguments_are_plan_errors() {
        let ctx = SessionContext::new();
        register_functions(&ctx);
        ctx.sql("CREATE TABLE t (ts TIMESTAMP, e VARCHAR)")
            .await
            .unwrap();
        let err = ctx
            .sql("SELECT window_funnel(CAST(10 AS BIGINT), 'sideways', ts, e = 'a') FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown funnel order"), "{err}");
        let err = ctx
            .sql("SELECT window_funnel(CAST(10 AS BIGINT), 'ordered', ts, e) FROM t")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("boolean"), "{err}");
    }

    /// Rows turned straight into state and merged give what updating gives.
    #[test]
    fn convert_to_state_then_merge_equals_update() {
        let mut rnd = crate::test_rng(5);
        let n = 500;
        let ts: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..n).map(|_| rnd(1000) as i64),
        ));
        let kinds: Vec<u64> = (0..n).map(|_| rnd(5)).collect();
        let cond = |k: u64| -> ArrayRef {
            Arc::new(BooleanArray::from(
                kinds.iter().map(|&x| x == k).collect::<Vec<_>>(),
            ))
        };
        let groups: Vec<usize> = (0..n).map(|_| rnd(40) as usize).collect();
        for (order, path) in [
            (FunnelOrder::Ordered, true),
            (FunnelOrder::Strict, true),
            (FunnelOrder::Ordered, false),
        ] {
            let make = || FunnelGroups {
                window: 300,
                order,
                steps: 3,
                exclusions: if path {
                    vec![Exclusion { from: 1, to: 2 }]
                } else {
                    vec![]
                },
                path,
                ts_arg: 0,
                events: GroupArena::new(),
            };
            let mut values = vec![ts.clone(), cond(0), cond(1), cond(2)];
            if path {
                values.push(cond(3));
            }
            let mut a = make();
            a.update_batch(&values, &groups, None, 40).unwrap();
            let mut b = make();
            let state = b.convert_to_state(&values, None).unwrap();
            b.merge_batch(&state, &groups, 40).unwrap();
            let (x, y) = (
                a.evaluate(EmitTo::All).unwrap(),
                b.evaluate(EmitTo::All).unwrap(),
            );
            assert_eq!(x.as_ref(), y.as_ref(), "{order} path {path}");
        }
    }
}
